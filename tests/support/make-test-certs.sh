#!/usr/bin/env bash
# Makes the integration tests' throwaway TLS material once per build tree: a
# CA and a server certificate it signed for "localhost" only (not 127.0.0.1),
# so that both chain and host name verification can be shown to work.
set -euo pipefail
dir="${1:?usage: make-test-certs.sh OUTPUT_DIR}"
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj /CN=rs-test-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3650 \
  -extfile san.ext 2>/dev/null
# The same name and key, signed by the same CA, but no longer valid.
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out expired.pem -days -1 \
  -extfile san.ext 2>/dev/null
