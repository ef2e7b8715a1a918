#!/usr/bin/env bash
# Generate the secret files docker-compose.yml reads, for a local stack:
#   deploy/make-dev-secrets.sh [DIR]      (default DIR: deploy/secrets, which git ignores)
# One file per secret, random values, existing files kept (re-running never rotates).
# The directory is 0700 (only you, on the host); the files are 0644 because Compose
# bind-mounts them and the containers read them as their own non-root users.
set -euo pipefail
dir="${1:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
chmod 0700 "$dir"

random() { python3 -c 'import secrets; print(secrets.token_urlsafe(48), end="")'; }
write() { # write NAME VALUE, unless NAME exists
  if [ ! -e "$dir/$1" ]; then printf '%s' "$2" > "$dir/$1"; chmod 0644 "$dir/$1"; fi
}

write postgres_password "$(random)"
write auth_owner_password "$(random)"
write auth_app_password "$(random)"
write auth_owner_database_url \
  "postgresql://auth_owner:$(cat "$dir/auth_owner_password")@postgres:5432/auth"
write auth_app_database_url \
  "postgresql://auth_app:$(cat "$dir/auth_app_password")@postgres:5432/auth"
write auth_key_hash_secret "$(random)"
write auth_jwt_secret_key "$(random)"
write auth_metrics_token "$(random)"
write redis_password "$(random)"
write auth_rate_limit_storage_uri "redis://:$(cat "$dir/redis_password")@redis:6379/0"
# Redis stores only the password's SHA-256 (ACL syntax `#<hex>`); the default user may
# do everything, as a Redis without ACLs would let it.
write redis_users_acl "user default on #$(python3 -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest(), end="")' "$(cat "$dir/redis_password")") ~* &* +@all
"
write auth_encryption_key \
  "$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode(), end="")')"
echo "secrets in $dir: $(cd "$dir" && ls | tr '\n' ' ')"
