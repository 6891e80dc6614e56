"""Screen pops end to end (MISSION D, E): a dialed call offered to an agent carries the
contact, the target (masked when the campaign masks numbers), and the attempt history,
in the agent's session and its WebSocket events; the wrap-up deadline; supervisors' live
calls; a preview's history, and Reschedule refused field by field, then stored as a
callback with the rules of MISSION F."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.ledger.importer import import_contacts
from orchestrator.ledger.pool import connect, fetch_all
from tests.e2e.support import (
    ApiClient,
    attempts,
    bridges,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
    wait_for,
)
from tests.support.pbxsim import PbxSim


def _import(database_url: str, campaign: str, tmp: Path, rows: list[dict[str, str]]) -> None:
    path = tmp / f"{campaign}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    report = import_contacts(database_url, path, campaign)
    assert report.contacts_imported == len(rows), report


async def _event(events: asyncio.Queue[dict[str, Any]], pred: Any, within: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            e = await events.get()
            if pred(e):
                return e


@pytest.mark.timeout(60)
async def test_dialed_call_pops_contact_history_and_masked_number(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    num = number(77, 1)
    campaign = await make_campaign(database_url, "pop", mode="progressive", masking=True,
                                   cadence={"busy": 3}, wrapup_seconds=600)
    await asyncio.to_thread(_import, database_url, "pop", tmp_path, [{
        "external_id": "ext-1", "first_name": "Ada", "last_name": "Lovelace", "postal_code": "75001",
        "timezone": "Europe/Paris", "phone1": num, "phone1_description": "Mobile", "plan": "gold"}])
    await pbx.script(num, "busy")
    (agent,) = await make_agents(database_url, 1)
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    base = f"/api/v1/agents/{agent.id}"
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events, \
                ApiClient(api, sup.token) as boss:
            await client.ok("POST", base + "/session", {"campaign": "pop"})
            await client.ok("POST", base + "/state", {"state": "available"})

            async def first_settled() -> bool:
                rows = await attempts(database_url, campaign.id)
                return bool(rows) and bool(rows[0]["dispositioned_at"])

            await wait_for(first_settled, 15)
            await pbx.script(num, "answer", ring_seconds=1, talk_seconds=60)
            busy_id = str((await attempts(database_url, campaign.id))[0]["id"])
            # The second attempt reaches the agent: the state event carries the screen pop.
            on_call = await _event(events, lambda e: e["type"] == "agent.state"
                                   and e["data"]["state"] == "on_call" and "call" in e["data"]
                                   and e["data"]["attempt_id"] != busy_id)
            await _event(events, lambda e: e["type"] == "call.state" and e["data"]["state"] == "bridged")
            call = on_call["data"]["call"]
            session = await client.ok("GET", base + "/session")
            live = await boss.ok("GET", "/api/v1/calls")
            masked = "****" + num[-4:]
            assert session["state"] == "on_call" and session["call"] == call
            assert call["attempt_id"] == session["attempt_id"]
            assert call["contact"] | {"id": 0, "contact_id": 0} == {
                "id": 0, "contact_id": 0, "external_id": "ext-1", "first_name": "Ada",
                "last_name": "Lovelace", "postal_code": "75001", "time_zone": "Europe/Paris",
                "custom_fields": {"plan": "gold"}, "expires_at": None}
            assert call["target"]["number"] == masked and call["target"]["e164"] == masked
            assert call["target"]["masked"] is True and call["target"]["description"] == "Mobile"
            assert call["target"]["attempts"] == "2/10" and call["target"]["last_outcome"] == "Busy"
            (h,) = call["history"]
            assert (h["title"], h["outcome"], h["disposition"], h["agent"]) == (
                "Attempt 1 (Mobile)", "Busy", "Busy", "Agent 1")
            assert h["at"] and h["attempt_no"] == 1
            # Masking is the server's: the number in full reaches neither the agent nor the
            # supervisor's list of live calls.
            digits = num.lstrip("+")
            assert digits[-8:] not in json.dumps(session) and digits[-8:] not in json.dumps(on_call)
            (lc,) = live["calls"]
            assert lc["attempt_id"] == call["attempt_id"] and lc["number"] == masked
            assert lc["agent_id"] == agent.id and lc["campaign"] == "pop" and lc["state"] == "bridged"
            assert digits[-8:] not in json.dumps(live)

            # Wrap-up: the session gives the auto-disposition deadline for the countdown.
            await client.ok("POST", base + "/hangup", {})
            wrap = await wait_for(lambda: _session_in(client, base, "wrap_up"), 10)
            assert wrap["wrapup_seconds"] == 600 and wrap["call"]["attempt_id"] == call["attempt_id"]
            # 600 s of service time at time scale 10: at most 60 real seconds left.
            assert 50 < wrap["wrapup_remaining_s"] <= 60
            deadline = datetime.fromisoformat(wrap["wrapup_deadline"])
            assert timedelta(seconds=50) < deadline - datetime.now(UTC) <= timedelta(seconds=61)
            await client.ok("POST", base + "/disposition",
                            {"attempt_id": call["attempt_id"], "code": "Sale"})
            after = await wait_for(lambda: _session_in(client, base, "available"), 10)
            assert "call" not in after and "wrapup_deadline" not in after
            assert (await boss.ok("GET", "/api/v1/calls"))["calls"] == []
            await client.ok("DELETE", base + "/session")
            # The call's own bridge (the agent was dialed for this call) went with it.
            assert await bridges(pbx) == []


async def _session_in(client: ApiClient, base: str, state: str) -> dict[str, Any] | None:
    s: dict[str, Any] = await client.ok("GET", base + "/session")
    return s if s["state"] == state else None


@pytest.mark.timeout(60)
async def test_preview_history_masking_and_reschedule_rules(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    first, second = number(88, 1), number(89, 1)
    campaign = await make_campaign(database_url, "pvm", mode="preview", masking=True,
                                   preview_timeout_s=600)
    await asyncio.to_thread(_import, database_url, "pvm", tmp_path, [{
        "external_id": "ext-9", "first_name": "Alan", "timezone": "Europe/Paris",
        "phone1": first, "phone1_description": "Mobile", "phone2": second,
        "phone2_description": "Home"}])
    (agent,) = await make_agents(database_url, 1)
    base = f"/api/v1/agents/{agent.id}"
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events:
            await client.ok("POST", base + "/session", {"campaign": "pvm"})
            await client.ok("POST", base + "/state", {"state": "available"})
            shown = (await _event(events, lambda e: e["type"] == "preview.show"))["data"]
            assert shown["target"]["e164"] == "****" + first[-4:] and shown["target"]["masked"]
            assert shown["history"] == [] and shown["contact"]["first_name"] == "Alan"
            assert first.lstrip("+")[-8:] not in json.dumps(shown)
            # The first number is settled without dialing (Fax: that number only).
            await client.ok("POST", base + "/preview/disposition", {"code": "Fax"})
            shown = (await _event(events, lambda e: e["type"] == "preview.show"))["data"]
            assert shown["target"]["number"] == "****" + second[-4:]
            assert [(h["title"], h["outcome"], h["disposition"], h["agent"]) for h in shown["history"]] == [
                ("Attempt 1 (Mobile)", "Not dialed", "Fax", "Agent 1")]
            session = await client.ok("GET", base + "/session")
            assert session["preview"]["history"] == shown["history"] and "call" not in session

            # Reschedule: each rule refused naming its field; the preview stays on screen.
            paris = ZoneTimes("Europe/Paris")
            bad: list[tuple[dict[str, Any], str]] = [
                (paris.at(days=1) | {"other_number": "12345"}, "other_number"),
                (paris.at(days=1) | {"other_number": "+33 6 12 34 56 78"}, "other_number"),
                (paris.at(days=1) | {"other_number": "06-12-34-56-7x"}, "other_number"),
                (paris.at(days=40), "local_date"),
                (paris.at(days=-1), "local_time"),
                (paris.at(days=1) | {"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
                (paris.at(days=1) | {"notes": "n" * 2001}, "notes"),
            ]
            for body, field in bad:
                status, answer = await client.call("POST", base + "/preview/reschedule", body)
                assert status == 422 and answer["field"] == field, (body, status, answer)
                assert answer["error"] == "invalid" and answer["message"]
            assert (await client.ok("GET", base + "/session"))["preview"]["preview_id"] == shown["preview_id"]
            # A number typed the national way is in the contact's country.
            good = paris.at(days=2) | {"other_number": "06 1234 5699", "assignee": "me",
                                       "notes": "call the office"}
            await client.ok("POST", base + "/preview/reschedule", good)
            await _event(events, lambda e: e["type"] == "preview.closed")
            await client.ok("DELETE", base + "/session")
    async with connect(database_url) as conn:
        (cb,) = await fetch_all(conn, "SELECT * FROM callbacks")
        targets = await fetch_all(conn, "SELECT * FROM targets WHERE campaign_id = %s ORDER BY position",
                                  (campaign.id,))
    assert cb["e164"] == "+33612345699" and cb["kind"] == "personal"
    assert cb["assigned_agent_id"] == agent.id and cb["created_by"] == agent.id
    assert cb["window_end"] - cb["window_start"] == timedelta(minutes=30)
    assert cb["time_zone"] == "Europe/Paris" and cb["notes"] == "call the office"
    assert cb["target_id"] == targets[1]["id"]
    assert targets[0]["unavailable_reason"] == "Last outcome not valid for calling"
    assert targets[1]["available_from"] == cb["window_start"] and targets[1]["lease_owner"] is None
    assert [r["outcome"] for r in await attempts(database_url, campaign.id)] == ["not_dialed"]
    assert not [c for c in pbx.read_call_log() if c.get("kind") is None]  # nothing dialed


class ZoneTimes:
    """Reschedule bodies: 15:00 local time some days from today in a zone."""

    def __init__(self, zone: str) -> None:
        self.zone = zone

    def at(self, *, days: int) -> dict[str, Any]:
        day = (datetime.now(UTC) + timedelta(days=days)).date().isoformat()
        return {"local_date": day, "local_time": "15:00", "time_zone": self.zone}
