"""What survives a restart and what a restart cleans up, end to end:

* the predictive pacer's abandon counts (UK 24 h / US 30-day budget) are saved while the
  campaign runs and on shutdown, and restored when the campaign's runner starts again;
* attempts of a dead instance that ended while its agent was in wrap-up are settled with
  the automatic disposition (at start, and later when another instance dies meanwhile);
* empty bridges a crashed process left in Asterisk are destroyed, at start and after a
  reconnect, but never those another live instance may still use.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger.pool import AsyncConn, connect, fetch_all, fetch_one
from tests.e2e.support import (
    ApiClient,
    ari,
    attempts,
    bridges,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
    wait_for,
)
from tests.support.ledger_seed import add_contact
from tests.support.pbxsim import PbxSim


async def _next(events: asyncio.Queue[dict[str, Any]], pred: Any, within: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            e = await events.get()
            if pred(e):
                return e


async def _saved_abandons(database_url: str, campaign_id: int) -> float | None:
    async with connect(database_url) as conn:
        row = await fetch_one(conn, "SELECT snapshot FROM campaign_pacing_state WHERE campaign_id = %s",
                              (campaign_id,))
    if row is None:
        return None
    return float(sum(b[2] for b in row["snapshot"]["w24"]))


@pytest.mark.timeout(60)
async def test_pacer_abandon_counts_survive_a_restart(database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    campaign = await make_campaign(database_url, "predx", mode="predictive", amd_policy="pass_to_agent")
    await asyncio.to_thread(import_numbers, database_url, "predx", [number(500, 8)], tmp_path)
    (agent,) = await make_agents(database_url, 1)
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    base = f"/api/v1/agents/{agent.id}"
    settings = service_settings(database_url, pbx)
    async with running_service(settings) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events:
            await client.ok("POST", base + "/session", {"campaign": "predx"})
            await client.ok("POST", base + "/state", {"state": "available"})
            bridged = await _next(events, lambda e: e["type"] == "call.state"
                                  and e["data"]["state"] == "bridged")
            attempt_id = bridged["data"]["attempt_id"]
            await client.ok("POST", base + "/hangup", {"attempt_id": attempt_id})
            # The "machine" was a person: an abandon, counted by the pacer.
            await client.ok("POST", base + "/disposition", {
                "attempt_id": attempt_id, "code": "Answering machine detected", "amd_false_positive": True})
            await _next(events, lambda e: e["type"] == "call.disposition")
            await client.ok("DELETE", base + "/session")
        # Saved while running (not only at shutdown: a crash loses little).
        await wait_for(lambda: _abandon_saved(database_url, campaign.id), 10)
        async with ApiClient(api, sup.token) as boss:
            before = (await boss.ok("GET", "/api/v1/campaigns/predx/stats"))["pacing"]
    assert before["abandoned_24h"] == 1 and before["answered_24h"] >= 1
    assert before["drop_budget_24h"] < 1  # one abandon for a handful of answers: no budget left
    async with running_service(settings) as rt:
        async with ApiClient(f"http://127.0.0.1:{rt.http_port}", sup.token) as boss:
            after = (await boss.ok("GET", "/api/v1/campaigns/predx/stats"))["pacing"]
    for key in ("abandoned_24h", "answered_24h", "abandon_rate_24h", "abandon_rate_30d",
                "drop_budget_24h", "drop_budget_30d"):
        assert after[key] == pytest.approx(before[key]), (key, before, after)
    (row,) = await attempts(database_url, campaign.id)
    assert row["outcome"] == "abandoned"


async def _abandon_saved(database_url: str, campaign_id: int) -> bool:
    return (await _saved_abandons(database_url, campaign_id)) == 1.0


async def _ended_in_wrapup(conn: AsyncConn, campaign_id: int, target_id: int, owner: str,
                           agent_id: int) -> uuid.UUID:
    """An attempt `owner` placed, talked to `agent_id`, and ended: it waits for a wrap-up."""
    claimed = await claims_ledger.claim_targets(conn, campaign_id, owner=owner, limit=10)
    assert target_id in {t.target_id for t in claimed.claimed}
    ticket = await claims_ledger.write_ahead_attempt(conn, target_id, owner=owner, agent_id=agent_id)
    assert isinstance(ticket, claims_ledger.AttemptTicket), ticket
    await claims_ledger.release_leases(conn, owner)
    await attempts_ledger.mark_bridged(conn, ticket.attempt_id, agent_id)
    att = await attempts_ledger.end_attempt(conn, ticket.attempt_id)
    assert att.dispositioned_at is None
    return ticket.attempt_id


@pytest.mark.timeout(60)
async def test_wrapups_of_dead_instances_are_settled_at_start_and_later(
        database_url: str, pbx: PbxSim) -> None:
    campaign = await make_campaign(database_url, "recon", mode="progressive")
    (agent,) = await make_agents(database_url, 1)
    async with connect(database_url) as conn:
        targets = [(await add_contact(conn, campaign.id))[1][0] for _ in range(2)]
        await attempts_ledger.heartbeat(conn, "crashed-node", now=datetime.now(UTC) - timedelta(hours=1))
        await attempts_ledger.heartbeat(conn, "other-node")
        crashed = await _ended_in_wrapup(conn, campaign.id, targets[0], "crashed-node", agent.id)
        other = await _ended_in_wrapup(conn, campaign.id, targets[1], "other-node", agent.id)
    async with running_service(service_settings(database_url, pbx, instance_stale_s=2.0)):
        rows = {r["id"]: r for r in await attempts(database_url, campaign.id)}
        # At start: the dead instance's wrap-up is settled; the live one's is its own business.
        assert rows[crashed]["dispositioned_at"] is not None and rows[crashed]["wrapup_code_id"] is None
        assert rows[other]["dispositioned_at"] is None

        async def other_settled() -> bool:  # other-node stops beating: it is dead now
            rows = {r["id"]: r for r in await attempts(database_url, campaign.id)}
            return rows[other]["dispositioned_at"] is not None

        await wait_for(other_settled, 12)
    async with connect(database_url) as conn:
        events = await fetch_all(conn, "SELECT attempt_id, data FROM attempt_events WHERE kind = 'dispositioned'")
    assert {e["attempt_id"] for e in events} == {crashed, other}
    assert all(e["data"]["automatic"] for e in events)


async def _bridge_ids(pbx: PbxSim) -> set[str]:
    return {b["id"] for b in await bridges(pbx)}


@pytest.mark.timeout(60)
async def test_empty_bridges_left_by_a_crash_are_destroyed_others_are_kept(
        database_url: str, pbx: PbxSim) -> None:
    me = "e2e-1"
    campaign = await make_campaign(database_url, "brg", mode="progressive")
    ghost, elsewhere, gone, later = await make_agents(database_url, 4)
    async with connect(database_url) as conn:
        targets = [(await add_contact(conn, campaign.id))[1][0] for _ in range(2)]
        await attempts_ledger.heartbeat(conn, "other-node")
        # The previous life of this instance had `ghost` logged in; `elsewhere` is on another
        # live instance; `gone` logged out properly.
        await agents_ledger.record_agent_state(conn, ghost.id, "available", instance_id=me)
        await agents_ledger.record_agent_state(conn, elsewhere.id, "available", instance_id="other-node")
        await agents_ledger.record_agent_state(conn, gone.id, "logged_out", instance_id="other-node")
        await agents_ledger.record_agent_state(conn, later.id, "logged_out", instance_id=me)
        ended = await _ended_in_wrapup(conn, campaign.id, targets[0], "other-node", ghost.id)
        claimed = await claims_ledger.claim_targets(conn, campaign.id, owner="other-node", limit=10)
        assert targets[1] in {t.target_id for t in claimed.claimed}
        live = await claims_ledger.write_ahead_attempt(conn, targets[1], owner="other-node")
        assert isinstance(live, claims_ledger.AttemptTicket)
    foreign = f"conference-{uuid.uuid4().hex[:8]}"  # not the dialer's
    keep = {f"agent.{elsewhere.id}.bridge", f"{live.attempt_id}:bridge", foreign}
    drop = {f"agent.{ghost.id}.bridge", f"agent.{gone.id}.bridge", f"{ended}:bridge",
            f"{uuid.uuid4()}:bridge"}
    created = keep | drop | {f"agent.{later.id}.bridge"}
    try:
        for bid in keep | drop:
            await ari(pbx, "POST", f"/bridges/{bid}", type="mixing")
        async with running_service(service_settings(database_url, pbx, instance_stale_s=30.0)) as rt:
            assert rt.dialer is not None and rt.dialer.stream is not None
            await wait_for(lambda: _only(pbx, keep, created), 5,
                           what="leftover bridges destroyed at start")
            # After a reconnect too: a bridge left meanwhile (e.g. by another crashed process).
            await ari(pbx, "POST", f"/bridges/agent.{later.id}.bridge", type="mixing")
            assert f"agent.{later.id}.bridge" in await _bridge_ids(pbx)
            generation = rt.dialer.stream.generation
            await pbx.cut_ws()
            stream = rt.dialer.stream

            async def reconnected() -> bool:
                return stream.generation > generation and stream.connected.is_set()

            await wait_for(reconnected, 10)
            await wait_for(lambda: _only(pbx, keep, created), 5,
                           what="leftover bridge destroyed after reconnect")
    finally:
        await _destroy(pbx, created)  # a real Asterisk is shared with the tests that follow


@pytest.mark.timeout(30)
async def test_a_bridge_that_empties_while_connected_is_swept(database_url: str, pbx: PbxSim) -> None:
    """No reconnect needed: a call bridge that empties after the reconcile (a leg a crashed
    process left in it hung up later) is found by the periodic sweep."""
    settings = service_settings(database_url, pbx, instance_stale_s=1.0)
    async with running_service(settings) as rt:
        assert rt.dialer is not None
        await wait_for(lambda: _reconciled(rt), 5)
        leftover = f"{uuid.uuid4()}:bridge"
        foreign = f"conference-{uuid.uuid4().hex[:8]}"  # not the dialer's: kept
        try:
            await ari(pbx, "POST", f"/bridges/{leftover}", type="mixing")
            await ari(pbx, "POST", f"/bridges/{foreign}", type="mixing")
            await wait_for(lambda: _only(pbx, {foreign}, {leftover, foreign}), 6,
                           what="leftover bridge swept")
        finally:
            await _destroy(pbx, {leftover, foreign})


async def _reconciled(rt: Any) -> bool:
    return bool(rt.dialer.reconciled.is_set())


async def _only(pbx: PbxSim, keep: set[str], among: set[str]) -> bool:
    """Of the bridges ``among`` (the test's own: a real Asterisk is shared), only ``keep``."""
    return await _bridge_ids(pbx) & among == keep


async def _destroy(pbx: PbxSim, ids: set[str]) -> None:
    for bid in ids:
        with contextlib.suppress(AssertionError):  # gone already (404)
            await ari(pbx, "DELETE", f"/bridges/{bid}")
