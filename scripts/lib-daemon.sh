# shellcheck shell=bash
# Shared by the start scripts of the throwaway front proxies (start-nginx-basic.sh,
# start-nginx-authrequest.sh, start-caddy-forwardauth.sh): sourced, not run. Each script keeps
# its own arguments, config file and command; this is the rest: messages, the PID-file check,
# DIR/stop.sh, the restart of a running instance and the wait for readiness.
#
# The sourcing script calls daemon_init first and sets, before calling the other functions:
#   DIR            the instance's directory (absolute); PIDFILE, the PID file in it
#   BIN            the program; the PID must be a process of that name (ps -o comm=), which
#                  guards PID reuse
#   PORT           the port on 127.0.0.1 it listens on; READY_TIMEOUT, seconds to wait for it
# Stops by PID only, never by name.

# daemon_init PROG DAEMON: PROG is the script's name in messages ("start-nginx-basic"), DAEMON
# the program's ("nginx").
daemon_init() {
	PROG=$1
	DAEMON=$2
}

log() { printf '%s: %s\n' "$PROG" "$*"; }
die() {
	printf '%s: ERROR: %s\n' "$PROG" "$*" >&2
	exit 1
}

# daemon_comm: the process name of BIN (ps -o comm=).
daemon_comm() { basename "$(readlink -f "$BIN")"; }

# daemon_running: the PID from PIDFILE if that process is alive and is BIN (guards PID reuse).
daemon_running() {
	local pid="" name
	if [ -f "$PIDFILE" ]; then read -r pid <"$PIDFILE" || true; fi
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	case $(ps -o stat= -p "$pid" 2>/dev/null) in '' | Z*) return 1 ;; esac # gone, or a zombie
	name=$(ps -o comm= -p "$pid" 2>/dev/null) || return 1
	[ "$name" = "$(daemon_comm)" ] || return 1
	echo "$pid"
}

# daemon_write_stop TITLE < KILL-LINES: writes DIR/stop.sh, which stops the process PIDFILE
# names if it is alive (not a zombie: the reaper of daemonised processes may be slow to collect
# it) and is BIN. KILL-LINES (stdin, copied verbatim) stop it; they may use $pid and
# `wait_gone N` (true once it is gone, waiting up to N×50ms). TITLE names it in the comment.
daemon_write_stop() {
	local comm
	comm=$(daemon_comm)
	{
		cat <<EOF
#!/bin/sh
# Written by scripts/$PROG.sh: stops the $1 started from $DIR, by its PID.
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
if alive && [ "\$(ps -o comm= -p "\$pid" 2>/dev/null)" = '$comm' ]; then
EOF
		cat
		cat <<EOF
	echo "stopped $DAEMON pid \$pid ($DIR)"
fi
rm -f "\$pidfile"
EOF
	} >"$DIR/stop.sh"
	chmod +x "$DIR/stop.sh"
}

# daemon_restart: stops (with DIR/stop.sh) an instance already running from DIR, so that the
# script can start it again with the current arguments.
daemon_restart() {
	local pid
	if pid=$(daemon_running); then
		log "restarting the $DAEMON already running from $DIR (pid $pid)"
		"$DIR/stop.sh" >/dev/null
	fi
}

# daemon_probe PATH [HOST]: http://127.0.0.1:PORT/PATH answers "ok" (with curl, or else over
# bash's /dev/tcp with an HTTP/1.0 request, with a Host header if HOST is given).
daemon_probe() {
	local crlf=$'\r\n'
	if command -v curl >/dev/null 2>&1; then
		[ "$(curl -fsS -m 1 "http://127.0.0.1:$PORT$1" 2>/dev/null)" = ok ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET %s HTTP/1.0\r\n%s\r\n' "$1" "${2:+Host: $2$crlf}" >&3 && grep -q '^ok' <&3) 2>/dev/null
	fi
}

# daemon_wait_ready PATH LOG [HOST [CHILD]]: waits up to READY_TIMEOUT seconds for
# daemon_probe PATH HOST, then logs that the instance is ready with its PID. On timeout, or
# when the background process CHILD (if given) has exited, it shows LOG's last lines and
# fails, stopping the instance (DIR/stop.sh) on timeout.
daemon_wait_ready() {
	local path=$1 logfile=$2 host=${3:-} child=${4:-} deadline pid
	deadline=$((SECONDS + READY_TIMEOUT))
	until daemon_probe "$path" "$host"; do
		if [ -n "$child" ] && ! kill -0 "$child" 2>/dev/null; then
			tail -n 20 "$logfile" >&2 2>/dev/null || true
			die "$DAEMON exited (port $PORT in use?)"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 20 "$logfile" >&2 2>/dev/null || true
			"$DIR/stop.sh" || true
			die "$DAEMON not answering on 127.0.0.1:$PORT after ${READY_TIMEOUT}s"
		fi
		sleep 0.05
	done
	pid=$(daemon_running) || die "$DAEMON answers but $PIDFILE names no running $DAEMON"
	log "ready (pid $pid); stop with $DIR/stop.sh"
}
