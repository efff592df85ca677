#!/usr/bin/env bash
# Load benchmark: gatehouse vs nginx vs the direct upstream, measured with wrk.
#
#   scripts/bench.sh [-d 5s] [-c "64 256"] [-r 3] [-o FILE]
#
#   -d DURATION   wrk duration of each single run (default 5s)
#   -c "N ..."    connection counts, space separated (default "64 256")
#   -r ROUNDS     rounds; each round runs every target at every connection count (default 3)
#   -o FILE       where the markdown table goes besides stdout (default bench/results/latest.md)
#
# Builds gatehouse and bench/upstream into a temp dir, starts on fixed loopback ports below the
# ephemeral range:
#   27081  bench/upstream (1 KiB body, keep-alive)         "direct"
#   27090  nginx -> 27081 (keepalive 256, HTTP/1.1)        "nginx"
#   27080  gatehouse -> 27081, access_log false, warn      "gatehouse"
#   27082  gatehouse -> 27081, access_log true, info (to a file) "gatehouse+accesslog"
# logs in as the --demo user on both gatehouses and runs `wrk -t2 -cN -dD --latency` with the
# session cookie against every target, interleaved within each round (the order rotates by one
# target each round, so no target always runs first or right after another). Prints one markdown table
# of medians over the rounds and writes it to bench/results/latest.md (gitignored).
# Needs wrk, nginx and curl: `scripts/install-packages.sh bench` (or apt-get install wrk nginx).
# Everything it starts is stopped on exit by PID. KEEP_DIR=1 keeps the temp dir (logs, raw wrk output).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=5s
CONNS="64 256"
ROUNDS=3
OUT="$ROOT/bench/results/latest.md"
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "d:c:r:o:h" opt; do
	case "$opt" in
	d) DURATION=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: -r wants a positive integer, got '$ROUNDS'" >&2; exit 2; }
[[ "$DURATION" =~ ^[1-9][0-9]*[smh]?$ ]] || { echo "bench: -d wants a wrk duration like 5s, got '$DURATION'" >&2; exit 2; }
read -r -a CONN_LIST <<<"$CONNS"
[ "${#CONN_LIST[@]}" -gt 0 ] || usage
for c in "${CONN_LIST[@]}"; do
	[[ "$c" =~ ^[0-9]+$ ]] && [ "$c" -ge 2 ] || { echo "bench: -c wants numbers >= 2 (wrk -t2), got '$c'" >&2; exit 2; }
done

PORT_GH=27080
PORT_UP=27081
PORT_GH_LOG=27082
PORT_NGINX=27090
HOST=127.0.0.1

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

for tool in wrk nginx curl go; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/install-packages.sh bench installs wrk and nginx)"
done
for p in $PORT_GH $PORT_UP $PORT_GH_LOG $PORT_NGINX; do
	if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
		die "port $p is already in use (another bench run?)"
	fi
done

