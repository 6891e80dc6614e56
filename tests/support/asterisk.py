"""A real Asterisk 22 as the end-to-end suite's PBX (instead of pbxsim).

Set ``ORCH_TEST_ASTERISK`` to run the e2e tests against it, e.g.::

    ORCH_TEST_ASTERISK="ari=http://127.0.0.1:8088/ari,ari_user=dialer,ari_password=S1,\
ami_host=127.0.0.1,ami_port=5038,ami_user=dialer,ami_secret=S2"

The Asterisk runs the project's ``asterisk-conf/`` (docs/asterisk.md). Customers are the
test lines of ``[dialer-testlines]`` (the last digit picks the outcome, like pbxsim),
agents' phones are its ``testagent<N>`` lines. What a test can only do through pbxsim's
control endpoint (scripting a party, cutting the socket, restarting the PBX) makes the
test skip, naming why.

An independent AMI connection witnesses every Local channel the dialer places (test
lines, and agent phones of any context): ``read_call_log()`` gives the same entries as
pbxsim's call log (number, channel id, kind, outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

ENV = "ORCH_TEST_ASTERISK"
TESTLINES = "dialer-testlines"
_KEYS = ("ari", "ari_user", "ari_password", "ami_host", "ami_port", "ami_user", "ami_secret")


def configured() -> bool:
    return bool(os.environ.get(ENV, "").strip())


def parse(spec: str) -> dict[str, str]:
    """``key=value,key=value`` -> dict; every key named, bad input named."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _KEYS:
            raise ValueError(f"{ENV}: {part.strip()!r} is not one of {', '.join(k + '=' for k in _KEYS)}")
        out[key] = value.strip()
    missing = [k for k in ("ari", "ari_user", "ari_password") if not out.get(k)]
    if missing:
        raise ValueError(f"{ENV}: missing {', '.join(missing)}")
    if urlsplit(out["ari"]).scheme not in ("http", "https"):
        raise ValueError(f"{ENV}: ari must be an http(s) URL ending in /ari")
    out.setdefault("ami_host", urlsplit(out["ari"]).hostname or "127.0.0.1")
    out.setdefault("ami_port", "5038")
    if not out["ami_port"].isdigit():
        raise ValueError(f"{ENV}: ami_port must be a port number")
    return out


@dataclass
class RealAsterisk:
    """The e2e suite's view of a real Asterisk (the attributes of tests.support.pbxsim.PbxSim)."""

    ari_url: str
    user: str
    password: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    real: bool = True
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.ari_url.replace("http", "ws", 1) + "/events"

    def read_call_log(self) -> list[dict[str, Any]]:
        return list(self.calls)

    # What only pbxsim's control endpoint can do.
    def _skip(self, what: str) -> NoReturn:
        pytest.skip(f"real Asterisk: {what} needs pbxsim's control endpoint")

    async def script(self, number: str, outcome: str, **kw: Any) -> Any:
        self._skip(f"scripting party {number} ({outcome})")

    async def cut_ws(self) -> Any:
        self._skip("cutting the ARI socket")

    async def stall_ws(self, seconds: float) -> Any:
        self._skip("stalling the ARI socket")

    async def set_latency(self, ms: float) -> Any:
        self._skip("adding latency")

    async def restart(self) -> Any:
        self._skip("restarting the PBX")

    async def shutdown(self, mode: str = "graceful") -> Any:
        self._skip("a graceful shutdown that can be aborted")

    async def far_end_hangup(self, channel_id: str) -> Any:
        self._skip("hanging up the far end on demand")

    async def stats(self) -> Any:
        self._skip("pbxsim's counters")


_NAME = re.compile(r"^Local/(?P<exten>[^@]+)@(?P<ctx>.+)-[0-9a-f]{8};2$")
_MACHINE_DIGIT = "8"
"""The [dialer-testlines] branch of an answering machine (pbxsim's outcome "machine")."""
_UNANSWERED = {17: "busy", 34: "congestion", 19: "noanswer"}


def _outcome(entry: dict[str, Any], answered: bool, cause: int | None) -> str | None:
    """pbxsim's call-log outcome for what the ``;2`` half did: answered (a machine on the
    8 lines), else by its hang-up cause."""
    if answered:
        return "machine" if entry.get("kind") is None and entry["number"].endswith(
            _MACHINE_DIGIT) else "answer"
    if cause is None:
        return None
    return _UNANSWERED.get(cause, "cancelled" if cause == 16 else "failed")


async def _ami_witness(pbx: RealAsterisk, ready: asyncio.Event) -> None:
    """Log every Local channel from AMI ``Newchannel`` (the ``;2`` half of our Local
    channel names the number or the agent's phone), independently of the service under
    test: test lines as customers, any other extension (testagent<N>, agent phones of
    [dialer-agents], a phone that does not exist) as an agent leg. ``Newstate`` Up and
    ``Hangup`` of that half give the entry its outcome."""
    legs: dict[str, dict[str, Any]] = {}  # Uniqueid of the ;2 half -> its call-log entry
    reader, writer = await asyncio.open_connection(pbx.ami_host, pbx.ami_port)
    try:
        await reader.readline()  # "Asterisk Call Manager/..."
        writer.write((f"Action: Login\r\nUsername: {pbx.ami_user}\r\nSecret: {pbx.ami_secret}\r\n"
                      "Events: call\r\n\r\n").encode())
        await writer.drain()
        block: dict[str, str] = {}
        while True:
            line = (await reader.readline()).decode(errors="replace")
            if not line:
                return
            line = line.rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                block[key] = value
                continue
            if block.get("Response") == "Success" and not ready.is_set():
                ready.set()
            elif block.get("Response") == "Error":
                raise RuntimeError(f"AMI login refused: {block.get('Message')}")
            event, uid = block.get("Event"), block.get("Uniqueid", "")
            if event == "Newchannel":
                m = _NAME.match(block.get("Channel", ""))
                if m:
                    exten, ctx = m.group("exten"), m.group("ctx")
                    entry: dict[str, Any] = {"number": exten.lstrip("+"),
                                             "channel_id": uid.removesuffix(";2"),
                                             "endpoint": f"Local/{exten}@{ctx}", "outcome": None}
                    if ctx != TESTLINES or not exten.lstrip("+").isdigit():
                        entry["kind"] = "agent"
                    legs[uid] = entry
                    pbx.calls.append(entry)
            elif event == "Newstate" and uid in legs and block.get("ChannelStateDesc") == "Up":
                legs[uid]["outcome"] = _outcome(legs[uid], True, None)
            elif event == "Hangup" and uid in legs:
                entry = legs.pop(uid)
                if entry["outcome"] is None:
                    cause = block.get("Cause", "")
                    entry["outcome"] = _outcome(entry, False, int(cause) if cause.isdigit() else 0)
            block = {}
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def real_asterisk() -> AsyncIterator[RealAsterisk]:
    cfg = parse(os.environ[ENV])
    pbx = RealAsterisk(ari_url=cfg["ari"].rstrip("/"), user=cfg["ari_user"],
                       password=cfg["ari_password"], ami_host=cfg["ami_host"],
                       ami_port=int(cfg["ami_port"]), ami_user=cfg.get("ami_user", ""),
                       ami_secret=cfg.get("ami_secret", ""))
    task = None
    if pbx.ami_user:
        ready = asyncio.Event()
        task = asyncio.create_task(_ami_witness(pbx, ready))
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait({task, waiter}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task in done:
            task.result()  # the login failed: say why
    try:
        yield pbx
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
