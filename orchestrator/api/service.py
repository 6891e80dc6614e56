"""What the HTTP API needs from the dialer: one protocol, implemented by
`orchestrator.dialer.service.DialerService`; and `FiguresCache`, which keeps the
dashboard's figures for a second.

Every method takes the authenticated `Principal` that acts (for audit and for the
object checks the dialer does itself, e.g. "is this attempt this agent's call?")
and returns JSON-ready dicts. Errors are `orchestrator.dialer.errors.DialerError`
subclasses (404/409/422...) or the ledger's `CampaignError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, Protocol

from aiohttp import web

from orchestrator.core.access import Principal


class CallControlApi(Protocol):
    """Consult, transfer, conference, recording pause (orchestrator.dialer.call_control)."""

    async def consult(self, agent_id: int, attempt_id: str | None, kind: str, target: str,
                      *, blind: bool = False) -> dict[str, Any]: ...
    async def transfer(self, agent_id: int, attempt_id: str | None) -> dict[str, Any]: ...
    async def action(self, agent_id: int, attempt_id: str | None, action: str,
                     party_id: str | None = None) -> dict[str, Any]: ...


class CallbacksApi(Protocol):
    """Scheduled, personal and web callbacks (orchestrator.dialer.callbacks)."""

    async def list(self, who: Principal, *, campaign: str | None = None,
                   status: str | None = None, kind: str | None = None, queue: str | None = None,
                   mine: bool = False, limit: int = 200) -> dict[str, Any]: ...
    async def get(self, who: Principal, callback_id: int) -> dict[str, Any]: ...
    async def create(self, who: Principal, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def update(self, who: Principal, callback_id: int,
                     body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def delete(self, who: Principal, callback_id: int,
                     reason: str | None = None) -> dict[str, Any]: ...
    async def create_web(self, who: Principal, client: str,
                         body: Mapping[str, Any]) -> dict[str, Any]: ...


class DialerApi(Protocol):
    @property
    def control(self) -> CallControlApi: ...
    @property
    def callbacks(self) -> CallbacksApi: ...
    # -- agents
    async def agent_sessions(self) -> list[dict[str, Any]]: ...
    async def agent_session(self, agent_id: int) -> dict[str, Any]: ...
    async def agent_campaigns(self, agent_id: int) -> list[dict[str, Any]]: ...
    async def login(self, actor: Principal, agent_id: int, campaign: str, endpoint: str | None,
                    nailed_up: bool | None) -> dict[str, Any]: ...
    async def logout(self, actor: Principal, agent_id: int) -> dict[str, Any]: ...
    async def set_state(self, actor: Principal, agent_id: int, state: str,
                        reason: str) -> dict[str, Any]: ...
    async def preview_action(self, actor: Principal, agent_id: int, action: str,
                             params: dict[str, Any]) -> dict[str, Any]: ...
    async def hangup(self, actor: Principal, agent_id: int,
                     attempt_id: str | None) -> dict[str, Any]: ...
    async def hold(self, actor: Principal, agent_id: int, attempt_id: str | None,
                   on: bool) -> dict[str, Any]: ...
    async def disposition(self, actor: Principal, agent_id: int, attempt_id: str, code: str,
                          notes: str, amd_false_positive: bool) -> dict[str, Any]: ...

    # -- campaigns
    async def list_campaigns(self) -> list[dict[str, Any]]: ...
    async def get_campaign(self, ref: str) -> dict[str, Any]: ...
    async def create_campaign(self, actor: Principal, name: str, teams: list[str],
                              settings: dict[str, Any]) -> dict[str, Any]: ...
    async def update_campaign(self, actor: Principal, ref: str,
                              changes: dict[str, Any]) -> dict[str, Any]: ...
    async def campaign_action(self, actor: Principal, ref: str, action: str) -> dict[str, Any]: ...
    async def campaign_stats(self, ref: str) -> dict[str, Any]: ...
    async def live_stats(self) -> dict[str, Any]: ...
    async def live_calls(self) -> list[dict[str, Any]]: ...

    # -- health
    async def health(self) -> dict[str, Any]: ...


STATS_CACHE_S = 1.0
"""How long the live statistics (``GET /api/v1/stats``, a campaign's stats) are served
from memory: a supervisors' dashboard refreshing every second, ten screens of it, or a
script polling in a loop then cost the ledger one computation a second, not one each."""


class _Entry:
    __slots__ = ("ready_at", "refresh", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        """The last figures computed (None before the first)."""
        self.ready_at = 0.0
        """When they were (monotonic clock)."""
        self.refresh: asyncio.Task[str] | None = None
        """The computation in flight, if any."""


class FiguresCache:
    """Figures computed at most once per ``ttl`` seconds per key, whoever asks.

    * Fresh (younger than ``ttl``): served from memory.
    * Stale (``ttl`` to ``2 * ttl`` old): served from memory at once while one
      computation of new figures starts in the background, so no request waits for the
      ledger while a dashboard keeps asking (a request landing during the refresh would
      otherwise wait as long as the computation: that was the cached route's p99).
    * Older, or none yet: the request waits for the computation; the requests that
      arrive meanwhile wait for that same one (single flight; a waiter's cancellation
      leaves it running for the others).

    So figures are at most ``2 * ttl`` old plus one computation, and are replaced by
    time only. A failed computation is not kept (its waiters get the error; the next
    request tries again). ``ttl <= 0`` computes for every request. Keys are bounded
    (``max_keys``, least recently used first out).

    What it keeps is figures, never an authorization: the middleware checks each
    request's rights before a handler asks here. Figures that differ by caller must carry
    the caller in their key.
    """

    def __init__(self, ttl: float = STATS_CACHE_S, *, max_keys: int = 256) -> None:
        self.ttl = ttl
        self._max_keys = max_keys
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._running: set[asyncio.Task[str]] = set()
        self.computed = 0
        """Computations started so far (for tests and metrics)."""

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[str]]) -> str:
        """The figures of ``key``, from memory while fresh enough, else from ``compute()``."""
        if self.ttl <= 0:
            self.computed += 1
            return await compute()
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            while len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        if entry.value is not None:
            age = time.monotonic() - entry.ready_at
            if age < self.ttl:
                return entry.value
            if age < 2 * self.ttl:
                if entry.refresh is None:
                    self._start(entry, compute)
                return entry.value
        task = entry.refresh if entry.refresh is not None else self._start(entry, compute)
        return await asyncio.shield(task)

    def invalidate(self) -> None:
        """Forget every figure (a campaign was created, changed, started, paused or
        stopped): the next request computes them, so a dashboard that reloads right after
        its own action never reads the status from before it. A computation already
        running finishes for its waiters and is not kept."""
        self._entries.clear()

    def _start(self, entry: _Entry, compute: Callable[[], Awaitable[str]]) -> asyncio.Task[str]:
        async def run() -> str:
            return await compute()

        self.computed += 1
        task = asyncio.ensure_future(run())
        entry.refresh = task
        self._running.add(task)

        def done(t: asyncio.Task[str]) -> None:
            self._running.discard(t)
            if entry.refresh is t:
                entry.refresh = None
            if not t.cancelled() and t.exception() is None:
                entry.value, entry.ready_at = t.result(), time.monotonic()

        task.add_done_callback(done)
        return task

    async def close(self) -> None:
        """Cancel computations still running (the web app stops)."""
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._entries.clear()


STATS_CACHE = web.AppKey("stats_cache", FiguresCache)
"""App key: the `FiguresCache` of the statistics routes."""
