"""Ledger throughput: `python bench/ledger_bench.py [--contacts N] [--instances K] [--batch B]`.

K orchestrator "instances" (one asyncio task and one connection each) share one campaign
in a fresh database. Each loops: claim_targets(limit=B) -> for every target
write_ahead_attempt -> mark_originated -> end_attempt(busy) (automatic disposition), until
nothing is left. Reports attempts/s, latency percentiles of the claim and of the write-ahead
(the one transaction on the dial path), and checks that no target was dialed twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.ledger import attempts, campaigns, claims  # noqa: E402
from orchestrator.ledger.migrate import migrate  # noqa: E402
from orchestrator.ledger.pool import connect  # noqa: E402

ADMIN_URL = os.environ.get("ORCH_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)


def _url(dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] * 1000


async def run(url: str, n: int, instances: int, batch: int) -> None:
    async with connect(url) as conn:
        c = await campaigns.create_campaign(conn, "Bench", mode="predictive", cadence={"busy": 3600})
        await campaigns.start_campaign(conn, c.id)
        await conn.execute(
            "INSERT INTO contacts (campaign_id, external_id, time_zone)"
            " SELECT %s, 'c' || g, 'UTC' FROM generate_series(1, %s) g", (c.id, n))
        await conn.execute(
            "INSERT INTO targets (contact_id, campaign_id, position, description, e164)"
            " SELECT id, campaign_id, 1, 'Mobile', '+4420' || lpad(id::text, 8, '0') FROM contacts")
        await conn.execute("ANALYZE")
        policy = await campaigns.load_dialing_policy(conn, c)

    claim_lat: list[float] = []
    wa_lat: list[float] = []
    refusals: dict[str, int] = {}

    async def instance(owner: str) -> int:
        done = 0
        async with connect(url) as conn:
            while True:
                t0 = time.perf_counter()
                res = await claims.claim_targets(conn, c.id, owner=owner, limit=batch, now=NOW, policy=policy)
                claim_lat.append(time.perf_counter() - t0)
                if not res.claimed:
                    return done
                for t in res.claimed:
                    t1 = time.perf_counter()
                    ticket = await claims.write_ahead_attempt(
                        conn, t.target_id, owner=owner, attempt_id=uuid.uuid4(), now=NOW, campaign=c, policy=policy)
                    wa_lat.append(time.perf_counter() - t1)
                    if isinstance(ticket, claims.AttemptRefusal):
                        refusals[ticket.reason.value] = refusals.get(ticket.reason.value, 0) + 1
                        continue
                    await attempts.mark_originated(conn, ticket.attempt_id, at=NOW)
                    await attempts.end_attempt(conn, ticket.attempt_id, outcome="busy", at=NOW)
                    done += 1

    t0 = time.perf_counter()
    per = await asyncio.gather(*(instance(f"inst-{i}") for i in range(instances)))
    elapsed = time.perf_counter() - t0
    async with connect(url) as conn:
        cur = await conn.execute("SELECT count(*), count(DISTINCT target_id) FROM attempts")
        total, distinct = await cur.fetchone()  # type: ignore[misc]
    assert total == distinct == n, (total, distinct, n)
    print(f"contacts {n}, instances {instances}, batch {batch}: {n / elapsed:.0f} attempts/s"
          f" ({elapsed:.2f} s; per instance {per}; refusals {refusals or 'none'}; no target dialed twice)")
    print(f"  claim       p50 {pct(claim_lat, .5):6.1f} ms  p95 {pct(claim_lat, .95):6.1f} ms  ({len(claim_lat)} calls)")
    print(f"  write-ahead p50 {pct(wa_lat, .5):6.1f} ms  p95 {pct(wa_lat, .95):6.1f} ms"
          f"  mean {statistics.fmean(wa_lat) * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=2000)
    ap.add_argument("--instances", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--batch", type=int, default=10)
    args = ap.parse_args()
    for k in args.instances:
        name = f"dialer_bench_ledger_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            migrate(_url(name))
            asyncio.run(run(_url(name), args.contacts, k, args.batch))
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
