"""DNC numbers and numbers outside their calling window are never dialed: judged from
pbxsim's call log (what the PBX was really asked to dial), with the service running a
campaign that has agents ready and nothing else to do."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from orchestrator.commands.simulate_agents import SimStats, SimulatedAgent
from orchestrator.ledger import dnc as dnc_ledger
from tests.e2e.support import (
    ApiClient,
    attempts,
    customer_calls,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
    targets,
    wait_for,
)
from tests.support.pbxsim import PbxSim


def _zones(local_hours: range) -> list[str]:
    """Fixed-offset IANA zones where the local hour now is in ``local_hours``."""
    now = datetime.now(UTC)
    out = []
    for offset in range(-12, 15):
        if (now.hour + offset) % 24 in local_hours:
            # Etc/GMT-N is UTC+N (POSIX sign).
            out.append(f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT")
    return out


@pytest.mark.timeout(60)
async def test_dnc_and_out_of_window_numbers_are_never_dialed(database_url: str, pbx: PbxSim,
                                                             tmp_path: Path) -> None:
    inside = _zones(range(11, 18))
    outside = _zones(range(1, 6))
    assert inside and outside
    campaign = await make_campaign(database_url, "rules", mode="progressive",
                                   window_start="09:00", window_end="21:00")
    ok = [number(500 + i, i % 3) for i in range(3)]              # callable, answer
    dnc_global, dnc_campaign, dnc_late = number(510, 1), number(511, 1), number(512, 1)
    night = [number(520 + i, 1) for i in range(3)]               # outside their window
    all_numbers = ok + [dnc_global, dnc_campaign, dnc_late] + night
    zones = [inside[0]] * 6 + [outside[i % len(outside)] for i in range(3)]

    def setup() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            dnc_ledger.add_entry(conn, dnc_global, campaign_id=None, reason="asked")
            dnc_ledger.add_entry(conn, dnc_campaign, campaign_id=campaign.id)
        import_numbers(database_url, "rules", all_numbers, tmp_path, zones=zones)
        with psycopg.connect(database_url, autocommit=True) as conn:
            # Added behind the ledger's back (no target re-sync): the claim filter and the
            # attempts trigger must still keep it off the wire.
            conn.execute("INSERT INTO dnc_entries (e164, campaign_id, source) VALUES (%s, NULL, 'x')",
                         (dnc_late,))

    await asyncio.to_thread(setup)
    (agent,) = await make_agents(database_url, 1)
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        stop = asyncio.Event()
        sim = SimulatedAgent(api, agent.id, agent.token, "rules", agent.endpoint,
                             talk=(0.1, 0.2), wrap=(0.05, 0.1), codes=["Sale"],
                             rng=random.Random(3), stats=SimStats())
        task = asyncio.create_task(sim.run(stop))

        async def done() -> bool:
            rows = await attempts(database_url, campaign.id)
            return len(rows) >= 3 and all(r["dispositioned_at"] for r in rows)

        await wait_for(done, 30)
        # Keep the agent available a little longer: nothing else may be dialed.
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.wait_for(task, 10)

    dialed = sorted(c["number"] for c in customer_calls(pbx))
    assert dialed == sorted(n.lstrip("+") for n in ok)
    rows = await attempts(database_url, campaign.id)
    assert sorted(r["e164"] for r in rows) == sorted(ok)
    reasons = {t["e164"]: t["unavailable_reason"] for t in await targets(database_url, campaign.id)}
    assert reasons[dnc_global] == "DNC" and reasons[dnc_campaign] == "DNC"
    assert all(reasons[n] == "Outside calling window" for n in night)


@pytest.mark.timeout(60)
async def test_an_agent_cannot_make_the_dialer_ring_a_number(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """A security probe logged an agent in with a DNC number and a premium-rate number as
    its "phone" and the dialer rang them: no attempt, no DNC, window or number check. An
    agent's phone is the one an admin configured or one the allow-list admits."""
    await make_campaign(database_url, "probe", mode="progressive",
                        progressive_flavour="agent_first")
    await asyncio.to_thread(import_numbers, database_url, "probe", [number(990, 1)], tmp_path)
    (agent,) = await make_agents(database_url, 1)
    async with running_service(service_settings(database_url, pbx)) as rt, \
            ApiClient(f"http://127.0.0.1:{rt.http_port}", agent.token) as client:
        base = f"/api/v1/agents/{agent.id}/session"
        for phone in ("Local/+14155550199@dialer-out", "PJSIP/+19005550100@dialer-trunk",
                      "Local/s@dialer-amd", "Local/4930123456@dialer-testlines",
                      "PJSIP/agent1,30,U(x)", "Local/agent1@dialer-agents&PJSIP/9005550100"):
            status, body = await client.call("POST", base, {"campaign": "probe",
                                                            "endpoint": phone})
            assert status == 422 and body.get("field") == "endpoint", (phone, status, body)
        await asyncio.sleep(0.5)
    assert pbx.read_call_log() == [], "nothing may have been dialed"
