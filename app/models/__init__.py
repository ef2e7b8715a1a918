"""Every ORM model, in one package: Alembic imports ``Base.metadata`` from here."""

from app.models.base import Base
from app.models.rbac import Grant, Membership, Role
from app.models.tenant import Tenant

__all__ = ["Base", "Grant", "Membership", "Role", "Tenant"]
