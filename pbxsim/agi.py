"""pbxsim as Asterisk's FastAGI client: what res_agi does for ``AGI(agi://host:port/script,args)``.

Recorded on Asterisk 22.10.1 (asterisk-traces/narrow surprises 40-41 and the
``agi_*.txt`` transcripts), and followed here:

* the connection: ``agi://host[:port][/script]``, port 4573 by default; nothing
  listening (refused, or no answer within 2 s, res_agi's MAX_AGI_CONNECT) is
  AGISTATUS=FAILURE, and the dialplan goes on at the next priority;
* the environment, in this order: ``agi_network: yes``, ``agi_network_script`` (only
  when the URL has a path), ``agi_request`` (the URL alone, no arguments), agi_channel,
  agi_language, agi_type, agi_uniqueid, agi_version, agi_callerid, agi_calleridname,
  agi_callingpres, agi_callingani2, agi_callington, agi_callingtns, agi_dnid, agi_rdnis,
  agi_context, agi_extension, agi_priority, agi_enhanced, agi_accountcode,
  agi_threadid, ``agi_arg_1..N``, then an empty line;
* the replies recorded: GET VARIABLE ``200 result=1 (value)`` / ``200 result=0`` (unset),
  GET FULL VARIABLE ``200 result=1 (value)``, SET VARIABLE and VERBOSE ``200 result=1``;
* the server closing the socket (with or without commands, no HANGUP/EXIT needed):
  AGISTATUS=SUCCESS, the dialplan goes on.

Taken from res_agi.c (Asterisk 22), not recorded: ANSWER ``200 result=0``, HANGUP
``200 result=1``, NOOP ``200 result=0``, EXEC ``200 result=<app's result>`` (``-2``: no
such application), CHANNEL STATUS ``200 result=<state>``, an unknown command
``510 Invalid or unknown command``, a wrong number of arguments the three lines
``520-Invalid command syntax.  Proper usage follows:`` / usage / ``520 End of proper
usage.``. When the channel hangs up, a lone ``HANGUP`` line is sent, commands not allowed
on a dead channel get ``511 Command Not Permitted on a dead channel or intercept
routine``, and AGISTATUS is HANGUP (the dialplan stops). Command words are parsed as
res_agi's parse_args() does (spaces split, double quotes group, backslash escapes).

pbxsim does not model the media commands (STREAM FILE, SAY ..., GET DATA, RECORD FILE,
...): they get 510 here, where Asterisk would play something. An Asterisk whose server
never answers waits until the caller hangs up; pbxsim's caller hangs up after
``give_up_after_s`` when one is given.

Transcript lines are marked as in the recorded transcripts: ``<<`` what Asterisk
(pbxsim) sends, ``>>`` what the FastAGI server sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

AGI_PORT = 4573
CONNECT_TIMEOUT_S = 2.0
"""res_agi's MAX_AGI_CONNECT (2000 ms)."""
ASTERISK_VERSION = "22.10.1"
ENV_ORDER = (
    "agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_language", "agi_type",
    "agi_uniqueid", "agi_version", "agi_callerid", "agi_calleridname", "agi_callingpres",
    "agi_callingani2", "agi_callington", "agi_callingtns", "agi_dnid", "agi_rdnis", "agi_context",
    "agi_extension", "agi_priority", "agi_enhanced", "agi_accountcode", "agi_threadid",
)
"""The environment's keys before the arguments, in the order Asterisk 22 sends them."""

UNKNOWN_COMMAND = "510 Invalid or unknown command"
DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
USAGE_HEAD = "520-Invalid command syntax.  Proper usage follows:"
USAGE_TAIL = "520 End of proper usage."
_STATE_CODES = {"Down": 0, "Rsrvd": 1, "OffHook": 2, "Dialing": 3, "Ring": 4, "Ringing": 5, "Up": 6, "Busy": 7}
_SUBST = re.compile(r"\$\{([^{}]*)\}")
_FUNC = re.compile(r"([A-Z_]+)\((.*)\)", re.IGNORECASE)


