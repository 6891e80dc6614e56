"""The paths that failed on a real Asterisk 22 while every pbxsim test passed (issue 9),
end to end: pbxsim now refuses and hides what Asterisk refuses and hides (id prefixes,
the narrow subscription, shutdown refusals, the app-not-active drop), so each test here
fails without its fix.

Numbers pick their outcome by the last digit (tests/e2e/support.py): 0-4 answer, 5 busy,
6 congestion, 7 no answer, 8 machine, 9 answers then hangs up after 1 s.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.commands.simulate_agents import SimStats, SimulatedAgent
from orchestrator.ledger.pool import connect, fetch_all
from tests.e2e.support import (
    SPEED,
    ApiClient,
    attempt_event_kinds,
    attempts,
    customer_calls,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
    start_service_process,
    targets,
    wait_for,
)
from tests.support.pbxsim import PbxSim

DIGIT_OUTCOME = {0: "human", 1: "human", 2: "human", 3: "human", 4: "human",
                 5: "busy", 6: "congestion", 7: "no_answer", 9: "human"}
DIGIT_CAUSE = {5: 17, 6: 34, 7: 19}
#: the system wrap-up code settled automatically when no agent dispositions
AUTO_CODE = {5: "Busy", 6: "Congestion", 7: "No answer"}


async def _all_settled(database_url: str, campaign_id: int, n: int) -> bool:
    rows = await attempts(database_url, campaign_id)
    return len(rows) >= n and all(r["ended_at"] and r["dispositioned_at"] for r in rows)


def _sims(api: str, agents: list, campaign: str, stats: SimStats) -> list[SimulatedAgent]:
    return [SimulatedAgent(api, a.id, a.token, campaign, a.endpoint, talk=(0.2, 0.4),
                           wrap=(0.1, 0.2), codes=["Sale"], rng=random.Random(a.id),
                           stats=stats) for a in agents]


async def _work(database_url: str, pbx: PbxSim, tmp_path: Path, campaign_id: int, name: str,
                nums: list[str], agents: int) -> tuple[dict[str, dict[str, Any]], SimStats]:
    """Import ``nums``, let simulated agents work the campaign until every contact was
    attempted and settled; -> the attempts by number, the agents' counts."""
    await asyncio.to_thread(import_numbers, database_url, name, nums, tmp_path)
    staff = await make_agents(database_url, agents)
    stats = SimStats()
    async with running_service(service_settings(database_url, pbx)) as rt:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(s.run(stop))
                 for s in _sims(f"http://127.0.0.1:{rt.http_port}", staff, name, stats)]
        await wait_for(lambda: _all_settled(database_url, campaign_id, len(nums)), 60,
                       what=f"all {len(nums)} contacts attempted")
        stop.set()
        await asyncio.gather(*tasks)
    return {r["e164"]: r for r in await attempts(database_url, campaign_id)}, stats


