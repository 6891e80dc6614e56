"""AMI listener and guarded actions on top of panoramisk.

panoramisk 1.4 has defects that matter to a dialer; each is disabled or fenced here:

* It re-sends every unanswered action after a reconnect (``awaiting_actions``,
  flushed on FullyBooted): an Originate could be placed twice. Here every action
  is "forgettable", the awaiting queue is cleared, the FullyBooted hook is removed,
  and Originate is refused outright (`AmiRefused`): calls are placed over ARI.
* Its futures never fail when the socket drops and it has no action timeout: every
  action here is bounded by ``asyncio.wait_for`` and failed with `AmiDisconnected`
  on a drop.
* Its reconnect is an untracked ``call_later`` loop and coroutine callbacks become
  untracked tasks: here one supervisor loop (`ConnectionSupervisor`, backoff around
  connect) owns the connection, and events go through one ordered queue to one
  handler task.
* It decodes each TCP chunk on its own (a UTF-8 character split across two reads is
  lost): the protocol here decodes incrementally.
* Nothing checks header values: a CR or LF would inject headers or actions; refused
  here with `AmiHeaderError` before sending.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from panoramisk import actions as pk_actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message
from panoramisk.utils import EOL

from ..reconnect import ConnectFailure, ConnectionStats, ConnectionSupervisor
from .config import AmiConfig
from .errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAuthError,
    AmiDisconnected,
    AmiError,
    AmiHeaderError,
    AmiNotConnected,
    AmiRefused,
    AmiShuttingDown,
)
from .events import AmiEvent, HeaderValue, parse_ami_event
from .userevents import (
    DialerAbandon,
    DialerAgentState,
    DialerAttempt,
    DialerCampaignStats,
    DialerUserEvent,
)

log = structlog.get_logger("orchestrator.ami")

AmiHandler = Callable[[AmiEvent], Awaitable[None]]
"""An async callable receiving every AMI event, in arrival order."""

ActionValue = str | int | Sequence[str | int]
"""An action header's value; a sequence sends the header once per item."""

REFUSED_ACTIONS = frozenset({"originate"})
"""Actions never sent over AMI (place calls through ARI)."""


class _EveryAction:
    """A container that holds every action name: panoramisk forgets them all."""

    def __contains__(self, item: object) -> bool:
        return True


def validate_action(action: Mapping[str, ActionValue]) -> dict[str, str | list[str]]:
    """Check and normalise an action's headers; raise AmiHeaderError or AmiRefused.

    Names must be non-empty, without ':' or whitespace at the ends; no CR or LF may
    appear in any name or value.
    """
    out: dict[str, str | list[str]] = {}
    name = None
    for key, value in action.items():
        if not isinstance(key, str) or not key or key != key.strip() or ":" in key:
            raise AmiHeaderError(f"AMI header name {key!r}: must be non-empty, without ':' "
                                 "or surrounding spaces")
        if "\r" in key or "\n" in key:
            raise AmiHeaderError(f"AMI header name {key!r}: contains CR or LF")
        if key.lower() in {k.lower() for k in out}:
            raise AmiHeaderError(f"AMI header {key!r}: given twice (use a list for repeats)")
        if isinstance(value, (str, int)):
            items: list[str] = [str(value)]
            single = True
        else:
            items = [str(v) for v in value]
            single = False
        for v in items:
            if "\r" in v or "\n" in v:
                raise AmiHeaderError(f"AMI header {key!r}: value contains CR or LF")
        out[key] = items[0] if single else items
        if key.lower() == "action":
            name = items[0] if items else ""
    if not name:
        raise AmiHeaderError("AMI action: missing 'Action' header")
    if name.lower() in REFUSED_ACTIONS:
        raise AmiRefused(f"AMI action {name!r} is refused: place calls through ARI "
                         "(panoramisk may re-send an unanswered action after a reconnect)")
    return out


@dataclass(frozen=True, slots=True)
class AmiResponse:
    """An action's answer."""

    response: str
    """Success, Error, Follows, Goodbye."""
    message: str
    """The ``Message:`` header."""
    headers: Mapping[str, HeaderValue] = field(repr=False)
    """All headers of the (first) response."""
    events: tuple[Mapping[str, HeaderValue], ...] = field(default=(), repr=False)
    """Following events for list actions."""

    @property
    def success(self) -> bool:
        """True for Success/Follows/Goodbye."""
        return self.response in ("Success", "Follows", "Goodbye")


