"""A small asyncio FastAGI server: the dialplan's AGI(agi://host:port/<script>,...) calls.

Why not panoramisk's FastAGI (MISSION I names it): panoramisk 1.4's `fast_agi.Application`
reads the environment with ``while b'\\n\\n' not in buffer: buffer += await
reader.read(100)``; a client that closes before the empty line makes ``read()`` return
``b''`` at once without ever suspending, so that loop spins forever *without yielding*
and freezes the whole event loop (tried: the service stops answering anything). It also
has no time bound on the environment or on replies, reads one line of a multi-line 520
usage reply (the next reply is then out of step), logs every environment line (the
caller's number) and the peer's address, and ``add_route`` wraps plain functions with
``asyncio.coroutine``, gone from Python 3.11. What is left to write is small: this module
and `protocol` (the wire format, pure), about 300 lines with their docstrings.

One connection is one request (Asterisk's FastAGI opens a socket per AGI() call):

1. read the environment (`protocol.parse_environment`); a malformed one is logged
   (without its content) and the socket closed;
2. route ``agi_network_script`` to its handler; an unknown script gets a ``VERBOSE``
   line in Asterisk's log, then the socket is closed;
3. the handler talks to the channel through an `AgiSession` (GET/SET VARIABLE, ...);
4. the server closes the socket. Asterisk then sets AGISTATUS=SUCCESS and the dialplan
   goes on (recorded: asterisk-traces/narrow surprise 41); no HANGUP or EXIT is sent.

The whole request, environment included, runs under one deadline (`timeout_s`): a
client that sends nothing, or a handler stuck on the database, is cut off and the
caller's dialplan goes on. Nothing listening gives AGISTATUS=FAILURE, and the dialplan
goes on as well: the hooks are conveniences, never in the way of a call.

Logs never carry the caller's number or the channel's name (which may hold a number):
only the script, the channel's uniqueid and what went wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping

import structlog

from orchestrator.agi.protocol import (
    MAX_ENV_BYTES,
    AgiEnvironment,
    AgiProtocolError,
    AgiReply,
    parse_environment,
    parse_reply,
    quote,
)
from orchestrator.logs import mask_text

__all__ = [
    "AgiCommandError",
    "AgiConnectionLost",
    "AgiSession",
    "FastAgiServer",
    "Handler",
]

log = structlog.get_logger("orchestrator.agi")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_,-]*\))?")
"""A channel variable (``DIALER_QUEUE``) or a function read as one (``CALLERID(num)``)."""
_EXPRESSION = re.compile(r"[^\s\"\\]+")
"""What GET FULL VARIABLE substitutes, e.g. ``${CALLERID(num)}``: one word, no quoting."""
_CLOSE_WAIT_S = 1.0


class AgiConnectionLost(ConnectionError):
    """Asterisk closed the socket (the channel is gone, or Asterisk stopped)."""


class AgiCommandError(RuntimeError):
    """A command was refused (510 unknown, 511 dead channel, 520 usage)."""

    def __init__(self, command: str, reply: AgiReply) -> None:
        super().__init__(f"{command.split(' ', 2)[0]}...: {reply.code}")
        self.reply = reply


class AgiSession:
    """One FastAGI request: its environment and the commands a handler sends."""

    def __init__(self, env: AgiEnvironment, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.env = env
        self._reader = reader
        self._writer = writer
        self.hung_up = False
        """Asterisk said HANGUP: the caller is gone (commands on dead channels get 511)."""

    async def command(self, line: str) -> AgiReply:
        """Send one command line, return its reply (a HANGUP line before it is noted)."""
        if "\n" in line or "\r" in line:
            raise ValueError("an AGI command is one line")
        self._writer.write(line.encode() + b"\n")
        await self._writer.drain()
        lines: list[str] = []
        while True:
            raw = await self._reader.readline()
            if not raw:
                raise AgiConnectionLost("Asterisk closed the FastAGI socket")
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if text == "HANGUP" and not lines:
                self.hung_up = True
                continue
            lines.append(text)
            # a usage error spans "520-..." lines up to "520 End of proper usage."
            if not text.startswith("520-"):
                return parse_reply(lines)

    async def _checked(self, line: str) -> AgiReply:
        reply = await self.command(line)
        if not reply.ok:
            raise AgiCommandError(line, reply)
        return reply

    async def get_variable(self, name: str) -> str | None:
        """A channel variable (or function, ``CALLERID(num)``): None when unset."""
        _check_name(name)
        reply = await self._checked(f"GET VARIABLE {name}")
        return reply.data if reply.result == "1" else None

    async def get_full_variable(self, expression: str) -> str | None:
        """An expression substituted on the channel (``${CALLERID(num)}``); "" when it
        expands to nothing (Asterisk answers ``200 result=1 ()``)."""
        if not _EXPRESSION.fullmatch(expression):
            raise ValueError("GET FULL VARIABLE takes one word")
        reply = await self._checked(f"GET FULL VARIABLE {expression}")
        return reply.data if reply.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable (the value quoted, control characters dropped)."""
        _check_name(name)
        await self._checked(f"SET VARIABLE {name} {quote(value)}")

    async def verbose(self, message: str, level: int = 1) -> None:
        """A line in Asterisk's log (``VERBOSE "message" level``)."""
        await self._checked(f"VERBOSE {quote(message)} {int(level)}")


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError("not a channel variable name")


