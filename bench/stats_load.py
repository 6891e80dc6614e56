"""The supervisors' dashboard under load: `GET /api/v1/stats` hammered by wrk while a
power campaign dials, with the figures cache off (every request computes them) and on
(`FiguresCache`, 1 s), in one run.

Everything is real and on loopback: a fresh PostgreSQL database, pbxsim (random
called-party profile, sped up), the service (`Runtime`, in a child process of its own),
simulated agents (`orchestrator simulate-agents`, another child) and wrk with a
supervisor's token. Phases of ``--seconds`` each, after a warm-up, for the cache off
then on:

1. no load: the dialing rate at rest;
2. wrk flat out on /api/v1/stats (as many requests as the service answers);
3. wrk paced at ``--paced-rate`` requests/s in all (screens refreshing on a timer:
   a connection waits between its requests; fewer when answers are slow);

and a last idle phase. The dialing rate is customer originates per second, from the service's own
``dialer_originates_total`` (read from /metrics before and after each phase); the
service's CPU share comes from /proc. Each load phase is compared with the mean of the
idle phases before and after it (the campaign drifts as its contacts are used up, and
the machine is shared).

The cache is switched between phases through the service child's stdin: the child is
this file with ``--serve`` (the runtime, its web app built with `build_app` and kept so
its `FiguresCache.ttl` can be set).

Usage: .venv/bin/python -m bench.stats_load [--agents 30] [--seconds 15]
       [--connections 16] [--paced-rate 100] [--speed 10] [--contacts 10000]
Prints a markdown table (docs/benchmarks.md, "Dashboard statistics under load").
Needs wrk (apt-get install wrk) and PostgreSQL at ORCH_BENCH_ADMIN_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from orchestrator.ledger import agents as agents_ledger  # noqa: E402
from orchestrator.ledger import campaigns as campaigns_ledger  # noqa: E402
from orchestrator.ledger.importer import import_contacts  # noqa: E402
from orchestrator.ledger.migrate import migrate  # noqa: E402
from orchestrator.ledger.pool import connect  # noqa: E402
from tests.support.pbxsim import PbxSim, run_pbxsim  # noqa: E402

ADMIN_URL = os.environ.get("ORCH_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CAMPAIGN = "stats-bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[stats-bench] {msg}", file=sys.stderr, flush=True)


def _url(dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


# ------------------------------------------------------------------ the service child


def serve(ttl: float) -> int:
    """``--serve``: the service (ORCH_* from the environment), its figures cache TTL set
    from stdin lines ``ttl <seconds>`` (acknowledged on stdout); ``quit`` or EOF stops it."""
    import orchestrator.runtime as runtime
    from orchestrator.api.app import build_app
    from orchestrator.api.service import STATS_CACHE
    from orchestrator.config import Settings
    from orchestrator.logs import configure_logging

    configure_logging("WARNING")
    apps: list[Any] = []

    def build(*args: Any, **kw: Any) -> Any:
        app = build_app(*args, stats_cache_s=ttl, **kw)
        apps.append(app)
        return app

    runtime.build_app = build  # type: ignore[assignment]

    async def main() -> None:
        stop = asyncio.Event()
        rt = runtime.Runtime(Settings())

        def started(rt: runtime.Runtime) -> None:
            print(f"listening on http://127.0.0.1:{rt.http_port} pid={os.getpid()}", flush=True)

        async def commands() -> None:
            while True:
                line = await asyncio.to_thread(sys.stdin.readline)
                cmd, _, arg = line.strip().partition(" ")
                if not line or cmd == "quit":
                    stop.set()
                    return
                if cmd == "ttl" and apps:
                    apps[0][STATS_CACHE].ttl = float(arg)
                    print(f"ttl {float(arg)}", flush=True)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(commands())
            await rt.run(stop, on_started=started)

    asyncio.run(main())
    return 0


class ServiceChild:
    """The ``--serve`` child: started, told the TTL, stopped."""

    def __init__(self, proc: asyncio.subprocess.Process, api: str) -> None:
        self.proc = proc
        self.api = api

    @classmethod
    async def start(cls, env: dict[str, str], log_path: Path) -> ServiceChild:
        with open(log_path, "wb") as errors:  # noqa: ASYNC230 - handed to the child
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.stats_load", "--serve", cwd=str(REPO), env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if not line.startswith("listening on "):
            raise RuntimeError(f"service did not start: {line!r} (see {log_path})")
        return cls(proc, line.split()[2])

    async def set_ttl(self, ttl: float) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"ttl {ttl}\n".encode())
        await self.proc.stdin.drain()
        ack = (await asyncio.wait_for(self.proc.stdout.readline(), 10)).decode().strip()
        assert ack == f"ttl {float(ttl)}", ack

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    async def stop(self) -> None:
        if self.proc.returncode is not None:
            return
        assert self.proc.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.proc.stdin.write(b"quit\n")
            await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# ---------------------------------------------------------------------- measuring


_ORIGINATES = re.compile(r'^dialer_originates_total\{[^}]*leg="customer"[^}]*\} ([0-9.e+]+)$', re.M)


async def originates(http: aiohttp.ClientSession, api: str) -> float:
    async with http.get(api + "/metrics") as r:
        text = await r.text()
    return sum(float(v) for v in _ORIGINATES.findall(text))


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int
    """Answers other than 2xx/3xx, plus socket errors and timeouts."""


def parse_wrk(out: str) -> Load:
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        bad += sum(int(g) for g in errors.groups())
    return Load(rps, _ms(pct["50"]), _ms(pct["99"]), requests, bad)


async def run_wrk(url: str, token: str, seconds: float, connections: int, threads: int,
                  script: Path | None = None) -> Load:
    paced = ["-s", str(script)] if script is not None else []
    proc = await asyncio.create_subprocess_exec(
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
        "--latency", *paced, "-H", f"Authorization: Bearer {token}", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {err.decode()}")
    try:
        return parse_wrk(out.decode())
    except (AttributeError, KeyError, AssertionError):
        raise RuntimeError(f"cannot read wrk's report:\n{out.decode()}\n{err.decode()}") from None


@dataclass
class Phase:
    name: str
    cache_s: float
    seconds: float
    originates_per_s: float
    service_cpu: float
    """Share of one core the service used."""
    load: Load | None


def pacing_script(tmp: Path, rate: float, connections: int) -> Path:
    """A wrk script that waits between a connection's requests: ``rate`` requests/s in
    all at most (fewer when answers are slow), like screens refreshing on a timer."""
    path = tmp / "paced.lua"
    path.write_text(f"function delay()\n  return {connections * 1000 / rate:.0f}\nend\n")
    return path


async def phase(name: str, svc: ServiceChild, http: aiohttp.ClientSession, token: str,
                args: argparse.Namespace, *, cache_s: float, load: bool,
                script: Path | None = None) -> Phase:
    await svc.set_ttl(cache_s)
    before, cpu0, t0 = await originates(http, svc.api), svc.cpu_seconds(), time.monotonic()
    result = None
    if load:
        result = await run_wrk(svc.api + "/api/v1/stats", token, args.seconds, args.connections,
                               args.threads, script)
    else:
        await asyncio.sleep(args.seconds)
    after, cpu1, t1 = await originates(http, svc.api), svc.cpu_seconds(), time.monotonic()
    p = Phase(name, cache_s, t1 - t0, (after - before) / (t1 - t0), (cpu1 - cpu0) / (t1 - t0), result)
    log(f"{name}: {p.originates_per_s:.2f} originates/s, service CPU {100 * p.service_cpu:.0f} %"
        + (f", {result.rps:.0f} req/s p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms"
           if result else ""))
    return p


# ------------------------------------------------------------------------ the scene


def contacts_csv(path: Path, count: int, rng: random.Random) -> None:
    """``count`` contacts with valid French mobile numbers (pbxsim's random profile
    decides each call's fate, not the number)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "first_name", "phone1", "phone1_description", "timezone"])
        for i in rng.sample(range(3_000_000), count):
            # +33 6 0..., a valid mobile range (tests/e2e/support.py's numbers)
            w.writerow([f"b{i}", f"Contact {i}", f"+336{i:07d}{i % 10}", "Mobile", "Europe/Paris"])


async def scene(url: str, args: argparse.Namespace, tmp: Path) -> str:
    """The campaign (power, running), its contacts, a team; a supervisor's token."""
    async with connect(url) as conn:
        await agents_ledger.create_team(conn, "bench-team")
        await campaigns_ledger.create_campaign(
            conn, CAMPAIGN, teams=["bench-team"], mode="power",
            power_lines_per_agent=args.lines_per_agent, window_start="00:00", window_end="23:59",
            wrapup_seconds=30, silent_call_message="sound:dialer/silent-call")
        await campaigns_ledger.start_campaign(conn, CAMPAIGN)
        _, token = await agents_ledger.create_agent(conn, "bench-sup", display_name="Bench supervisor",
                                                    role="supervisor")
    path = tmp / "contacts.csv"
    contacts_csv(path, args.contacts, random.Random(42))
    report = await asyncio.to_thread(import_contacts, url, path, CAMPAIGN)
    assert report.contacts_imported == args.contacts, report
    return token


def service_env(url: str, pbx: PbxSim, speed: float) -> dict[str, str]:
    return dict(
        os.environ, ORCH_DATABASE_URL=url, ORCH_ARI_URL=pbx.ari_url, ORCH_ARI_USER=pbx.user,
        ORCH_ARI_PASSWORD=pbx.password, ORCH_AMI_HOST=pbx.ami_host, ORCH_AMI_PORT=str(pbx.ami_port),
        ORCH_AMI_USER=pbx.user, ORCH_AMI_SECRET=pbx.password, ORCH_HTTP_HOST="127.0.0.1",
        ORCH_HTTP_PORT="0", ORCH_INSTANCE_ID="stats-bench", ORCH_TIME_SCALE=str(speed),
        ORCH_LOG_LEVEL="WARNING")


async def bench(args: argparse.Namespace) -> list[Phase]:
    dbname = f"dialer_bench_stats_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = _url(dbname)
    tmp = Path(tempfile.mkdtemp(prefix="stats-bench-"))
    phases: list[Phase] = []
    try:
        await asyncio.to_thread(migrate, url)
        token = await scene(url, args, tmp)
        extra = ["--answer-rate", "0.3"]
        async with run_pbxsim(speed=args.speed, seed=7, profile="random", call_log=False,
                              password=uuid.uuid4().hex, extra_args=extra) as pbx:
            env = service_env(url, pbx, args.speed)
            svc = await ServiceChild.start(env, tmp / "service.log")
            agents = None
            try:
                log(f"service at {svc.api}; {args.agents} simulated agents log in")
                # Short calls: the dialing rate is set by the dialer, not by busy agents.
                talk = f"{10 / args.speed:.2f}-{30 / args.speed:.2f}"
                wrap = f"{2 / args.speed:.2f}-{5 / args.speed:.2f}"
                with open(tmp / "agents.log", "wb") as agents_log:  # noqa: ASYNC230
                    agents = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "orchestrator.cli", "simulate-agents", str(args.agents),
                        "--campaign", CAMPAIGN, "--api", svc.api, "--talk", talk, "--wrap", wrap,
                        "--seed", "1", cwd=str(REPO), env=env, stdout=asyncio.subprocess.DEVNULL,
                        stderr=agents_log, start_new_session=True)
                async with aiohttp.ClientSession() as http:
                    await asyncio.sleep(args.warmup)
                    if await originates(http, svc.api) == 0:
                        raise RuntimeError(f"nothing dialed after the warm-up (see {tmp})")
                    paced = (pacing_script(tmp, args.paced_rate, args.connections)
                             if args.paced_rate > 0 else None)
                    for cache_s in (0.0, args.cache_s):
                        label = "cache off" if cache_s == 0 else f"cache {cache_s:g} s"
                        phases.append(await phase(f"{label}, idle", svc, http, token, args,
                                                  cache_s=cache_s, load=False))
                        phases.append(await phase(f"{label}, wrk flat out", svc, http, token, args,
                                                  cache_s=cache_s, load=True))
                        if paced is not None:
                            phases.append(await phase(
                                f"{label}, wrk paced at {args.paced_rate:g}/s", svc, http, token,
                                args, cache_s=cache_s, load=True, script=paced))
                    phases.append(await phase("idle", svc, http, token, args, cache_s=args.cache_s,
                                              load=False))
            finally:
                if agents is not None and agents.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(agents.pid, signal.SIGTERM)
                    try:
                        await asyncio.wait_for(agents.wait(), 15)
                    except TimeoutError:
                        os.killpg(agents.pid, signal.SIGKILL)
                        await agents.wait()
                await svc.stop()
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    shutil.rmtree(tmp, ignore_errors=True)  # the logs are kept when the run failed
    return phases


