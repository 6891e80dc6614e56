"""Who is calling: the roles of the product (agent, supervisor, admin) and the
authenticated caller. Pure: the API authenticates, the event hub filters by them, and
the dialer's service checks them, so they live below all three."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Principal", "Role"]


class Role(StrEnum):
    """Who the caller is; each role includes the ones before it."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        """True when this role may do what ``other`` may."""
        return self.rank >= other.rank


_RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: one row of ``agents``."""

    agent_id: int
    """The caller's agent id (supervisors and admins are rows of ``agents`` too)."""
    username: str
    """Login name, used as the audit actor."""
    role: Role
    """The caller's role."""

    @property
    def actor(self) -> str:
        """The name written to audit_log."""
        return f"{self.role.value}:{self.username}"
