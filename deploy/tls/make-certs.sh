#!/usr/bin/env bash
# Makes the TLS material of the Compose stack with openssl: a CA, a server
# certificate for the broker and a client certificate per simulated mTLS
# device. Idempotent: what exists and stays valid for another 30 days is
# kept, so running it again changes nothing; an expiring certificate is
# reissued (the broker picks up a new server certificate without a restart).
#
#   deploy/tls/make-certs.sh [OUT]          (default OUT: deploy/tls/out)
#
# Environment:
#   TLS_DEVICES     number of device certificates (default 10)
#   TLS_ID_PREFIX   endpoint ID prefix; device n is <prefix><n as 6 digits>,
#                   the numbering of `cuttle creds add --count` (default os::00CAFE-TLS)
#   TLS_HOSTS       broker host names in the server certificate (default
#                   "broker localhost"; 127.0.0.1 and ::1 are always in it)
#   TLS_DAYS        validity of new leaf certificates in days (default 397)
#
# OUT gets: ca.crt, ca.key (keep this one offline in production),
# server.crt (chain: server then CA), server.key, and devices/<endpoint
# ID>.crt and .key. A device certificate names its endpoint ID twice: as
# the URI SAN urn:bbf:usp:id:<endpoint ID> (TR-369's convention, what the
# broker reads by default, --tls-identity-from san) and as the Subject CN
# (for --tls-identity-from cn).
set -euo pipefail

out=${1:-$(cd "$(dirname "$0")" && pwd)/out}
devices=${TLS_DEVICES:-10}
prefix=${TLS_ID_PREFIX:-os::00CAFE-TLS}
hosts=${TLS_HOSTS:-broker localhost}
days=${TLS_DAYS:-397}
command -v openssl >/dev/null || { echo "make-certs.sh: openssl is required" >&2; exit 1; }
[[ "$devices" =~ ^[0-9]+$ && "$devices" -le 999999 ]] || { echo "make-certs.sh: TLS_DEVICES must be a number below 1000000" >&2; exit 1; }

mkdir -p "$out/devices"
chmod 700 "$out"
umask 077
made=0

# fresh CERT: CERT exists and is valid for at least 30 more days.
fresh() {
	[[ -s "$1" ]] && openssl x509 -in "$1" -noout -checkend $((30 * 86400)) >/dev/null 2>&1
}

# issue NAME SUBJECT EXTENSIONS: a new key and a certificate signed by the
# CA, written to NAME.key and NAME.crt through temporary files renamed into
# place once both are complete, so a reader never sees half a file (the
# broker's reload also waits until the files have held still for a poll).
issue() {
	local name=$1 subject=$2 ext=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$name.key.tmp" -subj "$subject" -out "$name.csr.tmp" 2>/dev/null
	openssl x509 -req -in "$name.csr.tmp" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
		-extfile <(printf '%s\n' "$ext") -out "$name.crt.tmp" 2>/dev/null
	rm -f "$name.csr.tmp"
	mv "$name.key.tmp" "$name.key"
	mv "$name.crt.tmp" "$name.crt"
	made=$((made + 1))
}

if ! fresh "$out/ca.crt" || [[ ! -s "$out/ca.key" ]]; then
	# A new CA invalidates every certificate it signed: reissue them all.
	rm -f "$out"/server.* "$out"/devices/*
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$out/ca.key.tmp" -subj "/O=Cuttle/CN=Cuttle Compose CA" -days 3650 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$out/ca.crt.tmp" 2>/dev/null
	mv "$out/ca.key.tmp" "$out/ca.key"
	mv "$out/ca.crt.tmp" "$out/ca.crt"
	made=$((made + 1))
fi

if ! fresh "$out/server.crt" || [[ ! -s "$out/server.key" ]]; then
	san="IP:127.0.0.1,IP:::1"
	for h in $hosts; do san="$san,DNS:$h"; done
	issue "$out/server" "/O=Cuttle/CN=${hosts%% *}" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san"
	# The broker serves the chain: its certificate, then the CA's.
	cat "$out/ca.crt" >>"$out/server.crt"
fi

for ((i = 1; i <= devices; i++)); do
	eid=$(printf '%s%06d' "$prefix" "$i")
	if fresh "$out/devices/$eid.crt" && [[ -s "$out/devices/$eid.key" ]]; then
		continue
	fi
	issue "$out/devices/$eid" "/O=Cuttle/CN=$eid" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=URI:urn:bbf:usp:id:$eid"
done

openssl verify -CAfile "$out/ca.crt" "$out/server.crt" >/dev/null
echo "make-certs.sh: $out: CA, broker certificate for [$hosts], $devices device certificates ($made new)"
