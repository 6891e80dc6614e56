"""Reconnect supervision shared by the adapters' long-lived links to Asterisk.

The ARI WebSocket (`orchestrator.ari.stream`) and the AMI connection
(`orchestrator.ami.listener`) live the same life, so it is written once here::

    run() ── TaskGroup ── body(tg) ── supervise(): open (backoff) → serve → open again…

* One supervisor loop owns the connection (no untracked ``call_later`` retries):
  jittered exponential backoff (``tenacity.wait_random_exponential``, multiplier
  ``backoff_initial``, ceiling ``backoff_max``) around the open step only, so a
  connection that worked and then dropped is retried at once.
* ``close()`` interrupts a backoff sleep, and a connection that opens after ``close()``
  was requested is discarded rather than served.
* After ``attention_after`` failed opens in a row a failure is marked
  ``needs_attention``: a link that will not come back may mean Asterisk itself needs
  a restart (a wedged ARI app registry, asterisk#2170). Each adapter logs failures
  under its own names, which operators and tests read.
* ``connected`` is set exactly while a connection is being served; ``generation``
  counts the connections served so far (1 for the first).

This module knows nothing of ARI or AMI: it imports nothing of the orchestrator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

Conn = TypeVar("Conn")
"""Whatever one successful open returns (a WebSocket, an AMI connection)."""


class ReconnectSettings(Protocol):
    """The part of an adapter's config that shapes reconnects (AriConfig, AmiConfig)."""

    @property
    def backoff_initial(self) -> float:
        """Multiplier of the jittered exponential backoff, in seconds."""

    @property
    def backoff_max(self) -> float:
        """Ceiling of one backoff wait, in seconds."""

    @property
    def attention_after(self) -> int:
        """Failed opens in a row after which a failure needs attention."""


@dataclass(slots=True)
class ConnectionStats:
    """Connection counters; the adapters' stats extend it with their own."""

    connects: int = 0
    """Successful connections (WebSocket upgrades, AMI logins)."""
    connect_failures: int = 0
    """Failed attempts that were retried."""
    consecutive_failures: int = 0
    """Failed attempts since the last success."""


@dataclass(frozen=True, slots=True)
class ConnectFailure:
    """One failed open, as the adapter's log line needs it."""

    error: str
    """``repr()`` of the exception."""
    failures: int
    """Failed opens in a row, this one included."""
    retry_in: float
    """Seconds until the next attempt (rounded to 10 ms)."""
    needs_attention: bool
    """True from the ``attention_after``-th failure in a row on: log at error level."""


class _Closing(Exception):
    """Internal: close() was requested while opening."""


class ConnectionSupervisor(Generic[Conn]):
    """Open, serve and reopen one connection until `close()`; see the module docstring.

    ``retryable`` tells which open errors are worth another attempt (bad credentials
    are not: they end `run()`); ``on_connect_failed`` is called before each backoff
    sleep to log the failure.
    """

    def __init__(
        self,
        name: str,
        settings: ReconnectSettings,
        stats: ConnectionStats,
        *,
        retryable: Callable[[BaseException], bool],
        on_connect_failed: Callable[[ConnectFailure], None],
    ) -> None:
        self._name = name
        self._settings = settings
        self.stats = stats
        self._retryable = retryable
        self._on_connect_failed = on_connect_failed
        self.connected = asyncio.Event()
        """Set while a connection is being served."""
        self._generation = 0
        self._closing = False
        self._close_requested = asyncio.Event()
        self._running = False
        self._stopped = asyncio.Event()

    @property
    def generation(self) -> int:
        """Number of connections served so far."""
        return self._generation

    @property
    def closing(self) -> bool:
        """True once `close()` was called (for good: run() does not reset it)."""
        return self._closing

    async def wait_close_requested(self) -> None:
        """Return once `close()` was called."""
        await self._close_requested.wait()

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self, body: Callable[[asyncio.TaskGroup], Awaitable[None]], *,
                  fatal: type[Exception]) -> None:
        """Run ``body`` in a fresh TaskGroup; return when it ends.

        A single ``fatal`` error (bad credentials) is raised as itself, not wrapped in
        an exception group.
        """
        if self._running:
            raise RuntimeError(f"{self._name}.run() is already running")
        self._running = True
        self._stopped.clear()
        try:
            async with asyncio.TaskGroup() as tg:
                await body(tg)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], fatal):
                raise group.exceptions[0] from None
            raise
        finally:
            self.connected.clear()
            self._running = False
            self._stopped.set()

    async def close(self, within: float) -> bool:
        """Ask the loop to stop and wait for `run()` to end; False if it took over ``within``."""
        self._closing = True
        self._close_requested.set()
        if not self._running:
            return True
        try:
            async with asyncio.timeout(within):
                await self._stopped.wait()
        except TimeoutError:
            return False
        return True

    async def sleep(self, seconds: float) -> None:
        """Sleep that `close()` interrupts."""
        try:
            async with asyncio.timeout(seconds):
                await self._close_requested.wait()
        except TimeoutError:
            pass

    # -- the loop ----------------------------------------------------------------------

    async def supervise(
        self,
        open_: Callable[[], Awaitable[Conn]],
        serve: Callable[[Conn, int], Awaitable[None]],
        discard: Callable[[Conn], Awaitable[None]],
    ) -> None:
        """Open with backoff, serve until the connection ends, repeat until `close()`.

        ``serve(conn, generation)`` runs with ``connected`` set and may clear it
        earlier, as soon as the connection stops being usable; ``discard`` closes a
        connection that opened after `close()` was requested.
        """
        while not self._closing:
            try:
                conn = await self._open(open_, discard)
            except _Closing:
                return
            self._generation += 1
            self.stats.connects += 1
            self.stats.consecutive_failures = 0
            self.connected.set()
            try:
                await serve(conn, self._generation)
            finally:
                self.connected.clear()

    async def _open(self, open_: Callable[[], Awaitable[Conn]],
                    discard: Callable[[Conn], Awaitable[None]]) -> Conn:
        async def attempt() -> Conn:
            if self._closing:
                raise _Closing()
            conn = await open_()
            if self._closing:
                await discard(conn)
                raise _Closing()
            return conn

        settings = self._settings
        retrying = AsyncRetrying(
            wait=wait_random_exponential(multiplier=settings.backoff_initial,
                                         max=settings.backoff_max),
            retry=retry_if_exception(
                lambda exc: not isinstance(exc, _Closing) and self._retryable(exc)),
            before_sleep=self._count_failure,
            sleep=self.sleep,
            reraise=True,
        )
        conn: Conn = await retrying(attempt)
        return conn

    def _count_failure(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        stats = self.stats
        stats.connect_failures += 1
        stats.consecutive_failures += 1
        wait = state.next_action.sleep if state.next_action else 0.0
        self._on_connect_failed(ConnectFailure(
            error=repr(exc),
            failures=stats.consecutive_failures,
            retry_in=round(wait, 2),
            needs_attention=stats.consecutive_failures >= self._settings.attention_after,
        ))
