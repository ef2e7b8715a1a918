"""What the lifespan builds once and every request shares."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.db import Database
from app.decisions.service import Decisions
from app.security.cipher import FieldCipher
from app.security.secrets import ServerSecrets
from app.tokens.codec import TokenCodec


@dataclass(frozen=True)
class AppState:
    settings: Settings
    database: Database
    secrets: ServerSecrets
    tokens: TokenCodec
    cipher: FieldCipher
    decisions: Decisions | None = None
    """Decision snapshots and freshness probes (the server's lifespan only)."""
