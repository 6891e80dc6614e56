"""The fault suite's harness: a predictive/power campaign run by an `orchestrator run`
process against a pbxsim process on fixed loopback ports (so it can be killed and started
again where the service expects it), with simulated agents, a witness of the PBX and the
ledger, and the checks every fault must pass afterwards:

* the campaign goes on by itself (new attempts dialed after the fault);
* no number is dialed twice (the campaign's cadence is far longer than a test);
* every call the PBX placed has its attempt, written before the dial;
* no attempt stays live with no channel in the PBX for longer than the reconcile period
  (counted while the service, the database and the PBX are all up);
* in the end every attempt is ended and dispositioned (nothing lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from orchestrator.commands.simulate_agents import SimStats, SimulatedAgent
from orchestrator.ledger.pool import connect, fetch_all
from tests.conftest import ADMIN_URL
from tests.e2e.support import (
    SPEED,
    ServiceProcess,
    attempts,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    service_settings,
    start_service_process,
    targets,
    wait_for,
)
from tests.support.pbxsim import PbxSim, _args, _drain, _sim_from_ready

RECONCILE_PERIOD_S = 2.0
"""The service's reconcile period in these tests (ORCH_RECONCILE_PERIOD_S)."""
GHOST_SLACK_S = 1.5
"""What a witness polling every 0.2 s may add to a ghost's measured life."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pbx:
    """pbxsim on ports fixed for the whole test: killed and started again in place."""

    def __init__(self) -> None:
        self.ports = (free_port(), free_port(), free_port())
        self.log_path = str(Path(tempfile.mkdtemp(prefix="pbxsim-faults-")) / "calls.jsonl")
        self.sim: PbxSim | None = None
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> PbxSim:
        args = _args(SPEED, 7, "digits", self.log_path, "dialer", "dialer-secret", None,
                     ports=self.ports)
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        self.sim = _sim_from_ready(line.decode(), "dialer", "dialer-secret", self.log_path, proc)
        self._drain = asyncio.get_running_loop().create_task(
            _drain(proc.stderr, self.sim.stderr_lines))
        return self.sim

    async def kill(self) -> None:
        assert self.sim is not None
        with contextlib.suppress(ProcessLookupError):
            self.sim.process.send_signal(signal.SIGKILL)
        await self.sim.process.wait()
        if self._drain is not None:
            self._drain.cancel()

    async def stop(self) -> None:
        if self.sim is None or self.sim.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.sim.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.sim.process.wait(), 5)
        except TimeoutError:
            await self.kill()
        if self._drain is not None:
            self._drain.cancel()


@dataclass
class Witness:
    """Polls the PBX and the ledger: every customer call it saw, and how long each live
    attempt went without a channel while everything was up."""

    pbx: Pbx
    database_url: str
    campaign_id: int
    seen_calls: dict[str, str] = field(default_factory=dict)
    """Customer channel id (the attempt id) -> the number it dialed."""
    ghost_since: dict[str, float] = field(default_factory=dict)
    worst_ghost_s: float = 0.0
    worst_ghost: str = ""
    paused: int = 0
    """Faults in progress: ghosts are not timed while anything is down."""
    polls: int = 0

    def pause(self) -> None:
        self.paused += 1
        self.ghost_since.clear()

    def resume(self) -> None:
        self.paused -= 1
        self.ghost_since.clear()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                await self._poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    async def _poll(self) -> None:
        sim = self.pbx.sim
        if sim is None:
            return
        calls = await sim.calls()
        if self.paused:
            self._note_calls(calls)
            return
        async with connect(self.database_url) as conn:
            live = await fetch_all(
                conn, "SELECT id FROM attempts WHERE campaign_id = %s AND ended_at IS NULL"
                      " AND originated_at IS NOT NULL", (self.campaign_id,))
        calls = await sim.calls()  # after the ledger: a call placed meanwhile is in it
        self._note_calls(calls)
        if self.paused:
            return
        self.polls += 1
        channels = {str(c["id"]).split(";")[0] for c in calls}
        now = time.monotonic()
        ghosts = {str(r["id"]) for r in live} - channels
        for aid in list(self.ghost_since):
            if aid not in ghosts:
                del self.ghost_since[aid]
        for aid in ghosts:
            since = self.ghost_since.setdefault(aid, now)
            if now - since > self.worst_ghost_s:
                self.worst_ghost_s, self.worst_ghost = now - since, aid

    def _note_calls(self, calls: list[dict[str, Any]]) -> None:
        for c in calls:
            if c.get("kind") == "customer":
                self.seen_calls.setdefault(str(c["id"]).split(";")[0], str(c["number"]))


@dataclass
class FaultRun:
    """One campaign under faults; `check` at the end."""

    database_url: str
    tmp: Path
    name: str
    numbers: int = 40
    agents: int = 3
    pbx: Pbx = field(default_factory=Pbx)
    faults: list[str] = field(default_factory=list)
    svc: ServiceProcess | None = None
    services: int = 0
    campaign_id: int = 0
    witness: Witness | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    stats: SimStats = field(default_factory=SimStats)
    settings: Any = None

    @property
    def db_name(self) -> str:
        return str(conninfo_to_dict(self.database_url)["dbname"])

    async def __aenter__(self) -> FaultRun:
        sim = await self.pbx.start()
        campaign = await make_campaign(self.database_url, self.name, mode="power",
                                       power_lines_per_agent=2)
        self.campaign_id = campaign.id
        # Last digits 0-4 answer, 5 busy, 6 congestion, 7 no answer, 8 machine, 9 hangs up.
        nums = [number(500 + i, i % 10) for i in range(self.numbers)]
        await asyncio.to_thread(import_numbers, self.database_url, self.name, nums, self.tmp)
        team = await make_agents(self.database_url, self.agents)
        port = free_port()
        self.settings = service_settings(
            self.database_url, sim, instance_id=f"{self.name}-1", http_port=port,
            reconcile_period_s=RECONCILE_PERIOD_S)
        await self.start_service()
        api = f"http://127.0.0.1:{port}"
        self.witness = Witness(self.pbx, self.database_url, self.campaign_id)
        self._tasks.append(asyncio.create_task(self.witness.run(self._stop)))
        for a in team:
            agent = SimulatedAgent(api, a.id, a.token, self.name, a.endpoint, talk=(0.3, 0.8),
                                   wrap=(0.1, 0.3), codes=["Sale", "No answer"],
                                   rng=random.Random(a.id), stats=self.stats)
            self._tasks.append(asyncio.create_task(agent.run_forever(self._stop, retry_s=0.1)))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.allow_connections(True)
        if self.svc is not None and self.svc.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.svc.proc.send_signal(signal.SIGCONT)
            await self.svc.terminate()
        await self.pbx.stop()

    # ------------------------------------------------------------- faults

    async def start_service(self) -> None:
        self.services += 1
        self.svc = await start_service_process(self.settings,
                                               self.tmp / f"svc{self.services}.log")

    def fault(self, what: str) -> None:
        self.faults.append(what)

    async def attempts_count(self) -> int:
        return len(await attempts(self.database_url, self.campaign_id))

    async def progressed(self, beyond: int | None = None, by: int = 3, within: float = 30) -> int:
        """Wait until `by` more attempts were dialed than `beyond` (default: now): the
        campaign goes on by itself."""
        base = await self.attempts_count() if beyond is None else beyond

        async def more() -> bool:
            return await self.attempts_count() >= base + by

        try:
            await wait_for(more, within, interval=0.2)
        except TimeoutError:
            raise AssertionError(
                f"the campaign did not go on after {self.faults[-1:]}: {await self.state()}"
            ) from None
        return await self.attempts_count()

    async def admin(self, query: sql.Composable) -> None:
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as conn:
            await conn.execute(query)

    async def kill_db_connections(self) -> int:
        """pg_terminate_backend on every connection to the test's database (the service's
        pool, and nothing else of ours is connected between polls)."""
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()", (self.db_name,))
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def allow_connections(self, allow: bool) -> None:
        await self.admin(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(self.db_name), sql.SQL("true" if allow else "false")))

    # -------------------------------------------------------------- checks

    async def state(self) -> str:
        rows = await attempts(self.database_url, self.campaign_id)
        ts = await targets(self.database_url, self.campaign_id)
        open_rows = [r for r in rows if not (r["ended_at"] and r["dispositioned_at"])]
        lines = [f"{len(rows)} attempts, {len(open_rows)} not settled; targets never dialed: "
                 f"{[(t['id'], t['unavailable_reason'], t['lease_owner']) for t in ts if not t['attempts_made']]}"]
        never = {t["id"] for t in ts if not t["attempts_made"]}
        lines += [f"never dialed t={t['id']} available_from={t['available_from']} "
                  f"last_outcome={t['last_outcome']}" for t in ts if t["id"] in never]
        open_rows += [r for r in rows if r["target_id"] in never and r not in open_rows]
        lines += [f"{r['id']} t={r['target_id']} {r['state']} {r['outcome']} "
                  f"ended={bool(r['ended_at'])} disp={bool(r['dispositioned_at'])} "
                  f"{r['cause_txt']}" for r in open_rows[-20:]]
        return "\n".join(lines)

    async def settled(self) -> bool:
        rows = await attempts(self.database_url, self.campaign_id)
        ts = await targets(self.database_url, self.campaign_id)
        # A call refused before it left (originate while the ARI socket was down: outcome
        # not_dialed) gives its attempt back and waits the campaign's retry cadence (an
        # hour by default): that target is settled, not lost.
        refused = {r["target_id"] for r in rows if r["outcome"] == "not_dialed"}
        return (len(ts) == self.numbers
                and all(t["attempts_made"] >= 1 or t["id"] in refused for t in ts)
                and all(r["ended_at"] and r["dispositioned_at"] for r in rows))

    async def check(self, within: float = 60) -> dict[str, Any]:
        """Every target dialed, everything settled; the invariants of the module doc."""
        try:
            await wait_for(self.settled, within, interval=0.3)
        except TimeoutError:
            raise AssertionError(f"not settled after {self.faults}:\n{await self.state()}") from None
        w = self.witness
        assert w is not None
        rows = await attempts(self.database_url, self.campaign_id)
        logged = [r for r in self.pbx.sim.read_call_log() if r.get("kind") is None] \
            if self.pbx.sim else []
        calls = dict(w.seen_calls)
        for r in logged:
            calls.setdefault(str(r["channel_id"]), str(r["number"]))
        dialed = Counter(calls.values())
        assert dialed and max(dialed.values()) == 1, f"dialed twice: {dialed.most_common(3)}"
        ids = {str(r["id"]) for r in rows}
        assert set(calls) <= ids, f"PBX calls with no attempt: {sorted(set(calls) - ids)}"
        assert all(r["state"] == "ended" and r["dispositioned_at"] for r in rows)
        assert w.polls > 10, "the witness hardly ran"
        limit = RECONCILE_PERIOD_S + GHOST_SLACK_S
        assert w.worst_ghost_s <= limit, (
            f"attempt {w.worst_ghost} was live with no channel for {w.worst_ghost_s:.1f} s "
            f"(> {limit} s) after {self.faults}")
        per_target = Counter(r["target_id"] for r in rows)
        figures = {
            "faults": len(self.faults), "recovered": len(self.faults), "attempts": len(rows),
            "pbx_calls": len(calls), "dialed_twice": 0, "lost": 0,
            "refused_before_leaving": sum(1 for r in rows if r["outcome"] == "not_dialed"),
            "max_attempts_per_target": max(per_target.values()),
            "worst_ghost_s": round(w.worst_ghost_s, 2),
            "reconciled": sum(1 for r in rows if (r["cause_txt"] or "").startswith(
                ("reconciled", "adopted"))),
            "service_processes": self.services,
        }
        print(f"FAULTS {self.name}: {figures} {self.faults}")
        return figures


async def api_status(api: str, path: str, token: str) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as s, s.get(
            api + path, headers={"Authorization": f"Bearer {token}"}) as r:
        await r.read()
        return r.status, dict(r.headers)
