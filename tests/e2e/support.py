"""Helpers for the end-to-end tests: a campaign with contacts and agents in a real
database, the service (in-process `Runtime` or an `orchestrator run` subprocess) wired
to a pbxsim subprocess, and API clients acting as agents.

Numbers: pbxsim picks the outcome by the last digit (0-4 answer after 1-3 s, 5 busy,
6 congestion, 7 no answer, 8 machine, 9 answers and hangs up after 1 s). They are
valid French mobile numbers (+33 6 ...) so the importer accepts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator.config import Settings
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger.importer import import_contacts
from orchestrator.ledger.pool import connect, fetch_all
from orchestrator.runtime import Runtime
from tests.support import asterisk as asterisk_target
from tests.support.pbxsim import PbxSim

REPO = Path(__file__).resolve().parents[2]
REAL_ASTERISK = asterisk_target.configured()
"""The tests run against the real Asterisk named by ORCH_TEST_ASTERISK, not pbxsim."""
SPEED = 1.0 if REAL_ASTERISK else 10.0
"""pbxsim --speed and the service's time scale in the e2e tests (a real PBX: real time)."""
TIME_FACTOR = 10.0 / SPEED
"""How much longer every wait is than the tests were written for (10 against pbxsim)."""


def number(i: int, last_digit: int) -> str:
    """A distinct valid number ending in ``last_digit`` (pbxsim's outcome digit)."""
    return f"+336{i % 10_000_000:07d}{last_digit}"


async def make_campaign(database_url: str, name: str, *, start: bool = True,
                        teams: Iterable[str] = (), **settings: Any) -> campaigns_ledger.Campaign:
    defaults: dict[str, Any] = {"window_start": "00:00", "window_end": "23:59",
                                "wrapup_seconds": 30, "silent_call_message": "sound:lab/hello"}
    defaults.update(settings)
    async with connect(database_url) as conn:
        c = await campaigns_ledger.create_campaign(conn, name, teams=list(teams), **defaults)
        if start:
            c = await campaigns_ledger.start_campaign(conn, name)
    return c


def import_numbers(database_url: str, campaign: str, numbers: list[str], tmp: Path, *,
                   zones: list[str | None] | None = None) -> None:
    """Import one contact per number (through the real CSV importer)."""
    path = tmp / f"contacts-{uuid.uuid4().hex[:6]}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "first_name", "phone1", "phone1_description", "timezone"])
        for i, n in enumerate(numbers):
            zone = (zones[i] if zones else None) or ""
            w.writerow([f"c{i}-{n[-6:]}", f"Contact {i}", n, "Mobile", zone])
    report = import_contacts(database_url, path, campaign)
    assert report.contacts_imported == len(numbers), report


@dataclass
class TestAgent:
    __test__ = False  # a fixture's record, not a test class (pytest collects Test*)

    id: int
    username: str
    token: str
    endpoint: str


async def make_agents(database_url: str, count: int, *, prefix: str = "agent",
                      role: str = "agent", teams: Iterable[str] = ()) -> list[TestAgent]:
    out = []
    async with connect(database_url) as conn:
        for n in range(1, count + 1):
            username = f"{prefix}{n}"
            # pbxsim answers any agent phone of [dialer-agents]; a real Asterisk with
            # asterisk-conf/ has test phones that answer at once in [dialer-testlines].
            endpoint = (f"Local/testagent{n}@{asterisk_target.TESTLINES}" if REAL_ASTERISK
                        else f"Local/{username}@dialer-agents")
            agent, token = await agents_ledger.create_agent(
                conn, username, display_name=f"Agent {n}", role=role, endpoint=endpoint,
                teams=list(teams))
            out.append(TestAgent(agent.id, username, token, endpoint))
    return out


