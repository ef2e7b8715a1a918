-- Least-privilege PostgreSQL roles for the auth service. A psql script, run as a
-- superuser (or a role with CREATEROLE and CREATEDB):
--
--   psql "postgresql://postgres@db-host/postgres" -v ON_ERROR_STOP=1 \
--        -v dbname=auth \
--        -v owner_password="$(cat /run/secrets/auth_owner_password)" \
--        -v app_password="$(cat /run/secrets/auth_app_password)" \
--        -f deploy/postgres/roles.sql
--
-- Optional: -v owner_role=NAME (default auth_owner), -v app_role=NAME (default auth_app).
--
-- * owner_role owns the database and the public schema, and runs the migrations
--   (`auth-server migrate` with its URL). The service never connects as this role.
-- * app_role is what the service connects as: CONNECT, USAGE on the schema, and
--   SELECT/INSERT/UPDATE/DELETE on tables and USAGE/SELECT on sequences, both for the
--   objects that exist now and (ALTER DEFAULT PRIVILEGES) for every object that
--   owner_role creates later. It cannot create, alter or drop anything.
--
-- Idempotent: run it again after changing a password, or after migrations that
-- predate it. The database is created when missing (owned by owner_role) and
-- handed to owner_role when it exists. Objects created by another role (say, by
-- migrations run as a superuser) are not covered: run migrations as owner_role.
-- Passwords go over the connection as ALTER ROLE statements: keep log_statement
-- below 'ddl' while running it.

\set ON_ERROR_STOP on

\if :{?dbname}
\else
  \warn 'roles.sql: -v dbname=NAME is required'
  SELECT 1 / 0 AS missing_dbname;
\endif
\if :{?owner_password}
\else
  \warn 'roles.sql: -v owner_password=... is required'
  SELECT 1 / 0 AS missing_owner_password;
\endif
\if :{?app_password}
\else
  \warn 'roles.sql: -v app_password=... is required'
  SELECT 1 / 0 AS missing_app_password;
\endif
\if :{?owner_role}
\else
  \set owner_role auth_owner
\endif
\if :{?app_role}
\else
  \set app_role auth_app
\endif

-- 1. Roles (cluster-wide): login roles with no special attribute.
SELECT format('CREATE ROLE %I', :'owner_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner_role') \gexec
SELECT format('CREATE ROLE %I', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec

SELECT format(
  'ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
  'INHERIT PASSWORD %L', :'owner_role', :'owner_password') \gexec
SELECT format(
  'ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
  'NOINHERIT PASSWORD %L', :'app_role', :'app_password') \gexec

-- 2. The database: owned by owner_role; nobody else may connect or create temp tables.
SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'owner_role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'dbname', :'owner_role') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'dbname') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'dbname', :'app_role') \gexec

-- 3. Inside the database: the schema belongs to owner_role; app_role may only use it.
\connect :"dbname"

ALTER SCHEMA public OWNER TO :"owner_role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";

ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
