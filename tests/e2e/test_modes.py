"""Customer-first progressive (zip tone), power with abandons, AMD policies: end to end
over sockets against pbxsim and PostgreSQL (predictive: test_predictive_abandons.py). An independent ARI observer
(``subscribeAll``) witnesses playbacks and bridges."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.ledger.pool import connect, fetch_all
from tests.e2e.support import (
    ApiClient,
    attempts,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    observe_pbx,
    running_service,
    service_settings,
    settle,
    sim_agent,
    targets,
    wait_for,
)
from tests.support.pbxsim import PbxSim


def _playbacks(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["playback"] for e in seen if e["type"] == "PlaybackStarted"]


async def _settled(database_url: str, campaign_id: int, n: int) -> bool:
    rows = await attempts(database_url, campaign_id)
    return len(rows) >= n and all(r["ended_at"] and r["dispositioned_at"] for r in rows)


@pytest.mark.timeout(60)
async def test_customer_first_merges_on_answer_with_a_zip_tone_only_the_agent_hears(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    campaign = await make_campaign(database_url, "cf", mode="progressive",
                                   progressive_flavour="customer_first")
    nums = [number(600, 1), number(601, 5), number(602, 2)]
    await asyncio.to_thread(import_numbers, database_url, "cf", nums, tmp_path)
    (agent,) = await make_agents(database_url, 1)
    async with observe_pbx(pbx) as seen, running_service(service_settings(database_url, pbx)) as rt:
        stop = asyncio.Event()
        sim = sim_agent(f"http://127.0.0.1:{rt.http_port}", agent, "cf", nailed_up=True)
        task = asyncio.create_task(sim.run(stop))
        await wait_for(lambda: _settled(database_url, campaign.id, 3), 30)
        stop.set()
        await asyncio.wait_for(task, 10)
    rows = {r["e164"]: r for r in await attempts(database_url, campaign.id)}
    humans = [rows[nums[0]], rows[nums[2]]]
    assert all(r["outcome"] == "human" and r["agent_id"] == agent.id for r in humans), [
        (r["outcome"], r["agent_id"], r["cause_txt"]) for r in rows.values()]
    assert rows[nums[1]]["outcome"] == "busy"
    # The zip tone was played to the agent's own (nailed-up) channel, once per connected call,
    # never to a customer channel or to the bridge.
    zips = [p for p in _playbacks(seen) if p["id"].endswith(":zip")]
    assert len(zips) == 2
    customer_ids = {str(r["id"]) for r in rows.values()}
    for p in zips:
        kind, _, target = p["target_uri"].partition(":")
        assert kind == "channel" and target.startswith(f"agent.{agent.id}.leg.")
        assert target not in customer_ids
    # Merged only on live answer: each human customer entered the agent's bridge after answering.
    # (An observer app sees the channel go Up; StasisStart goes only to the app it enters.)
    for r in humans:
        cid = str(r["id"])
        up = next(i for i, e in enumerate(seen)
                  if e["type"] == "ChannelStateChange" and e["channel"]["id"] == cid
                  and e["channel"]["state"] == "Up")
        joined = next(i for i, e in enumerate(seen)
                      if e["type"] == "ChannelEnteredBridge" and e["channel"]["id"] == cid)
        assert up < joined


@pytest.mark.timeout(60)
async def test_power_abandon_plays_the_message_counts_and_locks_the_number(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    campaign = await make_campaign(database_url, "pwr", mode="power", power_lines_per_agent=3,
                                   silent_call_message="sound:lab/hello")
    nums = [number(700 + i, 0) for i in range(3)]
    await asyncio.to_thread(import_numbers, database_url, "pwr", nums, tmp_path)
    (agent,) = await make_agents(database_url, 1)
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    async with observe_pbx(pbx) as seen, running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        stop = asyncio.Event()
        # A long talk: the other answered lines find no agent within the 2 s grace.
        sim = sim_agent(api, agent, "pwr", talk=(2.0, 2.5))
        task = asyncio.create_task(sim.run(stop))
        await wait_for(lambda: _settled(database_url, campaign.id, 3), 30)
        async with ApiClient(api, sup.token) as client:
            stats = await client.ok("GET", "/api/v1/campaigns/pwr/stats")
            metrics_text = await (await client._session.get(api + "/metrics")).text()  # type: ignore[union-attr]
        stop.set()
        await asyncio.wait_for(task, 10)
    rows = await attempts(database_url, campaign.id)
    abandoned = [r for r in rows if r["outcome"] == "abandoned"]
    assert abandoned and len(abandoned) + sum(r["outcome"] == "human" for r in rows) == 3
    assert stats["abandoned"] == len(abandoned) and stats["attempts"] == 3
    assert f'dialer_abandons_total{{campaign="pwr"}} {float(len(abandoned))}' in metrics_text
    # The information message was played to each abandoned customer, on its own channel.
    played = {p["target_uri"] for p in _playbacks(seen) if p["media_uri"] == "sound:lab/hello"}
    assert {f"channel:{r['id']}" for r in abandoned} <= played
    # No repeat call within 72 h, whatever the campaign.
    async with connect(database_url) as conn:
        locks = {r["e164"]: r["abandon_locked_until"] for r in await fetch_all(
            conn, "SELECT * FROM phone_numbers WHERE abandon_locked_until IS NOT NULL")}
    soon = datetime.now(UTC) + timedelta(hours=71)
    assert all(locks[r["e164"]] > soon for r in abandoned)
    ts = {t["e164"]: t for t in await targets(database_url, campaign.id)}
    assert all(ts[r["e164"]]["available_from"] > soon for r in abandoned)


@pytest.mark.timeout(70)
async def test_amd_policies_hangup_voicemail_drop_and_pass_to_agent_with_false_positive(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    common = {"mode": "progressive", "progressive_flavour": "customer_first"}
    hang = await make_campaign(database_url, "amd-hang", amd_policy="hangup", **common)
    drop = await make_campaign(database_url, "amd-drop", amd_policy="voicemail_drop",
                               amd_message="sound:lab/beep", **common)
    pas = await make_campaign(database_url, "amd-pass", amd_policy="pass_to_agent", **common)
    await asyncio.to_thread(import_numbers, database_url, "amd-hang",
                            [number(800, 8), number(801, 1)], tmp_path)
    await asyncio.to_thread(import_numbers, database_url, "amd-drop", [number(810, 8)], tmp_path)
    await asyncio.to_thread(import_numbers, database_url, "amd-pass", [number(820, 8)], tmp_path)
    a_hang, a_drop, a_pass = await make_agents(database_url, 3)
    async with observe_pbx(pbx) as seen, running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        stop = asyncio.Event()
        sims = [asyncio.create_task(sim_agent(api, a, c).run(stop))
                for a, c in ((a_hang, "amd-hang"), (a_drop, "amd-drop"))]
        # The pass-to-agent agent reports that the "machine" was a person.
        async with ApiClient(api, a_pass.token) as client, client.events() as events:
            base = f"/api/v1/agents/{a_pass.id}"
            await client.ok("POST", base + "/session", {"campaign": "amd-pass"})
            await client.ok("POST", base + "/state", {"state": "available"})
            async with asyncio.timeout(20):
                while True:
                    e = await events.get()
                    if e["type"] == "call.state" and e["data"]["state"] == "bridged":
                        attempt_id = e["data"]["attempt_id"]
                        break
            await client.ok("POST", base + "/hangup", {"attempt_id": attempt_id})
            await client.ok("POST", base + "/disposition", {
                "attempt_id": attempt_id, "code": "Answering machine detected",
                "amd_false_positive": True})
            for c in (hang, drop, pas):
                await settle(database_url, c.id, 1, 20)
        stop.set()
        await asyncio.gather(*sims)
    h = {r["e164"]: r for r in await attempts(database_url, hang.id)}
    machine, human = h[number(800, 8)], h[number(801, 1)]
    # hangup: the machine is hung up, no agent; the human reaches the agent.
    assert machine["outcome"] == "machine" and machine["amd_status"] == "MACHINE"
    assert machine["connected_at"] is None and machine["code"] == "Answering machine detected"
    assert human["outcome"] == "human" and human["agent_id"] == a_hang.id
    assert (await targets(database_url, hang.id))[0]["amd_count"] == 1
    # voicemail drop: the campaign's message is left on the machine, on its own channel.
    (d,) = await attempts(database_url, drop.id)
    assert d["outcome"] == "machine" and d["connected_at"] is None
    assert f"channel:{d['id']}" in {p["target_uri"] for p in _playbacks(seen)
                                    if p["media_uri"] == "sound:lab/beep"}
    # pass to agent, reported as a false positive: counted as an abandon, number locked.
    (p,) = await attempts(database_url, pas.id)
    assert p["amd_status"] == "MACHINE" and p["agent_id"] == a_pass.id
    assert p["outcome"] == "abandoned"
    async with connect(database_url) as conn:
        (lock,) = await fetch_all(conn, "SELECT abandon_locked_until FROM phone_numbers"
                                        " WHERE e164 = %s", (p["e164"],))
        kinds = [r["kind"] for r in await fetch_all(
            conn, "SELECT kind FROM attempt_events WHERE attempt_id = %s", (p["id"],))]
    assert lock["abandon_locked_until"] > datetime.now(UTC) + timedelta(hours=71)
    assert "abandoned" in kinds and "amd_false_positive" in kinds