def _headers(msg: Message) -> dict[str, HeaderValue]:
    return {k: v for k, v in msg.items()}


@dataclass(slots=True)
class AmiStats(ConnectionStats):
    """Counters for metrics and tests (logins and failed attempts come from `ConnectionStats`)."""

    events: int = 0
    """Events received."""
    actions_sent: int = 0
    """Actions written to the socket (each exactly once)."""
    actions_timed_out: int = 0
    """Actions without an answer in time."""
    actions_lost: int = 0
    """Actions in flight when a connection dropped."""
    handler_errors: int = 0
    """Exceptions raised by the handler."""


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol with incremental UTF-8 decoding and a loss callback."""

    on_lost: Callable[[Exception | None], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def data_received(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if self.queue:
            text = self.queue.popleft() + text
        blocks = text.split(EOL + EOL)
        self.queue.append(blocks.pop(-1))
        for block in blocks:
            message = Message.from_line(block.strip())
            if message is not None:
                self.handle_message(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.on_lost is not None:
            self.on_lost(exc)


class _GuardedManager(Manager):  # type: ignore[misc]
    """A panoramisk Manager that never reconnects, pings or re-sends by itself."""

    def __init__(self, on_message: Callable[[Message], None], on_lost: Callable[[Any], None],
                 **config: Any) -> None:
        super().__init__(forgetable_actions=_EveryAction(), **config)
        # Drop the FullyBooted -> send_awaiting_actions hook (an untracked task that
        # re-sends actions after a reconnect).
        self.callbacks.clear()
        self.patterns.clear()
        self._on_message = on_message
        self._on_lost = on_lost

    def dispatch(self, event: Message) -> list[str]:
        self._on_message(event)
        return []

    async def send_awaiting_actions(self, *_: Any) -> None:
        self.awaiting_actions.clear()

    def connection_lost(self, exc: Any) -> None:
        # Called for a Shutdown event: never schedule panoramisk's own reconnect.
        self._connected = False
        self.awaiting_actions.clear()
        self._on_lost(exc)

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("use AmiListener.run(): it owns the connection")

    def ping(self) -> None:
        return None


class _Connection:
    def __init__(self, manager: _GuardedManager, protocol: _Protocol,
                 transport: asyncio.Transport) -> None:
        self.manager = manager
        self.protocol = protocol
        self.transport = transport
        self.lost = asyncio.Event()
        self.inflight: dict[str, pk_actions.Action] = {}

    def abort(self) -> None:
        self.protocol.closed = True
        self.transport.abort()
        self.lost.set()


SHUTTING_DOWN = "shutting down"
"""What Asterisk's refusal of any action says during a graceful shutdown."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, TimeoutError, AmiError)) and not isinstance(
        exc, AmiAuthError)


