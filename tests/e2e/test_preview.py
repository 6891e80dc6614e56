"""Preview and direct preview end to end: the reservation call to the agent, every
preview action through the HTTP API, hidden actions, the countdown's auto-action, and
Accept dialing the customer on the agent's reservation leg."""

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
    customer_calls,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    observe_pbx,
    running_service,
    service_settings,
    targets,
    wait_for,
)
from tests.support.pbxsim import PbxSim


async def _next(events: asyncio.Queue[dict[str, Any]], kind: str, within: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            e = await events.get()
            if e["type"] == kind:
                return e


@pytest.mark.timeout(60)
async def test_preview_actions_reservation_call_and_accept_on_the_same_leg(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    campaign = await make_campaign(database_url, "pv", mode="preview", preview_timeout_s=120,
                                   preview_allow_remove=True)
    nums = [number(40 + i, 1) for i in range(6)]
    await asyncio.to_thread(import_numbers, database_url, "pv", nums, tmp_path)
    (agent,) = await make_agents(database_url, 1)
    base = f"/api/v1/agents/{agent.id}"
    done: dict[str, str] = {}
    async with observe_pbx(pbx) as seen, running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events:
            await client.ok("POST", base + "/session", {"campaign": "pv"})
            await client.ok("POST", base + "/state", {"state": "available"})
            tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
            plan: list[tuple[str, dict[str, Any]]] = [
                ("skip", {}), ("delay", {}), ("remove", {}),
                ("disposition", {"code": "Sale", "notes": "bought on the phone already"}),
                ("reschedule", {"local_date": tomorrow, "local_time": "10:30",
                                "time_zone": "Europe/Paris", "assignee": "me", "notes": "after 10"}),
                ("accept", {}),
            ]
            for action, body in plan:
                shown = await _next(events, "preview.show")
                data = shown["data"]
                assert shown["agent_id"] == agent.id
                assert data["contact"]["first_name"].startswith("Contact")
                assert data["remaining_s"] is not None and data["remaining_s"] > 0
                assert set(data["allowed_actions"]) == {
                    "accept", "skip", "requeue", "delay", "reschedule", "disposition", "remove"}
                session = await client.ok("GET", base + "/session")
                assert session["state"] == "reserved" and session["preview"]["preview_id"] == data["preview_id"]
                # The preview appears only once the reservation call is answered.
                await client.ok("POST", base + f"/preview/{action}", body)
                done[action] = data["target"]["e164"]
            # Accept dialed the customer: the call is connected to the agent; end it.
            bridged = await _next(events, "call.state", 15)
            while bridged["data"]["state"] != "bridged":
                bridged = await _next(events, "call.state", 15)
            attempt_id = bridged["data"]["attempt_id"]
            # Hold: a held call cannot be ended; resume, then end it.
            held = await client.ok("POST", base + "/hold", {"attempt_id": attempt_id})
            assert held["state"] == "hold"
            status, body = await client.call("POST", base + "/hangup", {"attempt_id": attempt_id})
            assert status == 409 and "held call cannot be ended" in body["message"]
            assert (await client.ok("POST", base + "/unhold", {}))["state"] == "on_call"
            await client.ok("POST", base + "/hangup", {"attempt_id": attempt_id})
            await client.ok("POST", base + "/disposition", {"attempt_id": attempt_id, "code": "Sale"})
            status, _ = await client.call("POST", base + "/preview/skip", {})
            assert status == 404  # nothing shown any more
            await client.ok("DELETE", base + "/session")
    ts = {t["e164"]: t for t in await targets(database_url, campaign.id)}
    assert ts[done["skip"]]["unavailable_reason"] == "Not in cadence"
    assert ts[done["delay"]]["available_from"] > datetime.now(UTC)
    assert ts[done["remove"]]["unavailable_reason"] == "Offered"
    assert ts[done["disposition"]]["unavailable_reason"] == "Complete"
    assert ts[done["disposition"]]["last_outcome"] == "Sale"
    assert ts[done["accept"]]["unavailable_reason"] == "Complete"
    assert all(t["last_shown_at"] is not None for t in ts.values())
    async with connect(database_url) as conn:
        (cb,) = await fetch_all(conn, "SELECT * FROM callbacks")
    assert cb["e164"] == done["reschedule"] and cb["assigned_agent_id"] == agent.id
    assert cb["time_zone"] == "Europe/Paris" and cb["window_start"].hour in (9, 10)  # 10:30 Paris in UTC
    # Only the accepted number was dialed, and on the agent's reservation leg: one agent
    # call per preview shown (6), none extra for the customer.
    rows = await attempts(database_url, campaign.id)
    # Disposition without dialing is in the contact's history as a 'not_dialed' attempt.
    (nd,) = [r for r in rows if r["outcome"] == "not_dialed"]
    assert nd["e164"] == done["disposition"] and nd["code"] == "Sale" and nd["agent_id"] == agent.id
    (att,) = [r for r in rows if r["outcome"] != "not_dialed"]
    assert att["e164"] == done["accept"] and str(att["id"]) == attempt_id
    assert att["outcome"] == "human" and att["code"] == "Sale"
    assert [c["number"] for c in customer_calls(pbx)] == [done["accept"].lstrip("+")]
    assert len([r for r in pbx.read_call_log() if r.get("kind") == "agent"]) == 6
    entered = {e["channel"]["id"]: e["bridge"]["id"] for e in seen
               if e["type"] == "ChannelEnteredBridge"}
    leg_bridge = entered[attempt_id]
    assert leg_bridge == f"agent.{agent.id}.bridge"
    assert any(cid.startswith(f"agent.{agent.id}.leg.") and b == leg_bridge
               for cid, b in entered.items())


@pytest.mark.timeout(60)
async def test_direct_preview_hidden_actions_and_countdown_auto_action(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    hidden = await make_campaign(database_url, "dp", mode="direct_preview", preview_timeout_s=120,
                                 preview_allow_skip=False, preview_allow_remove=False)
    auto = await make_campaign(database_url, "auto", mode="preview", preview_timeout_s=5,
                               preview_auto_action="remove")
    await asyncio.to_thread(import_numbers, database_url, "dp", [number(60, 2)], tmp_path)
    await asyncio.to_thread(import_numbers, database_url, "auto", [number(70, 1)], tmp_path)
    a1, a2 = await make_agents(database_url, 2)
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, a1.token) as c1, c1.events() as ev1, \
                ApiClient(api, a2.token) as c2:
            b1, b2 = f"/api/v1/agents/{a1.id}", f"/api/v1/agents/{a2.id}"
            await c1.ok("POST", b1 + "/session", {"campaign": "dp"})
            await c1.ok("POST", b1 + "/state", {"state": "available"})
            shown = await _next(ev1, "preview.show")
            assert set(shown["data"]["allowed_actions"]) == {
                "accept", "requeue", "delay", "reschedule", "disposition"}
            for action in ("skip", "remove"):
                status, body = await c1.call("POST", b1 + f"/preview/{action}", {})
                assert status == 409 and "hidden" in body["message"]
            status, body = await c1.call("POST", b1 + "/preview/reschedule",
                                         {"local_date": "2020-01-01", "local_time": "10:00",
                                          "time_zone": "Europe/Paris"})
            assert status == 422 and body["field"] == "local_time"  # in the past
            status, body = await c2.call("POST", b1 + "/preview/accept", {})
            assert status == 403  # another agent's preview
            await c1.ok("POST", b1 + "/preview/accept")
            call = await _next(ev1, "call.state")
            while call["data"]["state"] != "bridged":
                call = await _next(ev1, "call.state")
            await c1.ok("POST", b1 + "/hangup", {})
            # The second agent works the countdown campaign and does nothing.
            await c2.ok("POST", b2 + "/session", {"campaign": "auto"})
            await c2.ok("POST", b2 + "/state", {"state": "available"})

            async def removed() -> bool:
                (t,) = await targets(database_url, auto.id)
                return t["unavailable_reason"] == "Offered"

            await wait_for(removed, 10)
    (att,) = await attempts(database_url, hidden.id)
    assert att["outcome"] == "human" and att["agent_id"] == a1.id
    assert not await attempts(database_url, auto.id)
