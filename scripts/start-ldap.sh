#!/usr/bin/env bash
# Starts a throwaway OpenLDAP server (slapd) for the LDAP tests, with its data in DIR.
#
#   scripts/start-ldap.sh DIR [PORT]     # ldap://127.0.0.1:PORT, ldaps://127.0.0.1:PORT+1
#   DIR/stop.sh                          # stops it again (by its PID)
#
# PORT defaults to 20389 (below the ephemeral port range, see the test-services notes). The
# script is idempotent: a slapd already running from DIR is reused; a stopped one is started
# again on its existing data (about 0.3 s); RESET=1 wipes DIR's data and builds it anew.
#
# What it builds the first time (about 2 s):
#   DIR/tls/ca.crt, server.crt/key  a test CA and a server certificate (SAN 127.0.0.1, localhost)
#   DIR/slapd.conf, DIR/data        suffix dc=example,dc=com, mdb, the memberof overlay
#   cn=admin,dc=example,dc=com      / adminpass (rootdn)
#   cn=readonly,dc=example,dc=com   / readonlypass (the search account)
#   ou=people:  uid=alice/alicepass, uid=bob/bobpass, uid=jmuller/jmullerpass ("José Müller"),
#               uid=carol/carolpass (employeeType: disabled, for valid filters),
#               all inetOrgPerson + posixAccount (+ gatehouseTestPerson: targetAddress)
#   ou=latin1:  uid=lmuller/lmullerpass, whose legacyDescription (an octet string) holds
#               ISO-8859-1 bytes, for source_charset
#   ou=groups:  cn=developers (posixGroup: memberUid alice, jmuller),
#               cn=admins (groupOfNames: member alice, bob; added online so memberOf is filled)
#
# Environment: RESET=1 (rebuild), READY_TIMEOUT=20 (seconds to wait for slapd).
set -euo pipefail

usage() {
	echo "usage: $0 DIR [PORT]" >&2
	exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
DIR=$1
PORT=${2:-20389}
case $PORT in '' | *[!0-9]*) usage ;; esac
LDAPS_PORT=$((PORT + 1))
READY_TIMEOUT=${READY_TIMEOUT:-20}
HOST=127.0.0.1
SUFFIX=dc=example,dc=com
ADMIN_DN=cn=admin,$SUFFIX
ADMIN_PW=adminpass

log() { printf 'start-ldap: %s\n' "$*"; }
die() {
	printf 'start-ldap: ERROR: %s\n' "$*" >&2
	exit 1
}

for b in slapd slapadd slappasswd ldapadd ldapsearch openssl; do
	command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
		die "$b not found (install slapd ldap-utils openssl: scripts/install-packages.sh)"
done
PATH=$PATH:/usr/sbin

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)

# running_pid: the PID in DIR/slapd.pid if that process is alive and is slapd (guards PID reuse).
running_pid() {
	local pid="" comm
	[ -f "$DIR/slapd.pid" ] && read -r pid <"$DIR/slapd.pid" || true
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	comm=$(ps -o comm= -p "$pid" 2>/dev/null) || return 1
	[ "$comm" = slapd ] || return 1
	echo "$pid"
}

# probe: the root DSE answers an anonymous base search on PORT.
probe() {
	timeout 5 ldapsearch -x -LLL -o nettimeout=2 -H "ldap://$HOST:$PORT" -s base -b "" \
		'(objectClass=*)' namingContexts >/dev/null 2>&1
}

write_stop() {
	cat >"$DIR/stop.sh" <<EOF
#!/bin/sh
# Written by scripts/start-ldap.sh: stops the slapd started from $DIR (by its PID file).
pidfile='$DIR/slapd.pid'
[ -f "\$pidfile" ] || { echo "stop-ldap: not running (no \$pidfile)"; exit 0; }
read -r pid <"\$pidfile" || true
case \$pid in '' | *[!0-9]*) echo "stop-ldap: bad \$pidfile"; exit 0 ;; esac
if ! kill -0 "\$pid" 2>/dev/null || [ "\$(ps -o comm= -p "\$pid" 2>/dev/null)" != slapd ]; then
	echo "stop-ldap: not running (stale \$pidfile)"
	rm -f "\$pidfile"
	exit 0
