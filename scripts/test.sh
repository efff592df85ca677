#!/usr/bin/env bash
# The test command (README, .ci/run):
#
#   scripts/test.sh                         # everything: vet, gofmt, go test -race ./...
#   scripts/test.sh -run TestX ./sessions/...   # extra `go test` arguments
#
# 1. installs the Debian packages that are missing (scripts/install-packages.sh; skip with
#    GATEHOUSE_SKIP_INSTALL=1),
# 2. brings up PostgreSQL, MariaDB and Redis (scripts/test-services.sh: uses running servers,
#    starts throwaway ones for the rest, and stops those again on exit),
# 3. with GATEHOUSE_TEST_REQUIRE=1 (a missing service fails a test instead of skipping it) runs
#    go vet, a gofmt check and `go test -race -count=1 -timeout 20m` on ./... — or on the
#    packages named in the arguments (arguments are passed to go test after the defaults; if
#    they name no package, ./... is used; vet and gofmt cover the same packages),
# 4. without arguments, a second pass without -race: the 1 GiB streaming test's peak-RSS check
#    and the BSDi crypt vectors with millions of rounds (both meaningless or too slow under -race).
# Exit status: go test's if it failed, else 1 if vet or gofmt failed, else 0.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*"; }
t_start=$SECONDS

# ---------------------------------------------------------------- arguments

# Split "$@" into package patterns and go test flags. Flags that take a separate value
# (-run X, -timeout 5m, ...) keep their value; boolean flags and -flag=value stand alone.
pkgs=()
expect_value=0
for a in "$@"; do
	if [ "$expect_value" = 1 ]; then
		expect_value=0
		continue
	fi
	case $a in
	-*=*) ;;
	-v | -short | -failfast | -json | -cover | -race | -msan | -asan | -benchmem | -a | -n | -x | \
		-trimpath | -fullpath | -work | -linkshared | -modcacherw | -buildvcs | -i | -c) ;;
	-test.v | -test.short | -test.failfast | -test.benchmem) ;;
	--) ;;
	-*) expect_value=1 ;;
	*) pkgs+=("$a") ;;
	esac
done
test_args=("$@")
if [ "${#pkgs[@]}" -eq 0 ]; then
	pkgs=(./...)
	test_args+=(./...)
fi

# ---------------------------------------------------------------- packages and services

if [ "${GATEHOUSE_SKIP_INSTALL:-0}" = 1 ]; then
	log "GATEHOUSE_SKIP_INSTALL=1: not checking Debian packages"
else
	log "checking Debian packages (scripts/install-packages.sh)"
	scripts/install-packages.sh
fi

svc_dir=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test.XXXXXX")
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local rc=$?
	log "stopping the test services started in $svc_dir"
	scripts/test-services.sh down "$svc_dir" || true
	rm -rf "$svc_dir"
	exit "$rc"
}
trap cleanup EXIT

