#!/usr/bin/env bash
# A self-signed certificate for development: deploy/nginx/make-dev-cert.sh [DIR] [NAME]
# writes DIR/tls.crt and DIR/tls.key (default DIR: deploy/nginx/certs, which git ignores;
# default NAME: localhost). Never use it in production, and never commit the key.
set -euo pipefail
dir="${1:-$(dirname "$0")/certs}"
name="${2:-localhost}"
mkdir -p "$dir"
chmod 0700 "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 30 \
  -subj "/CN=${name}" \
  -addext "subjectAltName=DNS:${name},DNS:localhost,IP:127.0.0.1" \
  -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
# The nginx workers read the key through a bind mount: readable, inside a 0700 directory.
chmod 0644 "$dir/tls.crt" "$dir/tls.key"
echo "wrote $dir/tls.crt and $dir/tls.key (self-signed for ${name}, 30 days)"
