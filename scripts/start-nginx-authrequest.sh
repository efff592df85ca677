#!/usr/bin/env bash
# Starts a throwaway nginx on 127.0.0.1:PORT that asks gatehouse's forward-auth endpoint about
# every request (auth_request) and proxies the allowed ones to UPSTREAM with gatehouse's
# identity headers: its own prefix, config, logs and temp paths in DIR, no system files touched.
#
#   scripts/start-nginx-authrequest.sh DIR PORT GATEHOUSE UPSTREAM   # host:port each
#   DIR/stop.sh                                                      # stops it (by its PID)
#
# Locations:
#   /                  auth_request /_auth; on 2xx proxy_pass http://UPSTREAM with
#                      Remote-User, X-Customer-ID, X-Customer-IDs, X-Customer-User-Email,
#                      X-Customer-User-Name, X-Customer-User-Groups, X-Customer-User-Source
#                      taken from gatehouse's 200 (auth_request_set $upstream_http_*): each
#                      replaces whatever the client sent (an empty value drops the header);
#                      a Set-Cookie of the auth answer (session refresh) goes to the client.
#                      401 -> @login: 302 to gatehouse's X-Gatehouse-Login-Url, which carries
#                      the original URL as an encoded rd (nginx itself cannot URL-encode it).
#                      403 -> 403 (nginx's own page). Anything else from gatehouse -> 500.
#   = /_auth           internal: GET http://GATEHOUSE/.gatehouse/auth without the body, with
#                      X-Original-URL $scheme://$http_host$request_uri, X-Original-URI, -Method,
#                      X-Forwarded-Proto/-Host and the Cookie. X-Original-URI and the
#                      X-Forwarded-* forward-auth headers are set (not left to the client, whose
#                      headers a subrequest inherits), so a client cannot name another URL.
#                      Subrequests are logged to DIR/auth.log ("$status ORIGINAL-URL").
#   /.gatehouse/       proxied to gatehouse itself (login page, login POST, API, logout) with
#                      Host, X-Forwarded-For/-Proto/-Host.
#   ~* ^/.gatehouse/auth  404: the forward-auth endpoint is for nginx, not for clients.
#   = /_nginx_healthz  200 "ok" without auth (readiness probe).
#
# Environment options:
#   PROXY_BIND=127.0.0.2   source address of nginx's connections to GATEHOUSE and UPSTREAM
#                          (proxy_bind), so gatehouse can tell nginx from a direct client on
#                          the same machine (any 127.0.0.0/8 address works on Linux loopback)
#   READY_TIMEOUT=10       seconds to wait for /_nginx_healthz to answer
#
# Idempotent: an nginx already running from DIR (checked by PID, state and process name) is
# stopped and started again with the current arguments. Stops by PID only, never by name.
set -euo pipefail
# shellcheck source=/dev/null # scripts/lib-daemon.sh: log, die, daemon_*
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib-daemon.sh"
daemon_init start-nginx-authrequest nginx

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
PROXY_BIND=${PROXY_BIND:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}

case $PORT in '' | *[!0-9]*) die "PORT must be a number: $PORT" ;; esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then die "PORT out of range: $PORT"; fi
for hp in "$GATEHOUSE" "$UPSTREAM"; do
	case $hp in '' | *[!A-Za-z0-9.:_\[\]-]*) die "GATEHOUSE and UPSTREAM must be host:port: $hp" ;; esac
done
case $PROXY_BIND in *[!0-9a-fA-F.:]*) die "PROXY_BIND must be an IP address: $PROXY_BIND" ;; esac
case $READY_TIMEOUT in '' | *[!0-9]*) die "READY_TIMEOUT must be a number of seconds: $READY_TIMEOUT" ;; esac

BIN=$(command -v nginx || true)
[ -n "$BIN" ] || { [ -x /usr/sbin/nginx ] && BIN=/usr/sbin/nginx; } ||
	die "nginx not found (scripts/install-packages.sh installs nginx)"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