def service_settings(database_url: str, pbx: PbxSim, **overrides: Any) -> Settings:
    real = getattr(pbx, "real", False)
    values: dict[str, Any] = {
        "database_url": database_url, "ari_url": pbx.ari_url, "ari_user": pbx.user,
        "ari_password": pbx.password, "ami_host": pbx.ami_host, "ami_port": pbx.ami_port,
        "ami_user": getattr(pbx, "ami_user", pbx.user),
        "ami_secret": getattr(pbx, "ami_secret", pbx.password),
        # One app per test on a shared real PBX: nothing left by another test reaches it.
        "ari_app": f"dialer-{uuid.uuid4().hex[:8]}" if real else "dialer",
        "http_host": "127.0.0.1", "http_port": 0, "instance_id": "e2e-1",
        "time_scale": SPEED, "dial_tick_s": 0.05, "heartbeat_s": 0.5,
        "shutdown_grace_s": 1.0, "instance_stale_s": 3.0,
        # a FastAGI port of its own (0: any free one), so parallel services never compete
        "agi_port": 0,
    }
    if real:
        values["customer_endpoint"] = f"Local/{{e164}}@{asterisk_target.TESTLINES}/n"
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[Runtime]:
    """The service in this process (one Runtime), stopped gracefully on exit."""
    stop = asyncio.Event()
    rt = Runtime(settings)
    task = asyncio.create_task(rt.run(stop))
    try:
        async with asyncio.timeout(15):
            while not rt.started.is_set():
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
            assert rt.dialer is not None
            await rt.dialer.reconciled.wait()
        yield rt
    finally:
        stop.set()
        async with asyncio.timeout(20):
            await task


@dataclass
class ServiceProcess:
    """An `orchestrator run` subprocess."""

    proc: asyncio.subprocess.Process
    api: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, within: float = 15.0) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within):
                return await self.proc.wait()
        except TimeoutError:
            await self.kill()
            return -9


