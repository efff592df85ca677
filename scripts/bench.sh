#!/usr/bin/env bash
# Load benchmark: gatehouse against nginx and the bare upstream, plus forward-auth, logins,
# streaming and a CPU profile (issue 8). See bench/README.md.
#
#   scripts/bench.sh [-d 5s] [-c "64 256"] [-r 3] [-f 10] [-n 300] [-m 1024] [-p 10] [-l] [-o FILE] [-P FILE]
#   scripts/bench.sh --soak [-N 10000000] [-c 64] [-o FILE]
#
#   -d DURATION   wrk duration of each single run (default 5s; --soak: the warm-up run)
#   -c "N ..."    wrk connection counts, space separated (default "64 256"; --soak: one, default 64)
#   -r ROUNDS     rounds; each round runs every target at every connection count (default 3)
#   -f SECONDS    measured seconds of each fixed-rate forward-auth run at 1000 req/s (default 10)
#   -n LOGINS     measured logins per login kind, after 30 warm-up logins (default 300)
#   -m MIB        MiB streamed through gatehouse each way (default 1024 = 1 GiB)
#   -p SECONDS    CPU profile length (default 10; 0 skips the profile)
#   -l            also measure gatehouse with its access log on (one more wrk target)
#   -o FILE       markdown file whose bench.sh region gets the results (default docs/benchmarks.md)
#   -P FILE       where the CPU profile text goes (default docs/profile-proxy.txt)
#   --soak        instead: N proxied requests through gatehouse (memory sessions), RSS sampled
#   -N REQUESTS   --soak only: request count (default 10000000)
#
# Needs go, wrk, nginx, curl, redis-cli and a Redis at BENCH_REDIS_URL (default
# redis://127.0.0.1:6379/11, keys under "gatehouse-bench:"); slapd for the LDAP login and
# psql + a PostgreSQL at 127.0.0.1:5432 (user postgres) for the PostgreSQL login, each skipped
# with a note when absent (BENCH_PG=0 skips PostgreSQL). Loopback ports 27080…27390
# (BENCH_PORT_BASE=N moves them to N…N+310). Everything it starts is stopped by PID on exit;
# KEEP_DIR=1 keeps the temp dir (configs, logs, raw outputs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=scripts/lib-bench.sh
. "$ROOT/scripts/lib-bench.sh"

MODE=bench
if [ "${1:-}" = --soak ] || [ "${1:-}" = -soak ]; then
	MODE=soak
	shift
fi
DURATION=5s
CONNS=""
ROUNDS=3
FA_SECS=10
LOGINS=300
STREAM_MIB=1024
PROF_SECS=10
ACCESSLOG=0
OUT="$ROOT/docs/benchmarks.md"
PROFILE_OUT="$ROOT/docs/profile-proxy.txt"
SOAK_N=10000000
usage() {
	sed -n '5,/^set -euo pipefail$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}
bad() {
	echo "bench: $*" >&2
	exit 2
}
bench_only=""
while getopts "d:c:r:f:n:m:p:lo:P:N:h" opt; do
	case "$opt" in
	d) DURATION=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	r) ROUNDS=$OPTARG bench_only+=" -r" ;;
	f) FA_SECS=$OPTARG bench_only+=" -f" ;;
	n) LOGINS=$OPTARG bench_only+=" -n" ;;
	m) STREAM_MIB=$OPTARG bench_only+=" -m" ;;
	p) PROF_SECS=$OPTARG bench_only+=" -p" ;;
	l) ACCESSLOG=1 bench_only+=" -l" ;;
	o) OUT=$OPTARG ;;
	P) PROFILE_OUT=$OPTARG bench_only+=" -P" ;;
	N)
		SOAK_N=$OPTARG
		[ "$MODE" = soak ] || bad "-N is the request count of --soak (scripts/bench.sh --soak -N $OPTARG)"
		;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
[ "$MODE" = bench ] || [ -z "$bench_only" ] || bad "--soak takes only -N, -c, -d and -o (not$bench_only)"
if [ -z "$CONNS" ]; then
	if [ "$MODE" = soak ]; then CONNS=64; else CONNS="64 256"; fi
