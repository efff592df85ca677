#!/usr/bin/env bash
# Directory at scale: 1 000 000 customer users in PostgreSQL and in MariaDB; the login lookup
# and the OTRS searches measured through directory/sqldb before and after
# `gatehouse migrate --indexes`. Writes the table to the bench-directory region of
# docs/benchmarks.md.
#
#   scripts/bench-directory.sh [-n ROWS] [-b BUDGET] [-t TIMEOUT] [-s "postgres mariadb"] [-o FILE] [-d | -D]
#
#   -n ROWS     customer users to generate (default 1000000)
#   -b BUDGET   time per group of operations and phase before it stops at the minimum runs (default 20s)
#   -t TIMEOUT  statement timeout: the database cancels a longer statement (default 10s)
#   -s LIST     which databases (default "postgres mariadb")
#   -o FILE     markdown file whose bench-directory region gets the table (default docs/benchmarks.md)
#   -d          drop the bench databases when done
#   -D          only drop the bench databases, measure nothing
#
# The databases are gatehouse_bench_1m (with -n other than 1000000: gatehouse_bench_<ROWS>) on
# the servers the tests use: GATEHOUSE_BENCH_PG_DSN (default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) and GATEHOUSE_BENCH_MYSQL_DSN
# (default mysql://root@127.0.0.1:3306/), users allowed to create databases. They are created
# and seeded once (in SQL, about a minute each) and reused while they hold the same data; the
# gatehouse_ indexes are dropped before the "before" phase, so it measures the OTRS schema as
# it is. Each phase takes a minute or two.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# shellcheck source=scripts/lib-bench.sh
. "$ROOT/scripts/lib-bench.sh"

ROWS=1000000
BUDGET=20s
TIMEOUT=10s
SERVERS="postgres mariadb"
OUT="$ROOT/docs/benchmarks.md"
DROP=0
DROP_ONLY=0
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while getopts "n:b:t:s:o:dDh" opt; do
	case "$opt" in
	n) ROWS=$OPTARG ;;
	b) BUDGET=$OPTARG ;;
	t) TIMEOUT=$OPTARG ;;
	s) SERVERS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	d) DROP=1 ;;
	D) DROP_ONLY=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
[[ "$ROWS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-directory: -n wants a positive integer, got '$ROWS'" >&2; exit 2; }
for s in $SERVERS; do
	case "$s" in postgres | mariadb) ;; *) echo "bench-directory: -s knows postgres and mariadb, not '$s'" >&2; exit 2 ;; esac
done

log() { printf 'bench-directory: %s\n' "$*" >&2; }
command -v go >/dev/null 2>&1 || { log "FAIL: go not found"; exit 1; }

NAME=gatehouse_bench_1m
[ "$ROWS" = 1000000 ] || NAME="gatehouse_bench_$ROWS"
PG_ADMIN=${GATEHOUSE_BENCH_PG_DSN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
MY_ADMIN=${GATEHOUSE_BENCH_MYSQL_DSN:-mysql://root@127.0.0.1:3306/}

# bench_dsn ADMIN_DSN: the same server, user and parameters, the bench database.
bench_dsn() {
	local base=${1%%\?*} query= rest
	[ "$base" = "$1" ] || query="?${1#*\?}"
	rest=${base#*://}
	printf '%s://%s/%s%s' "${base%%://*}" "${rest%%/*}" "$NAME" "$query"
}
admin_dsn() { if [ "$1" = postgres ]; then echo "$PG_ADMIN"; else echo "$MY_ADMIN"; fi; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench-directory.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
log "building gatehouse and bench/directory"
go build -o "$DIR/gatehouse" ./cmd/gatehouse
go build -o "$DIR/bench" ./bench/directory

if [ "$DROP_ONLY" = 1 ]; then
	for s in $SERVERS; do "$DIR/bench" drop-db -admin-dsn "$(admin_dsn "$s")" -name "$NAME"; done
	exit 0
fi

COMMIT=$(source_commit)
BUILT=""
for s in $SERVERS; do
	admin=$(admin_dsn "$s")
	dsn=$(bench_dsn "$admin")
	cfg="$DIR/$s.yaml"
	# The bench database as a gatehouse data source, with OTRS's CustomerCompanySupport on, so
	# a login lookup also reads the customer's company, as at a real login.
	cat >"$cfg" <<-EOF
		customer_auth: [{module: db}]
		customer_user:
		  - module: db
		    params: {dsn: "$dsn"}
		    customer_company_support: true
		routes: [{upstream: echo}]
	EOF
	"$DIR/bench" create-db -admin-dsn "$admin" -name "$NAME" >&2
	log "$s: seeding $ROWS customer users (reused when already there)"
	"$DIR/bench" seed -config "$cfg" -rows "$ROWS" >&2
	log "$s: before — dropping the gatehouse_ indexes"
	"$DIR/gatehouse" migrate --drop-indexes --config "$cfg" >&2
	"$DIR/bench" measure -config "$cfg" -phase before -out "$DIR/results.jsonl" -budget "$BUDGET" -statement-timeout "$TIMEOUT" >&2
	log "$s: gatehouse migrate --indexes"
	start=$(date +%s)
	"$DIR/gatehouse" migrate --indexes --config "$cfg" | tee "$DIR/$s-migrate.txt" >&2
	end=$(date +%s)
	db=$s
	[ "$s" = mariadb ] && db=mysql
	BUILT="$BUILT $db=$((end - start))s"
	"$DIR/bench" measure -config "$cfg" -phase after -out "$DIR/results.jsonl" -budget "$BUDGET" -statement-timeout "$TIMEOUT" >&2
	if [ "$DROP" = 1 ]; then
		"$DIR/bench" drop-db -admin-dsn "$admin" -name "$NAME" >&2
	fi
done

"$DIR/bench" report -in "$DIR/results.jsonl" -commit "$COMMIT" -built "$BUILT" >"$DIR/region.md"
cat "$DIR/region.md"
write_region "$OUT" bench-directory "$DIR/region.md"
log "table written to the bench-directory region of ${OUT#"$ROOT"/}"
