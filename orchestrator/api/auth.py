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

import asyncio
import hashlib
import ipaddress
import json
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from orchestrator.core.access import Principal, Role

__all__ = [
    "CachedTokenLookup",
    "Principal",
    "Role",
    "TokenBackoff",
    "TokenLookup",
    "client_key",
    "hash_token",
    "require_self_or",
    "token_from_request",
]


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


def client_key(remote: str | None) -> str:
    """Who a failed token is charged to: the peer's IPv4 address, or its IPv6 /64 (one
    host is given a whole /64, so per address would be no bound at all)."""
    if not remote:
        return "unknown"
    try:
        ip = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return remote[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class TokenBackoff(Exception):
    """A client presented too many unknown tokens in the window: answer 429, no lookup."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed tokens; retry after {retry_after} s")
        self.retry_after = retry_after
        """Whole seconds until the client's window ends."""


class _Client:
    """One client's failures in its current window, and its lookup slots."""

    __slots__ = ("failures", "slots", "window_start")

    def __init__(self, now: float, concurrency: int) -> None:
        self.window_start = now
        self.failures = 0
        self.slots = asyncio.Semaphore(concurrency)


class CachedTokenLookup:
    """Wraps a `TokenLookup` with a short cache and a per-client back-off on failures.

    An API call then costs no database round trip for the token; a revoked token stops
    working within ``ttl`` seconds.

    * Valid and unknown tokens are cached apart, each bounded and evicted oldest first
      (entries are appended as they are looked up, so the oldest is also the first to
      expire): a flood of random tokens pushes out other random tokens, never the entry
      of a valid one, and never empties the cache.
    * Each client (`client_key`) may have ``failure_limit`` tokens fail their lookup per
      ``failure_window`` seconds; past that its requests with a token not in the cache
      are refused (`TokenBackoff`: 429 with Retry-After) without a lookup. Cached
      answers stay free for everyone: a valid token keeps working, a known bad one gets
      its 401. A client's lookups run ``client_concurrency`` at a time (the others wait
      their turn, then find the cache filled by the one before or the client refused),
      so a burst of concurrent requests cannot slip past the limit, and a page sending
      twenty requests with one fresh token costs a lookup or two, and no refusal. The
      client table is bounded too (least recently active dropped first).
    * The client is the peer address: behind a reverse proxy every caller shares the
      proxy's, and a flood through it makes the others' uncached tokens wait too (their
      cached ones keep working).
    * At most ``max_concurrent`` lookups run at once, so a flood from many addresses
      queues here instead of taking the ledger's connections from the dialer.
    """

    def __init__(self, lookup: TokenLookup, *, ttl: float = 5.0, max_entries: int = 10_000,
                 max_negative: int = 10_000, failure_limit: int = 20,
                 failure_window: float = 60.0, max_clients: int = 10_000,
                 client_concurrency: int = 2, max_concurrent: int = 4) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._max = max_entries
        self._max_negative = max_negative
        self._valid: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._invalid: OrderedDict[str, float] = OrderedDict()
        self._failure_limit = failure_limit
        self._failure_window = failure_window
        self._max_clients = max_clients
        self._client_concurrency = client_concurrency
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._lookups = asyncio.Semaphore(max_concurrent)
        self.lookups = 0
        """Lookups passed to the wrapped `TokenLookup` so far (for tests and metrics)."""

    def sizes(self) -> dict[str, int]:
        """How many valid tokens, unknown tokens and clients are remembered now."""
        return {"valid": len(self._valid), "invalid": len(self._invalid),
                "clients": len(self._clients)}

    async def __call__(self, token: str) -> Principal | None:
        """The token's principal (None: unknown or inactive), with no client back-off
        (an open event stream re-checking the rights it was opened with)."""
        token_hash = hash_token(token)
        found, principal = self._cached(token_hash, time.monotonic())
        if found:
            return principal
        return await self._fetch(token_hash, token)

    async def authenticate(self, token: str, remote: str | None) -> Principal | None:
        """The token's principal for a request from the peer address ``remote``; raises
        `TokenBackoff` when that client (`client_key`) has had too many tokens fail lately."""
        token_hash = hash_token(token)
        found, principal = self._cached(token_hash, time.monotonic())
        if found:
            return principal
        record = self._client(client_key(remote), time.monotonic())
        async with record.slots:
            now = time.monotonic()
            found, principal = self._cached(token_hash, now)  # filled while we waited?
            if found:
                return principal
            if now - record.window_start >= self._failure_window:
                record.window_start, record.failures = now, 0
            if record.failures >= self._failure_limit:
                left = record.window_start + self._failure_window - now
                raise TokenBackoff(max(1, math.ceil(left)))
            principal = await self._fetch(token_hash, token)
            if principal is None:
                record.failures += 1
            return principal

    def _cached(self, token_hash: str, now: float) -> tuple[bool, Principal | None]:
        hit = self._valid.get(token_hash)
        if hit is not None:
            if hit[0] > now:
                return True, hit[1]
            del self._valid[token_hash]
        expires = self._invalid.get(token_hash)
        if expires is not None:
            if expires > now:
                return True, None  # known bad, and free: a page retrying a stale token is no flood
            del self._invalid[token_hash]
        return False, None

    async def _fetch(self, token_hash: str, token: str) -> Principal | None:
        async with self._lookups:
            self.lookups += 1
            principal = await self._lookup(token)
        expires = time.monotonic() + self._ttl
        if principal is None:
            _put(self._invalid, token_hash, expires, self._max_negative)
        else:
            _put(self._valid, token_hash, (expires, principal), self._max)
        return principal

    def _client(self, client: str, now: float) -> _Client:
        record = self._clients.get(client)
        if record is None:
            record = _Client(now, self._client_concurrency)
            _put(self._clients, client, record, self._max_clients)
        else:
            self._clients.move_to_end(client)  # the least recently active go first
        return record

    def forget(self) -> None:
        """Drop every cached answer (after a role change or a token revocation)."""
        self._valid.clear()
        self._invalid.clear()


_V = TypeVar("_V")


def _put(table: OrderedDict[str, _V], key: str, value: _V, limit: int) -> None:
    """Insert as the newest entry; drop the oldest ones beyond ``limit``."""
    table.pop(key, None)
    table[key] = value
    while len(table) > limit:
        table.popitem(last=False)


def require_self_or(principal: Principal, agent_id: int, role: Role = Role.SUPERVISOR) -> None:
    """Allow the agent itself, or anyone of at least ``role``; else 403."""
    if principal.agent_id == agent_id or principal.role.at_least(role):
        return
    raise forbidden("an agent may act only on its own session and calls")


def forbidden(message: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=_json_error("forbidden", message), content_type="application/json")


def too_many_failures(retry_after: int) -> web.HTTPTooManyRequests:
    return web.HTTPTooManyRequests(
        text=_json_error("too_many_requests",
                         f"too many unknown tokens from this address; retry after {retry_after} s"),
        content_type="application/json", headers={"Retry-After": str(retry_after)},
    )


def unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=_json_error("unauthorized", message), content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="dialer"'},
    )


def _json_error(code: str, message: str) -> str:
    return json.dumps({"error": code, "message": message, "field": None})