@dataclass
class AgiChannel:
    """The channel an AGI() runs on, as res_agi sees it."""

    name: str = "Local/s@dialer-agi-00000001;2"
    uniqueid: str = "pbxsim-agi;2"
    type: str = "Local"
    language: str = "en"
    callerid: str = ""
    """The caller's number ("" when none: Asterisk then sends ``unknown``)."""
    calleridname: str = ""
    context: str = "default"
    extension: str = "s"
    priority: int = 1
    accountcode: str = ""
    state: str = "Up"
    variables: dict[str, str] = field(default_factory=dict)
    """The channel's variables: read by GET VARIABLE, written by SET VARIABLE."""


@dataclass
class AgiOutcome:
    """What one AGI() did."""

    status: str = "SUCCESS"
    """AGISTATUS: SUCCESS (the server closed), FAILURE (nothing listening), HANGUP."""
    transcript: list[tuple[str, str]] = field(default_factory=list)
    set_variables: list[tuple[str, str]] = field(default_factory=list)
    """SET VARIABLE name/value pairs, in order."""
    verbose: list[str] = field(default_factory=list)
    """VERBOSE messages (Asterisk's log lines)."""
    error: str | None = None
    """FAILURE: Asterisk's WARNING, e.g. "Connecting to '127.0.0.1:4573' failed ..."."""

    @property
    def dialplan_continues(self) -> bool:
        """AGI() returns 0 (next priority) unless the channel hung up."""
        return self.status != "HANGUP"

    def json(self, variables: dict[str, str]) -> dict[str, Any]:
        return {
            "status": self.status,
            "dialplan_continues": self.dialplan_continues,
            "transcript": [{"dir": d, "line": line} for d, line in self.transcript],
            "set": [[n, v] for n, v in self.set_variables],
            "verbose": self.verbose,
            "variables": dict(variables),
            "error": self.error,
        }


def parse_agi_url(url: str) -> tuple[str, int, str]:
    """``agi://host[:port][/script]`` -> (host, port, script)."""
    if not url.startswith("agi://"):
        raise ValueError("url: must start with agi://")
    hostport, slash, script = url[len("agi://"):].partition("/")
    host, colon, port = hostport.partition(":")
    if not host:
        raise ValueError("url: no host")
    if colon and not port.isdigit():
        raise ValueError("url: port must be a number")
    return host, int(port) if colon else AGI_PORT, script if slash else ""


def parse_args(line: str) -> list[str]:
    """A command line split into words as res_agi's parse_args() does."""
    words: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    in_word = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and not in_word:
                in_word = True  # an opening quote starts a word, even an empty one
            continue
        if ch in " \t" and not quoted and not escaped:
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        cur.append(ch)
        in_word = True
        escaped = False
    if in_word:
        words.append("".join(cur))
    return words


class _Channel:
    """The variables and functions of an AGI channel, as the commands see them."""

    def __init__(self, chan: AgiChannel, globals_: dict[str, str],
                 on_set: Callable[[str, str], None] | None) -> None:
        self.chan = chan
        self.globals = globals_
        self.on_set = on_set

    def read(self, name: str) -> str | None:
        """GET VARIABLE's lookup: a function ``NAME(args)``, a builtin, a channel
        variable, a global; None when unset."""
        m = _FUNC.fullmatch(name)
        if m:
            return self._function(m.group(1).upper(), m.group(2))
        c = self.chan
        builtin = {"CHANNEL": c.name, "UNIQUEID": c.uniqueid, "EXTEN": c.extension,
                   "CONTEXT": c.context, "PRIORITY": str(c.priority)}
        if name in builtin:
            return builtin[name]
        if name in c.variables:
            return c.variables[name]
        return self.globals.get(name)

    def _function(self, func: str, args: str) -> str | None:
        c = self.chan
        if func == "CALLERID":
            return {"num": c.callerid, "number": c.callerid, "name": c.calleridname,
                    "all": f'"{c.calleridname}" <{c.callerid}>'}.get(args.lower(), "")
        if func == "CHANNEL":
            return {"name": c.name, "language": c.language, "uniqueid": c.uniqueid,
                    "state": c.state}.get(args.lower(), "")
        return None

    def substitute(self, expression: str) -> str:
        """GET FULL VARIABLE: every ``${...}`` replaced ("" when unset)."""
        return _SUBST.sub(lambda m: self.read(m.group(1)) or "", expression)

    def write(self, name: str, value: str) -> None:
        m = _FUNC.fullmatch(name)
        if m and m.group(1).upper() == "CALLERID" and m.group(2).lower() in ("num", "number"):
            self.chan.callerid = value
        elif m and m.group(1).upper() == "CALLERID" and m.group(2).lower() == "name":
            self.chan.calleridname = value
        else:
            self.chan.variables[name] = value
        if self.on_set is not None:
            self.on_set(name, value)


