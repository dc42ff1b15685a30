#!/usr/bin/env bash
# `make test-dist`: installs the tools, builds every package with a test
# Authenticode certificate made here (never shipped), and runs the
# packaging tests. Cross builds are cached in dist/.build, so a second run
# takes seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
bash scripts/install-dist-deps.sh
CERT=$(mktemp -d)
trap 'rm -rf "$CERT"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=stationsync test signing/O=stationsync tests" \
	-addext "extendedKeyUsage=codeSigning" -keyout "$CERT/key.pem" -out "$CERT/cert.pem" 2>/dev/null
openssl pkcs12 -export -inkey "$CERT/key.pem" -in "$CERT/cert.pem" -passout pass:test -out "$CERT/test.p12"
export SIGN_PKCS12=$CERT/test.p12 SIGN_PASSWORD=test TEST_SIGN_CERT=$CERT/cert.pem
t0=$SECONDS
bash installer/packaging/build.sh
echo "test-dist: packages built in $((SECONDS - t0)) s" >&2
go test -tags dist -count=1 -timeout 20m -v ./tests/dist/
