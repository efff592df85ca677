#!/usr/bin/env bash
# Brings up (or finds) the services the integration tests need, and stops them again.
#
#   scripts/test-services.sh up DIR     # then: . DIR/env.sh
#   scripts/test-services.sh down DIR
#
# `up` probes PostgreSQL, MariaDB and Redis on their standard local ports with a real query
# and uses whatever answers. For each one that does not, it starts a throwaway instance with
# its data in DIR on a fixed port below the ephemeral range (PostgreSQL 25432, MariaDB 23306,
# Redis 26379), waits until it answers (bounded), and finally writes DIR/env.sh exporting
# GATEHOUSE_TEST_PG_DSN, GATEHOUSE_TEST_MYSQL_DSN and GATEHOUSE_TEST_REDIS_ADDR.
# `up` also starts two FreeRADIUS 3.2 instances (scripts/start-radius.sh, always its own, for
# the test users): udp 21812 requires and sends Message-Authenticator (REQUIRE_MA=yes
# SEND_MA=yes), udp 21822 is the plain Debian 3.2.1 default that sends none; env.sh exports
# GATEHOUSE_TEST_RADIUS_ADDR, GATEHOUSE_TEST_RADIUS_NOMA_ADDR and GATEHOUSE_TEST_RADIUS_SECRET.
# `up` always starts OpenLDAP from DIR/ldap (scripts/start-ldap.sh: the test directory with its
# users, groups and test CA) on ldap:// LDAP_TEST_PORT and ldaps:// LDAP_TEST_PORT+1; env.sh
# exports GATEHOUSE_TEST_LDAP_URL, GATEHOUSE_TEST_LDAPS_URL and GATEHOUSE_TEST_LDAP_CA.
# `up` is idempotent: instances already running from DIR are reused.
# `down` stops only the instances started in DIR, by their PID files (never by name).
#
# Environment (all optional):
#   PG_PORT=5432 MYSQL_PORT=3306 REDIS_PORT=6379     ports probed for existing services
#   PG_TEST_PORT=25432 MYSQL_TEST_PORT=23306 REDIS_TEST_PORT=26379   throwaway instance ports
#   RADIUS_TEST_PORT=21812 RADIUS_NOMA_TEST_PORT=21822   FreeRADIUS ports (each also uses +1)
#   LDAP_TEST_PORT=20389                             slapd (ldaps on the next port)
#   PG_BIN=/usr/lib/postgresql/NN/bin                PostgreSQL server binaries
#   READY_TIMEOUT=60                                 seconds to wait for each started service
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${PG_PORT:-5432}
MYSQL_PORT=${MYSQL_PORT:-3306}
REDIS_PORT=${REDIS_PORT:-6379}
PG_TEST_PORT=${PG_TEST_PORT:-25432}
MYSQL_TEST_PORT=${MYSQL_TEST_PORT:-23306}
REDIS_TEST_PORT=${REDIS_TEST_PORT:-26379}
LDAP_TEST_PORT=${LDAP_TEST_PORT:-20389}
RADIUS_TEST_PORT=${RADIUS_TEST_PORT:-21812}
RADIUS_NOMA_TEST_PORT=${RADIUS_NOMA_TEST_PORT:-21822}
RADIUS_SECRET=testing123
READY_TIMEOUT=${READY_TIMEOUT:-60}
HOST=127.0.0.1

log() { printf 'test-services: %s\n' "$*"; }
# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
die() {
	printf 'test-services: ERROR: %s\n' "$*" >&2
	exit 1
}
usage() { die "usage: $0 up|down DIR"; }

