"""The request-scoped audit recorder services call.

* :meth:`AuditTrail.record` appends an event to the tenant's chain in the request's
  transaction (no change without its row, no row without its change).
* :meth:`AuditTrail.record_check` does the same for decisions, only when
  ``AUTH_AUDIT_PERMISSION_CHECKS`` is on (it costs a write per check).
* With encryption on, the resource (role, ``role:permission``, key id) is sealed
  with the field cipher like the other value columns; reads open it again.
* Users are written as keyed fingerprints (``u_`` + 16 hex of
  HMAC(audit key, tenant:user)), never raw; the user agent is clamped; no secret is
  ever passed in.
* The client address is recorded only when it is an IP address (normalised, without
  an IPv6 zone id): a trusted proxy may forward any text in ``X-Forwarded-For``, and
  text is neither an address nor allowed to break the write (the column holds 64).

Disabled (``AUTH_ENABLE_AUDIT_LOGGING=false``) every method is a no-op.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.chain import AuditEvent, append

if TYPE_CHECKING:
    from app.security.cipher import FieldCipher
    from app.state import AppState

SYSTEM_CHAIN = 0
USER_AGENT_LIMIT = 256


@dataclass(frozen=True, slots=True)
class AuditOrigin:
    """Where an audited action came from: the caller's address, user agent and
    request id (an operator command: its own user agent, no address)."""

    ip_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


def audit_address(value: str | None) -> str | None:
    """``value`` as a normalised IP address, or ``None`` when it is not one."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.partition("%")[0]))
    except ValueError:
        return None


def fingerprint(key: bytes, chain_id: int, user: str) -> str:
    digest = hmac.new(key, f"{chain_id}:{user}".encode(), hashlib.sha256).hexdigest()
    return f"u_{digest[:16]}"


class AuditTrail:
    def __init__(
        self,
        session: AsyncSession,
        key: bytes,
        chain_id: int,
        origin: AuditOrigin,
        *,
        enabled: bool = True,
        checks: bool = False,
        cipher: FieldCipher | None = None,
    ) -> None:
        self.session = session
        self.key = key
        self.chain_id = chain_id
        self.origin = origin
        self.enabled = enabled
        self.checks = enabled and checks
        self.cipher = cipher

    @classmethod
    def for_state(
        cls, state: AppState, session: AsyncSession, chain_id: int, origin: AuditOrigin
    ) -> AuditTrail:
        """A trail configured by the service settings (enabled, decisions audited)."""
        settings = state.settings
        return cls(
            session,
            state.secrets.audit,
            chain_id,
            origin,
            enabled=settings.enable_audit_logging,
            checks=settings.audit_permission_checks,
            cipher=state.cipher,
        )

    def fingerprint(self, user: str) -> str:
        return fingerprint(self.key, self.chain_id, user)

    async def record(
        self,
        action: str,
        entity_type: str,
        resource: str | None,
        *,
        user: str | None = None,
        success: bool = True,
        details: dict[str, Any] | None = None,
    ) -> None:
        if not self.enabled:
            return
        agent = self.origin.user_agent
        event = AuditEvent(
            chain_id=self.chain_id,
            action=action,
            entity_type=entity_type,
            resource=resource,
            details=details or {},
            success=success,
            user_fingerprint=self.fingerprint(user) if user is not None else None,
            ip_address=audit_address(self.origin.ip_address),
            user_agent=agent[:USER_AGENT_LIMIT] if agent else None,
            request_id=self.origin.request_id,
        )
        if self.cipher is not None:
            await append(self.session, self.key, event, self.cipher.seal)
        else:
            await append(self.session, self.key, event)

    async def record_check(
        self, action: str, entity_type: str, resource: str | None, user: str | None, allowed: bool
    ) -> None:
        if self.checks:
            await self.record(
                action, entity_type, resource, user=user, details={"allowed": allowed}
            )
