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
# shellcheck source=/dev/null # scripts/lib-daemon.sh: log, die, daemon_*
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib-daemon.sh"
daemon_init start-caddy-forwardauth caddy

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

daemon_write_stop Caddy <<'EOF'
	kill -TERM "$pid" # graceful shutdown
	wait_gone 100 || kill -KILL "$pid"
EOF
daemon_restart

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

daemon_wait_ready /_caddy_healthz "$DIR/caddy.out" 127.0.0.1 "$!"
