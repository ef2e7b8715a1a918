# syntax=docker/dockerfile:1
#
# The auth service image.
#
#   docker build -t auth:0.1.0 .
#   docker run --rm -e AUTH_DATABASE_URL=... auth:0.1.0 migrate   # schema step, as the owner role
#   docker run -p 5000:5000 -v /path/to/secrets:/run/secrets:ro auth:0.1.0
#
# * Entry point `auth-server`, default command `serve`: any other subcommand replaces it
#   (`migrate`, `tenant create`, `backup`...).
# * AUTH_MIGRATE_ON_START=false: the service refuses a schema that is not at head
#   instead of migrating it, so migrations stay a separate, privileged step.
# * No secret is baked in. Secrets come from the environment or from files in
#   /run/secrets named like the setting, lower case (auth_jwt_secret_key,
#   auth_key_hash_secret, auth_database_url, ...), which `load_settings()` reads.
# * The project is installed in editable mode from /srv/auth: app/migrations.py finds
#   alembic/ and alembic.ini next to the `app` package (PROJECT_ROOT = parent of app/).
#   A regular `pip install .` would put `app` in site-packages without alembic/, and
#   `auth-server migrate` would fail there.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /srv/auth
COPY pyproject.toml README.md ./
COPY alembic.ini ./
COPY alembic ./alembic
COPY app ./app

# Build isolation brings the setuptools that pyproject.toml asks for.
RUN pip install -e . \
    && python -m compileall -q /srv/auth/app /srv/auth/alembic \
    && auth-server --version


FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="auth" \
      org.opencontainers.image.description="RBAC authorization service" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 10001 auth \
    && useradd --system --uid 10001 --gid auth --home-dir /var/lib/auth \
       --shell /usr/sbin/nologin auth \
    && install -d -o auth -g auth -m 0700 /var/lib/auth

# Code and virtualenv stay owned by root: the service cannot modify them.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /srv/auth /srv/auth

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/auth \
    AUTH_HOST=0.0.0.0 \
    AUTH_PORT=5000 \
    AUTH_MIGRATE_ON_START=false \
    AUTH_SQLITE_PATH=/var/lib/auth/auth.sqlite3

WORKDIR /srv/auth
USER 10001:10001
EXPOSE 5000

# Readiness (/health: one database round trip), with the standard library only.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://localhost:' + os.environ.get('AUTH_PORT', '5000') + '/health', timeout=4)"]

ENTRYPOINT ["auth-server"]
CMD ["serve"]
