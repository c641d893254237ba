#!/usr/bin/env bash
# Makes a private CA and the certificates the compose deployment's Temporal mTLS needs (openssl only):
#   ca.pem                       the CA every party trusts (keep ca-key.pem offline once done)
#   temporal.pem/-key.pem        the Temporal server (SAN: DNS:temporal, DNS:localhost, IP:127.0.0.1)
#   worker.pem/-key.pem          the workers, temporal-setup and the UI (clients)
#   cli.pem/-key.pem             the operator's CLI on the host
# Usage: bash infra/make-certs.sh [dir]   (default infra/certs; existing files are kept)
set -euo pipefail
dir="${1:-$(dirname "$0")/certs}"
mkdir -p "$dir"
cd "$dir"
umask 077
days=825
if [[ ! -f ca.pem ]]; then
  openssl req -x509 -newkey rsa:3072 -nodes -keyout ca-key.pem -out ca.pem -days "$days" -subj "/CN=siamface-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
issue() { # name, extended key usage, subjectAltName
  [[ -f "$1.pem" ]] && return
  openssl req -newkey rsa:3072 -nodes -keyout "$1-key.pem" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s\n' "$2" "${3:+subjectAltName=$3}" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out "$1.pem" -days "$days" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue temporal serverAuth,clientAuth "DNS:temporal,DNS:localhost,IP:127.0.0.1"
issue worker clientAuth
issue cli clientAuth
# The containers run as uid 1000 (node / siamface / temporal): the keys must be readable by them, by no one else.
chmod 0644 ./*.pem
chmod 0640 ./*-key.pem
echo "certificates in $PWD (readable by group: chgrp 1000 *-key.pem if the containers cannot read them)"
