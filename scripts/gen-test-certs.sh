#!/usr/bin/env bash
# Generate the TLS test certificates in test/fixtures/tls/ (TEST ONLY: the private
# keys are committed on purpose and must never protect anything real).
#
#   scripts/gen-test-certs.sh [OUT_DIR]      (default: test/fixtures/tls next to this script)
#
# Produces:
#   ca.key, ca.pem               test CA ("Qasid Test CA"), 100 years
#   server.key, server.pem       signed by ca; SAN DNS:localhost, IP:127.0.0.1, IP:::1;
#                                EKU serverAuth; 100 years
#   server-dns.key, server-dns.pem  signed by ca; SAN DNS:localhost only (no IP address);
#                                EKU serverAuth; 100 years (a server known only by name)
#   client.key, client.pem       signed by ca; EKU clientAuth; CN qasid-test-client (mutual TLS)
#   untrusted-ca.key, untrusted-ca.pem   a second CA nobody trusts
#   untrusted.key, untrusted.pem server cert for the same names, signed by the untrusted CA
# Keys are EC P-256 (fast, accepted by Node/OpenSSL 3 at default security level).
# Re-running overwrites everything; certificates that were issued before stop matching.
set -euo pipefail

if ! command -v openssl >/dev/null 2>&1; then
  echo "gen-test-certs: openssl not found in PATH" >&2
  exit 1
fi
openssl version >/dev/null

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/../test/fixtures/tls}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
days=36525   # 100 years
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() { # name cn
  local name=$1 cn=$2
  newkey "$out/$name.key"
  openssl req -new -x509 -key "$out/$name.key" -sha256 -days "$days" \
    -subj "/O=Qasid tests/CN=$cn" -set_serial "0x$(openssl rand -hex 16)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$out/$name.pem"
}

make_leaf() { # name cn ca-name eku san
  local name=$1 cn=$2 ca=$3 eku=$4 san=${5:-}
  newkey "$out/$name.key"
  openssl req -new -key "$out/$name.key" -subj "/O=Qasid tests/CN=$cn" -out "$tmp/$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid,issuer"
    if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
  } >"$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$out/$ca.pem" -CAkey "$out/$ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -sha256 -days "$days" \
    -extfile "$tmp/$name.ext" -out "$out/$name.pem" 2>/dev/null
  openssl verify -CAfile "$out/$ca.pem" "$out/$name.pem" >/dev/null
}

san="DNS:localhost,IP:127.0.0.1,IP:::1"
make_ca   ca           "Qasid Test CA"
make_leaf server       localhost          ca           serverAuth "$san"
make_leaf server-dns   localhost          ca           serverAuth "DNS:localhost"
make_leaf client       qasid-test-client  ca           clientAuth
make_ca   untrusted-ca "Qasid Untrusted Test CA"
make_leaf untrusted    localhost          untrusted-ca serverAuth "$san"

# Test-only keys: readable by whoever runs the tests.
chmod 644 "$out"/*.key "$out"/*.pem

if openssl verify -CAfile "$out/ca.pem" "$out/untrusted.pem" >/dev/null 2>&1; then
  echo "gen-test-certs: untrusted.pem unexpectedly verifies against ca.pem" >&2
  exit 1
fi
echo "gen-test-certs: wrote $(cd "$out" && ls | tr '\n' ' ')into $out"