[ $# -eq 2 ] || usage
cmd=$1
DIR=$2
[ -n "$DIR" ] || usage

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- probes (real queries)

probe_pg() { # PORT
	command -v psql >/dev/null 2>&1 || return 1
	local out
	out=$(PGCONNECT_TIMEOUT=3 timeout 10 psql -X -w -h "$HOST" -p "$1" -U postgres -d postgres \
		-Atc 'select 1' 2>/dev/null) || return 1
	[ "$out" = 1 ]
}

mysql_client() {
	if command -v mariadb >/dev/null 2>&1; then echo mariadb; else echo mysql; fi
}

probe_mysql() { # PORT
	local client out
	client=$(mysql_client)
	command -v "$client" >/dev/null 2>&1 || return 1
	out=$(timeout 10 "$client" --no-defaults --protocol=tcp -h "$HOST" -P "$1" -u root \
		--connect-timeout=3 -N -B -e 'select 1' 2>/dev/null) || return 1
	[ "$out" = 1 ]
}

probe_redis() { # PORT
	command -v redis-cli >/dev/null 2>&1 || return 1
	local out
	out=$(timeout 5 redis-cli -h "$HOST" -p "$1" ping 2>/dev/null) || return 1
	[ "$out" = PONG ]
}

# wait_for NAME PID SECONDS PROBE [ARGS...]: polls PROBE until it succeeds; fails early if PID dies.
wait_for() {
	local name=$1 pid=$2 secs=$3
	shift 3
	local deadline=$((SECONDS + secs))
	while ! "$@"; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			log "$name (pid $pid) exited during start-up"
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$name not ready after ${secs}s"
			return 1
		fi
		sleep 0.2
	done
}

# pid_from FILE: first line of a PID file, if it is a number.
pid_from() {
	local pid=""
	if [ -f "$1" ]; then read -r pid <"$1" || true; fi
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	echo "$pid"
}

# running_pid FILE COMM: PID from FILE if that process is alive and is COMM (guards PID reuse).
running_pid() {
	local pid comm
	pid=$(pid_from "$1") || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	comm=$(ps -o comm= -p "$pid" 2>/dev/null) || return 1
	[ "$comm" = "$2" ] || return 1
	echo "$pid"
}

show_log() { # FILE
	if [ -f "$1" ]; then
		printf 'test-services: --- last lines of %s ---\n' "$1" >&2
		tail -n 20 "$1" >&2 || true
	fi
}

# ---------------------------------------------------------------- PostgreSQL

pg_bin() {
	if [ -n "${PG_BIN:-}" ]; then
		echo "$PG_BIN"
		return
	fi
	local d
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ]; then
		echo "$d"
	elif command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
	else
		die "PostgreSQL server binaries not found (install the postgresql package: scripts/install-packages.sh)"
	fi
}

as_postgres() { # postgres refuses to run as root
	if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
	local port=$PG_TEST_PORT d=$DIR/postgres bin pid
	if pid=$(running_pid "$d/data/postmaster.pid" postgres) && probe_pg "$port"; then
		log "PostgreSQL: reusing the instance started earlier in $d (pid $pid, port $port)"
		return
	fi
	if probe_pg "$port"; then
		log "PostgreSQL: port $port already answers (not started from $DIR): using it as is"
		return
	fi
	bin=$(pg_bin)
	mkdir -p "$d"
	if is_root; then
		id postgres >/dev/null 2>&1 || die "no 'postgres' user to run PostgreSQL as (install the postgresql package)"
		# The server runs as postgres: it must be able to traverse every directory above $d.
		local p=$d
		while [ "$p" != / ]; do
			p=$(dirname "$p")
			if [ -n "$(find "$p" -maxdepth 0 ! -perm -o+x)" ]; then
				log "PostgreSQL: chmod o+x $p (the postgres user must traverse it)"
				chmod o+x "$p"
			fi
		done
		chown postgres:postgres "$d"
	fi
	if [ ! -f "$d/data/PG_VERSION" ]; then
		log "PostgreSQL: initdb in $d/data"
		rm -rf "$d/data"
		as_postgres "$bin/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
			--no-instructions -N >"$d/initdb.log" 2>&1 || {
			show_log "$d/initdb.log"
			die "PostgreSQL: initdb failed"
		}
	fi
	log "PostgreSQL: starting on $HOST:$port (data $d/data, log $d/postgres.log)"
	# No unix socket (-c unix_socket_directories=''): everything goes over TCP, and a long
	# DIR cannot exceed the socket path limit. Durability is off: the data is throwaway.
	as_postgres "$bin/pg_ctl" -D "$d/data" -l "$d/postgres.log" -w -t "$READY_TIMEOUT" \
		-o "-c listen_addresses=$HOST -p $port -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
		start >"$d/pg_ctl.log" 2>&1 || {
		show_log "$d/pg_ctl.log"
		show_log "$d/postgres.log"
		die "PostgreSQL: start failed"
	}
	pid=$(pid_from "$d/data/postmaster.pid") || die "PostgreSQL: no postmaster.pid"
	wait_for PostgreSQL "$pid" "$READY_TIMEOUT" probe_pg "$port" || {
		show_log "$d/postgres.log"
		die "PostgreSQL: not answering on port $port"
	}
	log "PostgreSQL: ready (pid $pid)"
}