def report(phases: list[Phase], args: argparse.Namespace) -> str:
    lines = [
        f"{args.agents} simulated agents on a power campaign ({args.lines_per_agent:g} lines per "
        f"available agent), pbxsim x{args.speed:g} (random profile, answer rate 0.3), "
        f"{args.contacts} contacts; wrk -t{args.threads} -c{args.connections} for "
        f"{args.seconds:g} s per phase on GET /api/v1/stats with a supervisor's token; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {args.load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after "
        "(the machine is shared).",
        "",
        "| figures cache | load | req/s | p50 ms | p99 ms | errors | dialing at rest* (orig/s) "
        "| dialing under load (orig/s) | change | service CPU at rest / under load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, p in enumerate(phases):
        if p.load is None:
            continue
        # At rest: the mean of the idle phases on either side of this one.
        before = next(q for q in reversed(phases[:i]) if q.load is None)
        after = next(q for q in phases[i:] if q.load is None)
        rest = (before.originates_per_s + after.originates_per_s) / 2
        rest_cpu = (before.service_cpu + after.service_cpu) / 2
        change = (p.originates_per_s / rest - 1) if rest else 0.0
        cache = "off (every request computes)" if p.cache_s == 0 else f"{p.cache_s:g} s, single flight"
        load = p.name.split(", ", 1)[1].removeprefix("wrk ")
        lines.append(
            f"| {cache} | {load} | {p.load.rps:.0f} | {p.load.p50_ms:.1f} | {p.load.p99_ms:.1f} "
            f"| {p.load.bad} | {rest:.2f} | {p.originates_per_s:.2f} "
            f"| {100 * change:+.0f} % | {100 * rest_cpu:.0f} % / {100 * p.service_cpu:.0f} % |")
    lines += ["", "*at rest: the mean of the idle phases on either side of the load phase."]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--agents", type=int, default=30)
    p.add_argument("--lines-per-agent", type=float, default=3.0)
    p.add_argument("--contacts", type=int, default=10000)
    p.add_argument("--speed", type=float, default=10.0, help="pbxsim and service time scale")
    p.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--cache-s", type=float, default=1.0, help="figures cache TTL of the 'after' phases")
    p.add_argument("--paced-rate", type=float, default=100.0,
                   help="also load at most this many requests/s in all (0: flat out only)")
    args = p.parse_args()
    if args.serve:
        return serve(0.0)
    args.load_before = os.getloadavg()[0]
    phases = asyncio.run(bench(args))
    print(report(phases, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