Handler = Callable[[AgiSession], Awaitable[None]]
"""A dialplan hook: reads and sets channel variables through the session; returning
(or raising) ends the request and the server closes the socket."""


class FastAgiServer:
    """Listens on ``host:port`` and runs one handler per connection, by script name."""

    def __init__(self, handlers: Mapping[str, Handler], *, host: str = "127.0.0.1",
                 port: int = 4573, timeout_s: float = 5.0, max_sessions: int = 1000) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s: must be > 0")
        self.handlers = dict(handlers)
        self.host = host
        self.port = port
        """The bound port once started (port 0 picks a free one)."""
        self.timeout_s = timeout_s
        self.max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()

    async def start(self) -> None:
        """Bind and accept. Raises OSError when the address is taken."""
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self.port, limit=MAX_ENV_BYTES, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("agi.listening", host=self.host, port=self.port, scripts=sorted(self.handlers),
                 timeout_s=self.timeout_s)

    async def serve(self) -> None:
        """Run until `close` (for a TaskGroup): starts first if needed. Cancelled (the
        TaskGroup failed), it closes the server itself, so the port is never left bound."""
        if self._server is None:
            await self.start()
        try:
            await self._closed.wait()
        finally:
            if not self._closed.is_set():
                await self.close()

    async def close(self) -> None:
        """Stop accepting, cut the requests in progress (their dialplans go on)."""
        if self._server is not None:
            self._server.close()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        for task in sessions:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_WAIT_S):
                    await self._server.wait_closed()
        self._closed.set()

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # asyncio runs this callback as a task of its own: kept here so close() ends it.
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            if len(self._sessions) > self.max_sessions:
                log.warning("agi.busy", active=len(self._sessions) - 1, limit=self.max_sessions)
                return
            await self._serve_one(reader, writer)
        finally:
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_WAIT_S):
                    await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: AgiEnvironment | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                env = parse_environment(await _read_environment(reader))
                await self._dispatch(AgiSession(env, reader, writer))
        except TimeoutError:
            log.warning("agi.timeout", phase="environment" if env is None else "handler",
                        timeout_s=self.timeout_s, **_ids(env))
        except AgiProtocolError as exc:
            log.warning("agi.malformed", reason=str(exc), **_ids(env))
        except (AgiConnectionLost, ConnectionError, asyncio.IncompleteReadError):
            log.info("agi.connection_lost", **_ids(env))
        except AgiCommandError as exc:
            log.warning("agi.command_refused", code=exc.reply.code, **_ids(env))
        except Exception as exc:  # a handler's bug or a database failure: the call goes on
            log.error("agi.handler_failed", error=type(exc).__name__, detail=mask_text(str(exc)),
                      **_ids(env))

    async def _dispatch(self, session: AgiSession) -> None:
        env = session.env
        handler = self.handlers.get(env.script)
        if handler is None:
            log.warning("agi.unknown_script", **_ids(env))
            await session.verbose(f"dialer: no FastAGI script {env.script[:80]!r}")
            return
        log.debug("agi.request", **_ids(env), args=len(env.args))
        await handler(session)


async def _read_environment(reader: asyncio.StreamReader) -> list[str]:
    """The environment's lines, up to the empty line; bounded by MAX_ENV_BYTES."""
    lines: list[str] = []
    size = 0
    while True:
        try:
            raw = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise AgiProtocolError(f"environment: a line over {MAX_ENV_BYTES} bytes") from None
        if not raw:
            raise AgiProtocolError("environment: connection closed before the empty line")
        if not raw.endswith(b"\n"):
            raise AgiProtocolError("environment: connection closed in the middle of a line")
        size += len(raw)
        if size > MAX_ENV_BYTES:
            raise AgiProtocolError(f"environment: over {MAX_ENV_BYTES} bytes")
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise AgiProtocolError("environment: not UTF-8") from None
        if not line:
            return lines
        lines.append(line)


def _ids(env: AgiEnvironment | None) -> dict[str, str]:
    """What a log line may say about a request: its script and channel uniqueid."""
    if env is None:
        return {}
    return {"script": env.script[:80], "uniqueid": env.uniqueid[:80]}
