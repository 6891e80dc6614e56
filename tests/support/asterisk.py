"""A real Asterisk 22 as the end-to-end suite's PBX (instead of pbxsim).

Set ``ORCH_TEST_ASTERISK`` to run the e2e tests against it, e.g.::

    ORCH_TEST_ASTERISK="ari=http://127.0.0.1:8088/ari,ari_user=dialer,ari_password=S1,\
ami_host=127.0.0.1,ami_port=5038,ami_user=dialer,ami_secret=S2"

The Asterisk runs the project's ``asterisk-conf/`` (docs/asterisk.md). Customers are the
test lines of ``[dialer-testlines]`` (the last digit picks the outcome, like pbxsim),
agents' phones are its ``testagent<N>`` lines. What a test can only do through pbxsim's
control endpoint (scripting a party, cutting the socket, restarting the PBX) makes the
test skip, naming why. With ``cli=<command>`` (how to run this Asterisk's CLI on this
machine, e.g. ``cli=/usr/sbin/asterisk`` or ``cli=asterisk -C /etc/ast-test/asterisk.conf``)
a graceful shutdown and its abort run on the real Asterisk too: ``core stop gracefully``
while a keeper call (two test agent phones) holds it up, then ``core abort shutdown``.

An independent AMI connection witnesses every Local channel the dialer places (test
lines, and agent phones of any context): ``read_call_log()`` gives the same entries as
pbxsim's call log (number, channel id, kind, outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

ENV = "ORCH_TEST_ASTERISK"
TESTLINES = "dialer-testlines"
_KEYS = ("ari", "ari_user", "ari_password", "ami_host", "ami_port", "ami_user", "ami_secret",
         "cli")


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
    cli: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    real: bool = True
    stderr_lines: list[str] = field(default_factory=list)
    _stopping: asyncio.subprocess.Process | None = None
    _keeper: str | None = None

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
        """`core stop gracefully` / `core abort shutdown` through the CLI (``cli=``)."""
        if not self.cli:
            pytest.skip("real Asterisk: a graceful shutdown needs cli= in " + ENV)
        if mode == "graceful":
            # Asterisk stops as soon as no channel is left: a keeper call holds it up.
            self._keeper = f"keeper-{os.urandom(4).hex()}"
            await self._ari("POST", "/channels", endpoint=f"Local/testagent1@{TESTLINES}",
                            channelId=self._keeper, context=TESTLINES,
                            extension="testagent2", priority="1")
            # `-rx 'core stop gracefully'` returns only once Asterisk has stopped: not awaited
            self._stopping = await asyncio.create_subprocess_exec(
                *shlex.split(self.cli), "-rx", "core stop gracefully",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await asyncio.sleep(1.0)
            return {"shutting_down": True}
        if mode == "abort":
            await self._abort()
            return {"shutting_down": False}
        raise ValueError("mode: graceful or abort")

    async def _abort(self) -> None:
        if self._stopping is None:
            return
        proc = await asyncio.create_subprocess_exec(
            *shlex.split(self.cli), "-rx", "core abort shutdown",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"core abort shutdown: {err.decode().strip()}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), 5)
        if self._stopping.returncode is None:
            self._stopping.kill()
        self._stopping = None
        if self._keeper is not None:
            with contextlib.suppress(RuntimeError):
                await self._ari("DELETE", f"/channels/{self._keeper}")
            self._keeper = None

    async def hang_up_leftovers(self) -> None:
        """Hang up every channel the test placed that is still up: a stopped service leaves
        its calls in the PBX by design (they go on, and are reconciled at its restart),
        which on a shared Asterisk would outlive the test (test agent phones stay an hour)."""
        for entry in self.calls:
            with contextlib.suppress(RuntimeError):  # gone already: 404
                await self._ari("DELETE", f"/channels/{entry['channel_id']}")

    async def _ari(self, method: str, path: str, **params: str) -> Any:
        import aiohttp

        auth = {"Authorization": aiohttp.encode_basic_auth(self.user, self.password)}
        async with aiohttp.ClientSession(headers=auth) as s, s.request(
                method, self.ari_url + path, params=params) as r:
            if r.status >= 300:
                raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
            return await r.json(content_type=None) if r.status != 204 else None

    async def far_end_hangup(self, channel_id: str) -> Any:
        """The far end hangs up: the Local channel's ;2 half (the called side) is hung up
        over ARI, as a customer hanging up would end it; our half then ends with it."""
        try:
            return await self._ari("DELETE", f"/channels/{channel_id};2", reason="normal")
        except RuntimeError:
            return await self._ari("DELETE", f"/channels/{channel_id}", reason="normal")

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
                       ami_secret=cfg.get("ami_secret", ""), cli=cfg.get("cli", ""))
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
        await pbx._abort()  # never leave the shared Asterisk stopping
        await pbx.hang_up_leftovers()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
