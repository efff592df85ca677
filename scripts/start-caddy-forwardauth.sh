#!/usr/bin/env bash
# Starts a throwaway Caddy (2.6, Debian's `caddy` package) on 127.0.0.1:PORT with the forward
# auth setup of docs/forward-auth.md: every request outside /.gatehouse/ is checked with
# forward_auth against gatehouse's /.gatehouse/auth and, when allowed, proxied to UPSTREAM with
# gatehouse's identity headers. Config, data and logs in DIR; nothing is written to $HOME.
#
#   scripts/start-caddy-forwardauth.sh DIR PORT GATEHOUSE UPSTREAM   # host:port each
#   DIR/stop.sh                                                      # stops it (by its PID)
#
# Routes (DIR/Caddyfile):
#   /.gatehouse/auth*  404: the forward-auth endpoint is for Caddy, not for clients.
#   /.gatehouse/*      proxied to gatehouse itself (login page, login POST, API, logout).
#   /_caddy_healthz    200 "ok" without auth (readiness probe).
#   everything else    forward_auth GATEHOUSE (uri /.gatehouse/auth): Caddy sends a GET with
#                      the client's headers plus X-Forwarded-Method/-Uri (and reverse_proxy's
#                      X-Forwarded-For/-Proto/-Host). On 2xx it copies Remote-User,
#                      X-Customer-ID, X-Customer-IDs, X-Customer-User-Email,
#                      X-Customer-User-Name, X-Customer-User-Groups, X-Customer-User-Source
#                      onto the request and proxies it to UPSTREAM; any other answer
#                      (302 to the login page, 401, 403, 5xx) goes to the client as it is.
#                      Before forward_auth, `request_header -NAME` removes the client's own
#                      copies of those headers (and `-*_*` every header spelled with an
#                      underscore); after it, a header set to the literal placeholder
#                      "{http.reverse_proxy.header.NAME}" is removed: Caddy before 2.9 sets
#                      that when gatehouse's answer lacks the header; Caddy 2.9 up to the
#                      fix of GHSA-7r4p-vjf4-gxv4 left the client's copy in place instead
#                      (see docs/forward-auth.md).
#
# Environment options:
#   READY_TIMEOUT=10   seconds to wait for /_caddy_healthz to answer
#   HEADER_GUARD=1     0: leave out the request_header lines around forward_auth (the bare
#                      forward_auth + copy_headers snippet, to show what Caddy does alone)
#
# Idempotent: a Caddy already running from DIR (checked by PID, state and process name) is
# stopped and started again with the current arguments. Stops by PID only, never by name.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 DIR PORT GATEHOUSE UPSTREAM   (GATEHOUSE, UPSTREAM: host:port)" >&2
	exit 2
fi
DIR=$1
PORT=$2
strip() {
	local v=${1#http://}
	echo "${v%/}"
}
GATEHOUSE=$(strip "$3")
UPSTREAM=$(strip "$4")
READY_TIMEOUT=${READY_TIMEOUT:-10}
HEADER_GUARD=${HEADER_GUARD:-1}

log() { printf 'start-caddy-forwardauth: %s\n' "$*"; }
die() {
	printf 'start-caddy-forwardauth: ERROR: %s\n' "$*" >&2
	exit 1
}

case $PORT in '' | *[!0-9]*) die "PORT must be a number: $PORT" ;; esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then die "PORT out of range: $PORT"; fi
for hp in "$GATEHOUSE" "$UPSTREAM"; do
	case $hp in '' | *[!A-Za-z0-9.:_\[\]-]*) die "GATEHOUSE and UPSTREAM must be host:port: $hp" ;; esac
done
case $READY_TIMEOUT in '' | *[!0-9]*) die "READY_TIMEOUT must be a number of seconds: $READY_TIMEOUT" ;; esac
case $HEADER_GUARD in 0 | 1) ;; *) die "HEADER_GUARD must be 0 or 1: $HEADER_GUARD" ;; esac

BIN=$(command -v caddy || true)
[ -n "$BIN" ] || { [ -x /usr/bin/caddy ] && BIN=/usr/bin/caddy; } ||
	die "caddy not found (scripts/install-packages.sh installs caddy)"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
case $DIR in *[[:space:]\;\'\"\\\$\{\}\#]*) die "DIR must not contain spaces, quotes, braces, #, ; or \$: $DIR" ;; esac
PIDFILE=$DIR/caddy.pid
COMM=$(basename "$(readlink -f "$BIN")")

# running: the PID from PIDFILE if that process is alive and is caddy (guards PID reuse).
running() {
	local pid="" comm
	if [ -f "$PIDFILE" ]; then read -r pid <"$PIDFILE" || true; fi
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	case $(ps -o stat= -p "$pid" 2>/dev/null) in '' | Z*) return 1 ;; esac # gone, or a zombie
	comm=$(ps -o comm= -p "$pid" 2>/dev/null) || return 1
	[ "$comm" = "$COMM" ] || return 1
	echo "$pid"
}