# (words of the command, least and most arguments in all, allowed on a dead channel, usage)
_COMMANDS: dict[tuple[str, ...], tuple[int, int, bool, str]] = {
    ("ANSWER",): (1, 99, False, "Usage: ANSWER"),
    ("HANGUP",): (1, 2, True, "Usage: HANGUP [<channelname>]"),
    ("NOOP",): (1, 99, True, "Usage: NOOP"),
    ("VERBOSE",): (2, 99, True, "Usage: VERBOSE <message> <level>"),
    ("EXEC",): (2, 99, True, "Usage: EXEC <application> <options>"),
    ("GET", "VARIABLE"): (3, 3, True, "Usage: GET VARIABLE <variablename>"),
    ("GET", "FULL", "VARIABLE"): (4, 5, True, "Usage: GET FULL VARIABLE <expression> [<channelname>]"),
    ("SET", "VARIABLE"): (4, 4, True, "Usage: SET VARIABLE <variablename> <value>"),
    ("CHANNEL", "STATUS"): (2, 3, False, "Usage: CHANNEL STATUS [<channelname>]"),
}


def _find_command(words: list[str]) -> tuple[str, ...] | None:
    upper = [w.upper() for w in words]
    for n in (3, 2, 1):  # the longest match, as res_agi's find_command
        key = tuple(upper[:n])
        if len(upper) >= n and key in _COMMANDS:
            return key
    return None


class _Session:
    def __init__(self, chan: _Channel, out: AgiOutcome, writer: asyncio.StreamWriter) -> None:
        self.chan = chan
        self.out = out
        self.writer = writer
        self.dead = False

    def send(self, line: str) -> None:
        self.out.transcript.append(("<<", line))
        self.writer.write(line.encode() + b"\n")

    def hang_up(self) -> None:
        """The caller is gone: HANGUP is sent once, AGISTATUS will be HANGUP."""
        if not self.dead:
            self.dead = True
            self.out.status = "HANGUP"
            self.send("HANGUP")

    def handle(self, line: str) -> list[str]:
        """The reply line(s) to one command."""
        words = parse_args(line)
        key = _find_command(words)
        if key is None:
            return [UNKNOWN_COMMAND]
        least, most, dead_ok, usage = _COMMANDS[key]
        if self.dead and not dead_ok:
            return [DEAD_CHANNEL]
        if not least <= len(words) <= most:
            return [USAGE_HEAD, usage, USAGE_TAIL]
        return [self._run(key, words)]

    def _run(self, key: tuple[str, ...], w: list[str]) -> str:
        ch = self.chan
        if key == ("GET", "VARIABLE"):
            value = ch.read(w[2])
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if key == ("GET", "FULL", "VARIABLE"):
            if len(w) == 5 and w[4] != ch.chan.name:
                return "200 result=0"  # another channel, which pbxsim does not look up
            return f"200 result=1 ({ch.substitute(w[3])})"
        if key == ("SET", "VARIABLE"):
            ch.write(w[2], w[3])
            self.out.set_variables.append((w[2], w[3]))
            return "200 result=1"
        if key == ("VERBOSE",):
            self.out.verbose.append(w[1])
            return "200 result=1"
        if key == ("ANSWER",):
            ch.chan.state = "Up"
            return "200 result=0"
        if key == ("HANGUP",):
            if len(w) == 2 and w[1] != ch.chan.name:
                return "200 result=-1"
            self.hang_up()
            return "200 result=1"
        if key == ("NOOP",):
            return "200 result=0"
        if key == ("EXEC",):
            return f"200 result={self._exec(w[1], ' '.join(w[2:]))}"
        # CHANNEL STATUS
        if len(w) == 3 and w[2] != ch.chan.name:
            return "200 result=-1"
        return f"200 result={_STATE_CODES.get(ch.chan.state, 0)}"

    def _exec(self, app: str, data: str) -> int:
        name = app.lower()
        if name == "set":
            var, _, value = data.partition("=")
            self.chan.write(var, value)
            return 0
        if name in ("noop", "wait", "playback", "answer"):
            return 0
        return -2  # "Could not find application"


