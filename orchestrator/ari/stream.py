"""The application's WebSocket: one reader, per-channel ordered dispatch, reconnect, re-sync.

Shape (one `AriEventStream.run()` call, usually inside the runtime's TaskGroup)::

    run() ── TaskGroup ─┬─ supervisor loop (`ConnectionSupervisor`): connect (backoff) → serve
                        │     serve = reader + watchdog + re-sync, one connection at a time
                        └─ one worker task per ordering key with queued events

* The reader only parses and enqueues: it never awaits a handler, so a slow handler
  (e.g. one waiting on PostgreSQL) cannot make Asterisk drop us for reading slowly.
* Events with the same ``ordering_key`` (base channel id, surprise 6) are handled in
  arrival order by one worker; different keys run concurrently.
* Liveness: aiohttp's heartbeat pings an idle socket; in addition a watchdog treats a
  socket that delivered no frame at all (event, ping or pong) for
  ``liveness_timeout`` as half-open and reconnects.
* After every (re)connect the re-sync hook receives what Asterisk has now: the app's
  channels and bridges plus ``GET /channels`` and ``GET /bridges``; events missed
  while disconnected are never replayed (surprises 12 and 16).
* ``connected`` is set only while the socket is open: never originate otherwise
  (surprise 14). `AriClient` checks it for originates into our app.
* Shutdown waits for a quiet moment before closing the socket (surprise 13).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
import structlog

from ..reconnect import ConnectFailure, ConnectionStats, ConnectionSupervisor
from .client import AriClient
from .errors import AriError, AriNotFound, AriUnauthorized
from .events import (
    ApplicationReplaced,
    AriEvent,
    AriEventParseError,
    PlaybackEvent,
    RecordingEvent,
    parse_event,
)
from .models import Application, Bridge, Channel

log = structlog.get_logger("orchestrator.ari.stream")

EventHandler = Callable[[AriEvent], Awaitable[None]]
"""An async callable receiving every event (in order per ordering key)."""


@dataclass(frozen=True, slots=True)
class AriSnapshot:
    """What Asterisk reports right after a (re)connect, for the re-sync hook."""

    generation: int
    """1 for the first connection, incremented on each reconnect."""
    application: Application | None
    """``GET /applications/{app}``; None if Asterisk said 404 (app not registered)."""
    channels: Mapping[str, Channel]
    """Every channel Asterisk has (``GET /channels``), by id."""
    bridges: Mapping[str, Bridge]
    """Every bridge Asterisk has (``GET /bridges``), by id."""

    @property
    def app_channel_ids(self) -> frozenset[str]:
        """Channels currently in our application."""
        return self.application.channel_ids if self.application else frozenset()

    @property
    def app_bridge_ids(self) -> frozenset[str]:
        """Bridges our application is subscribed to."""
        return self.application.bridge_ids if self.application else frozenset()


ResyncHook = Callable[[AriSnapshot], Awaitable[None]]
"""Called after every (re)connect with a fresh `AriSnapshot`."""


@dataclass(slots=True)
class AriStreamStats(ConnectionStats):
    """Counters for metrics and tests (connects and failures come from `ConnectionStats`)."""

    half_open: int = 0
    """Connections dropped by the liveness watchdog."""
    frames: int = 0
    """Text frames received."""
    events: int = 0
    """Events handed to the dispatcher."""
    duplicates_dropped: int = 0
    """Repeated bridge playback/recording events dropped (surprise 18)."""
    parse_errors: int = 0
    """Frames that were not valid ARI events."""
    handler_errors: int = 0
    """Exceptions raised by the handler (logged, never fatal)."""
    resyncs: int = 0
    """Completed re-syncs."""
    by_type: dict[str, int] = field(default_factory=dict)
    """Events per wire type."""


class _KeyedDispatcher:
    """Per-key FIFO queues, each drained by its own worker task in the stream's TaskGroup.

    A worker exists only while its key has queued events, so an idle channel costs
    nothing and a stuck handler only holds up its own key.
    """

    def __init__(self, tg: asyncio.TaskGroup, handler: EventHandler, stats: AriStreamStats) -> None:
        self._tg = tg
        self._handler = handler
        self._stats = stats
        self._queues: dict[str, deque[AriEvent]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.pending = 0

    def submit(self, key: str, event: AriEvent) -> None:
        self.pending += 1
        q = self._queues.get(key)
        if q is not None:
            q.append(event)
            return
        q = deque((event,))
        self._queues[key] = q
        self._idle.clear()
        self._tasks[key] = self._tg.create_task(self._drain(key, q), name=f"ari-key:{key}")

    async def _drain(self, key: str, q: deque[AriEvent]) -> None:
        handler = self._handler
        try:
            while q:
                event = q.popleft()
                self.pending -= 1
                try:
                    await handler(event)
                except Exception:
                    self._stats.handler_errors += 1
                    log.exception("ari.handler_error", key=key, event_type=event.type)
        finally:
            # No await between the emptiness check above and this removal: an event
            # submitted meanwhile would have been appended to q and drained.
            self.pending -= len(q)
            del self._queues[key]
            del self._tasks[key]
            if not self._queues:
                self._idle.set()

    @property
    def busy_keys(self) -> int:
        return len(self._queues)

    async def drain(self, limit: float) -> None:
        """Wait until every queue is empty; cancel the stragglers after ``limit`` seconds."""
        try:
            async with asyncio.timeout(limit):
                await self._idle.wait()
        except TimeoutError:
            log.warning("ari.drain_timeout", stuck_keys=sorted(self._tasks)[:20])
            for task in list(self._tasks.values()):
                task.cancel()


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, AriUnauthorized):
        return False
    return isinstance(exc, (aiohttp.ClientError, OSError, TimeoutError, AriError))


class AriEventStream:
    """The Stasis application's WebSocket with ordered per-channel dispatch.

    Example::

        async with AriClient(config) as ari:
            stream = AriEventStream(ari, handler, resync=on_resync)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(stream.run())
                async with asyncio.timeout(5):
                    await stream.wait_connected()
                await ari.originate("attempt-42", "Local/1001@dialer-out")
                ...
                await stream.close()

    ``handler`` is awaited for every event; its exceptions are logged and counted,
    never fatal. ``resync`` is awaited after every (re)connect (it runs concurrently
    with event delivery; retried with backoff while the connection lasts if it fails).
    """

    def __init__(
        self,
        client: AriClient,
        handler: EventHandler,
        *,
        resync: ResyncHook | None = None,
    ) -> None:
        self._client = client
        self._cfg = client.config
        self._handler = handler
        self._resync_hook = resync
        self.stats = AriStreamStats()
        self._link = ConnectionSupervisor[aiohttp.ClientWebSocketResponse](
            "AriEventStream", self._cfg, self.stats,
            retryable=_retryable, on_connect_failed=self._log_connect_failure)
        self.connected = self._link.connected
        """Set while the WebSocket is open and registered to the app."""
        self.synced = asyncio.Event()
        """Set once the re-sync of the current connection has completed."""
        self._dispatcher: _KeyedDispatcher | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._last_rx = 0.0
        self._prev_text = ""
        self._half_open = False
        client.attach_app_state(self.connected)

    def __repr__(self) -> str:
        return f"AriEventStream(app={self._cfg.app!r}, connected={self.connected.is_set()})"

    @property
    def generation(self) -> int:
        """Number of successful connections so far."""
        return self._link.generation

    @property
    def pending(self) -> int:
        """Events queued for handlers and not yet started."""
        return self._dispatcher.pending if self._dispatcher else 0

    async def wait_connected(self) -> None:
        """Wait until the WebSocket is up (wrap in ``asyncio.timeout``)."""
        await self.connected.wait()

    async def wait_synced(self) -> None:
        """Wait until the current connection's re-sync completed (wrap in ``asyncio.timeout``)."""
        await self.synced.wait()

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, read and dispatch until `close()`; reconnect whenever the socket drops.

        Raises `AriUnauthorized` at once on bad credentials (not retried).
        """
        try:
            await self._link.run(self._run_in, fatal=AriError)
        finally:
            self.synced.clear()

    async def _run_in(self, tg: asyncio.TaskGroup) -> None:
        self._dispatcher = _KeyedDispatcher(tg, self._handler, self.stats)
        await self._link.supervise(self._connect_once, partial(self._serve_then_pause, tg),
                                   self._discard)
        await self._dispatcher.drain(self._cfg.close_timeout)

    async def close(self) -> None:
        """Stop: wait for a quiet moment, close the socket gracefully, let handlers drain.

        Returns when `run()` has finished (bounded by about twice ``close_timeout``).
        """
        if not await self._link.close(within=2 * self._cfg.close_timeout + 1.0):
            log.error("ari.close_timeout")

    # -- one connection ----------------------------------------------------------------

    def _log_connect_failure(self, failure: ConnectFailure) -> None:
        if failure.needs_attention:
            # A WebSocket that will not open may mean a wedged ARI app registry
            # (surprise 13, asterisk#2170): only a restart of Asterisk fixes that.
            log.error("ari.asterisk_needs_attention", url=self._cfg.events_url,
                      failures=failure.failures, error=failure.error,
                      retry_in=failure.retry_in)
        else:
            log.warning("ari.connect_failed", url=self._cfg.events_url, error=failure.error,
                        retry_in=failure.retry_in)

    async def _connect_once(self) -> aiohttp.ClientWebSocketResponse:
        params = {"app": self._cfg.app}
        if self._cfg.subscribe_all:
            params["subscribeAll"] = "true"
        try:
            async with asyncio.timeout(self._cfg.connect_timeout):
                ws = await self._client.session.ws_connect(
                    self._cfg.events_url,
                    params=params,
                    heartbeat=self._cfg.heartbeat,
                    autoping=False,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise AriUnauthorized(exc.status, "GET", "/events",
                                      "WebSocket refused: bad ARI credentials") from exc
            raise
        return ws

    async def _discard(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Close a socket that opened after close() was requested."""
        await ws.close()

    async def _serve_then_pause(self, tg: asyncio.TaskGroup, ws: aiohttp.ClientWebSocketResponse,
                                generation: int) -> None:
        if await self._serve(tg, ws, generation) and not self._link.closing:
            # Another client took the app over (surprise 17). Taking it straight back
            # would ping-pong with it: wait the longest backoff first.
            await self._link.sleep(self._cfg.backoff_max)

    async def _serve(self, tg: asyncio.TaskGroup, ws: aiohttp.ClientWebSocketResponse,
                     generation: int) -> bool:
        """Run one connection until it ends; return True if the app was replaced."""
        loop = asyncio.get_running_loop()
        self._ws = ws
        self._last_rx = loop.time()
        self._prev_text = ""
        self._half_open = False
        log.info("ari.connected", app=self._cfg.app, generation=generation)
        watchdog = tg.create_task(self._watchdog(ws), name="ari-watchdog")
        resync = tg.create_task(self._resync(generation), name="ari-resync")
        replaced = False
        try:
            replaced = await self._read(ws)
        finally:
            self.connected.clear()
            self.synced.clear()
            self._ws = None
            watchdog.cancel()
            resync.cancel()
            if not ws.closed:
                # After ApplicationReplaced or a close frame from Asterisk: close
                # properly; after a half-open verdict: just drop the connection.
                await self._close_ws(ws, grace=0.1 if self._half_open else None)
            log.info("ari.disconnected", app=self._cfg.app, generation=generation,
                     close_code=ws.close_code, replaced=replaced, closing=self._link.closing)
        return replaced

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        loop = asyncio.get_running_loop()
        text_type = aiohttp.WSMsgType.TEXT
        while True:
            msg = await ws.receive()
            self._last_rx = loop.time()
            mtype = msg.type
            if mtype is text_type:
                if self._on_text(msg.data):
                    return True
            elif mtype is aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
            elif mtype is aiohttp.WSMsgType.PONG:
                continue
            elif mtype is aiohttp.WSMsgType.BINARY:
                self.stats.parse_errors += 1
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                if mtype is aiohttp.WSMsgType.ERROR:
                    log.warning("ari.ws_error", error=repr(msg.data))
                return False

    def _on_text(self, text: str) -> bool:
        """Parse and enqueue one frame; return True on ApplicationReplaced."""
        stats = self.stats
        stats.frames += 1
        try:
            event = parse_event(json.loads(text))
        except (ValueError, AriEventParseError) as exc:
            stats.parse_errors += 1
            log.warning("ari.bad_event", error=str(exc)[:200])
            return False
        if (
            text == self._prev_text
            and isinstance(event, (PlaybackEvent, RecordingEvent))
            and event.ordering_key.startswith("bridge:")
        ):
            # Bridge playback/recording events can arrive twice (surprise 18).
            stats.duplicates_dropped += 1
            return False
        self._prev_text = text
        stats.events += 1
        by_type = stats.by_type
        by_type[event.type] = by_type.get(event.type, 0) + 1
        assert self._dispatcher is not None
        self._dispatcher.submit(event.ordering_key, event)
        if isinstance(event, ApplicationReplaced):
            # This socket will get nothing more and Asterisk does not close it.
            log.error("ari.application_replaced", app=self._cfg.app)
            self.connected.clear()
            return True
        return False

    async def _watchdog(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Half-open detection and the quiet-moment close on shutdown."""
        loop = asyncio.get_running_loop()
        cfg = self._cfg
        tick = min(cfg.heartbeat, cfg.quiet_period, cfg.liveness_timeout) / 4
        close_deadline: float | None = None
        while True:
            try:
                async with asyncio.timeout(tick):
                    await self._link.wait_close_requested()
            except TimeoutError:
                pass
            now = loop.time()
            idle = now - self._last_rx
            if self._link.closing:
                if close_deadline is None:
                    close_deadline = now + cfg.close_timeout / 2
                # Never close in the middle of an event burst (surprise 13).
                if idle >= cfg.quiet_period or now >= close_deadline:
                    if idle < cfg.quiet_period:
                        log.warning("ari.closing_during_traffic", idle=round(idle, 3))
                    await self._close_ws(ws)
                    return
                await asyncio.sleep(min(tick, cfg.quiet_period - idle))
                continue
            if idle >= cfg.liveness_timeout:
                self.stats.half_open += 1
                self._half_open = True
                log.error("ari.half_open", idle=round(idle, 2), app=cfg.app)
                # A half-open peer never answers a close frame: do not wait for it.
                await self._close_ws(ws, grace=0.1)
                return

    async def _close_ws(self, ws: aiohttp.ClientWebSocketResponse,
                        grace: float | None = None) -> None:
        # close() wakes the reader (it sees CLOSING), sends a close frame and waits at
        # most ws_close (or ``grace``) for the answer, then drops the connection.
        try:
            async with asyncio.timeout(grace or self._cfg.close_timeout):
                await ws.close()
        except TimeoutError:
            pass

    async def _resync(self, generation: int) -> None:
        delay = self._cfg.backoff_initial
        while True:
            try:
                snapshot = await self._take_snapshot(generation)
                if self._resync_hook is not None:
                    await self._resync_hook(snapshot)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("ari.resync_failed", generation=generation, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._cfg.backoff_max)
                continue
            if generation == self._link.generation and self.connected.is_set():
                self.stats.resyncs += 1
                self.synced.set()
                log.info("ari.resynced", generation=generation,
                         app_channels=len(snapshot.app_channel_ids),
                         channels=len(snapshot.channels), bridges=len(snapshot.bridges))
            return

    async def _take_snapshot(self, generation: int) -> AriSnapshot:
        client = self._client
        application: Application | None = None
        for attempt in range(3):
            try:
                application = await client.get_application()
                break
            except AriNotFound:
                # Registered during the upgrade; a 404 right after connecting means the
                # socket is already gone or the app registry is unhealthy.
                await asyncio.sleep(0.05 * (attempt + 1))
        if application is None:
            log.error("ari.app_not_registered", app=self._cfg.app, generation=generation)
        channels, bridges = await asyncio.gather(client.list_channels(), client.list_bridges())
        return AriSnapshot(
            generation=generation,
            application=application,
            channels={c.id: c for c in channels},
            bridges={b.id: b for b in bridges},
        )


def dispatch_by_name(target: Any, *, fallback: EventHandler | None = None) -> EventHandler:
    """Build a handler that calls ``target.on_<WireType>(event)`` when it exists.

    Wire handlers are named after the wire event (``on_StasisStart``, like aiosmtpd's
    ``smtp_HELO``); events without a method go to ``fallback`` or are ignored.
    """
    cache: dict[str, EventHandler | None] = {}

    async def handle(event: AriEvent) -> None:
        try:
            method = cache[event.type]
        except KeyError:
            method = getattr(target, "on_" + event.type, None)
            cache[event.type] = method
        if method is not None:
            await method(event)
        elif fallback is not None:
            await fallback(event)

    return handle