# go vet / go test run in their own process group (setsid) and are waited for in the
# background: a SIGINT/SIGTERM to this script then stops them (group and test binaries) at
# once (SIGTERM to the group), and the EXIT trap stops the services, instead of waiting for
# the tests to finish.
child=""
run() {
	local rc=0
	setsid "$@" &
	child=$!
	wait "$child" || rc=$?
	child=""
	return "$rc"
}
# shellcheck disable=SC2317 # invoked by the traps
on_signal() {
	log "got SIG$1, stopping"
	if [ -n "$child" ]; then
		# SIGTERM whatever came in: background commands start with SIGINT ignored.
		kill -s TERM -- "-$child" 2>/dev/null || kill -s TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

log "bringing up the test services (scripts/test-services.sh up $svc_dir)"
t0=$SECONDS
scripts/test-services.sh up "$svc_dir"
# shellcheck source=/dev/null
. "$svc_dir/env.sh"
export GATEHOUSE_TEST_REQUIRE=1
t_services=$((SECONDS - t0))
log "GATEHOUSE_TEST_REQUIRE=1 GATEHOUSE_TEST_PG_DSN=$GATEHOUSE_TEST_PG_DSN GATEHOUSE_TEST_MYSQL_DSN=$GATEHOUSE_TEST_MYSQL_DSN GATEHOUSE_TEST_REDIS_ADDR=$GATEHOUSE_TEST_REDIS_ADDR"

# ---------------------------------------------------------------- vet, gofmt, test

log "go vet ${pkgs[*]}"
t0=$SECONDS
vet_rc=0
run go vet "${pkgs[@]}" || vet_rc=$?
t_vet=$((SECONDS - t0))

log "gofmt check of ${pkgs[*]}"
t0=$SECONDS
fmt_rc=0
# All Go files of the selected packages, test files and files of other build tags included.
# shellcheck disable=SC2016 # a Go template, not shell
# -e: list what it can even if some package does not compile (vet/test report that).
files=$(go list -e -f '{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .CgoFiles}}{{$d}}/{{.}}
{{end}}{{range .TestGoFiles}}{{$d}}/{{.}}
{{end}}{{range .XTestGoFiles}}{{$d}}/{{.}}
{{end}}{{range .IgnoredGoFiles}}{{$d}}/{{.}}
{{end}}' "${pkgs[@]}") || fmt_rc=$?
unformatted=""
if [ "$fmt_rc" = 0 ] && [ -n "$files" ]; then
	mapfile -t file_list <<<"$files"
	unformatted=$(gofmt -l "${file_list[@]}" 2>&1) || fmt_rc=$?
fi
if [ -n "$unformatted" ]; then
	fmt_rc=1
	log "gofmt: these files are not formatted (fix: gofmt -w FILE):"
	printf '%s\n' "$unformatted" | sed "s|^$PWD/|  |"
elif [ "$fmt_rc" != 0 ]; then
	log "gofmt check could not list the Go files (go list failed)"
fi
t_fmt=$((SECONDS - t0))

log "go test -race -count=1 -timeout 20m ${test_args[*]}"
t0=$SECONDS
test_rc=0
run go test -race -count=1 -timeout 20m "${test_args[@]}" || test_rc=$?
t_test=$((SECONDS - t0))

# The race detector multiplies memory use, allocates by itself and slows tight loops a
# hundredfold, so some checks run again without it: the peak-RSS check of the 1 GiB streaming
# test (which is built only without -race), the BSDi crypt vectors with millions of DES rounds,
# and the zero-allocation checks of the proxy's fast path and the cached session lookup.
norace_rc=0
t_norace=0
if [ "$#" -eq 0 ]; then
	norace_args=(-count=1 -timeout 10m -run 'TestStreamingOneGiB|TestGoldenCrypt$|TestFastPathAllocations|TestLoadCookieNoAlloc'
		./cmd/gatehouse ./authn/passwd ./gateway ./sessions)
	log "go test (without -race) ${norace_args[*]}"
	t0=$SECONDS
	run go test "${norace_args[@]}" || norace_rc=$?
	t_norace=$((SECONDS - t0))
fi

status() { if [ "$1" = 0 ]; then echo ok; else echo "FAILED (exit $1)"; fi; }
echo
echo "==================== test.sh summary ===================="
printf '  services  %-18s %4ss  (PG %s, MariaDB %s, Redis %s)\n' ok "$t_services" \
	"${GATEHOUSE_TEST_PG_DSN#*@}" "${GATEHOUSE_TEST_MYSQL_DSN#*@}" "$GATEHOUSE_TEST_REDIS_ADDR"
printf '  go vet    %-18s %4ss\n' "$(status "$vet_rc")" "$t_vet"
printf '  gofmt     %-18s %4ss\n' "$(status "$fmt_rc")" "$t_fmt"
printf '  go test   %-18s %4ss\n' "$(status "$test_rc")" "$t_test"
if [ "$#" -eq 0 ]; then
	printf '  no -race  %-18s %4ss  (streaming RSS, slow crypt vectors, zero allocations)\n' "$(status "$norace_rc")" "$t_norace"
fi
printf '  total                        %4ss\n' "$((SECONDS - t_start))"
echo "========================================================="

if [ "$test_rc" != 0 ]; then
	exit "$test_rc"
fi
if [ "$norace_rc" != 0 ]; then
	exit "$norace_rc"
fi
if [ "$vet_rc" != 0 ] || [ "$fmt_rc" != 0 ]; then
	exit 1
fi
exit 0
