#!/usr/bin/env bash
# Go micro-benchmarks of the hot paths, with -benchmem: the per-request work of the proxy's
# fast path, the session lookup (memory and Redis, cache hit and miss), the header scrub, and
# the whole authenticated proxy path over loopback. Writes medians to the bench-micro region
# of docs/benchmarks.md.
#
#   scripts/bench-micro.sh [-n COUNT] [-t BENCHTIME] [-o FILE]
#
#   -n COUNT      runs of each benchmark; the table shows medians (default 5)
#   -t BENCHTIME  go test -benchtime (default 1s)
#   -o FILE       markdown file whose bench-micro region gets the table (default docs/benchmarks.md)
#
# The Redis benchmarks use the Redis the tests use (127.0.0.1:6379 unless the test environment
# says otherwise; scripts/test-services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=scripts/lib-bench.sh
. "$ROOT/scripts/lib-bench.sh"

COUNT=5
BENCHTIME=1s
OUT="$ROOT/docs/benchmarks.md"
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:t:o:h" opt; do
	case "$opt" in
	n) COUNT=$OPTARG ;;
	t) BENCHTIME=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done
[[ "$COUNT" =~ ^[1-9][0-9]*$ ]] || { echo "bench-micro: -n wants a positive integer, got '$COUNT'" >&2; exit 2; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench-micro.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(source_commit)

run() { # PACKAGE PATTERN
	echo "bench-micro: go test -bench '$2' $1 (count $COUNT, benchtime $BENCHTIME)" >&2
	GATEHOUSE_TEST_REQUIRE=1 go test -run '^$' -bench "$2" -benchmem -count "$COUNT" -benchtime "$BENCHTIME" "$1" |
		awk -v p="${1#./}" '/^Benchmark/ { $1 = p " " $1 } { print }' |
		tee -a "$DIR/raw.txt" | grep -E ' Benchmark|^(FAIL|ok|---)' >&2
}
run ./gateway 'FastPathPrepare|StripOwned|ProxyWithSession|DirectUpstream'
run ./sessions 'LoadCookie'
run ./sessions/redis 'LoadCookie'

# Medians per benchmark name: ns/op, B/op, allocs/op.
{
	echo "### Go micro-benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- gatehouse $COMMIT, $(go version | awk '{ print $3 }'); \`go test -bench -benchmem -count $COUNT -benchtime $BENCHTIME\`, medians of the $COUNT runs"
	echo
	echo "| package benchmark | ns/op | B/op | allocs/op | runs |"
	echo "|---|---:|---:|---:|---:|"
	awk '$2 ~ /^Benchmark/ {
			name = $1 " " $2; sub(/-[0-9]+$/, "", name)
			for (i = 4; i < NF; i++) {
				if ($(i+1) == "ns/op") ns[name] = ns[name] " " $i
				if ($(i+1) == "B/op") bo[name] = bo[name] " " $i
				if ($(i+1) == "allocs/op") al[name] = al[name] " " $i
			}
			if (!(name in seen)) { seen[name] = 1; order[++n] = name }
		}
		function median(list,   a, k, i, j, t) {
			k = split(list, a, " ")
			for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		END {
			for (i = 1; i <= n; i++) {
				nm = order[i]
				printf "| %s | %.0f | %.0f | %.0f | %d |\n", nm, median(ns[nm]), median(bo[nm]), median(al[nm]), split(ns[nm], x, " ")
			}
		}' "$DIR/raw.txt"
	echo
	echo "- \`BenchmarkFastPathPrepare\`: a signed-in request's work on the proxy's fast path without the network (routing, session from the cache, header scrub, identity headers, X-Forwarded-*, request id, target). \`BenchmarkProxyWithSession\` / \`BenchmarkDirectUpstream\`: the whole authenticated path over loopback with a Go client and upstream in the same process, against the upstream alone. \`BenchmarkLoadCookie\`: the session lookup (cache hit: no allocation; miss: a store round trip)."
} >"$DIR/micro.md"
write_region "$OUT" bench-micro "$DIR/micro.md"
cat "$DIR/micro.md"
echo "bench-micro: wrote the bench-micro region of $OUT" >&2