fi
posint() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "$1 wants a positive integer, got '$2'"; }
posint -r "$ROUNDS"
posint -f "$FA_SECS"
posint -n "$LOGINS"
posint -m "$STREAM_MIB"
posint -N "$SOAK_N"
[[ "$PROF_SECS" =~ ^[0-9]+$ ]] || bad "-p wants seconds (0 skips the profile), got '$PROF_SECS'"
[[ "$DURATION" =~ ^[1-9][0-9]*[smh]?$ ]] || bad "-d wants a wrk duration like 5s, got '$DURATION'"
read -r -a CONN_LIST <<<"$CONNS"
[ "${#CONN_LIST[@]}" -gt 0 ] || usage
for c in "${CONN_LIST[@]}"; do
	[[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -ge 2 ] || bad "-c wants numbers >= 2 (wrk -t2), got '$c'"
done
[ "$MODE" = bench ] || [ "${#CONN_LIST[@]}" -eq 1 ] || bad "--soak runs at one connection count, got -c '$CONNS'"
case $OUT in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
case $PROFILE_OUT in /*) ;; *) PROFILE_OUT="$ROOT/$PROFILE_OUT" ;; esac

HOST=127.0.0.1
# Fixed loopback ports below the ephemeral range (32768–60999), so a client socket of some
# other test never holds one of them; BENCH_PORT_BASE moves them all (27080 … base+310).
BASE=${BENCH_PORT_BASE:-27080}
[[ "$BASE" =~ ^[0-9]+$ ]] && [ "$BASE" -ge 1024 ] && [ "$BASE" -le 32400 ] ||
	bad "BENCH_PORT_BASE wants a port 1024..32400 (the benchmark uses base..base+310), got '$BASE'"
PORT_GH=$BASE                  # gatehouse, memory sessions ("gatehouse-memory")
PORT_UP=$((BASE + 1))          # bench/upstream ("direct")
PORT_GH_LOG=$((BASE + 2))      # gatehouse, memory sessions, access log on (-l)
PORT_GH_REDIS=$((BASE + 3))    # gatehouse, Redis sessions ("gatehouse-redis")
PORT_GH_PG=$((BASE + 4))       # gatehouse, customer_user in PostgreSQL (logins only)
PORT_GH_LDAP=$((BASE + 5))     # gatehouse, LDAP auth and source (logins only)
PORT_NGINX1=$((BASE + 10))     # nginx, 1 worker ("nginx-1w")
PORT_NGINX2=$((BASE + 11))     # nginx, 2 workers ("nginx-2w")
PORT_FAST=$((BASE + 12))       # bench/fastproxy: fasthttp without authentication ("fasthttp-bare")
ADMIN_OFFSET=100               # each gatehouse's admin listener (metrics, pprof) is its port + 100
PORT_LDAP=$((BASE + 309))      # slapd (ldaps on the next port)
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/11}
REDIS_PREFIX="gatehouse-bench:"
PG_PORT=${PG_PORT:-5432}
PG_DB=gatehouse_bench
FA_RATE=1000
# The URL forward-auth is asked about: an OTRS customer page with a query, as nginx sends it.
FA_URI='/otrs/customer.pl?Action=CustomerTicketOverview;Subaction=MyTickets'
FA_URL="https://portal.example.com$FA_URI"

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "FAIL: $*"
	exit 1
}

TOOLS=(wrk curl go)
[ "$MODE" = soak ] || TOOLS+=(nginx redis-cli)
for tool in "${TOOLS[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/install-packages.sh bench installs the benchmark's packages)"
done
PORTS=("$PORT_GH" "$PORT_UP" "$((PORT_GH + ADMIN_OFFSET))")
[ "$MODE" = soak ] || PORTS+=("$PORT_GH_LOG" "$PORT_GH_REDIS" "$PORT_GH_PG" "$PORT_GH_LDAP" "$PORT_NGINX1" "$PORT_NGINX2" "$PORT_FAST"
	"$((PORT_GH_REDIS + ADMIN_OFFSET))" "$((PORT_GH_LOG + ADMIN_OFFSET))" "$PORT_LDAP" "$((PORT_LDAP + 1))")
for p in "${PORTS[@]}"; do
	if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
		die "port $p is already in use (another bench run? ss -ltnp 'sport = :$p')"
	fi
done

START_TS=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
CORES=$(nproc)
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
PIDS=()
LDAP_STOP=""
LDAP_PID=""
PG_CREATED=0
REDIS_USED=0

# forget_pid PID: drops a reaped PID from PIDS, so the exit trap never signals a process that
# later got the same number.
forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

psql_admin() { PGCONNECT_TIMEOUT=3 psql -X -w -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

cleanup() {
	local rc=$? pid i
	set +e
	# Stop in reverse start order: TERM, then KILL whatever is still there after 5 s.
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "pid $pid still running after TERM; KILL"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	# slapd daemonises (scripts/start-ldap.sh); its stop script ends it by its PID file, or,
	# should that be gone with the temp dir, the PID read after start-up (if it is still slapd).
	if [ -n "$LDAP_STOP" ] && [ -x "$LDAP_STOP" ]; then
		"$LDAP_STOP" >/dev/null 2>&1
	elif [ -n "$LDAP_PID" ] && [ "$(ps -o comm= -p "$LDAP_PID" 2>/dev/null)" = slapd ]; then
		kill -TERM "$LDAP_PID" 2>/dev/null
	fi
	[ "$PG_CREATED" = 0 ] || psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
	if [ "$REDIS_USED" = 1 ]; then
		redis-cli -u "$REDIS_URL" --scan --pattern "$REDIS_PREFIX*" 2>/dev/null |
			xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1
	fi
	if [ "${KEEP_DIR:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		log "kept $DIR (logs, configs, raw outputs)"
	else
		rm -rf "$DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -----------------------------------------------------------------------------------
log "building gatehouse, bench/upstream and bench/loadgen into $DIR/bin"
go build -o "$DIR/bin/gatehouse" ./cmd/gatehouse
go build -o "$DIR/bin/upstream" ./bench/upstream
go build -o "$DIR/bin/loadgen" ./bench/loadgen
[ "$MODE" = soak ] || go build -o "$DIR/bin/fastproxy" ./bench/fastproxy
# The Go sources the binaries were built from: a dirty tree is named in the results.
COMMIT=$(source_commit)

# wait_port PORT PID NAME: until something answers HTTP on PORT (15 s), while PID lives.
wait_port() {
	local port=$1 pid=$2 name=$3
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (logs in $DIR/$name)"
		if curl -s -o /dev/null --max-time 1 "http://$HOST:$port/" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	die "$name does not answer on port $port after 15 s (logs in $DIR/$name)"
}

# --- direct upstream ---------------------------------------------------------------------------
mkdir -p "$DIR/upstream"
"$DIR/bin/upstream" -listen "$HOST:$PORT_UP" >"$DIR/upstream/log" 2>&1 &
PID_UP=$!
PIDS+=("$PID_UP")
wait_port "$PORT_UP" "$PID_UP" upstream

# --- nginx: one instance per worker count ------------------------------------------------------
# start_nginx NAME PORT WORKERS: sets LAST_PID.
start_nginx() {
	local name=$1 port=$2 workers=$3 d="$DIR/$1"
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
# written by scripts/bench.sh
user $(id -un) $(id -gn);
worker_processes $workers;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  # nginx closes a client connection after 1000 requests by default; wrk, fasthttp and net/http
  # have no such limit, so lift it on both sides to keep the comparison about proxying.
  keepalive_requests 1000000;
  upstream bench_upstream {
    server $HOST:$PORT_UP;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen $HOST:$port;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
	nginx -t -q -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" 2>"$d/test.log" ||
		die "nginx -t ($name): $(cat "$d/test.log")"
	nginx -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" -g 'daemon off;' >"$d/stdout.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
	wait_port "$port" "$LAST_PID" "$name"
	local n
	n=$(pgrep -c -P "$LAST_PID" || true)
	[ "$n" = "$workers" ] || die "$name: $n worker processes, want $workers"
}

# --- gatehouse --------------------------------------------------------------------------------
# gh_yaml NAME PORT STORE ACCESS_LOG LEVEL: the configuration of a proxying gatehouse. All of
# them are alike but for the session store and logging: the demo user (sha2, so the sha2 login
# is measured) in SQLite in the temp dir, route / → the upstream, the admin listener on
# PORT+100 with pprof, and 127.0.0.1 a trusted proxy so that forward-auth answers it.
gh_yaml() {
	local name=$1 port=$2 store=$3 access=$4 level=$5 d="$DIR/$1"
	cat <<EOF
# written by scripts/bench.sh
server:
  listen: $HOST:$port
  trusted_proxies: [127.0.0.1/32]
admin:
  listen: $HOST:$((port + ADMIN_OFFSET))
  pprof: true
sessions:
  store: $store
EOF
	if [ "$store" = redis ]; then
		cat <<EOF
  redis:
    url: $REDIS_URL
    key_prefix: "$REDIS_PREFIX"
    timeout: 2s
EOF
	fi
	cat <<EOF
routes:
  - name: bench
    path_prefix: /
    upstream: http://$HOST:$PORT_UP
customer_auth:
  - module: db
    crypt_type: sha2
customer_user:
  - name: Database Backend
    module: db
    params:
      dsn: sqlite://$d/gatehouse.db
      table: customer_user
log:
  level: $level
  access_log: $access
limits:
  max_body_size: 0
EOF
}

# start_gatehouse NAME PORT [--demo]: checks and starts $DIR/NAME/config.yaml (written by the
# caller), waits for its port and sets LAST_PID.
start_gatehouse() {
	local name=$1 port=$2 d="$DIR/$1"
	shift 2
	"$DIR/bin/gatehouse" check-config --config "$d/config.yaml" >"$d/check-config.log" 2>&1 ||
		die "gatehouse check-config $name: $(cat "$d/check-config.log")"
	(cd "$d" && exec "$DIR/bin/gatehouse" serve --config "$d/config.yaml" "$@" >"$d/stdout.log" 2>"$d/stderr.log") &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
	wait_port "$port" "$LAST_PID" "$name"
}

# login NAME PORT USER [PASSWORD]: logs in (the --demo password by default), writes the
# password to $DIR/NAME/password for loadgen and echoes the session cookie's value.
login() {
	local name=$1 port=$2 user=$3 pw=${4:-} d="$DIR/$1" jq_pw sid code
	if [ -z "$pw" ]; then
		pw=$(sed -n 's/^  password: //p' "$d/stdout.log" | head -n1)
		[ -n "$pw" ] || die "$name: no '  password: ' line in the --demo output ($d/stdout.log)"
	fi
	(umask 077 && printf '%s\n' "$pw" >"$d/password")
	jq_pw=${pw//\\/\\\\}
	jq_pw=${jq_pw//\"/\\\"}
	code=$(curl -sS -o "$d/login.out" -w '%{http_code}' -c "$d/jar" -H 'Content-Type: application/json' \
		-d "{\"username\":\"$user\",\"password\":\"$jq_pw\"}" "http://$HOST:$port/.gatehouse/api/login") ||
		die "$name: login request failed"
	[ "$code" = 200 ] || die "$name: login as $user answered $code: $(head -c 300 "$d/login.out")"
	sid=$(awk '$6 == "gatehouse_session" { print $7 }' "$d/jar" | tail -n1)
	[ -n "$sid" ] || die "$name: login gave no gatehouse_session cookie"
	echo "$sid"
}

# check_proxy NAME PORT SID: the authenticated GET answers 200 with the upstream's body, an
# anonymous one does not, the upstream sees Remote-User and not the session cookie — so the
# numbers are the authenticated proxy path, never 401s or 302s to the login page.
check_proxy() {
	local name=$1 port=$2 sid=$3 code hdrs
	code=$(curl -sS -o "$DIR/$name.body" -w '%{http_code}' -H "Cookie: gatehouse_session=$sid" "http://$HOST:$port/") ||
		die "$name: sanity request failed"
	[ "$code" = 200 ] || die "$name: sanity request answered $code, not 200 (would measure the wrong path)"
	cmp -s "$DIR/direct.body" "$DIR/$name.body" || die "$name: body differs from the upstream's"
	[[ "$name" == gatehouse* ]] || return 0
	code=$(curl -sS -o /dev/null -w '%{http_code}' "http://$HOST:$port/") || die "$name: anonymous request failed"
	[ "$code" != 200 ] || die "$name: an anonymous request answered 200: the route is not protected"
	hdrs=$(curl -sS -H "Cookie: gatehouse_session=$sid" "http://$HOST:$port/.bench/headers") ||
		die "$name: header request failed"
	grep -qx 'Remote-User: demo' <<<"$hdrs" || die "$name: upstream did not get Remote-User: demo; it got: $hdrs"
	! grep -q 'gatehouse_session' <<<"$hdrs" || die "$name: the session cookie reached the upstream"
}

curl -sS -o "$DIR/direct.body" "http://$HOST:$PORT_UP/" || die "direct upstream request failed"
[ "$(wc -c <"$DIR/direct.body")" -eq 1024 ] || die "direct upstream body is not 1024 bytes"

mkdir -p "$DIR/gatehouse-memory"
gh_yaml gatehouse-memory "$PORT_GH" memory false warn >"$DIR/gatehouse-memory/config.yaml"
start_gatehouse gatehouse-memory "$PORT_GH" --demo
PID_GH=$LAST_PID
SID_GH=$(login gatehouse-memory "$PORT_GH" demo)
check_proxy gatehouse-memory "$PORT_GH" "$SID_GH"
ADMIN_GH="http://$HOST:$((PORT_GH + ADMIN_OFFSET))"

CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: utime+stime of PID and its child processes (nginx workers), in clock ticks.
cpu_ticks() {
	local total=0 p t
	for p in "$1" $(pgrep -P "$1" || true); do
		# Fields after the ")" of comm: state is 1, utime 12, stime 13.
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}
# mib PID FIELD: VmRSS or VmHWM of PID in MiB.
mib() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
# reset_hwm PID: restarts the kernel's peak-RSS count (VmHWM) of PID from its current RSS, so
# the next reading is the peak of what follows (proc(5), clear_refs "5").
reset_hwm() { echo 5 >"/proc/$1/clear_refs" || die "cannot reset the peak RSS of pid $1 (/proc/$1/clear_refs)"; }
# to_ms VALUE: wrk's 812.00us / 3.21ms / 1.02s / 2.00m → milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.2f", n }'
}
# to_bytes 120.52MB → bytes.
to_bytes() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "KB") n *= 1024; else if (u == "MB") n *= 1048576; else if (u == "GB") n *= 1073741824
		printf "%.0f", n }'
}
# kv KEY FILE: the value of KEY in loadgen's key=value line.
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) { j = index($i, "="); if (substr($i, 1, j - 1) == k) print substr($i, j + 1) } }' "$2" | tail -n1; }
# heap_mib: gatehouse-memory's Go heap in use (from its /metrics), in MiB.
heap_mib() {
	curl -sS --max-time 5 "$ADMIN_GH/metrics" 2>/dev/null |
		awk '$1 == "go_memstats_heap_inuse_bytes" { printf "%.1f", $2 / 1048576 }'
}
machine_lines() {
	echo "- machine: $CORES cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r); load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- gatehouse $COMMIT, $(go version | awk '{ print $3 }'), GOMAXPROCS default ($CORES); $(nginx -v 2>&1 | sed 's/^nginx version: //'); $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }')"
}
# wrk_run CONNS DURATION OUT SID URL: one wrk run; prints "requests errors" (errors: socket
# errors + non-2xx/3xx answers).
wrk_run() {
	local conns=$1 dur=$2 out=$3 sid=$4 url=$5 reqs errs
	wrk -t2 -c"$conns" -d"$dur" --latency -H "Cookie: gatehouse_session=$sid" "$url" >"$out" 2>&1 ||
		die "wrk against $url failed: $(tail -n3 "$out")"
	reqs=$(awk '/requests in/ { print $1 }' "$out")
	errs=$(awk '/Socket errors:/ { gsub(",", ""); s += $4 + $6 + $8 + $10 } /Non-2xx or 3xx responses:/ { s += $5 } END { print s + 0 }' "$out")
	[ -n "$reqs" ] || die "cannot parse wrk output $out"
	echo "$reqs $errs"
}

# ================================================================================================
# --soak: N proxied requests through gatehouse-memory, RSS sampled throughout.
# ================================================================================================
if [ "$MODE" = soak ]; then
	conns=${CONN_LIST[0]}
	SAMPLES="$DIR/soak-rss.tsv"
	# A sample every 5 s from the side, to catch growth inside a chunk as well.
	(
		# The sleep is waited for, so TERM ends the sampler at once and leaves no sleep behind.
		trap 'kill "$sp" 2>/dev/null; exit 0' TERM
		while kill -0 "$PID_GH" 2>/dev/null; do
			printf '%s\t%s\n' "$(date +%s)" "$(mib "$PID_GH" VmRSS)" >>"$SAMPLES"
			sleep 5 &
			sp=$!
			wait "$sp"
		done
	) &
	PID_SAMPLER=$!
	PIDS+=("$PID_SAMPLER")
	RSS_START=$(mib "$PID_GH" VmRSS)
	HEAP_START=$(heap_mib)
	log "soak: $SOAK_N requests through gatehouse-memory at c$conns; RSS at start $RSS_START MiB"
	# The first 10 % of the requests are the warm-up (pools, heap and connection buffers settle,
	# the GC finds its pace): the RSS at the end of the run that completes them is the baseline
	# for "flat". The first run lasts -d, later ones 30 s; the last one is sized from the
	# previous run's rate, so the count ends a little above N.
	done_n=0 errs_total=0 chunk=0 warm_chunk=""
	: >"$DIR/soak-chunks.tsv"
	# At least one run follows the warm-up, or a short trial would compare the warm-up with itself.
	while [ "$done_n" -lt "$SOAK_N" ] || [ -z "$warm_chunk" ] || [ "$chunk" = "$warm_chunk" ]; do
		chunk=$((chunk + 1))
		if [ "$chunk" = 1 ]; then
			dur=$DURATION
		else
			rate=$(awk '/^Requests\/sec:/ { print $2 }' "$DIR/soak-wrk-$((chunk - 1)).txt")
			dur=$(awk -v left="$((SOAK_N - done_n))" -v r="$rate" 'BEGIN { s = int(left / r + 0.999); print (s < 1 ? 1 : (s > 30 ? 30 : s)) "s" }')
		fi
		res=$(wrk_run "$conns" "$dur" "$DIR/soak-wrk-$chunk.txt" "$SID_GH" "http://$HOST:$PORT_GH/")
		read -r n e <<<"$res"
		done_n=$((done_n + n))
		errs_total=$((errs_total + e))
		rss=$(mib "$PID_GH" VmRSS)
		heap=$(heap_mib)
		printf '%s\t%s\t%s\t%s\t%s\n' "$chunk" "$done_n" "$rss" "$heap" "$(awk '/^Requests\/sec:/ { print $2 }' "$DIR/soak-wrk-$chunk.txt")" >>"$DIR/soak-chunks.tsv"
		if [ -z "$warm_chunk" ] && [ $((done_n * 10)) -ge "$SOAK_N" ]; then
			warm_chunk=$chunk
			WARM_N=$done_n
			RSS_WARM=$rss
			HEAP_WARM=$heap
		fi
		log "soak: run $chunk ($dur): $done_n requests, RSS $rss MiB, heap in use ${heap:-?} MiB, errors $errs_total"
	done
	RSS_END=$(mib "$PID_GH" VmRSS)
	HEAP_END=$(heap_mib)
	RSS_PEAK=$(mib "$PID_GH" VmHWM)
	kill "$PID_SAMPLER" 2>/dev/null || true
	wait "$PID_SAMPLER" 2>/dev/null || true
	forget_pid "$PID_SAMPLER"
	ELAPSED=$(($(date +%s) - START_TS))
	GROWTH=$(awk -v a="$RSS_WARM" -v b="$RSS_END" 'BEGIN { printf "%.1f", (b - a) / a * 100 }')
	FLAT=$(awk -v g="$GROWTH" 'BEGIN { print (g < 10 ? "PASS" : "MISS") }')
	SAMPLE_MAX=$(awk -F'\t' '$2 > m { m = $2 } END { print m + 0 }' "$SAMPLES")
	{
		echo "## Soak — $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		machine_lines
		echo "- \`scripts/bench.sh --soak -N $SOAK_N -c $conns\`: $done_n proxied GETs with the demo session through gatehouse (memory sessions) in $chunk wrk runs, ${ELAPSED}s in all; errors (socket + non-2xx/3xx): $errs_total; \"after warm-up\" is after run $warm_chunk ($WARM_N requests, the first ≥ 10 %)"
		echo
		echo "| RSS MiB at start | after warm-up | end | peak (VmHWM) | largest 5 s sample | end − after warm-up | Go heap in use MiB: start / after warm-up / end |"
		echo "|---:|---:|---:|---:|---:|---:|---|"
		echo "| $RSS_START | $RSS_WARM | $RSS_END | $RSS_PEAK | $SAMPLE_MAX | $GROWTH % | ${HEAP_START:-?} / ${HEAP_WARM:-?} / ${HEAP_END:-?} |"
		echo
		echo "- RSS after each wrk run (MiB): $(awk -F'\t' '{ printf "%s%s", (NR > 1 ? ", " : ""), $3 }' "$DIR/soak-chunks.tsv")"
		echo "- req/s of each run: $(awk -F'\t' '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $5 }' "$DIR/soak-chunks.tsv")"
		echo "- $FLAT RSS stays flat over $done_n requests: end − after warm-up = $GROWTH % (target < 10 %)"
	} >"$DIR/soak.md"
	cat "$DIR/soak.md"
	write_region "$OUT" bench.sh-soak "$DIR/soak.md"
	[ "$errs_total" = 0 ] || log "note: $errs_total errors during the soak; KEEP_DIR=1 and read $DIR/soak-wrk-*.txt"
	log "wrote the soak region of $OUT"
	exit 0
fi

# ================================================================================================
# make bench
# ================================================================================================

# --- the other proxies and gatehouses --------------------------------------------------------
start_nginx nginx-1w "$PORT_NGINX1" 1
PID_NGINX1=$LAST_PID
start_nginx nginx-2w "$PORT_NGINX2" 2
PID_NGINX2=$LAST_PID
check_proxy nginx-1w "$PORT_NGINX1" "$SID_GH"
check_proxy nginx-2w "$PORT_NGINX2" "$SID_GH"
# The floor of gatehouse's own stack: fasthttp server and client as gatehouse sets them up,
# no authentication, the same headers to the upstream as gatehouse's (fixed values).
mkdir -p "$DIR/fasthttp-bare"
"$DIR/bin/fastproxy" -listen "$HOST:$PORT_FAST" -upstream "$HOST:$PORT_UP" >"$DIR/fasthttp-bare/log" 2>&1 &
PID_FAST=$!
PIDS+=("$PID_FAST")
wait_port "$PORT_FAST" "$PID_FAST" fasthttp-bare
check_proxy fasthttp-bare "$PORT_FAST" "$SID_GH"
# header_names PORT: the header names the upstream gets through the proxy on PORT, sorted.
header_names() {
	curl -sS -H "Cookie: gatehouse_session=$SID_GH" "http://$HOST:$1/.bench/headers" | tr -d '\r' | sed -n 's/^\([^:]*\): .*/\1/p' | sort
}
[ "$(header_names "$PORT_FAST")" = "$(header_names "$PORT_GH")" ] ||
	die "fasthttp-bare does not send the upstream gatehouse's headers (bench/fastproxy demoHeaders):