cat >"$DIR/stop.sh" <<EOF
#!/bin/sh
# Written by scripts/start-caddy-forwardauth.sh: stops the Caddy started from $DIR, by its PID.
pidfile='$PIDFILE'
[ -f "\$pidfile" ] || exit 0
read -r pid <"\$pidfile" || exit 0
case \$pid in '' | *[!0-9]*) exit 0 ;; esac
alive() {
	st=\$(ps -o stat= -p "\$pid" 2>/dev/null) || return 1
	case \$st in '' | Z*) return 1 ;; esac
}
wait_gone() {
	i=0
	while alive && [ \$i -lt "\$1" ]; do sleep 0.05; i=\$((i + 1)); done
	! alive
}
if alive && [ "\$(ps -o comm= -p "\$pid" 2>/dev/null)" = '$COMM' ]; then
	kill -TERM "\$pid" # graceful shutdown
	wait_gone 100 || kill -KILL "\$pid"
	echo "stopped caddy pid \$pid ($DIR)"
fi
rm -f "\$pidfile"
EOF
chmod +x "$DIR/stop.sh"

if pid=$(running); then
	log "restarting the caddy already running from $DIR (pid $pid)"
	"$DIR/stop.sh" >/dev/null
fi

# Caddy keeps its state under XDG_DATA_HOME/caddy and the autosave under XDG_CONFIG_HOME/caddy
# (HOME too, for anything falling back to it): all inside DIR.
mkdir -p "$DIR/data" "$DIR/config"
export XDG_DATA_HOME=$DIR/data XDG_CONFIG_HOME=$DIR/config HOME=$DIR

identity_headers="Remote-User X-Customer-ID X-Customer-IDs X-Customer-User-Email X-Customer-User-Name X-Customer-User-Groups X-Customer-User-Source"
strip_lines=""
cleanup_lines=""
if [ "$HEADER_GUARD" = 1 ]; then
	# Headers spelled with underscores (Remote_User) too, as nginx drops them: an upstream
	# behind CGI, PHP or Perl's PSGI reads Remote_User and Remote-User both as REMOTE_USER.
	strip_lines+="			request_header -*_*"$'\n'
	for h in $identity_headers; do
		strip_lines+="			request_header -$h"$'\n'
		cleanup_lines+="			@unset-$h header_regexp $h ^\\{http\\.reverse_proxy\\.header\\."$'\n'
		cleanup_lines+="			request_header @unset-$h -$h"$'\n'
	done
fi

cfgtmp=$DIR/Caddyfile.new
cat >"$cfgtmp" <<EOF
# Written by scripts/start-caddy-forwardauth.sh (PORT=$PORT GATEHOUSE=$GATEHOUSE UPSTREAM=$UPSTREAM HEADER_GUARD=$HEADER_GUARD)
{
	admin off
	auto_https off
	storage file_system $DIR/data/caddy
	log {
		output file $DIR/caddy.log
		level WARN
	}
}

http://127.0.0.1:$PORT {
	bind 127.0.0.1
	# handle blocks are exclusive, the most specific path first. Without them forward_auth
	# (early in Caddy's directive order) would also guard the login page.
	handle /.gatehouse/auth* {
		respond 404
	}
	handle /.gatehouse/* {
		reverse_proxy $GATEHOUSE
	}
	handle /_caddy_healthz {
		respond "ok" 200
	}
	handle {
		# route keeps this order (request_header would otherwise run after forward_auth).
		route {
			# The client's own copies never pass: copy_headers of Caddy 2.9 up to the fix
			# of GHSA-7r4p-vjf4-gxv4 replaces only the headers present in gatehouse's answer.
$strip_lines			forward_auth $GATEHOUSE {
				uri /.gatehouse/auth
				copy_headers $identity_headers
			}
			# Caddy before 2.9 sets a header missing from the answer to the literal
			# placeholder "{http.reverse_proxy.header.NAME}": drop those.
$cleanup_lines			reverse_proxy $UPSTREAM
		}
	}
}
EOF

"$BIN" validate --config "$cfgtmp" --adapter caddyfile >"$DIR/check.log" 2>&1 || {
	cat "$DIR/check.log" >&2
	die "caddy validate failed (config: $cfgtmp)"
}
mv -f "$cfgtmp" "$DIR/Caddyfile"

rm -f "$PIDFILE"
log "starting caddy on 127.0.0.1:$PORT: forward_auth -> http://$GATEHOUSE/.gatehouse/auth, upstream http://$UPSTREAM"
# caddy run stays in the foreground: start it in the background in its own session (setsid
# keeps a Ctrl-C of the caller away from it) and let it write its PID.
setsid "$BIN" run --config "$DIR/Caddyfile" --adapter caddyfile --pidfile "$PIDFILE" \
	</dev/null >>"$DIR/caddy.out" 2>&1 &

probe() {
	if command -v curl >/dev/null 2>&1; then
		[ "$(curl -fsS -m 1 "http://127.0.0.1:$PORT/_caddy_healthz" 2>/dev/null)" = ok ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET /_caddy_healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && grep -q '^ok' <&3) 2>/dev/null
	fi
}
deadline=$((SECONDS + READY_TIMEOUT))
until probe; do
	if ! kill -0 $! 2>/dev/null; then
		tail -n 20 "$DIR/caddy.out" >&2 2>/dev/null || true
		die "caddy exited (port $PORT in use?)"
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		tail -n 20 "$DIR/caddy.out" >&2 2>/dev/null || true
		"$DIR/stop.sh" || true
		die "caddy not answering on 127.0.0.1:$PORT after ${READY_TIMEOUT}s"
	fi
	sleep 0.05
done
pid=$(running) || die "caddy answers but $PIDFILE names no running caddy"
log "ready (pid $pid); stop with $DIR/stop.sh"
