"""Run pbxsim as a subprocess for tests: `async with run_pbxsim(speed=10) as pbx: ...`.

Also a function-scoped pytest fixture `pbxsim` (import it into a conftest or test module).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

_READY = re.compile(r"pbxsim ready ari=([\d.]+):(\d+) ami=([\d.]+):(\d+) control=([\d.]+):(\d+)")


@dataclass
class PbxSim:
    """A running pbxsim: its addresses, credentials and control helpers."""

    ari_url: str
    ami_host: str
    ami_port: int
    control_url: str
    user: str
    password: str
    call_log_path: str | None
    process: Any
    """The pbxsim process (asyncio.subprocess.Process, or subprocess.Popen when started
    with `start_pbxsim_blocking`)."""
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.ari_url.replace("http://", "ws://", 1) + "/events"

    def read_call_log(self) -> list[dict[str, Any]]:
        if not self.call_log_path or not os.path.exists(self.call_log_path):
            return []
        with open(self.call_log_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    async def _control(self, method: str, path: str, **kw: Any) -> Any:
        async with aiohttp.ClientSession() as s, s.request(
            method, self.control_url + path, **kw
        ) as r:
            body = await r.json(content_type=None)
            if r.status >= 400:
                raise RuntimeError(f"pbxsim control {path}: {r.status} {body}")
            return body

    async def cut_ws(self) -> Any:
        return await self._control("POST", "/_pbxsim/ws/cut")

    async def stall_ws(self, seconds: float) -> Any:
        return await self._control("POST", "/_pbxsim/ws/stall", params={"seconds": str(seconds)})

    async def set_latency(self, ms: float) -> Any:
        return await self._control("POST", "/_pbxsim/latency", params={"ms": str(ms)})

    async def restart(self) -> Any:
        return await self._control("POST", "/_pbxsim/restart")

    async def script(self, number: str, outcome: str, **kw: Any) -> Any:
        return await self._control("POST", "/_pbxsim/script",
                                   json={"number": number, "outcome": outcome, **kw})

    async def fail_recordings(self, name: str, cause: str | None = None, *,
                              refuse: bool = False) -> Any:
        """Recordings whose name matches ``name`` (a glob) are accepted (201) and then fail
        with RecordingFailed, as Asterisk does when it cannot make one; ``refuse``: they
        are answered 500 at once (an Asterisk without its recording directory)."""
        body: dict[str, Any] = {"name": name, "refuse": refuse}
        if cause is not None:
            body["cause"] = cause
        return await self._control("POST", "/_pbxsim/recordings/fail", json=body)

    async def far_end_hangup(self, channel_id: str) -> Any:
        return await self._control("POST", f"/_pbxsim/hangup/{channel_id}")

    async def shutdown(self, mode: str) -> Any:
        """"graceful": `core stop gracefully` (originates refused, 500); "abort": accept again."""
        return await self._control("POST", "/_pbxsim/shutdown", params={"mode": mode})

    async def calls(self) -> Any:
        return await self._control("GET", "/_pbxsim/calls")

    async def stats(self) -> Any:
        return await self._control("GET", "/_pbxsim/stats")


def _args(speed: float, seed: int | None, profile: str, log_path: str | None, user: str,
          password: str, extra_args: list[str] | None,
          ports: tuple[int, int, int] = (0, 0, 0)) -> list[str]:
    """``ports``: ARI, AMI, control (0: free ones, said on the ready line)."""
    ari, ami, control = ports
    args = [
        sys.executable, "-m", "pbxsim",
        "--ari-port", str(ari), "--ami-port", str(ami), "--control-port", str(control),
        "--user", user, "--password", password,
        "--speed", str(speed), "--profile", profile,
    ]
    if seed is not None:
        args += ["--seed", str(seed)]
    if log_path:
        args += ["--call-log", log_path]
    return args + (extra_args or [])


def _sim_from_ready(line: str, user: str, password: str, log_path: str | None,
                    process: Any) -> PbxSim:
    m = _READY.search(line)
    if not m:
        raise RuntimeError(f"pbxsim failed to start: {line!r}")
    return PbxSim(
        ari_url=f"http://{m.group(1)}:{m.group(2)}/ari",
        ami_host=m.group(3),
        ami_port=int(m.group(4)),
        control_url=f"http://{m.group(5)}:{m.group(6)}",
        user=user,
        password=password,
        call_log_path=log_path,
        process=process,
    )


@contextlib.contextmanager
def start_pbxsim_blocking(
    speed: float = 10.0,
    seed: int | None = 1,
    profile: str = "digits",
    call_log: bool = True,
    user: str = "dialer",
    password: str = "dialer-secret",
    extra_args: list[str] | None = None,
) -> Iterator[PbxSim]:
    """Like run_pbxsim, without an event loop: for module- or session-scoped fixtures."""
    tmpdir = tempfile.mkdtemp(prefix="pbxsim-")
    log_path = str(Path(tmpdir) / "calls.jsonl") if call_log else None
    proc = subprocess.Popen(
        _args(speed, seed, profile, log_path, user, password, extra_args),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield _sim_from_ready(line, user, password, log_path, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.asynccontextmanager
async def run_pbxsim(
    speed: float = 10.0,
    seed: int | None = 1,
    profile: str = "digits",
    call_log: bool = True,
    user: str = "dialer",
    password: str = "dialer-secret",
    extra_args: list[str] | None = None,
    startup_timeout: float = 15.0,
) -> AsyncIterator[PbxSim]:
    """Start pbxsim on free loopback ports; stop it (SIGTERM, then kill) on exit."""
    tmpdir = tempfile.mkdtemp(prefix="pbxsim-")
    log_path = str(Path(tmpdir) / "calls.jsonl") if call_log else None
    proc = await asyncio.create_subprocess_exec(
        *_args(speed, seed, profile, log_path, user, password, extra_args),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), startup_timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError("pbxsim did not become ready") from None
    try:
        sim = _sim_from_ready(line.decode(), user, password, log_path, proc)
    except RuntimeError:
        err = (await proc.stderr.read()).decode(errors="replace")
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"pbxsim failed to start: {line!r} {err}") from None
    drain = asyncio.get_running_loop().create_task(_drain(proc.stderr, sim.stderr_lines))
    try:
        yield sim
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain


async def _drain(stream: asyncio.StreamReader, sink: list[str]) -> None:
    while True:
        line = await stream.readline()
        if not line:
            return
        sink.append(line.decode(errors="replace"))
        del sink[:-200]


@pytest_asyncio.fixture
async def pbxsim() -> AsyncIterator[PbxSim]:
    """A fresh pbxsim (speed 10, seed 1, digits profile, call log on) per test."""
    async with run_pbxsim() as sim:
        yield sim