$(diff <(header_names "$PORT_FAST") <(header_names "$PORT_GH"))"

redis-cli -u "$REDIS_URL" ping >"$DIR/redis-ping.log" 2>&1 && grep -qx PONG "$DIR/redis-ping.log" ||
	die "no Redis at $REDIS_URL ($(head -c 200 "$DIR/redis-ping.log")); set BENCH_REDIS_URL"
REDIS_USED=1
mkdir -p "$DIR/gatehouse-redis"
gh_yaml gatehouse-redis "$PORT_GH_REDIS" redis false warn >"$DIR/gatehouse-redis/config.yaml"
start_gatehouse gatehouse-redis "$PORT_GH_REDIS" --demo
PID_GH_REDIS=$LAST_PID
SID_GH_REDIS=$(login gatehouse-redis "$PORT_GH_REDIS" demo)
check_proxy gatehouse-redis "$PORT_GH_REDIS" "$SID_GH_REDIS"

if [ "$ACCESSLOG" = 1 ]; then
	mkdir -p "$DIR/gatehouse+accesslog"
	# The access log is written at level info: with level warn, access_log true writes nothing.
	gh_yaml gatehouse+accesslog "$PORT_GH_LOG" memory true info >"$DIR/gatehouse+accesslog/config.yaml"
	start_gatehouse gatehouse+accesslog "$PORT_GH_LOG" --demo
	PID_GH_LOG=$LAST_PID
	SID_GH_LOG=$(login gatehouse+accesslog "$PORT_GH_LOG" demo)
	check_proxy gatehouse+accesslog "$PORT_GH_LOG" "$SID_GH_LOG"