START_TS=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
CORES=$(nproc)
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
PIDS=()

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
	if [ "${KEEP_DIR:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		log "kept $DIR (logs, configs, raw wrk output)"
	else
		rm -rf "$DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -----------------------------------------------------------------------------------
log "building gatehouse and bench/upstream into $DIR"
go build -o "$DIR/bin/gatehouse" ./cmd/gatehouse
go build -o "$DIR/bin/upstream" ./bench/upstream

# wait_port PORT PID NAME: until something answers HTTP on PORT (10 s), while PID lives.
wait_port() {
	local port=$1 pid=$2 name=$3
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (logs in $DIR)"
		if curl -s -o /dev/null --max-time 1 "http://$HOST:$port/" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	die "$name does not answer on port $port after 10 s (logs in $DIR)"
}

# --- direct upstream ---------------------------------------------------------------------------
"$DIR/bin/upstream" -listen "$HOST:$PORT_UP" >"$DIR/upstream.log" 2>&1 &
PID_UP=$!
PIDS+=("$PID_UP")
wait_port "$PORT_UP" "$PID_UP" upstream

# --- nginx ---------------------------------------------------------------------------------------
mkdir -p "$DIR/nginx/tmp"
NGINX_USER="$(id -un) $(id -gn)"
cat >"$DIR/nginx/nginx.conf" <<EOF
# written by scripts/bench.sh
user $NGINX_USER;
worker_processes auto;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/tmp/body;
  proxy_temp_path $DIR/nginx/tmp/proxy;
  fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
  uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
  scgi_temp_path $DIR/nginx/tmp/scgi;
  # nginx closes a client connection after 1000 requests by default; wrk, fasthttp and net/http
  # have no such limit, so lift it on both sides to keep the comparison about proxying.
  keepalive_requests 1000000;
  upstream bench_upstream {
    server $HOST:$PORT_UP;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen $HOST:$PORT_NGINX;
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
nginx -t -q -p "$DIR/nginx/" -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" 2>"$DIR/nginx/test.log" ||
	die "nginx -t: $(cat "$DIR/nginx/test.log")"
nginx -p "$DIR/nginx/" -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" -g 'daemon off;' >"$DIR/nginx/stdout.log" 2>&1 &
PID_NGINX=$!
PIDS+=("$PID_NGINX")
wait_port "$PORT_NGINX" "$PID_NGINX" nginx
NGINX_WORKERS=$(pgrep -c -P "$PID_NGINX" || true)

# --- gatehouse (two instances: access log off / on) -------------------------------------------
# start_gatehouse NAME PORT ACCESS_LOG LEVEL: writes $DIR/NAME/config.yaml, starts `serve --demo`,
# adds its PID to PIDS and sets LAST_PID.
start_gatehouse() {
	local name=$1 port=$2 access=$3 level=$4 d="$DIR/$1"
	mkdir -p "$d"
	cat >"$d/config.yaml" <<EOF
# written by scripts/bench.sh
server:
  listen: $HOST:$port
admin:
  listen: ""
sessions:
  store: memory
routes:
  - name: bench
    path_prefix: /
    upstream: http://$HOST:$PORT_UP
customer_auth:
  - module: db
customer_user:
  - name: Database Backend
    module: db
    params:
      dsn: sqlite://$d/gatehouse.db
      table: customer_user
log:
  level: $level
  access_log: $access
EOF
	"$DIR/bin/gatehouse" check-config --config "$d/config.yaml" >"$d/check-config.log" 2>&1 ||
		die "gatehouse check-config $name: $(cat "$d/check-config.log")"
	(cd "$d" && exec "$DIR/bin/gatehouse" serve --config "$d/config.yaml" --demo >"$d/stdout.log" 2>"$d/stderr.log") &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# login NAME PORT: logs the demo user in and echoes the session cookie's value.
login() {
	local name=$1 port=$2 d="$DIR/$1" pw jq_pw sid code
	pw=$(sed -n 's/^  password: //p' "$d/stdout.log" | head -n1)
	[ -n "$pw" ] || die "$name: no '  password: ' line in the --demo output ($d/stdout.log)"
	jq_pw=${pw//\\/\\\\}
	jq_pw=${jq_pw//\"/\\\"}
	code=$(curl -sS -o "$d/login.out" -w '%{http_code}' -c "$d/jar" -H 'Content-Type: application/json' \
		-d "{\"username\":\"demo\",\"password\":\"$jq_pw\"}" "http://$HOST:$port/.gatehouse/api/login") ||
		die "$name: login request failed"
	[ "$code" = 200 ] || die "$name: login answered $code: $(head -c 300 "$d/login.out")"
	sid=$(awk '$6 == "gatehouse_session" { print $7 }' "$d/jar" | tail -n1)
	[ -n "$sid" ] || die "$name: login gave no gatehouse_session cookie"
	echo "$sid"
}

start_gatehouse gatehouse "$PORT_GH" false warn
PID_GH=$LAST_PID
# The access log is written at level info: with level warn, access_log true writes nothing.
start_gatehouse gatehouse-accesslog "$PORT_GH_LOG" true info
PID_GH_LOG=$LAST_PID
wait_port "$PORT_GH" "$PID_GH" gatehouse
wait_port "$PORT_GH_LOG" "$PID_GH_LOG" gatehouse-accesslog
SID_GH=$(login gatehouse "$PORT_GH")
SID_GH_LOG=$(login gatehouse-accesslog "$PORT_GH_LOG")

# --- sanity check: the authenticated path answers 200 with the upstream's body ----------------
curl -sS -o "$DIR/direct.body" "http://$HOST:$PORT_UP/" || die "direct upstream request failed"
[ "$(wc -c <"$DIR/direct.body")" -eq 1024 ] || die "direct upstream body is not 1024 bytes"
# check NAME PORT SID: 200 + same body with the cookie; identity injected and cookie stripped.
check_target() {
	local name=$1 port=$2 sid=$3 code
	code=$(curl -sS -o "$DIR/$name.body" -w '%{http_code}' -H "Cookie: gatehouse_session=$sid" "http://$HOST:$port/") ||
		die "$name: sanity request failed"
	[ "$code" = 200 ] || die "$name: sanity request answered $code, not 200 (would measure the wrong path)"
	cmp -s "$DIR/direct.body" "$DIR/$name.body" || die "$name: body differs from the upstream's"
}
check_target nginx "$PORT_NGINX" "$SID_GH"
for t in "gatehouse $PORT_GH $SID_GH" "gatehouse-accesslog $PORT_GH_LOG $SID_GH_LOG"; do
	read -r name port sid <<<"$t"
	check_target "$name" "$port" "$sid"
	# Without the cookie the same request must not reach the upstream.
	code=$(curl -sS -o /dev/null -w '%{http_code}' "http://$HOST:$port/") || die "$name: anonymous request failed"
	[ "$code" != 200 ] || die "$name: an anonymous request answered 200: the route is not protected"
	hdrs=$(curl -sS -H "Cookie: gatehouse_session=$sid" "http://$HOST:$port/.bench/headers") ||
		die "$name: header request failed"
	grep -qx 'Remote-User: demo' <<<"$hdrs" || die "$name: upstream did not get Remote-User: demo; it got: $hdrs"
	! grep -q 'gatehouse_session' <<<"$hdrs" || die "$name: the session cookie reached the upstream"
done
log "sanity: 200 + the upstream's 1 KiB body via nginx and both gatehouses; anonymous → $code; Remote-User injected, cookie stripped"

# --- measurement -----------------------------------------------------------------------------------
TARGETS=(direct nginx gatehouse gatehouse+accesslog)
declare -A URL=(
	[direct]="http://$HOST:$PORT_UP/"
	[nginx]="http://$HOST:$PORT_NGINX/"
	[gatehouse]="http://$HOST:$PORT_GH/"
	[gatehouse+accesslog]="http://$HOST:$PORT_GH_LOG/"
)
# The same request everywhere: each gatehouse gets its own session; the others get one too
# (ignored by the upstream) so every target receives the same bytes.
declare -A SID=([direct]=$SID_GH [nginx]=$SID_GH [gatehouse]=$SID_GH [gatehouse+accesslog]=$SID_GH_LOG)
# The server processes whose CPU time is counted for each target.
declare -A SRVPID=([direct]=$PID_UP [nginx]=$PID_NGINX [gatehouse]=$PID_GH [gatehouse+accesslog]=$PID_GH_LOG)
CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: utime+stime of PID and its children processes (nginx workers), in clock ticks.
cpu_ticks() {
	local total=0 p t
	for p in "$1" $(pgrep -P "$1" || true); do
		# Fields after the ")" of comm: state is 1, utime 12, stime 13.
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

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

for ((round = 1; round <= ROUNDS; round++)); do
	for conns in "${CONN_LIST[@]}"; do
		for ((i = 0; i < ${#TARGETS[@]}; i++)); do
			run_wrk "$round" "${TARGETS[(i + round - 1) % ${#TARGETS[@]}]}" "$conns"
		done
	done
done

# --- after the runs: peak RSS, the gatehouses' own complaints ---------------------------------------
vm_hwm() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
RSS_GH=$(vm_hwm "$PID_GH")
RSS_GH_LOG=$(vm_hwm "$PID_GH_LOG")
RSS_UP=$(vm_hwm "$PID_UP")
RSS_NGINX=""
for p in $(pgrep -P "$PID_NGINX" || true); do RSS_NGINX+="$(vm_hwm "$p") "; done
ACCESS_LOG_BYTES=$(cat "$DIR/gatehouse-accesslog/stdout.log" "$DIR/gatehouse-accesslog/stderr.log" | wc -c)
ACCESS_LOG_LINES=$(cat "$DIR/gatehouse-accesslog/stdout.log" "$DIR/gatehouse-accesslog/stderr.log" | wc -l)
GH_WARNINGS=$(grep -c . "$DIR/gatehouse/stderr.log" || true)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START_TS))

# --- table -------------------------------------------------------------------------------------------
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v t="$1" -v c="$2" -v f="$3" '$2 == t && $3 == c { print $f }' "$RAW"; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }

mkdir -p "$(dirname "$OUT")"
{
	echo "## gatehouse load benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- machine: $CORES cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average at start $LOAD_START, at end $LOAD_END"
	echo "- wrk -t2 -c{${CONN_LIST[*]}} -d$DURATION --latency, $ROUNDS rounds, targets interleaved within each round (order rotating); medians over the rounds"
	echo "- gatehouse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- . 2>/dev/null || echo ' (+ uncommitted changes)'), $(go version | awk '{ print $3 }'), GOMAXPROCS default ($CORES); $(nginx -v 2>&1 | sed 's/^nginx version: //'), worker_processes auto = $NGINX_WORKERS workers; $(wrk -v 2>&1 | head -n1 | awk '{ print $1, $2 }')"
	echo "- every request carries the demo user's session cookie; gatehouse rows are the authenticated proxy path (session lookup, header stripping, identity headers)"
	echo
	echo "| target | conns | req/s | p50 ms | p99 ms | req/s ×nginx | req/s ×direct | p99 ×nginx | server CPU % | req/s per server core | errors | req/s per round |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for conns in "${CONN_LIST[@]}"; do
		rn=$(col nginx "$conns" 4 | median)
		rd=$(col direct "$conns" 4 | median)
		pn=$(col nginx "$conns" 6 | median)
		for target in "${TARGETS[@]}"; do
			r=$(col "$target" "$conns" 4 | median)
			p50=$(col "$target" "$conns" 5 | median)
			p99=$(col "$target" "$conns" 6 | median)
			cpu=$(col "$target" "$conns" 10 | median)
			percore=$(awk -F'\t' -v t="$target" -v c="$conns" '$2 == t && $3 == c && $10 > 0 { print $4 / ($10 / 100) }' "$RAW" | median)
			errs=$(($(col "$target" "$conns" 7 | sum) + $(col "$target" "$conns" 8 | sum)))
			per=$(col "$target" "$conns" 4 | awk '{ printf "%s%.0f", (NR > 1 ? " / " : ""), $1 }')
			awk -v t="$target" -v c="$conns" -v r="$r" -v p50="$p50" -v p99="$p99" -v rn="$rn" -v rd="$rd" -v pn="$pn" \
				-v cpu="$cpu" -v pc="$percore" -v e="$errs" -v per="$per" 'BEGIN {
				printf "| %s | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %d | %s |\n",
					t, c, r, p50, p99, r / rn, r / rd, p99 / pn, cpu, pc, e, per }'
		done
	done
	echo
	echo "- peak RSS (VmHWM): gatehouse $RSS_GH MiB, gatehouse+accesslog $RSS_GH_LOG MiB, upstream $RSS_UP MiB, nginx workers ${RSS_NGINX% } MiB"
	echo "- server CPU % = CPU time of the target's server process (nginx: its workers; direct: the upstream) / wall time; 100 = one core. req/s per server core = req/s / (CPU % / 100), median of the rounds: the cost per request, steadier than req/s on a busy machine. wrk, the upstream and the proxy share the $CORES cores, so req/s is CPU-bound and noisy."
	echo "- errors = wrk socket errors (connect/read/write/timeout) + non-2xx/3xx responses, summed over the rounds; mean response size $(awk -F'\t' '$2 ~ /^gatehouse/ { s += $9; n++ } END { if (n) printf "%.0f", s / n }' "$RAW") bytes through gatehouse, $(awk -F'\t' '$2 == "direct" { s += $9; n++ } END { if (n) printf "%.0f", s / n }' "$RAW") direct (1 KiB body + headers)"
	echo "- gatehouse+accesslog wrote $ACCESS_LOG_LINES lines ($((ACCESS_LOG_BYTES / 1048576)) MiB) to a file; gatehouse (log level warn, access_log false) wrote $GH_WARNINGS log lines"
	echo "- total time ${ELAPSED}s. Quote ratios and medians from one run; absolute req/s move ±15–25 % between runs on this shared machine."
} >"$DIR/table.md"

# A response smaller than the 1 KiB body means the run did not measure the proxied answer.
small=$(awk -F'\t' '$9 < 1024 { print $2 " c" $3 " round " $1 ": " $9 " bytes/response" }' "$RAW")
cp "$DIR/table.md" "$OUT"
cat "$DIR/table.md"
if [ -n "$small" ]; then
	die "responses smaller than the 1 KiB body (not the proxied answer):"$'\n'"$small"
fi
if [ "$GH_WARNINGS" -gt 0 ]; then
	log "gatehouse logged $GH_WARNINGS warning/error lines under load; first ones:"
	head -n5 "$DIR/gatehouse/stderr.log" >&2
fi
log "wrote $OUT"