# ---------------------------------------------------------------- MariaDB

start_mysql() {
	local port=$MYSQL_TEST_PORT d=$DIR/mariadb pid user_opt=() client
	if pid=$(running_pid "$d/mysqld.pid" mariadbd) && probe_mysql "$port"; then
		log "MariaDB: reusing the instance started earlier in $d (pid $pid, port $port)"
		return
	fi
	if probe_mysql "$port"; then
		log "MariaDB: port $port already answers (not started from $DIR): using it as is"
		return
	fi
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] ||
		die "mariadbd not found (install the mariadb-server package: scripts/install-packages.sh)"
	local mariadbd
	mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
	mkdir -p "$d"
	if is_root; then user_opt=(--user=root); fi
	if [ ! -d "$d/data/mysql" ]; then
		log "MariaDB: mariadb-install-db in $d/data"
		rm -rf "$d/data"
		mariadb-install-db --no-defaults --datadir="$d/data" "${user_opt[@]}" \
			--auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
			>"$d/install-db.log" 2>&1 || {
			show_log "$d/install-db.log"
			die "MariaDB: mariadb-install-db failed"
		}
	fi
	local sock=$d/mysqld.sock
	if [ "${#sock}" -gt 100 ]; then
		sock=$(mktemp -u /tmp/gatehouse-mysqld.XXXXXX.sock)
	fi
	rm -f "$d/mysqld.pid"
	log "MariaDB: starting on $HOST:$port (data $d/data, log $d/error.log)"
	# setsid: its own session, so a Ctrl-C of the caller does not hit it before `down` does.
	setsid "$mariadbd" --no-defaults "${user_opt[@]}" --datadir="$d/data" --bind-address="$HOST" \
		--port="$port" --socket="$sock" --pid-file="$d/mysqld.pid" --log-error="$d/error.log" \
		--skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
		--innodb-flush-log-at-trx-commit=0 --max-connections=300 \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
		</dev/null >>"$d/mariadbd.out" 2>&1 &
	pid=$!
	wait_for MariaDB "$pid" "$READY_TIMEOUT" probe_mysql "$port" || {
		show_log "$d/error.log"
		kill "$pid" 2>/dev/null || true
		die "MariaDB: not answering on port $port"
	}
	pid=$(pid_from "$d/mysqld.pid") || die "MariaDB: no $d/mysqld.pid"
	client=$(mysql_client)
	"$client" --no-defaults --protocol=tcp -h "$HOST" -P "$port" -u root -e 'CREATE DATABASE IF NOT EXISTS test'
	log "MariaDB: ready (pid $pid)"
}

# ---------------------------------------------------------------- Redis

start_redis() {
	local port=$REDIS_TEST_PORT d=$DIR/redis pid
	if pid=$(running_pid "$d/redis.pid" redis-server) && probe_redis "$port"; then
		log "Redis: reusing the instance started earlier in $d (pid $pid, port $port)"
		return
	fi
	if probe_redis "$port"; then
		log "Redis: port $port already answers (not started from $DIR): using it as is"
		return
	fi
	command -v redis-server >/dev/null 2>&1 ||
		die "redis-server not found (install the redis-server package: scripts/install-packages.sh)"
	mkdir -p "$d"
	rm -f "$d/redis.pid"
	log "Redis: starting on $HOST:$port (log $d/redis.log)"
	# Foreground process in its own session (setsid), so that an early exit is seen at once.
	setsid redis-server --bind "$HOST" --port "$port" --daemonize no --pidfile "$d/redis.pid" \
		--logfile "$d/redis.log" --dir "$d" --save "" --appendonly no \
		</dev/null >>"$d/redis.out" 2>&1 &
	pid=$!
	wait_for Redis "$pid" "$READY_TIMEOUT" probe_redis "$port" || {
		show_log "$d/redis.log"
		kill "$pid" 2>/dev/null || true
		die "Redis: not answering on port $port"
	}
	pid=$(pid_from "$d/redis.pid") || die "Redis: no $d/redis.pid"
	log "Redis: ready (pid $pid)"
}