fi

# PostgreSQL: the sha2 login with customer_user in a throwaway database (dropped on exit).
PG_NOTE=""
if [ "${BENCH_PG:-1}" = 0 ]; then
	PG_NOTE="skipped (BENCH_PG=0)"
elif ! command -v psql >/dev/null 2>&1; then
	PG_NOTE="skipped (no psql)"
elif ! psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >"$DIR/pg.log" 2>&1; then
	PG_NOTE="skipped (no PostgreSQL at $HOST:$PG_PORT as user postgres: $(head -c 200 "$DIR/pg.log"))"
else
	psql_admin -c "CREATE DATABASE $PG_DB" >>"$DIR/pg.log" 2>&1 || die "CREATE DATABASE $PG_DB: $(cat "$DIR/pg.log")"
	PG_CREATED=1
	mkdir -p "$DIR/gatehouse-pg"
	gh_yaml gatehouse-pg "$PORT_GH_PG" memory false warn |
		sed -e "s|dsn: sqlite://.*|dsn: postgres://postgres@$HOST:$PG_PORT/$PG_DB?sslmode=disable|" \
			-e "s|listen: $HOST:$((PORT_GH_PG + ADMIN_OFFSET))|listen: \"\"|" >"$DIR/gatehouse-pg/config.yaml"
	start_gatehouse gatehouse-pg "$PORT_GH_PG" --demo
	login gatehouse-pg "$PORT_GH_PG" demo >/dev/null
fi

# LDAP: scripts/start-ldap.sh's test directory (alice in the posixGroup developers) on its
# own port; search bind, group check, user bind, then the customer-user record from LDAP.
LDAP_NOTE=""
if ! command -v slapd >/dev/null 2>&1 && [ ! -x /usr/sbin/slapd ]; then
	LDAP_NOTE="skipped (slapd not installed: scripts/install-packages.sh)"
