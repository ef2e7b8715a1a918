"""Structured logging: one JSON object per line (``AUTH_LOG_FORMAT=json``, the default)
or plain text (``text``), at ``AUTH_LOG_LEVEL``.

Every line carries ``timestamp`` (ISO-8601 UTC, milliseconds), ``level``, ``logger``,
``message`` and ``request_id`` (the current request's, from :mod:`app.edge.context`;
``null`` outside a request), plus the ``extra`` fields of the call (``event``,
``reason``, ``method``, ``route``, ``status``...) and, for errors, ``exception``.

``auth-server serve`` hands :func:`build_log_config` to uvicorn (``log_config``), so
uvicorn's own loggers write through the same handler, in every worker. uvicorn's
access log is off: :mod:`app.edge.telemetry` writes one line per request without the
raw path or query string. As a last line of defence the formatters mask anything
shaped like a bearer credential, a per-user API key, a rotate key or a JWT.

``AUTH_DEBUG=true`` lowers the service's loggers to DEBUG and logs SQL statements
(without bound parameters); production refuses it (:mod:`app.security.production`). Libraries
that would log bound values at DEBUG (:data:`QUIET_LIBRARIES`) stay at WARNING
whatever the level.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

from app.config import Settings
from app.edge.context import current_request_id

TRACE = 5
_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}
QUIET_LIBRARIES = ("aiosqlite", "asyncpg", "multipart", "python_multipart")
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message", "taskName", "request_id"}
)
_REDACTIONS = (
    # The credential ends at whitespace, a quote, a separator or a backslash, so a
    # masked JSON line stays valid JSON (an escaped quote is never eaten).
    (re.compile(r"(?i)\bbearer\s+[^\s\"',;\\]+"), "Bearer [redacted]"),
    (re.compile(r"\b(rak|rrk)_[A-Za-z0-9]{8,}"), r"\1_[redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
)


_SUSPECT = re.compile(r"(?i)bearer|rak_|rrk_|eyJ")


def redact(text: str) -> str:
    if _SUSPECT.search(text) is None:  # the common case: one scan, nothing to mask
        return text
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the finished line is masked once (:func:`redact`)."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current_request_id(),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return redact(json.dumps(payload, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Plain text; the finished line is masked once (:func:`redact`)."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_timestamp(record)} {record.levelname} {record.name} "
            f"[{current_request_id() or '-'}] {record.getMessage()}"
        )
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def build_log_config(settings: Settings, stream: str = "ext://sys.stdout") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` document (also uvicorn's ``log_config``).

    ``stream`` is where lines go: standard output for the server, standard error for
    the other commands (their standard output is their result)."""
    level = _LEVELS[settings.log_level]
    formatter = "JsonFormatter" if settings.log_format == "json" else "TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"{__name__}.{formatter}"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": stream,
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "app": {"level": logging.DEBUG if settings.debug else level},
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            "sqlalchemy.engine": {
                "level": logging.INFO if settings.debug else logging.WARNING,
            },
            # Alembic announces each of its plugins at INFO on every command.
            "alembic.runtime.plugins": {"level": logging.WARNING},
            # These log bound values (key hashes, user names, form fields) at DEBUG.
            **{name: {"level": logging.WARNING} for name in QUIET_LIBRARIES},
        },
    }


def configure_logging(settings: Settings, stream: str = "ext://sys.stdout") -> None:
    logging.config.dictConfig(build_log_config(settings, stream))