case $DIR in *[[:space:]\;\'\"\\\$\{\}]*) die "DIR must not contain spaces, quotes, braces, ; or \$: $DIR" ;; esac
PIDFILE=$DIR/nginx.pid

daemon_write_stop nginx <<'EOF'
	kill -QUIT "$pid" # graceful: the master waits for its workers
	wait_gone 100 || { kill -TERM "$pid"; wait_gone 60; } || kill -KILL "$pid"
EOF
daemon_restart

mkdir -p "$DIR/tmp/body" "$DIR/tmp/proxy" "$DIR/tmp/fastcgi" "$DIR/tmp/uwsgi" "$DIR/tmp/scgi"

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

# The identity headers: gatehouse's claims.headers defaults. Each is captured from the auth
# answer and set upstream; proxy_set_header replaces a client's header of the same name (any
# case), and an empty value (header absent in gatehouse's answer) removes it. Client headers
# with underscores (Remote_User) never pass: nginx drops them (underscores_in_headers off).
identity_headers="Remote-User X-Customer-ID X-Customer-IDs X-Customer-User-Email X-Customer-User-Name X-Customer-User-Groups X-Customer-User-Source"
set_lines=""
pass_lines=""
for h in $identity_headers; do
	v=$(printf '%s' "$h" | tr 'A-Z-' 'a-z_')
	set_lines+="      auth_request_set \$gh_$v \$upstream_http_$v;"$'\n'
	pass_lines+="      proxy_set_header $h \$gh_$v;"$'\n'
done

cfgtmp=$DIR/nginx.conf.new
cat >"$cfgtmp" <<EOF
# Written by scripts/start-nginx-authrequest.sh (PORT=$PORT GATEHOUSE=$GATEHOUSE UPSTREAM=$UPSTREAM PROXY_BIND=$PROXY_BIND)
$user_line
worker_processes 1;
pid $PIDFILE;
error_log $DIR/error.log notice;
events { worker_connections 512; }
http {
  access_log $DIR/access.log;
  log_format gh_auth '\$status "\$scheme://\$http_host\$request_uri"';
  client_body_temp_path $DIR/tmp/body;
  proxy_temp_path $DIR/tmp/proxy;
  fastcgi_temp_path $DIR/tmp/fastcgi;
  uwsgi_temp_path $DIR/tmp/uwsgi;
  scgi_temp_path $DIR/tmp/scgi;
  proxy_http_version 1.1;
  proxy_buffer_size 16k;   # the login URL header carries the whole original URL
  proxy_buffers 8 16k;
  $bind_line
  server {
    listen 127.0.0.1:$PORT;

    location / {
      auth_request /_auth;
$set_lines      auth_request_set \$gh_login_url \$upstream_http_x_gatehouse_login_url;
      auth_request_set \$gh_set_cookie \$upstream_http_set_cookie;
      add_header Set-Cookie \$gh_set_cookie;
      error_page 401 = @login;
      proxy_pass http://$UPSTREAM;
$pass_lines      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
    }

    location @login {
      if (\$gh_login_url = "") { return 401; }
      return 302 \$gh_login_url;
    }

    location = /_auth {
      internal;
      proxy_pass http://$GATEHOUSE/.gatehouse/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Original-URL \$scheme://\$http_host\$request_uri;
      proxy_set_header X-Original-URI \$request_uri;
      proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header X-Forwarded-Uri \$request_uri;
      proxy_set_header X-Forwarded-Method \$request_method;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header Cookie \$http_cookie;
      log_subrequest on;
      access_log $DIR/auth.log gh_auth;
    }

    location /.gatehouse/ {
      proxy_pass http://$GATEHOUSE;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
    }

    # Regex locations win over the /.gatehouse/ prefix; \$uri is already decoded and normalised.
    location ~* "^/[.]gatehouse/+auth([/;.].*)?\$" { return 404; }

    location = /_nginx_healthz { access_log off; default_type text/plain; return 200 "ok\n"; }
  }
}
EOF

"$BIN" -t -q -p "$DIR/" -c "$cfgtmp" -e "$DIR/error.log" >"$DIR/check.log" 2>&1 || {
	cat "$DIR/check.log" >&2
	die "nginx -t failed (config: $cfgtmp)"
}
mv -f "$cfgtmp" "$DIR/nginx.conf"

rm -f "$PIDFILE"
log "starting nginx on 127.0.0.1:$PORT: auth_request -> http://$GATEHOUSE/.gatehouse/auth, upstream http://$UPSTREAM${PROXY_BIND:+ (from $PROXY_BIND)}"
# It daemonises and writes PIDFILE; setsid keeps a Ctrl-C of the caller away from it.
setsid "$BIN" -p "$DIR/" -c "$DIR/nginx.conf" -e "$DIR/error.log" </dev/null >>"$DIR/start.out" 2>&1 || {
	tail -n 20 "$DIR/error.log" >&2 2>/dev/null || true
	die "nginx failed to start (port $PORT in use?)"
}

daemon_wait_ready /_nginx_healthz "$DIR/error.log"
