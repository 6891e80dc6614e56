"""FastAGI `screen-pop` under load: requests/s and latency on loopback.

`make bench-agi` / `python bench/agi_bench.py [--contacts 100000] [--seconds 8]`

A fresh database gets N contacts (one target each, valid London numbers), one ended
attempt for half of them and 2,000 open callbacks, seeded with generate_series. The
service's FastAGI server (orchestrator/agi with the real dialplan hooks and a pool of
10 connections, as `orchestrator run` builds it) runs in this process; the clients run
in a child process (so client and server do not share an event loop), each one playing
Asterisk's part with pbxsim's FastAGI client (pbxsim/agi.py: the recorded environment,
the replies to GET FULL VARIABLE / SET VARIABLE, the server closing): one request after
the other, a new connection each, as Asterisk opens one per AGI(), the number passed as
asterisk-conf's [dialer-screen-pop] passes it. 90 % of the callers are known contacts
(6 SET VARIABLEs), 10 % unknown numbers (2).

Measured per concurrency level (1, 10, 50 clients): requests/s, latency p50/p99 from
connect to the server's close, failures, and the server process's CPU share. A baseline
row runs a script that sets one variable without touching the database (the FastAGI
path alone). Prints a markdown table; `--plot FILE.png` draws latency vs concurrency
(needs matplotlib: pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from orchestrator.agi import AgiSession, FastAgiServer  # noqa: E402
from orchestrator.dialer.dialplan_hooks import dialplan_hooks  # noqa: E402
from orchestrator.ledger.migrate import migrate  # noqa: E402
from orchestrator.ledger.pool import open_pool  # noqa: E402
from orchestrator.logs import configure_logging  # noqa: E402
from pbxsim.agi import AgiChannel, run_agi  # noqa: E402

ADMIN_URL = os.environ.get("ORCH_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
KNOWN_SHARE = 0.9


def _url(dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def known_number(n: int) -> str:
    return f"+44207{n:07d}"  # 020 7xxx xxxx: valid London numbers


def unknown_number(n: int) -> str:
    return f"+44208{n:07d}"


def seed(url: str, contacts: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        cid = conn.execute("INSERT INTO campaigns (name, mode) VALUES ('Bench', 'progressive') RETURNING id"
                           ).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO contacts (campaign_id, external_id, first_name, last_name, time_zone)"
                     " SELECT %s, 'c' || g, 'First' || g, 'Last' || g, 'Europe/London'"
                     " FROM generate_series(1, %s) g", (cid, contacts))
        conn.execute("INSERT INTO targets (contact_id, campaign_id, position, description, e164)"
                     " SELECT id, campaign_id, 1, 'Mobile', '+44207' || lpad(id::text, 7, '0') FROM contacts")
        conn.execute("INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164, mode,"
                     " owner, state, outcome, created_at, ended_at)"
                     " SELECT gen_random_uuid(), t.campaign_id, t.contact_id, t.id, 1, t.e164, 'progressive',"
                     " 'bench', 'ended', (ARRAY['busy', 'no_answer', 'human'])[1 + t.id % 3],"
                     " now() - interval '1 day', now() - interval '1 day'"
                     " FROM targets t WHERE t.id % 2 = 0")
        conn.execute("INSERT INTO callbacks (kind, campaign_id, contact_id, target_id, e164, window_start,"
                     " window_end, time_zone)"
                     " SELECT 'scheduled', t.campaign_id, t.contact_id, t.id, t.e164, now() + interval '1 day',"
                     " now() + interval '1 day 1 hour', 'Europe/London'"
                     " FROM targets t WHERE t.id % 50 = 1")
        conn.execute("ANALYZE")


# ---------------------------------------------------------------- the clients (child process)


async def client_run(port: int, concurrency: int, seconds: float, script: str, contacts: int) -> dict[str, Any]:
    rng = random.Random(concurrency)
    latencies: list[float] = []
    failures = 0
    stop_at = time.monotonic() + seconds

    async def one_client() -> None:
        nonlocal failures
        while time.monotonic() < stop_at:
            n = rng.randint(1, contacts)
            number = known_number(n) if rng.random() < KNOWN_SHARE else unknown_number(n)
            chan = AgiChannel(name="PJSIP/trunk-00000001", uniqueid=f"{uuid.uuid4()}", type="PJSIP",
                              callerid=number, context="from-trunk", extension="s", priority=2)
            started = time.perf_counter()
            # as asterisk-conf's [dialer-screen-pop]: AGI(${DIALER_AGI}/screen-pop,${CALLERID(num)})
            out = await run_agi(f"agi://127.0.0.1:{port}/{script}", [number], chan)
            latencies.append(time.perf_counter() - started)
            if out.status != "SUCCESS" or not out.set_variables:
                failures += 1

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return {"latencies": latencies, "failures": failures}


def client_main(args: argparse.Namespace) -> None:
    res = asyncio.run(client_run(args.port, args.concurrency, args.seconds, args.script, args.contacts))
    print(json.dumps(res))


# ---------------------------------------------------------------- the server (this process)


async def bench_noop(session: AgiSession) -> None:
    """The FastAGI path alone: one SET VARIABLE, no database."""
    await session.set_variable("DIALER_SCREEN_POP", "unknown")


async def phase(port: int, concurrency: int, seconds: float, script: str, contacts: int) -> dict[str, Any]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", "--port", str(port), "--concurrency", str(concurrency),
        "--seconds", str(seconds), "--script", script, "--contacts", str(contacts),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    res = json.loads(out)
    lat = sorted(res["latencies"])
    n = len(lat)
    return {
        "script": script, "concurrency": concurrency, "requests": n, "failures": res["failures"],
        "rps": n / seconds, "p50": statistics.median(lat) * 1000 if lat else 0.0,
        "p99": lat[min(n - 1, int(0.99 * n))] * 1000 if lat else 0.0,
        "server_cpu": cpu / wall,
    }


async def server_run(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    pool = await open_pool(url, min_size=2, max_size=10)
    handlers = {**dialplan_hooks(pool), "bench-noop": bench_noop}
    server = FastAgiServer(handlers, port=0, timeout_s=5.0)
    await server.start()
    serving = asyncio.create_task(server.serve())
    rows = []
    try:
        await phase(server.port, 10, 1.0, "screen-pop", args.contacts)  # warm-up: caches, pool
        for c in (1, 10, 50):
            rows.append(await phase(server.port, c, args.seconds, "screen-pop", args.contacts))
        rows.append(await phase(server.port, 50, args.seconds, "bench-noop", args.contacts))
    finally:
        await server.close()
        await serving
        await pool.close()
    return rows


def table(rows: list[dict[str, Any]], contacts: int) -> str:
    lines = [
        f"Loopback, {contacts:,} contacts; clients in a child process (pbxsim's FastAGI client), "
        "server and PostgreSQL on the same 2 cores.",
        "",
        "| script | clients | requests | req/s | p50 ms | p99 ms | failures | server CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        name = "screen-pop" if r["script"] == "screen-pop" else "baseline: 1 SET VARIABLE, no database"
        lines.append(f"| {name} | {r['concurrency']} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50']:.1f} "
                     f"| {r['p99']:.1f} | {r['failures']} | {r['server_cpu'] * 100:.0f} % |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')", file=sys.stderr)
        return
    pop = [r for r in rows if r["script"] == "screen-pop"]
    fig, ax1 = plt.subplots(figsize=(6, 3.6))
    xs = [r["concurrency"] for r in pop]
    ax1.plot(xs, [r["p50"] for r in pop], "o-", label="p50 latency")
    ax1.plot(xs, [r["p99"] for r in pop], "s-", label="p99 latency")
    ax1.set_xlabel("concurrent clients")
    ax1.set_ylabel("ms")
    ax1.set_xscale("log")
    ax1.set_xticks(xs, [str(x) for x in xs])
    ax2 = ax1.twinx()
    ax2.bar(xs, [r["rps"] for r in pop], width=[x * 0.3 for x in xs], alpha=0.25, color="grey",
            label="requests/s")
    ax2.set_ylabel("requests/s")
    lines = ax1.get_legend_handles_labels()
    bars = ax2.get_legend_handles_labels()
    ax1.legend(lines[0] + bars[0], lines[1] + bars[1], loc="upper left", fontsize=8)
    ax1.set_title("FastAGI screen-pop on loopback")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--plot", default=None, help="write a PNG of latency and req/s vs clients")
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--script", default="screen-pop", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        client_main(args)
        return
    name = f"dialer_agi_bench_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = _url(name)
        migrate(url)
        t0 = time.perf_counter()
        seed(url, args.contacts)
        print(f"seeded {args.contacts:,} contacts in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        # the service logs one line per request at INFO: kept, written to nowhere
        with open(os.devnull, "w") as devnull:
            configure_logging("INFO", stream=devnull)
            rows = asyncio.run(server_run(url, args))
        configure_logging("WARNING")
        print(table(rows, args.contacts))
        if args.plot:
            plot(rows, args.plot)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
