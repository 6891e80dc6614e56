"""Bearer-token authentication and role checks for the HTTP API.

A token is an opaque random string handed to an agent, supervisor or admin once; the
ledger keeps only its SHA-256 (``agents.token_hash``). Every request but the public
ones (``/healthz``, ``/metrics``, ``/openapi.json``) must carry
``Authorization: Bearer <token>``; the WebSocket may give it as ``?token=`` because
browsers cannot set headers on a WebSocket.

Roles are ordered: admin can do what a supervisor can, a supervisor what an agent can.
Object rights come on top: an agent acts only on its own session and calls
(`require_self_or`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

__all__ = [
    "CachedTokenLookup",
    "Principal",
    "Role",
    "TokenLookup",
    "hash_token",
    "require_self_or",
    "token_from_request",
]


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


TokenLookup = Callable[[str], Awaitable[Principal | None]]
"""Resolves a presented bearer token to its principal (None: unknown or inactive)."""


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (the cache key; never log the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_request(request: web.Request, *, allow_query: bool = False) -> str | None:
    """The bearer token of a request, from the header (or ``?token=`` when allowed)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_query:
        token = request.query.get("token", "").strip()
        if token:
            return token
    return None


class CachedTokenLookup:
    """Wraps a `TokenLookup` with a short positive/negative cache.

    An API call then costs no database round trip for the token; a revoked token
    stops working within ``ttl`` seconds.
    """

    def __init__(self, lookup: TokenLookup, *, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def __call__(self, token: str) -> Principal | None:
        now = time.monotonic()
        token_hash = hash_token(token)
        hit = self._cache.get(token_hash)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = await self._lookup(token)
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[token_hash] = (now + self._ttl, principal)
        return principal

    def forget(self) -> None:
        """Drop every cached answer (after a role change or a token revocation)."""
        self._cache.clear()


def require_self_or(principal: Principal, agent_id: int, role: Role = Role.SUPERVISOR) -> None:
    """Allow the agent itself, or anyone of at least ``role``; else 403."""
    if principal.agent_id == agent_id or principal.role.at_least(role):
        return
    raise forbidden("an agent may act only on its own session and calls")


def forbidden(message: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=_json_error("forbidden", message), content_type="application/json")


def unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=_json_error("unauthorized", message), content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="dialer"'},
    )


def _json_error(code: str, message: str) -> str:
    return json.dumps({"error": code, "message": message})
