"""Progressive mode end to end, over sockets: PostgreSQL, pbxsim (ARI + AMI), the service's
HTTP API and WebSocket, agents acting through the API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from orchestrator.commands.simulate_agents import SimStats, SimulatedAgent
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


@pytest.mark.timeout(60)
async def test_progressive_agent_first_end_to_end(database_url: str, pbx: PbxSim,
                                                  tmp_path: Path) -> None:
    campaign = await make_campaign(database_url, "prog", mode="progressive",
                                   progressive_flavour="agent_first")
    # answer, busy, no answer (rings until our 26 s no-answer timer), answer
    nums = [number(1, 1), number(2, 5), number(3, 7), number(4, 2)]
    await asyncio.to_thread(import_numbers, database_url, "prog", nums, tmp_path)
    (agent,) = await make_agents(database_url, 1)

    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events:
            stats = SimStats()
            sim = SimulatedAgent(api, agent.id, agent.token, "prog", agent.endpoint,
                                 talk=(0.2, 0.4), wrap=(0.1, 0.2), codes=["Sale"],
                                 rng=__import__("random").Random(1), stats=stats)
            stop = asyncio.Event()
            sim_task = asyncio.create_task(sim.run(stop))

            async def all_settled() -> bool:
                rows = await attempts(database_url, campaign.id)
                return len(rows) == 4 and all(r["dispositioned_at"] for r in rows)

            await wait_for(all_settled, 40, what="every contact attempted and dispositioned")
            stop.set()
            await asyncio.wait_for(sim_task, 10)
            seen = []
            while not events.empty():
                seen.append(events.get_nowait())

    rows = {r["e164"]: r for r in await attempts(database_url, campaign.id)}
    assert rows[nums[0]]["outcome"] == "human" and rows[nums[0]]["code"] == "Sale"
    assert rows[nums[3]]["outcome"] == "human" and rows[nums[3]]["agent_id"] == agent.id
    assert rows[nums[1]]["outcome"] == "busy" and rows[nums[1]]["code"] == "Busy"
    assert rows[nums[2]]["outcome"] == "no_answer"
    # Progressive agent-first: each attempt was reserved for the agent before dialing.
    assert all(r["agent_id"] == agent.id for r in rows.values())
    assert all(r["state"] == "ended" for r in rows.values())
    # Outcome classes drive the targets: Sale completes, Busy/No answer wait for cadence.
    by_number = {t["e164"]: t for t in await targets(database_url, campaign.id)}
    assert by_number[nums[0]]["unavailable_reason"] == "Complete"
    assert by_number[nums[1]]["unavailable_reason"] == "Not in cadence"
    # pbxsim saw each customer number once, and the agent's phone once per call.
    calls = customer_calls(pbx)
    assert sorted(c["number"] for c in calls) == sorted(n.lstrip("+") for n in nums)
    agent_calls = [r for r in pbx.read_call_log() if r.get("kind") == "agent"]
    assert len(agent_calls) == 4
    # The agent's own event stream saw its states and its calls, nobody else's.
    assert {e["type"] for e in seen} >= {"agent.state", "call.state"}
    assert all(e["agent_id"] in (agent.id, None) for e in seen)
    assert stats.calls == 2


@pytest.mark.timeout(60)
async def test_agent_leg_failing_first_costs_the_target_no_attempt(database_url: str, pbx: PbxSim,
                                                                    tmp_path: Path) -> None:
    """Agent first, and the agent's phone cannot be reached: the customer is never dialed.
    The written-ahead attempt stays in the history as 'not_dialed' but gives its count back
    (a failing phone must not exhaust the list)."""
    campaign = await make_campaign(database_url, "dead", mode="progressive",
                                   progressive_flavour="agent_first")
    await asyncio.to_thread(import_numbers, database_url, "dead", [number(9, 1)], tmp_path)
    (agent,) = await make_agents(database_url, 1)
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client:
            base = f"/api/v1/agents/{agent.id}"
            await client.ok("POST", base + "/session", {
                "campaign": "dead", "endpoint": "Local/nosuchphone@dialer-agents", "nailed_up": False})
            await client.ok("POST", base + "/state", {"state": "available"})

            async def ended() -> bool:
                rows = await attempts(database_url, campaign.id)
                return bool(rows) and all(r["dispositioned_at"] for r in rows)

            await wait_for(ended, 20, what="the unplaced attempt settled")
            await client.ok("DELETE", base + "/session")
    rows = await attempts(database_url, campaign.id)
    assert [r["outcome"] for r in rows][:1] == ["not_dialed"]
    assert customer_calls(pbx) == [], "the customer was never dialed"
    (t,) = await targets(database_url, campaign.id)
    assert t["attempts_made"] == 0 and t["unavailable_reason"] in (None, "Not in cadence"), t