class AmiListener:
    """One logged-in AMI connection: typed events to a handler, guarded actions.

    Run ``await listener.run()`` inside the process TaskGroup and ``await
    listener.close()`` to stop. Events reach ``handler`` in arrival order through one
    queue (a slow handler never blocks the socket). Actions (`send_action`,
    `user_event`, `publish`) are sent once, bounded by ``action_timeout``, and never
    re-sent after a reconnect; Originate is refused.
    """

    def __init__(self, config: AmiConfig, handler: AmiHandler | None = None) -> None:
        self.config = config
        self._handler = handler
        self.stats = AmiStats()
        self._link = ConnectionSupervisor[_Connection](
            "AmiListener", config, self.stats,
            retryable=_retryable, on_connect_failed=self._log_connect_failure)
        self.connected = self._link.connected
        """Set while logged in."""
        self._conn: _Connection | None = None
        self._queue: asyncio.Queue[AmiEvent | None] = asyncio.Queue()

    def __repr__(self) -> str:
        return f"AmiListener({self.config!r}, connected={self.connected.is_set()})"

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, log in and listen until `close()`; reconnect with backoff on drops.

        Raises `AmiAuthError` when the login is refused (not retried).
        """
        await self._link.run(self._run_in, fatal=AmiError)

    async def _run_in(self, tg: asyncio.TaskGroup) -> None:
        deliver = tg.create_task(self._deliver(), name="ami-deliver")
        try:
            await self._link.supervise(self._connect_once, partial(self._serve, tg),
                                       self._discard)
        finally:
            self._queue.put_nowait(None)
        try:
            async with asyncio.timeout(self.config.action_timeout):
                await asyncio.shield(deliver)
        except TimeoutError:
            deliver.cancel()

    async def close(self) -> None:
        """Log off, close the socket and let the handler finish queued events."""
        if not await self._link.close(within=3 * self.config.action_timeout):
            log.error("ami.close_timeout")

    async def _serve(self, tg: asyncio.TaskGroup, conn: _Connection, _generation: int) -> None:
        """Keep one logged-in connection until it is lost or close() is called."""
        # The supervisor set `connected` just before this call, with no await in between:
        # send_action never sees it set without `_conn`.
        conn.manager.authenticated = True
        self._conn = conn
        log.info("ami.connected", host=self.config.host, port=self.config.port)
        pinger = tg.create_task(self._ping_loop(conn), name="ami-ping")
        closer = tg.create_task(self._link.wait_close_requested(), name="ami-close-wait")
        lost = tg.create_task(conn.lost.wait(), name="ami-lost-wait")
        try:
            await asyncio.wait((closer, lost), return_when=asyncio.FIRST_COMPLETED)
        finally:
            pinger.cancel()
            closer.cancel()
            lost.cancel()
            self.connected.clear()
            if not conn.lost.is_set():
                await self._logoff(conn)
            self._drop(conn, "closed" if self._link.closing else "connection lost")

    async def _logoff(self, conn: _Connection) -> None:
        try:
            act = pk_actions.Action({"Action": "Logoff"})
            conn.protocol.send(act)
            async with asyncio.timeout(min(1.0, self.config.action_timeout)):
                await act.future
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass

    def _drop(self, conn: _Connection, why: str) -> None:
        """Forget a connection: fail what was in flight (never re-send), close it."""
        if self._conn is conn:
            self._conn = None
        lost = [a for a in conn.inflight.values() if not a.future.done()]
        for act in lost:
            act.future.set_exception(AmiDisconnected(
                f"AMI connection {why} while {act['action']!r} was in flight; not re-sent"))
        self.stats.actions_lost += len(lost)
        conn.inflight.clear()
        conn.protocol.responses.clear()
        conn.manager.awaiting_actions.clear()
        if not conn.lost.is_set():
            conn.abort()
        log.info("ami.disconnected", why=why, lost_actions=len(lost))

    def _log_connect_failure(self, failure: ConnectFailure) -> None:
        level = log.error if failure.needs_attention else log.warning
        level("ami.connect_failed", host=self.config.host, port=self.config.port,
              failures=failure.failures, error=failure.error, retry_in=failure.retry_in)

    async def _connect_once(self) -> _Connection:
        """Open the TCP connection and log in; the supervisor retries what fails."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        holder: list[_Connection] = []

        def on_lost(exc: Any) -> None:
            if holder:
                holder[0].lost.set()

        manager = _GuardedManager(self._on_message, on_lost, host=cfg.host, port=cfg.port,
                                  loop=loop, encoding="utf8")
        async with asyncio.timeout(cfg.connect_timeout):
            transport, protocol = await loop.create_connection(_Protocol, cfg.host, cfg.port)
            # What Manager.connection_made does in panoramisk 1.4, minus the pinger and
            # the auto-login with a future that nobody bounds.
            protocol.factory = manager
            protocol.log = manager.log
            protocol.config = manager.config
            protocol.encoding = manager.encoding = "utf8"
            protocol.on_lost = on_lost
            manager.protocol = protocol
            manager.responses = protocol.responses
            manager._connected = True
            conn = _Connection(manager, protocol, transport)
            holder.append(conn)
            try:
                login = pk_actions.Action({"Action": "Login", "Username": cfg.username,
                                           "Secret": cfg.secret, "Events": cfg.events})
                protocol.send(login)
                resp = await login.future
            except BaseException:
                conn.abort()
                raise
        if not resp.success:
            conn.abort()
            message = resp.get("Message", "")
            if SHUTTING_DOWN in message.lower():
                # `core stop gracefully` in progress (it may be aborted): retry, loudly
                log.warning("ami.login_refused_shutting_down", host=cfg.host, port=cfg.port)
                raise AmiShuttingDown(f"AMI login refused: {message}")
            raise AmiAuthError(f"AMI login refused for user {cfg.username!r}: {message}")
        return conn

    async def _discard(self, conn: _Connection) -> None:
        """Drop a connection that logged in after close() was requested."""
        conn.abort()

    async def _ping_loop(self, conn: _Connection) -> None:
        while True:
            await asyncio.sleep(self.config.ping_interval)
            try:
                await self._send(conn, {"Action": "Ping"}, self.config.action_timeout)
            except AmiActionTimeout:
                log.error("ami.ping_timeout", host=self.config.host)
                conn.abort()
                return
            except AmiError:
                return

    # -- events ------------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        try:
            event = parse_ami_event(_headers(message))
        except ValueError:
            return
        self.stats.events += 1
        self._queue.put_nowait(event)

    async def _deliver(self) -> None:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            if self._handler is None:
                continue
            try:
                await self._handler(event)
            except Exception:
                self.stats.handler_errors += 1
                log.exception("ami.handler_error", event=event.name)

    # -- actions -----------------------------------------------------------------------

    async def send_action(self, action: Mapping[str, ActionValue], *,
                          timeout_s: float | None = None) -> AmiResponse:
        """Send one action once and return its answer.

        Raises `AmiHeaderError` (bad header, CR/LF), `AmiRefused` (Originate),
        `AmiNotConnected`, `AmiActionTimeout`, `AmiDisconnected` or `AmiActionFailed`.
        """
        headers = validate_action(action)
        conn = self._conn
        if conn is None or not self.connected.is_set():
            raise AmiNotConnected(f"AMI not connected; {headers['Action']!r} not sent")
        return await self._send(conn, headers, timeout_s or self.config.action_timeout)

    async def _send(self, conn: _Connection, headers: Mapping[str, Any],
                    timeout_s: float) -> AmiResponse:
        act = pk_actions.Action(dict(headers))
        conn.inflight[act.id] = act
        conn.protocol.send(act)
        self.stats.actions_sent += 1
        try:
            async with asyncio.timeout(timeout_s):
                result = await act.future
        except TimeoutError:
            self.stats.actions_timed_out += 1
            conn.protocol.responses.pop(act.id, None)
            raise AmiActionTimeout(
                f"AMI {act['action']!r}: no answer within {timeout_s}s; not re-sent") from None
        finally:
            conn.inflight.pop(act.id, None)
        if isinstance(result, list):
            first, rest = result[0], result[1:]
        else:
            first, rest = result, []
        resp = AmiResponse(
            response=str(first.get("Response", "")),
            message=str(first.get("Message", "")),
            headers=_headers(first),
            events=tuple(_headers(m) for m in rest),
        )
        if first.get("Response") in ("Error", "Fail", "Failure"):
            raise AmiActionFailed(str(act["action"]), resp.message)
        return resp

    async def user_event(self, name: str, headers: Mapping[str, ActionValue] | None = None,
                         ) -> AmiResponse:
        """Send ``Action: UserEvent``: every AMI listener (us included) gets it."""
        if not name:
            raise AmiHeaderError("UserEvent: name must not be empty")
        action: dict[str, ActionValue] = {"Action": "UserEvent", "UserEvent": name}
        for k, v in (headers or {}).items():
            if k.lower() in ("action", "userevent", "actionid"):
                raise AmiHeaderError(f"UserEvent header {k!r} is reserved")
            action[k] = v
        return await self.send_action(action)

    async def publish(self, payload: DialerUserEvent,
                      ) -> AmiResponse:
        """Publish one of the dialer's UserEvents (DialerAgentState, DialerAttempt, DialerCampaignStats,
        DialerAbandon)."""
        return await self.user_event(payload.NAME, payload.to_headers())

    async def publish_agent_state(self, agent: str, state: str, *, campaign: str | None = None,
                                  reason: str | None = None) -> AmiResponse:
        """``UserEvent: DialerAgentState``."""
        return await self.publish(DialerAgentState(agent, state, campaign, reason))

    async def publish_attempt(self, attempt: str, campaign: str, outcome: str, *,
                              agent: str | None = None, cause: int | None = None) -> AmiResponse:
        """``UserEvent: DialerAttempt``."""
        return await self.publish(DialerAttempt(attempt, campaign, outcome, agent, cause))

    async def publish_abandon(self, attempt: str, campaign: str, reason: str) -> AmiResponse:
        """``UserEvent: DialerAbandon``."""
        return await self.publish(DialerAbandon(attempt, campaign, reason))

    async def publish_campaign_stats(self, stats: DialerCampaignStats) -> AmiResponse:
        """``UserEvent: DialerCampaignStats``."""
        return await self.publish(stats)