@pytest.mark.timeout(90)
async def test_agent_first_with_per_call_phones_reaches_every_customer(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """Asterisk refused all 30 calls with 409: the agent leg "<attempt>:agent" made the
    customer's "<attempt>" a prefix of a live id (narrow surprise 31)."""
    campaign = await make_campaign(database_url, "af", mode="progressive",
                                   progressive_flavour="agent_first")
    nums = [number(700 + d, d) for d in range(10)]
    rows, _ = await _work(database_url, pbx, tmp_path, campaign.id, "af", nums, agents=2)
    assert len(rows) == 10
    for d, n in enumerate(nums):
        want = "human" if d in (8,) else DIGIT_OUTCOME[d]  # no AMD: a machine is an answer
        assert rows[n]["outcome"] == want, (d, rows[n]["outcome"], rows[n]["cause_txt"])
        if d in DIGIT_CAUSE:
            assert rows[n]["cause"] == DIGIT_CAUSE[d], (d, rows[n]["cause"], rows[n]["cause_txt"])
        if d in AUTO_CODE:
            assert rows[n]["code"] == AUTO_CODE[d], (d, rows[n]["code"])
    # Every customer was reached exactly once, and never refused.
    assert sorted(c["number"] for c in customer_calls(pbx)) == sorted(n.lstrip("+") for n in nums)
    assert not [r for r in rows.values() if r["outcome"] in ("failed", "not_dialed")]
    # The history reads in the order things happened: answered before bridged.
    kinds = await attempt_event_kinds(database_url, campaign.id)
    for r in rows.values():
        k = kinds[str(r["id"])]
        if "bridged" in k:
            assert k.index("answered") < k.index("bridged"), k


@pytest.mark.timeout(90)
async def test_amd_campaign_records_every_outcome_as_the_digit_says(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """With AMD the customer is originated into [dialer-amd] with no app: a narrowly
    subscribed app heard nothing of busy, congestion, no answer or a hang-up during AMD
    (all recorded no_answer after 50 s), and nothing after StasisEnd (every call ended on
    the 10 s fallback, a customer hanging up while bridged left the agent stuck)."""
    campaign = await make_campaign(database_url, "amd", mode="progressive",
                                   progressive_flavour="customer_first", amd_policy="hangup")
    nums = [number(800 + d, d) for d in range(10)]
    rows, stats = await _work(database_url, pbx, tmp_path, campaign.id, "amd", nums, agents=2)
    for d, n in enumerate(nums):
        r = rows[n]
        want = "machine" if d == 8 else DIGIT_OUTCOME[d]
        assert r["outcome"] == want, (d, r["outcome"], r["cause"], r["cause_txt"])
        if d in DIGIT_CAUSE:
            assert r["cause"] == DIGIT_CAUSE[d], (d, r["cause"], r["cause_txt"])
        if d in AUTO_CODE:
            assert r["code"] == AUTO_CODE[d], (d, r["code"])
        # The end was seen (ChannelDestroyed through the explicit subscription), not
        # guessed by a fallback timer: every attempt has the cause Asterisk gave.
        assert r["cause"] is not None, (d, r["cause_txt"])
    for d in (0, 1, 2, 3, 4):
        r = rows[nums[d]]
        assert r["amd_status"] == "HUMAN" and r["agent_id"] is not None and r["connected_at"]
    assert rows[nums[8]]["amd_status"] == "MACHINE" and rows[nums[8]]["connected_at"] is None
    assert rows[nums[8]]["code"] == "Answering machine detected"
    # 9 hangs up 1 s after answering, while AMD listens: a person, never connected.
    assert rows[nums[9]]["connected_at"] is None
    assert stats.calls == 5


@pytest.mark.timeout(90)
async def test_power_campaign_takes_causes_from_the_dial_status(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """Customer first, no AMD, over Local: busy and congestion end the app's ;1 half with
    cause 0 "Unknown" (surprise 1); the real cause is in the Dial status. They were stored
    as cause 0 and settled with no code of their own."""
    campaign = await make_campaign(database_url, "pwr", mode="power", power_lines_per_agent=2)
    digits = (0, 5, 6, 7)
    nums = [number(860 + d, d) for d in digits]
    rows, _ = await _work(database_url, pbx, tmp_path, campaign.id, "pwr", nums, agents=1)
    for d, n in zip(digits, nums, strict=True):
        r = rows[n]
        assert r["outcome"] == DIGIT_OUTCOME[d], (d, r["outcome"], r["cause_txt"])
        if d in DIGIT_CAUSE:
            assert r["cause"] == DIGIT_CAUSE[d], (d, r["cause"], r["cause_txt"])
            assert r["code"] == AUTO_CODE[d], (d, r["code"])
    assert rows[nums[0]]["code"] == "Sale" and rows[nums[0]]["connected_at"] is not None


@pytest.mark.timeout(90)
async def test_a_call_answered_while_the_service_is_down_counts_as_an_abandon(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """After a kill -9, a ringing call answered meanwhile is dropped by Asterisk ("Stasis app
    not active", cause 0, narrow surprise 33). Nothing proves it was not answered, so the
    reconciler counts it as the regulator would: abandoned, number locked, and says so."""
    campaign = await make_campaign(database_url, "down", mode="power",
                                   power_lines_per_agent=1)
    n = number(900, 1)
    await pbx.script(n.lstrip("+"), "answer", ring_seconds=20, talk_seconds=30)
    await asyncio.to_thread(import_numbers, database_url, "down", [n], tmp_path)
    (agent,) = await make_agents(database_url, 1)
    settings = service_settings(database_url, pbx)
    svc = await start_service_process(settings, tmp_path / "svc1.log")
    try:
        async with ApiClient(svc.api, agent.token) as client:
            base = f"/api/v1/agents/{agent.id}"
            await client.ok("POST", base + "/session", {"campaign": "down", "nailed_up": True})

            async def ringing() -> bool:
                rows = await attempts(database_url, campaign.id)
                return bool(rows) and rows[0]["state"] == "ringing"

            await wait_for(lambda: _ready_then(client, base), 10, what="agent available")
            await wait_for(ringing, 20, what="the customer ringing")
    finally:
        await svc.kill()
    # The customer answers 2 s later (20 sim s at speed 10) with no app to take the call.
    await asyncio.sleep(3.0)
    svc = await start_service_process(settings, tmp_path / "svc2.log")
    try:
        async def ended() -> bool:
            rows = await attempts(database_url, campaign.id)
            return bool(rows) and rows[0]["ended_at"] is not None

        await wait_for(ended, 20, what="the attempt reconciled")
    finally:
        await svc.terminate()
    (row,) = await attempts(database_url, campaign.id)
    assert row["outcome"] == "abandoned", (row["outcome"], row["cause_txt"])
    kinds = (await attempt_event_kinds(database_url, campaign.id))[str(row["id"])]
    assert "abandon_presumed" in kinds and "abandoned" in kinds
    async with connect(database_url) as conn:
        (lock,) = await fetch_all(conn, "SELECT abandon_locked_until FROM phone_numbers"
                                        " WHERE e164 = %s", (n,))
        (ev,) = await fetch_all(conn, "SELECT data FROM attempt_events WHERE attempt_id = %s"
                                      " AND kind = 'abandon_presumed'", (row["id"],))
    assert lock["abandon_locked_until"] > datetime.now(UTC) + timedelta(hours=71)
    assert "regulator" in ev["data"]["reason"]


async def _ready_then(client: ApiClient, base: str) -> bool:
    status, body = await client.call("POST", base + "/state", {"state": "available"})
    return status < 300 or "available" in str(body)


@pytest.mark.timeout(90)
async def test_refused_originates_cost_nothing_and_pause_dialing(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """While Asterisk shuts down every originate is a 500 "Allocation failed" (surprise 32):
    those attempts were recorded failed and used up the list. They are not_dialed, the
    targets keep their attempts, and a burst pauses dialing with a health status."""
    campaign = await make_campaign(database_url, "shut", mode="power", power_lines_per_agent=2)
    nums = [number(950 + i, 1) for i in range(20)]
    await asyncio.to_thread(import_numbers, database_url, "shut", nums, tmp_path)
    (agent,) = await make_agents(database_url, 1)
    await pbx.shutdown("graceful")
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client:
            base = f"/api/v1/agents/{agent.id}"
            await client.ok("POST", base + "/session", {"campaign": "shut", "nailed_up": False})
            await client.ok("POST", base + "/state", {"state": "available"})
            assert rt.dialer is not None

            async def paused() -> bool:
                assert rt.dialer is not None
                return bool((await rt.dialer.health())["dialing"]["paused"])

            await wait_for(paused, 20, what="dialing paused after a burst of refusals")
            health = await rt.dialer.health()
            assert "Allocation failed" in health["dialing"]["reason"]
            # An originate already in flight when the pause tripped still lands; then, for
            # the rest of the pause (5 s of the dialer's time), no new attempt is made.
            await asyncio.sleep(0.1)
            refused = await attempts(database_url, campaign.id)
            n_refused = len(refused)
            left = (await rt.dialer.health())["dialing"]["resumes_in_s"] / SPEED
            await asyncio.sleep(max(0.0, left - 0.1))
            assert len(await attempts(database_url, campaign.id)) == n_refused
            await pbx.shutdown("abort")

            async def placed() -> bool:
                return any(r["outcome"] == "human"
                           for r in await attempts(database_url, campaign.id))

            await wait_for(placed, 30, what="dialing resumed once Asterisk accepts again")
            await client.ok("DELETE", base + "/session")
    assert n_refused <= 8, n_refused  # a burst, not the whole list
    assert all(r["outcome"] == "not_dialed" for r in refused), [r["outcome"] for r in refused]
    by_id = {t["id"]: t for t in await targets(database_url, campaign.id)}
    refused_targets = {r["target_id"] for r in refused}
    called = {r["target_id"] for r in await attempts(database_url, campaign.id)
              if r["outcome"] != "not_dialed"}
    for tid in refused_targets - called:
        assert by_id[tid]["attempts_made"] == 0, by_id[tid]


@pytest.mark.timeout(60)
async def test_a_phone_that_never_rings_puts_the_agent_not_ready(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """An agent whose phone cannot ring was re-offered at once, ~70 agent-leg originates per
    customer call. After a few faults the agent stays Not ready "Phone unreachable"."""
    campaign = await make_campaign(database_url, "deadphone", mode="progressive",
                                   progressive_flavour="agent_first")
    nums = [number(980 + i, 1) for i in range(6)]
    await asyncio.to_thread(import_numbers, database_url, "deadphone", nums, tmp_path)
    (agent,) = await make_agents(database_url, 1)
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client:
            base = f"/api/v1/agents/{agent.id}"
            # No such extension: the channel is gone at once, it never rings.
            await client.ok("POST", base + "/session", {
                "campaign": "deadphone", "endpoint": "Local/nosuchphone@dialer-agents"})
            await client.ok("POST", base + "/state", {"state": "available"})

            def agent_legs() -> int:
                return len([r for r in pbx.read_call_log() if r.get("kind") == "agent"])

            async def first_fault() -> bool:
                if agent_legs() < 1:
                    return False
                s = await client.ok("GET", base + "/session")
                assert s["reason"] != "RONA", "a phone that never rang was taken for a RONA"
                return bool(s["reason"] == "Phone unreachable")

            await wait_for(first_fault, 10, what="Not ready 'Phone unreachable' after a fault")

            async def gave_up() -> bool:
                return agent_legs() >= 3

            await wait_for(gave_up, 20, what="three phone faults")
            await asyncio.sleep(1.0)  # 10 s at speed 10: no further offer
            session = await client.ok("GET", base + "/session")
            status, body = await client.call("POST", base + "/state", {"state": "available"})
            legs = agent_legs()
            await client.ok("DELETE", base + "/session")
    assert session["state"] == "not_ready" and session["reason"] == "Phone unreachable", session
    assert status == 409 and "phone unreachable" in str(body).lower(), (status, body)
    assert legs == 3, legs
    assert customer_calls(pbx) == []
    assert all(t["attempts_made"] == 0 for t in await targets(database_url, campaign.id))