else
	# Its stop script is written before slapd starts: set first, so a failure half-way still stops it.
	LDAP_STOP="$DIR/ldap/stop.sh"
	scripts/start-ldap.sh "$DIR/ldap" "$PORT_LDAP" >"$DIR/ldap.log" 2>&1 || die "start-ldap.sh: $(tail -n5 "$DIR/ldap.log")"
	read -r LDAP_PID <"$DIR/ldap/slapd.pid" || true
	mkdir -p "$DIR/gatehouse-ldap"
	base=dc=example,dc=com
	cat >"$DIR/gatehouse-ldap/config.yaml" <<EOF
# written by scripts/bench.sh
server: {listen: $HOST:$PORT_GH_LDAP}
admin: {listen: ""}
sessions: {store: memory}
routes: [{name: bench, path_prefix: /, upstream: "http://$HOST:$PORT_UP"}]
customer_auth:
  - module: ldap
    host: ldap://$HOST:$PORT_LDAP
    base_dn: ou=people,$base
    uid: uid
    search_user_dn: cn=readonly,$base
    search_user_pw: readonlypass
    group_dn: cn=developers,ou=groups,$base
    access_attr: memberUid
    user_attr: UID
customer_user:
  - name: LDAP
    module: ldap
    params: {host: "ldap://$HOST:$PORT_LDAP", base_dn: "ou=people,$base", user_dn: "cn=readonly,$base", user_pw: readonlypass}
log: {level: warn}
EOF
	start_gatehouse gatehouse-ldap "$PORT_GH_LDAP"
	login gatehouse-ldap "$PORT_GH_LDAP" alice alicepass >/dev/null
fi

# Forward-auth answers 200 with the identity for the session, 401 without one.
# fa_check NAME PORT SID
fa_check() {
	local name=$1 port=$2 sid=$3 code
	code=$(curl -sS -o /dev/null -D "$DIR/$name/fa.headers" -w '%{http_code}' -H "Cookie: gatehouse_session=$sid" \
		-H "X-Original-URL: $FA_URL" -H "X-Original-URI: $FA_URI" -H "X-Original-Method: GET" \
		"http://$HOST:$port/.gatehouse/auth") || die "$name: forward-auth request failed"
	[ "$code" = 200 ] || die "$name: forward-auth with the session answered $code, not 200 (headers in $DIR/$name/fa.headers)"
	tr -d '\r' <"$DIR/$name/fa.headers" | grep -qix 'Remote-User: demo' || die "$name: forward-auth answer has no Remote-User: demo"
	code=$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Original-URL: $FA_URL" -H "X-Original-URI: $FA_URI" \
		-H "X-Original-Method: GET" "http://$HOST:$port/.gatehouse/auth") || die "$name: anonymous forward-auth request failed"
	[ "$code" = 401 ] || die "$name: anonymous forward-auth answered $code, not 401"
}
fa_check gatehouse-memory "$PORT_GH" "$SID_GH"
fa_check gatehouse-redis "$PORT_GH_REDIS" "$SID_GH_REDIS"
# Log lines from here on are the gatehouses' complaints under load (start-up notes are not).
GH_LOG_START=$(cat "$DIR"/gatehouse-memory/stderr.log "$DIR"/gatehouse-redis/stderr.log | wc -l)
log "sanity: nginx 1w/2w and the gatehouses answer 200 + the upstream's 1 KiB body; anonymous requests are refused; Remote-User injected, cookie stripped; forward-auth 200/401; logins work (PostgreSQL: ${PG_NOTE:-yes}, LDAP: ${LDAP_NOTE:-yes})"

# --- 1. proxied GET: wrk, interleaved rounds ----------------------------------------------------
TARGETS=(direct nginx-1w nginx-2w fasthttp-bare gatehouse-memory gatehouse-redis)
declare -A URL=(
	[direct]="http://$HOST:$PORT_UP/"
	[nginx-1w]="http://$HOST:$PORT_NGINX1/"
	[fasthttp-bare]="http://$HOST:$PORT_FAST/"
	[nginx-2w]="http://$HOST:$PORT_NGINX2/"
	[gatehouse-memory]="http://$HOST:$PORT_GH/"
	[gatehouse-redis]="http://$HOST:$PORT_GH_REDIS/"
)
# The same request everywhere: each gatehouse gets its own session; the others get one too
# (ignored) so every target receives the same bytes.
declare -A SID=([direct]=$SID_GH [nginx-1w]=$SID_GH [nginx-2w]=$SID_GH [fasthttp-bare]=$SID_GH [gatehouse-memory]=$SID_GH [gatehouse-redis]=$SID_GH_REDIS)
# The server processes whose CPU time is counted for each target (nginx: with its workers).
declare -A SRVPID=([direct]=$PID_UP [nginx-1w]=$PID_NGINX1 [nginx-2w]=$PID_NGINX2 [fasthttp-bare]=$PID_FAST [gatehouse-memory]=$PID_GH [gatehouse-redis]=$PID_GH_REDIS)
if [ "$ACCESSLOG" = 1 ]; then
	TARGETS+=(gatehouse+accesslog)
	URL[gatehouse+accesslog]="http://$HOST:$PORT_GH_LOG/"
	SID[gatehouse+accesslog]=$SID_GH_LOG
	SRVPID[gatehouse+accesslog]=$PID_GH_LOG
fi

RAW="$DIR/results.tsv"
: >"$RAW"
# run_wrk ROUND TARGET CONNS
run_wrk() {
	local round=$1 target=$2 conns=$3 out t0 t1 c0 c1 rps p50 p99 reqs bytes sockerr non2xx cpu
	out="$DIR/wrk-r$round-$target-c$conns.txt"
	c0=$(cpu_ticks "${SRVPID[$target]}")
	t0=$(date +%s.%N)
	wrk -t2 -c"$conns" -d"$DURATION" --latency -H "Cookie: gatehouse_session=${SID[$target]}" "${URL[$target]}" >"$out" 2>&1 ||
		die "wrk against $target failed: $(tail -n3 "$out")"
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "${SRVPID[$target]}")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	reqs=$(awk '/requests in/ { print $1 }' "$out")
	bytes=$(to_bytes "$(awk '/requests in/ { print $5 }' "$out")")
	sockerr=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$out")
	cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", (b - a) / hz / (t1 - t0) * 100 }')
	[ -n "$rps" ] && [ -n "$reqs" ] || die "cannot parse wrk output $out"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$target" "$conns" "$rps" "$p50" "$p99" \
		"${sockerr:-0}" "${non2xx:-0}" "$((bytes / (reqs > 0 ? reqs : 1)))" "$cpu" >>"$RAW"
	log "round $round  c$conns  $(printf '%-20s' "$target") $(printf '%9.0f' "$rps") req/s  p50 ${p50} ms  p99 ${p99} ms  cpu ${cpu}%  errors ${sockerr:-0}  non-2xx/3xx ${non2xx:-0}"
}

# Short warm-up: fills the upstream connection pools and the Go heaps.
for target in "${TARGETS[@]}"; do
	wrk -t2 -c"${CONN_LIST[-1]}" -d1s -H "Cookie: gatehouse_session=${SID[$target]}" "${URL[$target]}" >/dev/null 2>&1 ||
		die "warm-up wrk against $target failed"
