# The auth service image.
#
#   docker build -t auth:0.1.0 .
#   docker run --rm -e AUTH_DATABASE_URL=... auth:0.1.0 migrate   # schema step, as the owner role
#   docker run -p 5000:5000 -v /path/to/secrets:/run/secrets:ro auth:0.1.0
#
# * Base image: BASE_IMAGE, by default the official slim Python 3.11 on Debian bookworm,
#   pinned by the digest of its multi-platform index (as the official images' repo-info
#   records it), so two builds get the same base. To move to a newer base, resolve the
#   tag where a registry is reachable (`docker buildx imagetools inspect
#   python:3.11-slim-bookworm`, the "Digest" line) and update the digest here.
#   Any image with python3.11 (as `python`, with venv and pip), groupadd/useradd and CA
#   certificates works: CI builds on one it makes from Debian packages (.ci/container).
# * Reproducible install: the dependencies come from requirements/main.txt (every
#   release pinned, every file hash-checked), the wheel is built with the setuptools of
#   requirements/build.txt, and the project is installed from that wheel, not editable,
#   with --no-deps: nothing is resolved at build time. The wheel carries the migrations
#   (app/_alembic), so `auth-server migrate` needs no source tree.
# * Entry point `auth-server`, default command `serve`: any other subcommand replaces it
#   (`migrate`, `tenant create`, `backup`...).
# * AUTH_MIGRATE_ON_START=false: the service refuses a schema that is not at head
#   instead of migrating it, so migrations stay a separate, privileged step.
# * No secret is baked in. Secrets come from the environment or from files in
#   /run/secrets named like the setting, lower case (auth_jwt_secret_key,
#   auth_key_hash_secret, auth_database_url, ...), which `load_settings()` reads.

ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b

FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# The locked dependencies first: this layer is reused until requirements/ changes.
COPY requirements/main.txt requirements/build.txt /tmp/requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r /tmp/requirements/main.txt \
    && python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes -r /tmp/requirements/build.txt

WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE alembic.ini ./
COPY alembic ./alembic
COPY app ./app

RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /tmp/dist . \
    && /opt/venv/bin/pip install --no-deps --no-index /tmp/dist/auth_service-*.whl \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
    && /opt/venv/bin/auth-server --version


FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="auth" \
      org.opencontainers.image.description="RBAC authorization service" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 10001 auth \
    && useradd --system --uid 10001 --gid auth --home-dir /var/lib/auth \
       --shell /usr/sbin/nologin auth \
    && install -d -o auth -g auth -m 0700 /var/lib/auth

# The virtualenv (dependencies and the installed wheel) stays owned by root: the
# service cannot modify its own code.
COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/auth \
    AUTH_HOST=0.0.0.0 \
    AUTH_PORT=5000 \
    AUTH_MIGRATE_ON_START=false \
    AUTH_SQLITE_PATH=/var/lib/auth/auth.sqlite3

WORKDIR /var/lib/auth
USER 10001:10001
EXPOSE 5000

# Readiness (/health: one database round trip), with the standard library only.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://localhost:' + os.environ.get('AUTH_PORT', '5000') + '/health', timeout=4)"]

ENTRYPOINT ["auth-server"]
CMD ["serve"]
