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

log() { printf 'start-nginx-basic: %s\n' "$*"; }
die() {
	printf 'start-nginx-basic: ERROR: %s\n' "$*" >&2
	exit 1
}

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
COMM=$(basename "$(readlink -f "$BIN")")

# running: the PID from PIDFILE if that process is alive and is nginx (guards PID reuse).
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
# Written by scripts/start-nginx-basic.sh: stops the nginx started from $DIR, by its PID.
pidfile='$PIDFILE'
[ -f "\$pidfile" ] || exit 0
read -r pid <"\$pidfile" || exit 0
case \$pid in '' | *[!0-9]*) exit 0 ;; esac
# alive: running and not a zombie (the reaper of daemonised processes may be slow to collect it).
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
	kill -QUIT "\$pid" # graceful: the master waits for its workers
	wait_gone 100 || { kill -TERM "\$pid"; wait_gone 60; } || kill -KILL "\$pid"
	echo "stopped nginx pid \$pid ($DIR)"
fi
rm -f "\$pidfile"
EOF
chmod +x "$DIR/stop.sh"

if pid=$(running); then
	log "restarting the nginx already running from $DIR (pid $pid)"
	"$DIR/stop.sh" >/dev/null
fi

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

probe() {
	if command -v curl >/dev/null 2>&1; then
		[ "$(curl -fsS -m 1 "http://127.0.0.1:$PORT/healthz" 2>/dev/null)" = ok ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && grep -q '^ok' <&3) 2>/dev/null
	fi
}
deadline=$((SECONDS + READY_TIMEOUT))
until probe; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		tail -n 20 "$DIR/error.log" >&2 2>/dev/null || true
		"$DIR/stop.sh" || true
		die "nginx not answering on 127.0.0.1:$PORT after ${READY_TIMEOUT}s"
	fi
	sleep 0.05
done
pid=$(running) || die "nginx answers but $PIDFILE names no running nginx"
log "ready (pid $pid); stop with $DIR/stop.sh"