done
# A B C D E, then B C D E A, …: the order rotates by one each round, so no target always
# runs first or right after another (the machine's state drifts).
for ((round = 1; round <= ROUNDS; round++)); do
	for conns in "${CONN_LIST[@]}"; do
		for ((i = 0; i < ${#TARGETS[@]}; i++)); do
			run_wrk "$round" "${TARGETS[(i + round - 1) % ${#TARGETS[@]}]}" "$conns"
		done
	done
done
RSS_GH=$(mib "$PID_GH" VmHWM)
RSS_GH_REDIS=$(mib "$PID_GH_REDIS" VmHWM)
RSS_UP=$(mib "$PID_UP" VmHWM)
RSS_NGINX1=""
for p in $(pgrep -P "$PID_NGINX1" || true); do RSS_NGINX1+="$(mib "$p" VmHWM) "; done
RSS_NGINX2=""
for p in $(pgrep -P "$PID_NGINX2" || true); do RSS_NGINX2+="$(mib "$p" VmHWM) "; done

# --- 2. CPU profile of the proxied path ---------------------------------------------------------
# A run of its own (not in the table: profiling costs a few per cent) at the largest
# connection count, gatehouse-memory, with the profile taken from its middle.
PROF_NOTE=""
if [ "$PROF_SECS" -gt 0 ]; then
	pconns=${CONN_LIST[-1]}
	for c in "${CONN_LIST[@]}"; do [ "$c" -le "$pconns" ] || pconns=$c; done
	log "profile: ${PROF_SECS}s CPU profile of gatehouse-memory under wrk -c$pconns"
	wrk -t2 -c"$pconns" -d"$((PROF_SECS + 3))s" --latency -H "Cookie: gatehouse_session=$SID_GH" \
		"http://$HOST:$PORT_GH/" >"$DIR/wrk-profile.txt" 2>&1 &
	PID_WRK=$!
	PIDS+=("$PID_WRK")
	sleep 1
	code=$(curl -sS -o "$DIR/cpu.pprof" -w '%{http_code}' --max-time "$((PROF_SECS + 30))" \
		"$ADMIN_GH/debug/pprof/profile?seconds=$PROF_SECS") || die "fetching the CPU profile failed"
	wait "$PID_WRK" || die "wrk during the profile failed: $(tail -n3 "$DIR/wrk-profile.txt")"
	forget_pid "$PID_WRK"
	[ "$code" = 200 ] || die "/debug/pprof/profile answered $code: $(head -c 300 "$DIR/cpu.pprof")"
	prof_rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$DIR/wrk-profile.txt")
	go tool pprof -top -nodecount=40 "$DIR/bin/gatehouse" "$DIR/cpu.pprof" >"$DIR/pprof-top.txt" 2>"$DIR/pprof.log" ||
		die "go tool pprof: $(cat "$DIR/pprof.log")"
	go tool pprof -top -cum -nodecount=40 "$DIR/bin/gatehouse" "$DIR/cpu.pprof" >"$DIR/pprof-cum.txt" 2>>"$DIR/pprof.log" ||
		die "go tool pprof -cum: $(cat "$DIR/pprof.log")"
	mkdir -p "$(dirname "$PROFILE_OUT")"
	{
		echo "CPU profile of gatehouse's proxied path (written by scripts/bench.sh; see bench/README.md)"
		echo
		echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "commit:  gatehouse $COMMIT, $(go version | awk '{ print $3 }')"
		echo "machine: $CORES cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "load:    wrk -t2 -c$pconns -d$((PROF_SECS + 3))s, GET / with the demo user's session cookie, $prof_rps req/s during the run;"
		echo "         gatehouse with memory sessions, log level warn, no access log; wrk, the upstream and"
		echo "         gatehouse share the $CORES cores. Profile: ${PROF_SECS}s of /debug/pprof/profile (admin.pprof: true)."
		echo
		echo "== go tool pprof -top -nodecount=40 (by own time)"
		echo
		cat "$DIR/pprof-top.txt"
		echo
		echo "== go tool pprof -top -cum -nodecount=40 (by cumulative time)"
		echo
		cat "$DIR/pprof-cum.txt"
	} >"$PROFILE_OUT"
	PROF_NOTE="CPU profile: ${PROF_SECS}s at c$pconns ($prof_rps req/s) in \`${PROFILE_OUT#"$ROOT"/}\`"
	log "wrote $PROFILE_OUT"
fi

# --- 3. forward-auth at a fixed rate -------------------------------------------------------------
# run_rate ID LABEL PID URL [-H HEADER]…: loadgen rate into $DIR/rate-ID.txt, plus the CPU time
# of the server process PID over the run.
FA_ROWS="$DIR/fa.tsv"
: >"$FA_ROWS"
run_rate() {
	local id=$1 name=$2 pid=$3 url=$4 c0 c1 t0 t1 cpu us f="$DIR/rate-$1.txt"
	shift 4
	c0=$(cpu_ticks "$pid")
	t0=$(date +%s.%N)
	"$DIR/bin/loadgen" rate -url "$url" -rate "$FA_RATE" -d "${FA_SECS}s" -warmup 2s "$@" >"$f" 2>"$DIR/rate-$id.err" ||
		die "loadgen rate against $name failed: $(tail -n3 "$DIR/rate-$id.err")"
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$pid")
	# CPU over the whole run (warm-up included) per request sent in it.
	cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", (b - a) / hz / (t1 - t0) * 100 }')
	us=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v n="$((FA_RATE * (FA_SECS + 2)))" 'BEGIN { printf "%.0f", (b - a) / hz / n * 1e6 }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(kv sent "$f")" "$(kv errors "$f")" "$(kv p50_ms "$f")" \
		"$(kv p90_ms "$f")" "$(kv p99_ms "$f")" "$(kv p999_ms "$f")" "$(kv max_ms "$f")" "$(kv svc_p99_ms "$f")" "$(kv lag_p99_ms "$f")" \
		"$cpu" "$us" "$(kv achieved_rps "$f")" >>"$FA_ROWS"
	log "rate $FA_RATE/s  $(printf '%-34s' "$name") p50 $(kv p50_ms "$f") ms  p99 $(kv p99_ms "$f") ms  max $(kv max_ms "$f") ms  errors $(kv errors "$f")  lag p99 $(kv lag_p99_ms "$f") ms  server CPU ${cpu}% (${us} µs/request)"
}
FA_H=(-H "X-Original-URL: $FA_URL" -H "X-Original-URI: $FA_URI" -H "X-Original-Method: GET")
run_rate direct "direct GET / (floor)" "$PID_UP" "http://$HOST:$PORT_UP/"
run_rate fa-memory "gatehouse-memory /.gatehouse/auth" "$PID_GH" "http://$HOST:$PORT_GH/.gatehouse/auth" -H "Cookie: gatehouse_session=$SID_GH" "${FA_H[@]}"
run_rate fa-redis "gatehouse-redis /.gatehouse/auth" "$PID_GH_REDIS" "http://$HOST:$PORT_GH_REDIS/.gatehouse/auth" -H "Cookie: gatehouse_session=$SID_GH_REDIS" "${FA_H[@]}"

# --- 4. logins ---------------------------------------------------------------------------------
LOGIN_ROWS="$DIR/logins.tsv"
: >"$LOGIN_ROWS"
# run_login KIND NAME PORT USER
run_login() {
	local kind=$1 name=$2 port=$3 user=$4 f="$DIR/login-$2.txt"
	"$DIR/bin/loadgen" login -url "http://$HOST:$port/.gatehouse/api/login" -user "$user" \
		-password-file "$DIR/$name/password" -n "$LOGINS" -warmup 30 >"$f" 2>"$DIR/login-$name.err" ||
		die "loadgen login ($kind) failed: $(tail -n3 "$DIR/login-$name.err")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$(kv sent "$f")" "$(kv errors "$f")" "$(kv p50_ms "$f")" \
		"$(kv p90_ms "$f")" "$(kv p99_ms "$f")" "$(kv max_ms "$f")" "$(kv mean_ms "$f")" >>"$LOGIN_ROWS"
	log "login $(printf '%-36s' "$kind") p50 $(kv p50_ms "$f") ms  p99 $(kv p99_ms "$f") ms  errors $(kv errors "$f")"
}
run_login "sha2, customer_user in SQLite" gatehouse-memory "$PORT_GH" demo
if [ -z "$PG_NOTE" ]; then
	run_login "sha2, customer_user in PostgreSQL" gatehouse-pg "$PORT_GH_PG" demo
fi
if [ -z "$LDAP_NOTE" ]; then
	run_login "LDAP (slapd on loopback)" gatehouse-ldap "$PORT_GH_LDAP" alice
fi

# --- 5. streaming: 1 GiB each way through gatehouse-memory -------------------------------------
STREAM_BYTES=$((STREAM_MIB * 1048576))
STREAM_ROWS="$DIR/stream.tsv"
: >"$STREAM_ROWS"
# stream DIRECTION: one transfer with gatehouse's peak RSS counted from just before it.
stream() {
	local dir=$1 before out t n peak
	before=$(mib "$PID_GH" VmRSS)
	reset_hwm "$PID_GH"
	if [ "$dir" = download ]; then
		out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}' -H "Cookie: gatehouse_session=$SID_GH" \
			"http://$HOST:$PORT_GH/.bench/bytes?n=$STREAM_BYTES") || die "streaming download failed"
	else
		out=$(head -c "$STREAM_BYTES" /dev/zero | curl -sS -o "$DIR/upload.out" -w '%{http_code} %{size_upload} %{time_total}' \
			-H "Cookie: gatehouse_session=$SID_GH" -T - "http://$HOST:$PORT_GH/.bench/discard") || die "streaming upload failed"
		[ "$(tr -d '\n' <"$DIR/upload.out")" = "$STREAM_BYTES" ] ||
			die "the upstream received $(head -c 100 "$DIR/upload.out") bytes, not $STREAM_BYTES"
	fi
	read -r code n t <<<"$out"
	# curl's upload size counts the chunked framing too; the upstream's own count is checked above.
	[ "$dir" = upload ] && n=$STREAM_BYTES
	[ "$code" = 200 ] && [ "$n" = "$STREAM_BYTES" ] || die "streaming $dir: status $code, $n bytes (want 200, $STREAM_BYTES)"
	peak=$(mib "$PID_GH" VmHWM)
	printf '%s\t%s\t%s\t%s\t%s\n' "$dir" "$t" "$(awk -v n="$n" -v t="$t" 'BEGIN { printf "%.0f", n / 1048576 / t }')" "$before" "$peak" >>"$STREAM_ROWS"
	log "stream $dir: $STREAM_MIB MiB in ${t}s, gatehouse RSS before $before MiB, peak $peak MiB"
}
stream download
stream upload

# --- results -------------------------------------------------------------------------------------
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
GH_WARNINGS=$(($(cat "$DIR"/gatehouse-memory/stderr.log "$DIR"/gatehouse-redis/stderr.log | wc -l) - GH_LOG_START))
ELAPSED=$(($(date +%s) - START_TS))
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v t="$1" -v c="$2" -v f="$3" '$2 == t && $3 == c { print $f }' "$RAW"; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }

# Per connection count: nginx's best (the worker count with the higher median req/s) and the
# ratios the issue's targets are about. VERDICTS collects one PASS/MISS line per target.
declare -A NGX_BEST MEM_X RED_X MEM_P99X FAST_X MEM_FAST_X
for conns in "${CONN_LIST[@]}"; do
	r1=$(col nginx-1w "$conns" 4 | median)
	r2=$(col nginx-2w "$conns" 4 | median)
	NGX_BEST[$conns]=$(awk -v a="$r1" -v b="$r2" 'BEGIN { print (a >= b ? "nginx-1w" : "nginx-2w") }')
done
{
	echo "## Results of the last run — $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	machine_lines
	echo "- \`scripts/bench.sh -d $DURATION -c \"${CONN_LIST[*]}\" -r $ROUNDS -f $FA_SECS -n $LOGINS -m $STREAM_MIB -p $PROF_SECS$([ "$ACCESSLOG" = 0 ] || echo ' -l')\`, ${ELAPSED}s in all; temp dir on $(stat -f -c %T "$DIR")"
	echo
	echo "### Proxied GET with a valid session"
	echo
	echo "wrk -t2 -c{${CONN_LIST[*]}} -d$DURATION --latency, $ROUNDS rounds, targets interleaved within each round (order rotating); medians over the rounds. Every request carries the demo user's session cookie; gatehouse rows are the authenticated proxy path (session lookup, header stripping, identity headers). ×nginx best compares with the nginx worker count that had the higher median req/s at that connection count (p99 ×nginx best: with that same nginx's p99)."
	echo
	echo "| target | conns | req/s | p50 ms | p99 ms | req/s ×nginx best | req/s ×direct | p99 ×nginx best | server CPU % | req/s per server core | errors | req/s per round |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for conns in "${CONN_LIST[@]}"; do
		best=${NGX_BEST[$conns]}
		rn=$(col "$best" "$conns" 4 | median)
		pn=$(col "$best" "$conns" 6 | median)
		rd=$(col direct "$conns" 4 | median)
		for target in "${TARGETS[@]}"; do
			r=$(col "$target" "$conns" 4 | median)
			p50=$(col "$target" "$conns" 5 | median)
			p99=$(col "$target" "$conns" 6 | median)
			cpu=$(col "$target" "$conns" 10 | median)
			percore=$(awk -F'\t' -v t="$target" -v c="$conns" '$2 == t && $3 == c && $10 > 0 { print $4 / ($10 / 100) }' "$RAW" | median)
			errs=$(($(col "$target" "$conns" 7 | sum) + $(col "$target" "$conns" 8 | sum)))
			per=$(col "$target" "$conns" 4 | awk '{ printf "%s%.0f", (NR > 1 ? " / " : ""), $1 }')
			awk -v t="$target" -v c="$conns" -v r="$r" -v p50="$p50" -v p99="$p99" -v rn="$rn" -v rd="$rd" -v pn="$pn" \
				-v cpu="$cpu" -v pc="$percore" -v e="$errs" -v per="$per" -v best="$best" 'BEGIN {
				printf "| %s%s | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %d | %s |\n",
					t, (t == best ? " (best)" : ""), c, r, p50, p99, r / rn, r / rd, p99 / pn, cpu, pc, e, per }'
			case $target in
			gatehouse-memory)
				MEM_X[$conns]=$(awk -v r="$r" -v rn="$rn" 'BEGIN { printf "%.2f", r / rn }')
				MEM_P99X[$conns]=$(awk -v p="$p99" -v pn="$pn" 'BEGIN { printf "%.2f", p / pn }')
				;;
			gatehouse-redis) RED_X[$conns]=$(awk -v r="$r" -v rn="$rn" 'BEGIN { printf "%.2f", r / rn }') ;;
			fasthttp-bare) FAST_X[$conns]=$(awk -v r="$r" -v rn="$rn" 'BEGIN { printf "%.2f", r / rn }') ;;
			esac
		done
	done
	echo
	echo "- peak RSS (VmHWM) after the rounds: gatehouse-memory $RSS_GH MiB, gatehouse-redis $RSS_GH_REDIS MiB, upstream $RSS_UP MiB, nginx-1w worker ${RSS_NGINX1% } MiB, nginx-2w workers ${RSS_NGINX2% } MiB"
	echo "- fasthttp-bare (\`bench/fastproxy\`) is the floor of gatehouse's own stack: fasthttp's server and upstream client set up as gatehouse sets them up, forwarding with the same headers gatehouse sends the upstream (fixed values) and no authentication. gatehouse's distance to it is what gatehouse's own work costs; its distance to nginx is what the Go/fasthttp stack and those headers cost (nginx forwards none)."
	echo "- server CPU % = CPU time of the target's server process (nginx: its workers; direct: the upstream; gatehouse-redis: not Redis's own) / wall time; 100 = one core. req/s per server core = req/s ÷ (CPU % / 100), median of the rounds: the cost per request, steadier than req/s on a busy machine. wrk, the upstream and the proxy share the $CORES cores, so req/s is CPU-bound and noisy."
	echo "- errors = wrk socket errors + non-2xx/3xx responses, summed over the rounds; mean response size $(awk -F'\t' '$2 ~ /^gatehouse/ { s += $9; n++ } END { if (n) printf "%.0f", s / n }' "$RAW") bytes through gatehouse, $(awk -F'\t' '$2 == "direct" { s += $9; n++ } END { if (n) printf "%.0f", s / n }' "$RAW") direct (1 KiB body + headers)"
	[ -z "$PROF_NOTE" ] || echo "- $PROF_NOTE (a run of its own after the rounds, not in the table)"
	echo
	echo "### Forward-auth at a fixed $FA_RATE requests/s"
	echo
	echo "\`loadgen rate\`: open loop, ${FA_SECS}s measured after 2s of warm-up, 8 keep-alive connections; latency from each request's *intended* send time (no coordinated omission). \`GET /.gatehouse/auth\` with the session cookie and nginx's X-Original-URL/-URI/-Method for \`$FA_URL\`; the direct row is the upstream's \`GET /\` with the same tool: the floor of tool, loopback and machine. Service p99: from the moment a connection started sending. Generator lag: how late loadgen itself handed requests over (descheduled on a busy machine) — already inside the latencies; a large lag means the machine, not the server, made the tail."
	echo
	echo "| target | requests | errors | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | service p99 ms | generator lag p99 ms | server CPU % | server CPU µs/request |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' "$FA_ROWS"
	echo
	echo "### Logins"
	echo
	echo "\`loadgen login\`: \`POST /.gatehouse/api/login\` (JSON) one after the other over one keep-alive connection, $LOGINS measured after 30 warm-up logins; each creates a session and records the login (UserLastLogin) as OTRS does."
	echo
	echo "| login | logins | errors | p50 ms | p90 ms | p99 ms | max ms | mean ms |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$LOGIN_ROWS"
	[ -z "$PG_NOTE" ] || echo "| sha2, customer_user in PostgreSQL | $PG_NOTE |||||||"
	[ -z "$LDAP_NOTE" ] || echo "| LDAP | $LDAP_NOTE |||||||"
	echo
	echo "### Streaming $STREAM_MIB MiB through gatehouse"
	echo
	echo "curl through gatehouse-memory with the session: a download from the upstream's \`/.bench/bytes\` and a chunked upload to \`/.bench/discard\`; the peak is gatehouse's VmHWM counted from just before each transfer (reset through /proc/PID/clear_refs)."
	echo
	echo "| direction | seconds | MiB/s | gatehouse RSS before MiB | peak RSS MiB |"
	echo "|---|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %.2f | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$STREAM_ROWS"
} >"$DIR/results.md"

