#!/usr/bin/env bash
# Starts a throwaway nginx on 127.0.0.1:PORT that does HTTP Basic auth and passes the user to
# UPSTREAM in a header, as a front proxy for gatehouse's trusted-header module (OTRS
# HTTPBasicAuth): its own prefix, config, logs and temp paths in DIR, no system files touched.
#
#   scripts/start-nginx-basic.sh DIR [PORT] [UPSTREAM]   # defaults 28080, 127.0.0.1:28081
#   DIR/stop.sh                                            # stops it (by its PID)
#
# Location /: auth_basic against DIR/htpasswd (bcrypt, made with `htpasswd -bB`), then
# proxy_pass http://UPSTREAM with
#   X-Remote-User: $remote_user   (replaces any X-Remote-User the client sent)
#   Authorization: (removed)      (the password does not travel upstream)
#   Host: $http_host, X-Forwarded-For: $proxy_add_x_forwarded_for, X-Forwarded-Proto: $scheme
# Location = /healthz: 200 "ok" without auth (readiness probe).
#
# Users (user/password):
#   alice/alicepass  bob/bobpass  "josé"/josepass (UTF-8)
#   jdoe@EXAMPLE.COM/jdoepass   (a Kerberos-style name, for replace_regexp)
#   carol/carolpass  dave/davepass   (spare users; the tests give carol no customer record and
#                                      dave an invalid one)
#
# Environment options:
#   PROXY_BIND=127.0.0.2   source address of the connections to UPSTREAM (nginx proxy_bind), so
#                          a test on one machine can tell the proxy's peer address from a
#                          direct client's (any 127.0.0.0/8 address works on Linux loopback)
#   READY_TIMEOUT=10       seconds to wait for /healthz to answer
#
# Idempotent: an nginx already running from DIR (checked by PID, state and process name) is stopped
# and started again with the current arguments. Stops by PID only, never by name.
set -euo pipefail
# shellcheck source=/dev/null # scripts/lib-daemon.sh: log, die, daemon_*
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib-daemon.sh"
daemon_init start-nginx-basic nginx

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
	echo "usage: $0 DIR [PORT] [UPSTREAM]" >&2
	exit 2
fi
DIR=$1
PORT=${2:-28080}
UPSTREAM=${3:-127.0.0.1:28081}
UPSTREAM=${UPSTREAM#http://}
UPSTREAM=${UPSTREAM%/}
PROXY_BIND=${PROXY_BIND:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}

case $PORT in '' | *[!0-9]*) die "PORT must be a number: $PORT" ;; esac
case $UPSTREAM in '' | *[!A-Za-z0-9.:_\[\]-]*) die "UPSTREAM must be host:port: $UPSTREAM" ;; esac
case $PROXY_BIND in *[!0-9a-fA-F.:]*) die "PROXY_BIND must be an IP address: $PROXY_BIND" ;; esac

BIN=$(command -v nginx || true)
[ -n "$BIN" ] || { [ -x /usr/sbin/nginx ] && BIN=/usr/sbin/nginx; } ||
	die "nginx not found (scripts/install-packages.sh installs nginx apache2-utils)"
HTPASSWD=$(command -v htpasswd || true)
[ -n "$HTPASSWD" ] || die "htpasswd not found (scripts/install-packages.sh installs apache2-utils)"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
case $DIR in *[[:space:]\;\'\"\\\$]*) die "DIR must not contain spaces, quotes, ; or \$: $DIR" ;; esac
PIDFILE=$DIR/nginx.pid

daemon_write_stop nginx <<'EOF'
	kill -QUIT "$pid" # graceful: the master waits for its workers
	wait_gone 100 || { kill -TERM "$pid"; wait_gone 60; } || kill -KILL "$pid"
EOF
daemon_restart

mkdir -p "$DIR/tmp/body" "$DIR/tmp/proxy" "$DIR/tmp/fastcgi" "$DIR/tmp/uwsgi" "$DIR/tmp/scgi"

# htpasswd: written to a new file and renamed, so a rerun never leaves it half-written.
pwtmp=$DIR/htpasswd.new
rm -f "$pwtmp"
"$HTPASSWD" -bcB "$pwtmp" alice alicepass 2>/dev/null
for up in bob:bobpass "josé:josepass" jdoe@EXAMPLE.COM:jdoepass carol:carolpass dave:davepass; do
	"$HTPASSWD" -bB "$pwtmp" "${up%%:*}" "${up#*:}" 2>/dev/null
done
mv -f "$pwtmp" "$DIR/htpasswd"

# Workers run as `nobody` by default and could not read DIR (0700 temp dirs): as root they run
# as root; otherwise nginx runs as the invoking user anyway (the directive would only warn).
user_line=""
if [ "$(id -u)" -eq 0 ]; then
	user_line="user $(id -un) $(id -gn);"
fi
bind_line=""
if [ -n "$PROXY_BIND" ]; then
	bind_line="proxy_bind $PROXY_BIND;"
fi

cat >"$DIR/nginx.conf" <<EOF
# Written by scripts/start-nginx-basic.sh (PORT=$PORT UPSTREAM=$UPSTREAM PROXY_BIND=$PROXY_BIND)
$user_line
worker_processes 1;
pid $PIDFILE;
error_log $DIR/error.log notice;
events { worker_connections 256; }
http {
  access_log $DIR/access.log;
  client_body_temp_path $DIR/tmp/body;
  proxy_temp_path $DIR/tmp/proxy;
  fastcgi_temp_path $DIR/tmp/fastcgi;
  uwsgi_temp_path $DIR/tmp/uwsgi;
  scgi_temp_path $DIR/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    location / {
      auth_basic "SSO test";
      auth_basic_user_file $DIR/htpasswd;
      proxy_pass http://$UPSTREAM;
      proxy_http_version 1.1;
      $bind_line
      proxy_set_header X-Remote-User \$remote_user;
      proxy_set_header Authorization "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
    location = /healthz { auth_basic off; default_type text/plain; return 200 "ok\n"; }
  }
}
EOF

"$BIN" -t -q -p "$DIR/" -c "$DIR/nginx.conf" -e "$DIR/error.log" >"$DIR/check.log" 2>&1 || {
	cat "$DIR/check.log" >&2
	die "nginx -t failed (config: $DIR/nginx.conf)"
}

rm -f "$PIDFILE"
log "starting nginx on 127.0.0.1:$PORT -> http://$UPSTREAM${PROXY_BIND:+ (from $PROXY_BIND)}"
# It daemonises and writes PIDFILE; setsid keeps a Ctrl-C of the caller away from it.
setsid "$BIN" -p "$DIR/" -c "$DIR/nginx.conf" -e "$DIR/error.log" </dev/null >>"$DIR/start.out" 2>&1 || {
	tail -n 20 "$DIR/error.log" >&2 2>/dev/null || true
	die "nginx failed to start (port $PORT in use?)"
}

daemon_wait_ready /healthz "$DIR/error.log"
