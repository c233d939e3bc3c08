#!/bin/sh
# Makes a throw-away test CA and certificates signed by it, for TLS tests and local trials:
#   ca.crt/ca.key           the CA (self-signed)
#   server.crt/server.key   a server certificate for 127.0.0.1, ::1 and localhost
#   client.crt/client.key   a client certificate (for tls.require_client_cert)
#   stranger.crt/.key       a self-signed certificate no CA here vouches for (negative tests)
# Usage: make_test_ca.sh <output-dir> [days, default 2]. Never use these certificates in
# production: the keys are unencrypted and the CA signs whatever this script asks.
set -eu
out=${1:?usage: make_test_ca.sh <output-dir> [days]}
days=${2:-2}
mkdir -p "$out"
cd "$out"

# 1. The CA: a key and a self-signed certificate that may sign others.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days "$days" \
  -subj "/CN=SierraDB test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null

# 2. The server: a key, a request, and a certificate signed by the CA for the loopback names.
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" \
  2>/dev/null
cat > server.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
EXT
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
  -days "$days" -extfile server.ext 2>/dev/null

# 3. A client: the same steps, for client authentication.
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=sierra-client" \
  2>/dev/null
cat > client.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt \
  -days "$days" -extfile client.ext 2>/dev/null

# 4. A stranger: self-signed, not from the CA (a certificate the server must not accept).
openssl req -x509 -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.crt -days "$days" \
  -subj "/CN=stranger" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null

rm -f server.csr client.csr server.ext client.ext ca.srl
openssl verify -CAfile ca.crt server.crt client.crt >/dev/null