async def run_agi(
    url: str,
    args: list[str],
    chan: AgiChannel,
    *,
    globals_: dict[str, str] | None = None,
    on_set: Callable[[str, str], None] | None = None,
    hangup: Callable[[], Awaitable[object]] | None = None,
    hangup_after_commands: int | None = None,
    give_up_after_s: float | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> AgiOutcome:
    """Run ``AGI(url,args...)`` on `chan` against a FastAGI server; the outcome.

    `hangup`: awaited alongside the session; when it returns the caller has hung up.
    `hangup_after_commands`: the caller hangs up after that many commands.
    `give_up_after_s`: the caller hangs up when the server has kept it that long (and
    pbxsim closes the socket as long again after that)."""
    out = AgiOutcome()
    try:
        host, port, script = parse_agi_url(url)
    except ValueError as exc:
        out.status, out.error = "FAILURE", str(exc)
        return out
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        # Asterisk's words: strerror(errno) ("Connection refused"), not asyncio's message
        reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else "timed out"
        out.status = "FAILURE"
        out.error = (f"Connecting to '{host}:{port}' failed for url '{url}': {reason}; "
                     "Couldn't connect to any host.  FastAGI failed.")
        return out
    session = _Session(_Channel(chan, globals_ or {}, on_set), out, writer)
    try:
        _send_environment(session, url, script, args, chan)
        await _command_loop(session, reader, hangup, hangup_after_commands, give_up_after_s)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return out


def _send_environment(s: _Session, url: str, script: str, args: list[str], c: AgiChannel) -> None:
    s.send("agi_network: yes")
    if script:
        s.send(f"agi_network_script: {script}")
    for key, value in (
        ("agi_request", url), ("agi_channel", c.name), ("agi_language", c.language),
        ("agi_type", c.type), ("agi_uniqueid", c.uniqueid), ("agi_version", ASTERISK_VERSION),
        ("agi_callerid", c.callerid or "unknown"), ("agi_calleridname", c.calleridname or "unknown"),
        ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"),
        ("agi_callingtns", "0"), ("agi_dnid", "unknown"), ("agi_rdnis", "unknown"),
        ("agi_context", c.context), ("agi_extension", c.extension), ("agi_priority", str(c.priority)),
        ("agi_enhanced", "0.0"), ("agi_accountcode", c.accountcode),
        ("agi_threadid", str(threading.get_ident())),
    ):
        s.send(f"{key}: {value}")
    for n, value in enumerate(args, start=1):
        s.send(f"agi_arg_{n}: {value}")
    s.send("")


async def _command_loop(s: _Session, reader: asyncio.StreamReader,
                        hangup: Callable[[], Awaitable[object]] | None,
                        hangup_after_commands: int | None, give_up_after_s: float | None) -> None:
    """Read commands and answer them until the server closes the socket."""
    loop = asyncio.get_running_loop()
    hangup_task = loop.create_task(_await(hangup)) if hangup is not None else None
    commands = 0
    deadline = None if give_up_after_s is None else loop.time() + give_up_after_s
    read: asyncio.Task[bytes] | None = None
    try:
        await s.writer.drain()
        while True:
            if read is None:
                read = loop.create_task(reader.readline())
            waiting: set[asyncio.Future[Any]] = {read}
            if hangup_task is not None and not s.dead:
                waiting.add(hangup_task)
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if read not in done:
                if s.dead:
                    return  # the server kept a dead channel too long: pbxsim closes
                s.hang_up()
                if deadline is not None:
                    deadline = loop.time() + (give_up_after_s or 0.0)
                await s.writer.drain()
                continue
            raw, read = read.result(), None
            if not raw:
                return  # the server closed: "AGI Script ... completed"
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            s.out.transcript.append((">>", line))
            for reply in s.handle(line):
                s.send(reply)
            commands += 1
            if hangup_after_commands is not None and commands >= hangup_after_commands:
                s.hang_up()
            await s.writer.drain()
    except ConnectionError:
        return
    finally:
        for task in (read, hangup_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _await(fn: Callable[[], Awaitable[object]]) -> None:
    await fn()


# ---------------------------------------------------------------- the control endpoint's request

_CHANNEL_TEXT = ("name", "uniqueid", "type", "language", "callerid", "calleridname", "context",
                 "extension", "accountcode", "state")
MAX_GIVE_UP_S = 300.0


@dataclass(frozen=True)
class AgiRequest:
    """POST /_pbxsim/agi: run one AGI() on a channel made up for it."""

    url: str
    args: list[str]
    channel: AgiChannel
    globals_: dict[str, str]
    hangup_after_commands: int | None
    give_up_after_s: float


def _strings(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{name}: must be an object of strings")
    return dict(value)


def agi_request_from_json(body: Any) -> AgiRequest:
    """The request body, checked; ValueError naming the field."""
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object")
    url = body.get("url")
    if not isinstance(url, str):
        raise ValueError("url: required string (agi://host:port/script)")
    parse_agi_url(url)
    args = body.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ValueError("args: must be a list of strings")
    raw = body.get("channel", {})
    if not isinstance(raw, dict):
        raise ValueError("channel: must be an object")
    chan = AgiChannel()
    for key in _CHANNEL_TEXT:
        if key in raw:
            if not isinstance(raw[key], str):
                raise ValueError(f"channel.{key}: must be a string")
            setattr(chan, key, raw[key])
    if "priority" in raw:
        if not isinstance(raw["priority"], int) or raw["priority"] < 1:
            raise ValueError("channel.priority: must be an integer >= 1")
        chan.priority = raw["priority"]
    chan.variables = _strings(raw.get("variables"), "channel.variables")
    after = body.get("hangup_after_commands")
    if after is not None and (not isinstance(after, int) or after < 0):
        raise ValueError("hangup_after_commands: must be an integer >= 0")
    give_up = body.get("give_up_after_s", 30.0)
    if not isinstance(give_up, int | float) or not 0 < give_up <= MAX_GIVE_UP_S:
        raise ValueError(f"give_up_after_s: must be a number in (0, {MAX_GIVE_UP_S:g}]")
    return AgiRequest(url, list(args), chan, _strings(body.get("globals"), "globals"), after,
                      float(give_up))


async def run_agi_request(req: AgiRequest) -> dict[str, Any]:
    """Run it; the outcome with the channel's variables afterwards (AGISTATUS among them)."""
    out = await run_agi(req.url, req.args, req.channel, globals_=req.globals_,
                        hangup_after_commands=req.hangup_after_commands,
                        give_up_after_s=req.give_up_after_s)
    req.channel.variables["AGISTATUS"] = out.status
    return out.json(req.channel.variables)
