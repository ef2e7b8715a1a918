#!/usr/bin/env bash
# Validate deploy/nginx/auth.conf (or $NGINX_CONF) with `nginx -t`, loaded as the
# nginx image loads it: an http block that includes the file verbatim, a throwaway
# certificate, everything in a temporary directory. Exit status is nginx's.
#
# The upstream names (auth1, auth2) must resolve for `nginx -t`. As root, the check
# runs in a private mount namespace whose /etc/hosts maps them to 127.0.0.1, so the
# file is tested unchanged; otherwise (or with --copy) it tests a copy with those
# names replaced.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
nginx_bin="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
[ -x "$nginx_bin" ] || { echo "check.sh: nginx is not installed" >&2; exit 127; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$here/make-dev-cert.sh" "$work/certs" localhost >/dev/null
conf="${NGINX_CONF:-$here/auth.conf}"
cp "$conf" "$work/auth.conf"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $work/client_body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    include $work/auth.conf;
}
CONF

if [ "${1:-}" != "--copy" ] && [ "$(id -u)" = 0 ] && unshare --mount true 2>/dev/null; then
  { cat /etc/hosts; echo "127.0.0.1 auth1 auth2"; } > "$work/hosts"
  echo "checking $conf unchanged (auth1, auth2 -> 127.0.0.1 in a private /etc/hosts)"
  unshare --mount sh -c 'mount --bind "$1" /etc/hosts && "$2" -t -e "$3" -c "$4"' \
    check "$work/hosts" "$nginx_bin" "$work/error.log" "$work/nginx.conf"
  exit 0
fi
sed -i -E 's/server auth[12]:5000/server 127.0.0.1:5000/' "$work/auth.conf"
echo "checking a copy of $conf with auth1, auth2 replaced by 127.0.0.1"
"$nginx_bin" -t -e "$work/error.log" -c "$work/nginx.conf"
