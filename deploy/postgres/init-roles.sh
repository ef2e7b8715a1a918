#!/bin/sh
# First-start hook of the official postgres image (mounted into
# /docker-entrypoint-initdb.d/ by docker-compose.yml): creates the auth database and
# its two roles with roles.sql (mounted at /etc/auth/roles.sql), the passwords read
# from the Docker secrets auth_owner_password and auth_app_password.
# psql connects as the image's entrypoint arranges (local socket, $POSTGRES_USER);
# PGHOST and friends are honoured, so the script also runs outside the image.
set -eu
secrets="${SECRETS_DIR:-/run/secrets}"
psql --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v ON_ERROR_STOP=1 \
  -v dbname="${DB_NAME:-auth}" \
  -v owner_role="${OWNER_ROLE:-auth_owner}" \
  -v app_role="${APP_ROLE:-auth_app}" \
  -v owner_password="$(cat "$secrets/auth_owner_password")" \
  -v app_password="$(cat "$secrets/auth_app_password")" \
  -f "${ROLES_SQL:-/etc/auth/roles.sql}"
