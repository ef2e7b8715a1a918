"""Every ORM model, in one package: Alembic imports ``Base.metadata`` from here."""

from app.models.apikey import ApiKey
from app.models.audit import AuditHead, AuditLog, EncryptionState
from app.models.base import Base
from app.models.rbac import Grant, Membership, Role
from app.models.tenant import RetiredClientKey, Tenant
from app.models.token import RefreshToken, TokenFamily

__all__ = [
    "ApiKey",
    "AuditHead",
    "AuditLog",
    "Base",
    "EncryptionState",
    "Grant",
    "Membership",
    "RefreshToken",
    "RetiredClientKey",
    "Role",
    "Tenant",
    "TokenFamily",
]