# ---------------------------------------------------------------- FreeRADIUS

# probe_radius PORT SEND_MA: alice/alicepass (with a Message-Authenticator) is accepted, and the
# reply carries a Message-Authenticator exactly when SEND_MA is yes.
probe_radius() {
	command -v radclient >/dev/null 2>&1 || return 1
	local out
	out=$(printf 'User-Name = "alice"\nUser-Password = "alicepass"\nMessage-Authenticator = 0x00\n' |
		timeout 5 radclient -x -t 1 -r 1 "$HOST:$1" auth "$RADIUS_SECRET" 2>/dev/null) || return 1
	if printf '%s\n' "$out" | awk '/^Received/ { r = 1 } r' | grep -q Message-Authenticator; then
		[ "$2" = yes ]
	else
		[ "$2" = no ]
	fi
}

# start_radius NAME PORT REQUIRE_MA SEND_MA: a throwaway FreeRADIUS in DIR/NAME. start-radius.sh
# is idempotent (it restarts an instance of its own DIR, by PID, with the current options) and
# waits until a real Access-Request is accepted.
# A server on PORT that is not DIR's own (another checkout's `up`) is used as is when it accepts
# alice and signs its replies or not as asked; testenv.Radius checks the same again.
start_radius() {
	local name=$1 port=$2 require=$3 send=$4 pid
	if ! pid=$(running_pid "$DIR/$name/run/radiusd.pid" freeradius) && probe_radius "$port" "$send"; then
		log "FreeRADIUS ($name): port $port already answers (not started from $DIR): using it as is"
		return
	fi
	REQUIRE_MA=$require SEND_MA=$send RADIUS_SECRET=$RADIUS_SECRET READY_TIMEOUT=$READY_TIMEOUT \
		scripts/start-radius.sh "$DIR/$name" "$port" || die "FreeRADIUS ($name): start failed"
}

# ---------------------------------------------------------------- OpenLDAP

# start_ldap: always a throwaway slapd from DIR/ldap: the tests need its fixed entries and CA.
# start-ldap.sh is idempotent (reuses a running instance of DIR, restarts a stopped one on its
# data) and waits until the server answers.
start_ldap() {
	# Another checkout's slapd may hold the default ports (its CA is not ours to use): move on
	# to the next free pair below the ephemeral range. env.sh carries the port chosen.
	if [ ! -f "$DIR/ldap/slapd.pid" ]; then
		local tries=0
		while port_open "$LDAP_TEST_PORT" || port_open $((LDAP_TEST_PORT + 1)); do
			tries=$((tries + 1))
			[ "$tries" -le 20 ] || die "OpenLDAP: no free port pair from ${LDAP_TEST_PORT%??}xx"
			log "OpenLDAP: port $LDAP_TEST_PORT or $((LDAP_TEST_PORT + 1)) is taken; trying $((LDAP_TEST_PORT + 2))"
			LDAP_TEST_PORT=$((LDAP_TEST_PORT + 2))
		done
	fi
	READY_TIMEOUT=$READY_TIMEOUT scripts/start-ldap.sh "$DIR/ldap" "$LDAP_TEST_PORT" ||
		die "OpenLDAP: start failed (slapd installed? scripts/install-packages.sh)"
}

# ---------------------------------------------------------------- up / down

up() {
	local t0=$SECONDS pg_port mysql_port redis_port
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd -P)
	rm -f "$DIR/env.sh"

	if probe_pg "$PG_PORT"; then
		log "PostgreSQL: using the server on $HOST:$PG_PORT"
		pg_port=$PG_PORT
	else
		log "PostgreSQL: nothing answers on $HOST:$PG_PORT: throwaway instance on port $PG_TEST_PORT"
		start_pg
		pg_port=$PG_TEST_PORT
	fi
	if probe_mysql "$MYSQL_PORT"; then
		log "MariaDB: using the server on $HOST:$MYSQL_PORT"
		mysql_port=$MYSQL_PORT
	else
		log "MariaDB: nothing answers on $HOST:$MYSQL_PORT: throwaway instance on port $MYSQL_TEST_PORT"
		start_mysql
		mysql_port=$MYSQL_TEST_PORT
	fi
	if probe_redis "$REDIS_PORT"; then
		log "Redis: using the server on $HOST:$REDIS_PORT"
		redis_port=$REDIS_PORT
	else
		log "Redis: nothing answers on $HOST:$REDIS_PORT: throwaway instance on port $REDIS_TEST_PORT"
		start_redis
		redis_port=$REDIS_TEST_PORT
	fi
	start_radius radius "$RADIUS_TEST_PORT" yes yes
	start_radius radius-noma "$RADIUS_NOMA_TEST_PORT" no no
	start_ldap

	cat >"$DIR/env.sh.tmp" <<EOF
