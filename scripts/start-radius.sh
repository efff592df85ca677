#!/usr/bin/env bash
# Starts a throwaway FreeRADIUS 3.2 on udp 127.0.0.1:PORT (auth) and PORT+1 (acct) with a
# minimal private raddb in DIR (no copy of /etc/freeradius, no EAP/TLS), for the Radius
# module's integration tests.
#
#   scripts/start-radius.sh DIR [PORT]     # default PORT 21812; then DIR/stop.sh stops it
#
# Clients: 127.0.0.1 with the secret RADIUS_SECRET (default testing123).
# Users:   alice/alicepass (Class "admins"), bob/bobpass, "josé"/josepass (UTF-8),
#          mallory/mallorypass (always rejected: Auth-Type := Reject).
#
# Environment options:
#   REQUIRE_MA=yes   Access-Requests without a valid Message-Authenticator are dropped
#                    (client require_message_authenticator = yes)
#   SEND_MA=yes      every Access-Accept and Access-Reject carries a Message-Authenticator
#                    (Debian 12's 3.2.1 sends none by default; 3.2.5+ does)
#   RADIUS_SECRET=…  the shared secret
#   READY_TIMEOUT=20 seconds to wait for the server to answer
#
# Idempotent: a server already running from DIR (checked by PID and process name) is
# restarted with the current options, so REQUIRE_MA/SEND_MA always take effect. reject_delay is
# 0 (the default 1 s would slow every reject test down). Stops by PID only.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DIR [PORT]" >&2
	exit 2
fi
DIR=$1
PORT=${2:-21812}
SECRET=${RADIUS_SECRET:-testing123}
REQUIRE_MA=${REQUIRE_MA:-no}
SEND_MA=${SEND_MA:-no}
READY_TIMEOUT=${READY_TIMEOUT:-20}

log() { printf 'start-radius: %s\n' "$*"; }
die() {
	printf 'start-radius: ERROR: %s\n' "$*" >&2
	exit 1
}

case $PORT in '' | *[!0-9]*) die "PORT must be a number: $PORT" ;; esac
case $REQUIRE_MA in yes | no) ;; *) die "REQUIRE_MA must be yes or no" ;; esac
case $SEND_MA in yes | no) ;; *) die "SEND_MA must be yes or no" ;; esac
case $SECRET in *'"'* | *\\*) die "RADIUS_SECRET must not contain quotes or backslashes" ;; esac

BIN=$(command -v freeradius || command -v radiusd || true)
[ -n "$BIN" ] || die "freeradius not found (scripts/install-packages.sh installs freeradius freeradius-utils)"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
RADDB=$DIR/raddb
PIDFILE=$DIR/run/radiusd.pid
COMM=$(basename "$(readlink -f "$BIN")")

# running: the PID from PIDFILE if that process is alive and is freeradius (guards PID reuse).
running() {
	local pid="" comm
	if [ -f "$PIDFILE" ]; then read -r pid <"$PIDFILE" || true; fi
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	comm=$(ps -o comm= -p "$pid" 2>/dev/null) || return 1
	[ "$comm" = "$COMM" ] || return 1
	echo "$pid"
}

stop_running() {
	local pid
	pid=$(running) || return 0
	log "stopping the instance already running from $DIR (pid $pid) to apply the options"
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

stop_running
rm -rf "$RADDB"
mkdir -p "$RADDB" "$DIR/log" "$DIR/run"

ma_reply=""
if [ "$SEND_MA" = yes ]; then
	# The server computes the value; 0x00 only asks for the attribute.
	ma_reply='update reply {
			&Message-Authenticator := 0x00
		}'
fi

cat >"$RADDB/radiusd.conf" <<EOF
# Written by scripts/start-radius.sh (REQUIRE_MA=$REQUIRE_MA SEND_MA=$SEND_MA)
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = $DIR
sbindir = /usr/sbin
logdir = $DIR/log
raddbdir = $RADDB
radacctdir = \${logdir}/radacct
name = radiusd
confdir = \${raddbdir}
modconfdir = \${confdir}/mods-config
run_dir = $DIR/run
db_dir = $DIR
libdir = /usr/lib/freeradius
pidfile = \${run_dir}/radiusd.pid
max_request_time = 30
# Each request is kept cleanup_delay seconds (duplicate detection) and counts against
# max_requests: with the default 1024 a benchmark (thousands of logins a second) is dropped
# ("Dropping request (1025 is too many)").
cleanup_delay = 2
max_requests = 65536
hostname_lookups = no
log {
	destination = files
	colourise = no
	file = \${logdir}/radius.log
	auth = yes
	auth_badpass = no
	auth_goodpass = no
}
security {
	# No user/group lines: it stays the user who started it, so DIR needs no chown.
	allow_core_dumps = no
	max_attributes = 200
	# The default of 1 s would delay every Access-Reject.
	reject_delay = 0
	status_server = yes
}
proxy_requests = no
\$INCLUDE clients.conf
thread pool {
	start_servers = 2
	max_servers = 4
	min_spare_servers = 1
	max_spare_servers = 3
	max_requests_per_server = 0
}
modules {
	pap {
	}
	chap {
	}
	files {
		filename = \${confdir}/users
	}
	# "ok" in a section needs this instance.
	always ok {
		rcode = ok
	}
}
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $PORT
	}
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = $((PORT + 1))
	}
	authorize {
		chap
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
	}
	preacct {
	}
	accounting {
		ok
	}
	post-auth {
		$ma_reply
		Post-Auth-Type REJECT {
			# Reply items from the users file (Class) must not go out with a reject.
			update reply {
				&Class !* ANY
			}
			$ma_reply
		}
	}
}
EOF