async def start_service_process(settings: Settings, log_path: Path, *,
                                http_port: int | None = None) -> ServiceProcess:
    """Start `orchestrator run` with ``settings`` as ORCH_* variables; wait until it listens."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"ORCH_{name.upper()}"] = str(value)
    if http_port is not None:
        env["ORCH_HTTP_PORT"] = str(http_port)
    logf = open(log_path, "ab")  # noqa: SIM115, ASYNC230 - handed to the child
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator.cli", "run", cwd=str(REPO), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=logf)
    logf.close()
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            line = (await proc.stdout.readline()).decode()
    except TimeoutError:
        proc.kill()
        raise RuntimeError(f"service did not start; log: {log_path.read_text()[-2000:]}") from None  # noqa: ASYNC240
    if "listening on" not in line:
        await proc.wait()
        raise RuntimeError(f"service failed: {line!r}; log: {log_path.read_text()[-2000:]}")  # noqa: ASYNC240
    api = line.strip().rsplit(" ", 1)[-1]
    return ServiceProcess(proc, api, log_path, env)


class ApiClient:
    """Bearer-token HTTP client of the service's API."""

    def __init__(self, api: str, token: str) -> None:
        self.api = api.rstrip("/")
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self._session is not None
        async with self._session.request(method, self.api + path, json=body) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text) if text else None
            except ValueError:
                return r.status, text

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await self.call(method, path, body)
        assert status in (200, 201), (method, path, status, data)
        return data

    @contextlib.asynccontextmanager
    async def events(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """The WebSocket event stream as a queue of decoded events."""
        assert self._session is not None
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        async with self._session.ws_connect(self.api + "/api/v1/events") as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello"

            async def pump() -> None:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        queue.put_nowait(json.loads(msg.data))

            task = asyncio.create_task(pump())
            try:
                yield queue
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def wait_for(predicate: Any, within: float, interval: float = 0.1, what: str = "") -> Any:
    """Poll an async predicate until it returns a truthy value (TimeoutError after ``within``
    s, times TIME_FACTOR: written for pbxsim at 10x)."""
    async with asyncio.timeout(within * TIME_FACTOR):
        while True:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(interval)
    raise AssertionError(what)  # pragma: no cover


async def attempts(database_url: str, campaign_id: int | None = None) -> list[dict[str, Any]]:
    async with connect(database_url) as conn:
        return await fetch_all(
            conn,
            "SELECT a.*, w.label AS code FROM attempts a LEFT JOIN wrapup_codes w"
            " ON w.id = a.wrapup_code_id"
            " WHERE (%(c)s::bigint IS NULL OR a.campaign_id = %(c)s) ORDER BY a.created_at",
            {"c": campaign_id})


async def targets(database_url: str, campaign_id: int) -> list[dict[str, Any]]:
    async with connect(database_url) as conn:
        return await fetch_all(conn, "SELECT * FROM targets WHERE campaign_id = %s ORDER BY id",
                               (campaign_id,))


def customer_calls(pbx: PbxSim) -> list[dict[str, Any]]:
    """pbxsim's call log, customer calls only."""
    return [r for r in pbx.read_call_log() if r.get("kind") is None]


@contextlib.asynccontextmanager
async def observe_pbx(pbx: PbxSim) -> AsyncIterator[list[dict[str, Any]]]:
    """Every ARI event of the PBX, seen by a separate ``subscribeAll`` observer app
    (what an independent witness of the calls sees: playbacks, bridges...)."""
    seen: list[dict[str, Any]] = []
    headers = {"Authorization": aiohttp.encode_basic_auth(pbx.user, pbx.password)}
    async with aiohttp.ClientSession(headers=headers) as s, s.ws_connect(
            pbx.ws_url, params={"app": "observer", "subscribeAll": "true"}) as ws:

        async def pump() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    seen.append(json.loads(msg.data))

        task = asyncio.create_task(pump())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def sim_agent(api: str, agent: TestAgent, campaign: str, *, talk: tuple[float, float] = (0.2, 0.4),
              wrap: tuple[float, float] = (0.05, 0.1), codes: list[str] | None = None,
              stats: Any = None, nailed_up: bool | None = None) -> Any:
    """A simulated agent desktop (the `simulate-agents` code) for ``agent``."""
    import random

    from orchestrator.commands.simulate_agents import SimStats, SimulatedAgent

    return SimulatedAgent(api, agent.id, agent.token, campaign, agent.endpoint, talk=talk,
                          wrap=wrap, codes=codes or ["Sale"], rng=random.Random(agent.id),
                          stats=stats if stats is not None else SimStats(), nailed_up=nailed_up)


async def describe(database_url: str, campaign_id: int) -> str:
    """The campaign's targets and attempts, for failure messages."""
    rows = await attempts(database_url, campaign_id)
    ts = await targets(database_url, campaign_id)
    lines = [f"target {t['id']} {t['e164'][-4:]} made={t['attempts_made']} "
             f"reason={t['unavailable_reason']} lease={t['lease_owner']}" for t in ts]
    lines += [f"attempt {r['id']} t={r['target_id']} {r['state']} {r['outcome']} "
              f"amd={r['amd_status']} agent={r['agent_id']} ended={bool(r['ended_at'])} "
              f"disp={bool(r['dispositioned_at'])} code={r['code']} {r['cause_txt']}"
              for r in rows]
    return "\n".join(lines)


async def settle(database_url: str, campaign_id: int, n: int, within: float) -> list[dict[str, Any]]:
    """Wait until the campaign has ``n`` attempts, all ended and dispositioned."""
    async def done() -> bool:
        rows = await attempts(database_url, campaign_id)
        return len(rows) >= n and all(r["ended_at"] and r["dispositioned_at"] for r in rows)

    try:
        await wait_for(done, within)
    except TimeoutError:
        raise AssertionError("campaign not settled:\n" + await describe(database_url, campaign_id)) from None
    return await attempts(database_url, campaign_id)


async def ari(pbx: PbxSim, method: str, path: str, **params: str) -> Any:
    """A plain ARI REST request to the PBX (as a witness, or to set the scene)."""
    headers = {"Authorization": aiohttp.encode_basic_auth(pbx.user, pbx.password)}
    async with aiohttp.ClientSession(headers=headers) as s, s.request(method, pbx.ari_url + path,
                                                                      params=params) as r:
        assert r.status < 300, (method, path, r.status, await r.text())
        return await r.json(content_type=None)


async def bridges(pbx: PbxSim) -> list[dict[str, Any]]:
    """Every bridge the PBX has (``GET /bridges``)."""
    found: list[dict[str, Any]] = await ari(pbx, "GET", "/bridges")
    return found


async def attempt_event_kinds(database_url: str, campaign_id: int) -> dict[str, list[str]]:
    """Each attempt's history (attempt_events kinds, in order), by attempt id."""
    async with connect(database_url) as conn:
        rows = await fetch_all(
            conn, "SELECT e.attempt_id, e.kind FROM attempt_events e JOIN attempts a"
                  " ON a.id = e.attempt_id WHERE a.campaign_id = %s ORDER BY e.id", (campaign_id,))
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(str(r["attempt_id"]), []).append(r["kind"])
    return out