# Written by scripts/test-services.sh up $DIR — source it: . $DIR/env.sh
export GATEHOUSE_TEST_PG_DSN='postgres://postgres@$HOST:$pg_port/postgres?sslmode=disable'
export GATEHOUSE_TEST_MYSQL_DSN='mysql://root@$HOST:$mysql_port/test'
export GATEHOUSE_TEST_REDIS_ADDR='$HOST:$redis_port'
export GATEHOUSE_TEST_LDAP_URL='ldap://$HOST:$LDAP_TEST_PORT'
export GATEHOUSE_TEST_LDAPS_URL='ldaps://$HOST:$((LDAP_TEST_PORT + 1))'
export GATEHOUSE_TEST_LDAP_CA='$DIR/ldap/tls/ca.crt'
export GATEHOUSE_TEST_RADIUS_ADDR='$HOST:$RADIUS_TEST_PORT'
export GATEHOUSE_TEST_RADIUS_NOMA_ADDR='$HOST:$RADIUS_NOMA_TEST_PORT'
export GATEHOUSE_TEST_RADIUS_SECRET='$RADIUS_SECRET'
EOF
	mv "$DIR/env.sh.tmp" "$DIR/env.sh"
	log "wrote $DIR/env.sh (PostgreSQL :$pg_port, MariaDB :$mysql_port, Redis :$redis_port) in $((SECONDS - t0))s"
}

# signal_pidfile NAME FILE COMM SIGNAL: signals the process in FILE (if it is still COMM) and
# records it in `stopping` for wait_stopped.
signal_pidfile() {
	local name=$1 file=$2 comm=$3 sig=$4 pid
	[ -f "$file" ] || return 0
	if ! pid=$(running_pid "$file" "$comm"); then
		log "$name: not running (stale $file)"
		return 0
	fi
	log "$name: stopping pid $pid (SIG$sig)"
	kill -s "$sig" "$pid" 2>/dev/null || true
	stopping+=("$name:$pid")
}

# wait_stopped: waits (bounded) until every process in `stopping` has exited; SIGKILL after 30s.
wait_stopped() {
	local deadline=$((SECONDS + 30)) entry name pid
	for entry in "${stopping[@]}"; do
		name=${entry%%:*}
		pid=${entry##*:}
		while kill -0 "$pid" 2>/dev/null; do
			if [ "$SECONDS" -ge "$deadline" ]; then
				log "$name: pid $pid still running after 30s, sending SIGKILL"
				kill -s KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.1
		done
	done
}

down() {
	local t0=$SECONDS
	[ -d "$DIR" ] || {
		log "no $DIR: nothing to stop"
		return 0
	}
	stopping=()
	# PostgreSQL: SIGINT is the "fast" shutdown (SIGTERM would wait for clients to leave).
	signal_pidfile PostgreSQL "$DIR/postgres/data/postmaster.pid" postgres INT
	signal_pidfile MariaDB "$DIR/mariadb/mysqld.pid" mariadbd TERM
	signal_pidfile Redis "$DIR/redis/redis.pid" redis-server TERM
	signal_pidfile OpenLDAP "$DIR/ldap/slapd.pid" slapd TERM
	signal_pidfile FreeRADIUS "$DIR/radius/run/radiusd.pid" freeradius TERM
	signal_pidfile "FreeRADIUS (no MA)" "$DIR/radius-noma/run/radiusd.pid" freeradius TERM
	if [ "${#stopping[@]}" -gt 0 ]; then wait_stopped; fi
	rm -f "$DIR/env.sh"
	log "stopped ${#stopping[@]} service(s) started from $DIR in $((SECONDS - t0))s"
}

case $cmd in
up) up ;;
down) down ;;
*) usage ;;
esac