# verdict OK LABEL: one PASS/MISS line (OK is 1 or 0).
verdict() { if [ "$1" = 1 ]; then echo "- PASS $2"; else echo "- MISS $2"; fi; }
# all_of ARRAY-ENTRIES CMP LIMIT: 1 when every value compares true against LIMIT.
all_of() { awk -v cmp="$1" -v lim="$2" 'BEGIN { ok = 1 } { if ((cmp == "ge" && !($1 >= lim)) || (cmp == "le" && !($1 <= lim)) || (cmp == "lt" && !($1 < lim))) ok = 0 } END { print (NR ? ok : 0) }'; }
per_conns() { local -n a=$1; local c s=""; for c in "${CONN_LIST[@]}"; do s+="${s:+, }c$c ${a[$c]}×"; done; echo "$s"; }
vals() { local -n a=$1; local c; for c in "${CONN_LIST[@]}"; do echo "${a[$c]}"; done; }
fa_p99=$(awk -F'\t' '$1 ~ /^gatehouse-memory/ { print $6 }' "$FA_ROWS")
fa_lag=$(awk -F'\t' '$1 ~ /^gatehouse-memory/ { print $10 }' "$FA_ROWS")
fa_floor=$(awk -F'\t' '$1 ~ /^direct/ { print $6 }' "$FA_ROWS")
fa_err=$(awk -F'\t' '$1 ~ /^gatehouse-memory/ { print $3 }' "$FA_ROWS")
sha2_p50=$(awk -F'\t' '$1 ~ /SQLite/ { print $4 }' "$LOGIN_ROWS")
ldap_p50=$(awk -F'\t' '$1 ~ /^LDAP/ { print $4 }' "$LOGIN_ROWS")
stream_peak=$(awk -F'\t' '$5 > m { m = $5 } END { print m + 0 }' "$STREAM_ROWS")
{
	echo
	echo "### Targets of issue 8 (this run)"
	echo
	verdict "$(vals MEM_X | all_of ge 1.0)" "proxied GET, memory sessions, ≥ 1.0× nginx best req/s: $(per_conns MEM_X)"
	verdict "$(vals MEM_P99X | all_of le 1.5)" "proxied GET, memory sessions, p99 ≤ 1.5× nginx best: $(per_conns MEM_P99X)"
	verdict "$(vals RED_X | all_of ge 0.8)" "proxied GET, Redis sessions, ≥ 0.8× nginx best req/s: $(per_conns RED_X)"
	verdict "$(awk -v p="$fa_p99" -v e="$fa_err" 'BEGIN { print (p < 1 && e == 0 ? 1 : 0) }')" "forward-auth (memory sessions) p99 < 1 ms at $FA_RATE/s: ${fa_p99} ms, $fa_err errors (generator lag p99 $fa_lag ms; the direct upstream's p99 with the same tool $fa_floor ms)"
	verdict "$(awk -v p="$sha2_p50" 'BEGIN { print (p != "" && p < 2 ? 1 : 0) }')" "sha2 DB login (SQLite) p50 < 2 ms: ${sha2_p50} ms"
	if [ -n "$LDAP_NOTE" ]; then
		echo "- SKIP LDAP login p50 < 5 ms: $LDAP_NOTE"
	else
		verdict "$(awk -v p="$ldap_p50" 'BEGIN { print (p != "" && p < 5 ? 1 : 0) }')" "LDAP login p50 < 5 ms: ${ldap_p50} ms"
	fi
	# 150 MB = 143.05 MiB.
	verdict "$(awk -v p="$stream_peak" 'BEGIN { print (p * 1048576 < 150e6 ? 1 : 0) }')" "streaming $STREAM_MIB MiB each way, gatehouse peak RSS < 150 MB (143 MiB): $stream_peak MiB$([ "$STREAM_MIB" = 1024 ] || echo " (not the issue's 1 GiB)")"
	echo "- (RSS flat over 10 million requests: \`make bench-soak\`, below)"
	for c in "${CONN_LIST[@]}"; do
		MEM_FAST_X[$c]=$(awk -v m="${MEM_X[$c]}" -v f="${FAST_X[$c]}" 'BEGIN { printf "%.2f", (f > 0 ? m / f : 0) }')
	done
	echo "- context: fasthttp-bare (no authentication) reached $(per_conns FAST_X) nginx best; gatehouse-memory $(per_conns MEM_FAST_X) fasthttp-bare"
} >"$DIR/verdicts.md"
cat "$DIR/verdicts.md" >>"$DIR/results.md"

# A response smaller than the 1 KiB body means the run did not measure the proxied answer.
small=$(awk -F'\t' '$9 < 1024 { print $2 " c" $3 " round " $1 ": " $9 " bytes/response" }' "$RAW")
cat "$DIR/results.md"
if [ -n "$small" ]; then
	die "responses smaller than the 1 KiB body (not the proxied answer); $OUT left alone:"$'\n'"$small"
fi
write_region "$OUT" bench.sh "$DIR/results.md"
if [ "$GH_WARNINGS" -gt 0 ]; then
	log "the gatehouses logged $GH_WARNINGS warning/error lines during the measurements; first ones:"
	cat "$DIR"/gatehouse-memory/stderr.log "$DIR"/gatehouse-redis/stderr.log | tail -n +"$((GH_LOG_START + 1))" | head -n5 >&2
fi
log "wrote the bench.sh region of $OUT"
