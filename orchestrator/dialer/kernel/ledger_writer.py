"""The retrying ledger writer: a write lost with the database would leave a ghost live
call (issue 10), so each write is sent again until it lands."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from psycopg_pool import AsyncConnectionPool

from orchestrator.ledger.pool import AsyncConn, is_transient
from orchestrator.metrics import DialerMetrics

log = structlog.get_logger("orchestrator.dialer")

T = TypeVar("T")

LEDGER_RETRY_FIRST_S = 0.05
LEDGER_RETRY_MAX_S = 2.0
"""Back-off of a ledger write while the database is unreachable (doubling up to this)."""


class LedgerWriter:
    def __init__(self, pool: AsyncConnectionPool[AsyncConn], metrics: DialerMetrics,
                 stopping: asyncio.Event) -> None:
        self.pool = pool
        self.metrics = metrics
        self.stopping = stopping

    async def write(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run one ledger call on a pooled connection, again and again while the database
        is unreachable, until it lands.

        Every ledger call made this way is idempotent (a replay of an event already written
        changes nothing and answers as the first did), so a write whose commit was lost with
        its connection is safe to send again. The caller waits: a call's commands run in
        order in its actor, so the writes of one attempt land in the order they were made.
        Given up only when the service stops (the next start's reconcile settles it).
        """
        tries = 0
        while True:
            try:
                async with self.pool.connection() as conn:
                    return await fn(conn, *args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc) or self.stopping.is_set():
                    raise
                tries += 1
                self.metrics.ledger_retries.labels(fn.__name__).inc()
                if tries == 1 or tries % 20 == 0:
                    log.warning("dialer.ledger_write_retry", write=fn.__name__, tries=tries,
                                error=type(exc).__name__)
                delay = min(LEDGER_RETRY_MAX_S, LEDGER_RETRY_FIRST_S * 2 ** min(tries, 10))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self.stopping.wait()
