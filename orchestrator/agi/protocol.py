"""The FastAGI wire format, as Asterisk 22's res_agi speaks it (pure: no sockets).

What Asterisk sends on connect (recorded, asterisk-traces/narrow surprise 40): one
``key: value`` line per fact, ``agi_network``, ``agi_network_script`` (the URL's path;
absent when the URL has none), ``agi_request`` (the URL without the arguments),
``agi_channel``, ... ``agi_threadid``, then ``agi_arg_1`` .. ``agi_arg_N`` and an empty
line. ``agi_accountcode: `` ends in a space when empty.

Then the server writes one command per line and reads one reply per command:
``200 result=1 (value)`` (GET VARIABLE of a set variable), ``200 result=0`` (unset),
``200 result=1`` (SET VARIABLE, VERBOSE), ``510 Invalid or unknown command``,
``511 Command Not Permitted on a dead channel or intercept routine``, and a usage error
spread over lines ``520-...`` up to ``520 End of proper usage.``. When the channel hangs
up, Asterisk writes a lone ``HANGUP`` line between replies.

Asterisk splits a command line into words the way its parse_args() does: spaces
separate, double quotes group, a backslash escapes the next character. `quote` writes
a value so it comes back as one word, and drops control characters: a newline in a
value (a contact's name, say) would otherwise end the command and start another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "AgiEnvironment",
    "AgiProtocolError",
    "AgiReply",
    "MAX_ENV_BYTES",
    "MAX_ENV_LINES",
    "parse_environment",
    "parse_reply",
    "quote",
]

MAX_ENV_LINES = 128
"""Asterisk 22 sends 22 facts plus the arguments (at most 127 of them, AGI's MAX_ARGS)."""
MAX_ENV_BYTES = 16384
"""An environment larger than this is not from Asterisk: refused."""

_ARG_KEY = re.compile(r"agi_arg_([1-9][0-9]*)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REPLY = re.compile(r"(?P<code>[0-9]{3})(?P<sep>[ -])(?P<rest>.*)")
_RESULT = re.compile(r"result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?: (?P<extra>.*))?")


class AgiProtocolError(ValueError):
    """What the other side sent is not FastAGI; the message never quotes the data (a
    caller's number may be in it)."""


@dataclass(frozen=True)
class AgiEnvironment:
    """The facts Asterisk sends when it connects (``agi_`` dropped from the names)."""

    script: str
    """``agi_network_script``: the URL's path, which names the handler ("" when none)."""
    request: str
    """``agi_request``: the URL without its arguments."""
    channel: str
    """``agi_channel``, e.g. ``Local/support@dialer-queue-00000020;2`` (may hold a number:
    never log it)."""
    uniqueid: str
    """``agi_uniqueid``: the channel's id (for the dialer's own channels, the attempt id)."""
    callerid: str
    """``agi_callerid``: the caller's number, ``unknown`` when there is none. Personal data."""
    context: str
    extension: str
    priority: str
    args: tuple[str, ...]
    """``agi_arg_1`` .. ``agi_arg_N``, in order."""
    facts: dict[str, str]
    """Every line as sent, by key (``agi_`` kept), for what the fields above leave out."""


def parse_environment(lines: list[str]) -> AgiEnvironment:
    """The environment from its lines (without the empty line that ends it).

    Raises AgiProtocolError when a line is not ``agi_<name>: <value>``, a key repeats,
    or the arguments are not numbered 1..N without a gap."""
    if len(lines) > MAX_ENV_LINES:
        raise AgiProtocolError(f"environment: more than {MAX_ENV_LINES} lines")
    facts: dict[str, str] = {}
    args: dict[int, str] = {}
    for n, line in enumerate(lines, start=1):
        key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_") or not key[4:].replace("_", "").isalnum():
            raise AgiProtocolError(f"environment line {n}: not 'agi_<name>: <value>'")
        if key in facts:
            raise AgiProtocolError(f"environment line {n}: {key} repeated")
        # "agi_accountcode: " (empty value) keeps its space; one space follows the colon
        value = value[1:] if value.startswith(" ") else value
        facts[key] = value
        m = _ARG_KEY.fullmatch(key)
        if m:
            args[int(m.group(1))] = value
    if sorted(args) != list(range(1, len(args) + 1)):
        raise AgiProtocolError("environment: agi_arg_N not numbered 1..N")
    if "agi_request" not in facts and "agi_network_script" not in facts:
        raise AgiProtocolError("environment: neither agi_request nor agi_network_script")
    return AgiEnvironment(
        script=facts.get("agi_network_script", ""),
        request=facts.get("agi_request", ""),
        channel=facts.get("agi_channel", ""),
        uniqueid=facts.get("agi_uniqueid", ""),
        callerid=facts.get("agi_callerid", ""),
        context=facts.get("agi_context", ""),
        extension=facts.get("agi_extension", ""),
        priority=facts.get("agi_priority", ""),
        args=tuple(args[i] for i in range(1, len(args) + 1)),
        facts=facts,
    )


@dataclass(frozen=True)
class AgiReply:
    """One reply to a command."""

    code: int
    """200 done, 510 unknown command, 511 dead channel, 520 usage error."""
    result: str | None
    """The ``result=`` value (``"1"``, ``"0"``, ``"-1"``); None when the reply has none."""
    data: str | None
    """The parenthesised part: the value of ``200 result=1 (value)``."""
    text: str
    """The whole reply (its lines joined with newlines for a 520)."""

    @property
    def ok(self) -> bool:
        return self.code == 200


def parse_reply(lines: list[str]) -> AgiReply:
    """A reply from its line(s): one line, or a ``520-`` block ending in ``520 ...``."""
    if not lines:
        raise AgiProtocolError("reply: empty")
    m = _REPLY.fullmatch(lines[-1])
    if m is None:
        raise AgiProtocolError("reply: no 3-digit code")
    code = int(m.group("code"))
    text = "\n".join(lines)
    if code != 200:
        return AgiReply(code, None, None, text)
    r = _RESULT.fullmatch(m.group("rest"))
    if r is None:
        raise AgiProtocolError("reply: 200 without result=")
    return AgiReply(code, r.group("result"), r.group("data"), text)


def quote(value: str) -> str:
    """``value`` as one word of a command line (see the module doc); control characters
    become spaces."""
    clean = _CONTROL.sub(" ", value)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'