cat >"$RADDB/clients.conf" <<EOF
client localhost {
	ipaddr = 127.0.0.1
	proto = udp
	secret = "$SECRET"
	# yes: Access-Requests without a valid Message-Authenticator are silently dropped.
	require_message_authenticator = $REQUIRE_MA
	nas_type = other
}
EOF

cat >"$RADDB/users" <<'EOF'
alice	Cleartext-Password := "alicepass"
	Class := "admins"
bob	Cleartext-Password := "bobpass"
	Reply-Message := "Hello, %{User-Name}"
"josé"	Cleartext-Password := "josepass"
mallory	Cleartext-Password := "mallorypass", Auth-Type := Reject
	Reply-Message := "account disabled"
EOF

# The main dictionaries come from /usr/share/freeradius; the private one stays empty.
: >"$RADDB/dictionary"

cat >"$DIR/stop.sh" <<EOF
#!/bin/sh
# Written by scripts/start-radius.sh: stops the FreeRADIUS started from $DIR, by its PID.
pidfile='$PIDFILE'
[ -f "\$pidfile" ] || exit 0
read -r pid <"\$pidfile" || exit 0
case \$pid in '' | *[!0-9]*) exit 0 ;; esac
if kill -0 "\$pid" 2>/dev/null && [ "\$(ps -o comm= -p "\$pid" 2>/dev/null)" = '$COMM' ]; then
	kill -TERM "\$pid"
	i=0
	while kill -0 "\$pid" 2>/dev/null && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
	kill -0 "\$pid" 2>/dev/null && kill -KILL "\$pid"
	echo "stopped FreeRADIUS pid \$pid ($DIR)"
fi
rm -f "\$pidfile"
EOF
chmod +x "$DIR/stop.sh"

"$BIN" -XC -d "$RADDB" >"$DIR/log/check.log" 2>&1 || {
	tail -n 20 "$DIR/log/check.log" >&2
	die "configuration check failed (full output: $DIR/log/check.log)"
}

rm -f "$PIDFILE"
log "starting FreeRADIUS on udp 127.0.0.1:$PORT (REQUIRE_MA=$REQUIRE_MA SEND_MA=$SEND_MA, log $DIR/log/radius.log)"
# It daemonises and writes PIDFILE; setsid keeps a Ctrl-C of the caller away from it.
setsid "$BIN" -d "$RADDB" </dev/null >>"$DIR/log/start.out" 2>&1 || {
	tail -n 20 "$DIR/log/radius.log" >&2 2>/dev/null || true
	die "freeradius failed to start"
}

command -v radclient >/dev/null 2>&1 || die "radclient not found (install freeradius-utils)"
# probe: a real Access-Request that must be accepted. It carries a Message-Authenticator
# (radclient computes the 0x00 placeholder), so it passes REQUIRE_MA=yes too; -t 1 -r 1
# keeps each try short (radtest would wait 3 x 5 s).
probe() {
	printf 'User-Name = "alice"\nUser-Password = "alicepass"\nMessage-Authenticator = 0x00\n' |
		radclient -q -t 1 -r 1 "127.0.0.1:$PORT" auth "$SECRET" >/dev/null 2>&1
}
deadline=$((SECONDS + READY_TIMEOUT))
until probe; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		tail -n 20 "$DIR/log/radius.log" >&2 2>/dev/null || true
		"$DIR/stop.sh" || true
		die "FreeRADIUS not answering on udp 127.0.0.1:$PORT after ${READY_TIMEOUT}s"
	fi
	sleep 0.1
done
pid=$(running) || die "FreeRADIUS answers but $PIDFILE names no running freeradius"
log "ready (pid $pid); stop with $DIR/stop.sh"
