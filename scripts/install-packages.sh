#!/usr/bin/env bash
# Installs (with apt-get) the Debian packages the test suite needs, but only those missing.
#
#   scripts/install-packages.sh [EXTRA_PACKAGE...]
#   scripts/install-packages.sh bench     # also BENCH_PACKAGES, the load benchmark's tools
#
# Idempotent: when everything is installed it only says so (no apt-get update, no root needed).
# As non-root it lists what is missing and exits 1.
# Before installing it makes sure /usr/sbin/policy-rc.d denies service starts (exit 101), so
# the packages' postinst scripts start no system daemon on the standard ports; a policy-rc.d
# created here is removed again afterwards (KEEP_POLICY_RC_D=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."

# The packages the tests need. Later issues add theirs here (slapd ldap-utils, freeradius
# freeradius-utils, nginx apache2-utils, openssl, wrk, chromium, ...).
PACKAGES=(
	postgresql     # PostgreSQL server + psql (scripts/test-services.sh)
	mariadb-server # MariaDB server + mariadb / mariadb-admin clients
	redis-server   # redis-server + redis-cli
	slapd          # OpenLDAP server (scripts/start-ldap.sh)
	ldap-utils     # ldapadd, ldapsearch (scripts/start-ldap.sh)
	openssl        # the LDAP test CA and server certificate
	freeradius freeradius-utils # FreeRADIUS 3.2 + radclient (scripts/start-radius.sh)
	nginx apache2-utils # nginx + htpasswd (scripts/start-nginx-basic.sh)
	caddy         # Caddy 2.6 forward_auth (scripts/start-caddy-forwardauth.sh)
	curl
	gcc libc6-dev # cgo, needed by `go test -race`
	chromium      # headless browser for the admin UI tests (admin/browser_test.go)
)
# The load benchmark's tools (scripts/bench.sh), added by the argument `bench`. It also uses
# curl, redis-server (redis-cli), slapd + ldap-utils (the LDAP login) and postgresql (psql, the
# PostgreSQL login) from the list above.
BENCH_PACKAGES=(
	wrk   # HTTP load generator (closed loop; bench/loadgen does the fixed-rate runs)
	nginx # the reference proxy gatehouse is compared with
)
for arg in "$@"; do
	if [ "$arg" = bench ]; then
		PACKAGES+=("${BENCH_PACKAGES[@]}")
	else
		PACKAGES+=("$arg")
	fi
done

log() { printf 'install-packages: %s\n' "$*"; }

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	log "no dpkg-query/apt-get here (not Debian/Ubuntu); install these yourself: ${PACKAGES[*]}" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	log "all ${#PACKAGES[@]} packages already installed (${PACKAGES[*]})"
	exit 0
fi

log "missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	log "not root: cannot install; run as root: apt-get install ${missing[*]}  (or: sudo $0)" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	log "creating $policy (exit 101) so package postinst scripts start no system daemons"
	printf '#!/bin/sh\n# created by gatehouse scripts/install-packages.sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	created_policy=1
fi
cleanup() {
	if [ "$created_policy" = 1 ] && [ "${KEEP_POLICY_RC_D:-0}" != 1 ]; then
		log "removing the $policy created above"
		rm -f "$policy"
	fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -o DPkg::Lock::Timeout=300)
log "apt-get update"
apt-get "${apt_opts[@]}" update
log "apt-get install ${missing[*]}"
apt-get "${apt_opts[@]}" install -y "${missing[@]}"
log "installed: ${missing[*]}"