fi
kill -TERM "\$pid"
i=0
while kill -0 "\$pid" 2>/dev/null; do
	i=\$((i + 1))
	if [ \$i -ge 300 ]; then
		echo "stop-ldap: pid \$pid still running after 30s, sending SIGKILL"
		kill -KILL "\$pid" 2>/dev/null || true
		break
	fi
	sleep 0.1
done
rm -f "\$pidfile"
echo "stop-ldap: stopped slapd pid \$pid"
EOF
	chmod +x "$DIR/stop.sh"
}

if [ "${RESET:-0}" = 1 ]; then
	if [ -x "$DIR/stop.sh" ]; then "$DIR/stop.sh" >/dev/null; fi
	log "RESET=1: wiping $DIR/data, $DIR/tls and the config"
	rm -rf "$DIR/data" "$DIR/tls" "$DIR/slapd.conf" "$DIR/.initialized" "$DIR"/*.ldif
fi

if pid=$(running_pid) && probe; then
	write_stop
	log "reusing slapd pid $pid from $DIR (ldap://$HOST:$PORT, ldaps://$HOST:$LDAPS_PORT)"
	exit 0
fi

# ---------------------------------------------------------------- certificates

if [ ! -s "$DIR/tls/server.crt" ]; then
	log "making a test CA and server certificate in $DIR/tls"
	rm -rf "$DIR/tls"
	mkdir -p "$DIR/tls"
	(
		cd "$DIR/tls"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-subj "/CN=Gatehouse Test LDAP CA" -keyout ca.key -out ca.crt \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
			-keyout server.key -out server.csr \
			-addext "subjectAltName=DNS:localhost,DNS:$(hostname),IP:127.0.0.1"
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
			-copy_extensions copy -out server.crt
	) >"$DIR/openssl.log" 2>&1 || {
		cat "$DIR/openssl.log" >&2
		die "openssl failed"
	}
	chmod 600 "$DIR/tls/ca.key" "$DIR/tls/server.key"
fi

# ---------------------------------------------------------------- config and data

ssha() { slappasswd -h '{SSHA}' -s "$1"; }
b64() { printf '%s' "$1" | base64 -w0; }

if [ ! -f "$DIR/.initialized" ]; then
	log "building the directory in $DIR/data"
	rm -rf "$DIR/data"
	mkdir -p "$DIR/data"
	# A tiny test schema: targetAddress as Exchange spells it (OTRS strips "SMTP:" from it), and
	# legacyDescription, an octet string: slapd refuses non-UTF-8 bytes in every directoryString
	# attribute (description included, even with slapadd -s), so the ISO-8859-1 bytes of a
	# "legacy" directory need an attribute whose syntax takes any bytes.
	cat >"$DIR/gatehouse-test.schema" <<'EOF'
attributetype ( 1.2.840.113556.1.2.352 NAME 'targetAddress'
	EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.32473.1.1.1 NAME 'legacyDescription'
	EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
objectclass ( 1.3.6.1.4.1.32473.1.2.1 NAME 'gatehouseTestPerson' SUP top AUXILIARY
	MAY ( targetAddress $ legacyDescription ) )
EOF
	cat >"$DIR/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include $DIR/gatehouse-test.schema
pidfile  $DIR/slapd.pid
argsfile $DIR/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
loglevel none
sizelimit unlimited
TLSCACertificateFile  $DIR/tls/ca.crt
TLSCertificateFile    $DIR/tls/server.crt
TLSCertificateKeyFile $DIR/tls/server.key
access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read
database mdb
maxsize 104857600
suffix "$SUFFIX"
rootdn "$ADMIN_DN"
rootpw $(ssha "$ADMIN_PW")
directory $DIR/data
index objectClass eq
index uid,memberUid,member,mail,cn eq
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by self read by dn.exact="cn=readonly,$SUFFIX" read by users read by * none
EOF

	# person UID PASSWORD CN SN GIVEN N [EXTRA LDIF LINES]: one ou=people entry.
	person() {
		local uid=$1 pw=$2 cn=$3 sn=$4 given=$5 n=$6 extra=${7:-} ou=${8:-people}
		cat <<EOF
dn: uid=$uid,ou=$ou,$SUFFIX
objectClass: inetOrgPerson
objectClass: posixAccount
objectClass: gatehouseTestPerson
uid: $uid
cn:: $(b64 "$cn")
sn:: $(b64 "$sn")
givenName:: $(b64 "$given")
mail: $uid@example.com
telephoneNumber: +49 30 1234$n
uidNumber: $((10000 + n))
gidNumber: 10000
homeDirectory: /home/$uid
userPassword: $(ssha "$pw")
EOF
		if [ -n "$extra" ]; then printf '%s\n' "$extra"; fi
		echo
	}

	{
		cat <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: cn=readonly,$SUFFIX
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: readonly
userPassword: $(ssha readonlypass)

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: ou=latin1,$SUFFIX
objectClass: organizationalUnit
ou: latin1
description: entries with ISO-8859-1 bytes in legacyDescription (source_charset tests)

EOF
		person alice alicepass "Alice Anders" Anders Alice 1 "o: ACME
departmentNumber: ACME;ACME-EAST
employeeType: active
description: Alice in wonderland
postalAddress: Hauptstr. 1\$10115 Berlin
targetAddress: SMTP:alice@exchange.example.com"
		person bob bobpass "Bob Builder" Builder Bob 2 "o: BUILD
employeeType: active
targetAddress: smtp: bob@exchange.example.com"
		person jmuller jmullerpass "José Müller" Müller José 3 "o: ACME
employeeType: active
postalAddress:: $(b64 'Königstraße 1$10115 Berlin$Deutschland')
description:: $(b64 'Entwickler für Straßenbahnen')"
		person carol carolpass "Carol Disabled" Disabled Carol 4 "o: ACME
employeeType: disabled"
		# legacyDescription holds ISO-8859-1 bytes ("Lüdenscheider Straße" in Latin-1): a
		# directory filled by a legacy tool. source_charset: iso-8859-1 turns it into UTF-8.
		person lmuller lmullerpass "Lena Mueller" Mueller Lena 5 "o: LEGACY
employeeType: active
legacyDescription:: $(printf 'L\xfcdenscheider Stra\xdfe' | base64 -w0)" latin1
	} >"$DIR/base.ldif"

	slapadd -q -f "$DIR/slapd.conf" -l "$DIR/base.ldif" >"$DIR/slapadd.log" 2>&1 || {
		cat "$DIR/slapadd.log" >&2
		die "slapadd failed"
	}
fi

# ---------------------------------------------------------------- start

write_stop
rm -f "$DIR/slapd.pid"
log "starting slapd on ldap://$HOST:$PORT and ldaps://$HOST:$LDAPS_PORT (data $DIR/data)"
# slapd daemonises and writes DIR/slapd.pid; setsid keeps a Ctrl-C of the caller away from it.
setsid slapd -f "$DIR/slapd.conf" -h "ldap://$HOST:$PORT/ ldaps://$HOST:$LDAPS_PORT/" \
	</dev/null >"$DIR/slapd.out" 2>&1 || {
	cat "$DIR/slapd.out" >&2
	die "slapd failed to start (port $PORT or $LDAPS_PORT in use?)"
}
deadline=$((SECONDS + READY_TIMEOUT))
until probe; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		cat "$DIR/slapd.out" >&2 || true
		die "slapd not answering on ldap://$HOST:$PORT after ${READY_TIMEOUT}s"
	fi
	sleep 0.1
done
pid=$(running_pid) || die "slapd answers but $DIR/slapd.pid names no running slapd"

if [ ! -f "$DIR/.initialized" ]; then
	# Groups are added online: the memberof overlay fills memberOf only for online adds.
	cat >"$DIR/groups.ldif" <<EOF
dn: cn=developers,ou=groups,$SUFFIX
objectClass: posixGroup
cn: developers
gidNumber: 10001
memberUid: alice
memberUid: jmuller

dn: cn=admins,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,$SUFFIX
member: uid=bob,ou=people,$SUFFIX
EOF
	ldapadd -x -H "ldap://$HOST:$PORT" -D "$ADMIN_DN" -w "$ADMIN_PW" -f "$DIR/groups.ldif" \
		>"$DIR/ldapadd.log" 2>&1 || {
		cat "$DIR/ldapadd.log" >&2
		die "ldapadd of the groups failed"
	}
	touch "$DIR/.initialized"
fi
log "slapd ready (pid $pid): ldap://$HOST:$PORT ldaps://$HOST:$LDAPS_PORT, CA $DIR/tls/ca.crt; stop with $DIR/stop.sh"
