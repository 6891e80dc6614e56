"""Who is calling: the roles of the product (agent, supervisor, admin) and the
authenticated caller. Pure: the API authenticates, the event hub filters by them, and
the dialer's service checks them, so they live below all three."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Principal", "Role"]


class Role(StrEnum):
    """Who the caller is; each role includes the ones before it.

    ``web_callback`` is below every person's role: the token of a website's "call me back"
    form, which may create web callbacks for its one campaign and nothing else (every
    route that asks for an agent or more refuses it)."""

    WEB_CALLBACK = "web_callback"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        """True when this role may do what ``other`` may."""
        return self.rank >= other.rank


_RANK = {Role.WEB_CALLBACK: -1, Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: one row of ``agents`` (or a web-callback token)."""

    agent_id: int
    """The caller's agent id (supervisors and admins are rows of ``agents`` too); 0 for a
    web-callback token, which is no agent (ids start at 1)."""
    username: str
    """Login name, used as the audit actor."""
    role: Role
    """The caller's role."""
    campaign_id: int | None = None
    """A web-callback token's one campaign (None for people)."""

    @property
    def actor(self) -> str:
        """The name written to audit_log."""
        return f"{self.role.value}:{self.username}"
