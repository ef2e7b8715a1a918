#!/bin/sh
# First-start hook for the official postgres image (mounted into
# /docker-entrypoint-initdb.d/): creates the auth database and its two roles with
# deploy/postgres/roles.sql (mounted at /etc/auth/roles.sql), passwords from the
# Docker secrets auth_owner_password and auth_app_password.
set -eu
psql --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
  -v ON_ERROR_STOP=1 \
  -v dbname="${AUTH_DB_NAME:-auth}" \
  -v owner_password="$(cat /run/secrets/auth_owner_password)" \
  -v app_password="$(cat /run/secrets/auth_app_password)" \
  -f /etc/auth/roles.sql
