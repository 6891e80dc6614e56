"""Call-associated data end to end (MISSION E; issue 12, item 5), over real sockets
against pbxsim: an admin defines a campaign's variables; during a call the agent reads
them (filled from the contact's custom fields) in its GET and in the screen pop, saves
the editable ones, is refused a value of 257 characters or a read-only variable, naming
it; of two saves from the same version the first wins and the second is told what
changed; secure values, and numbers when the campaign masks, never leave the server in
clear (a secure value the agent writes lands in the ledger in full); another agent may
not read the call, a supervisor may; a dispositioned call's data is final."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.ledger.importer import import_contacts
from orchestrator.ledger.pool import connect, fetch_all
from tests.e2e.support import (
    ApiClient,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
)
from tests.support.pbxsim import PbxSim

CARD = "4111111111111111"
NEW_CARD = "5500000000004242"
ALT_PHONE = "+33 6 12 34 56 78"
VARIABLES = [
    {"name": "plan", "label": "Plan"},
    {"name": "note", "label": "Agent note", "editable": True},
    {"name": "card", "label": "Card number", "editable": True, "secure": True},
    {"name": "alt_phone", "label": "Other phone", "editable": True},
]


def _import(database_url: str, campaign: str, tmp: Path, row: dict[str, str]) -> None:
    path = tmp / f"{campaign}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    report = import_contacts(database_url, path, campaign)
    assert report.contacts_imported == 1, report


async def _event(events: asyncio.Queue[dict[str, Any]], pred: Any, within: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            e = await events.get()
            if pred(e):
                return e


def _by_name(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in payload["variables"]}


@pytest.mark.timeout(90)
async def test_agent_reads_and_saves_call_data_first_save_wins_secrets_masked(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    num = number(55, 1)
    await make_campaign(database_url, "cad", mode="progressive", masking=True,
                        wrapup_seconds=600)
    await asyncio.to_thread(_import, database_url, "cad", tmp_path, {
        "external_id": "ext-cad", "first_name": "Ada", "phone1": num,
        "phone1_description": "Mobile", "plan": "gold", "card": CARD, "alt_phone": ALT_PHONE})
    # talk long enough (sim seconds, 10x) that the agent hangs up, not the customer
    if not getattr(pbx, "real", False):  # a real test line ending in 0-4 answers by itself
        await pbx.script(num, "answer", ring_seconds=1, talk_seconds=900)
    agent, other = await make_agents(database_url, 2)
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    (adm,) = await make_agents(database_url, 1, prefix="adm", role="admin")
    base = f"/api/v1/agents/{agent.id}"
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events, \
                ApiClient(api, other.token) as intruder, ApiClient(api, sup.token) as boss, \
                ApiClient(api, adm.token) as admin:
            # -- definitions: admins write them, supervisors read them
            status, body = await admin.call("PUT", "/api/v1/campaigns/cad/variables",
                                            {"variables": [{"name": "ok"}, {"name": "Bad"}]})
            assert status == 422 and body["field"] == "variables.1.name", body
            defined = await admin.ok("PUT", "/api/v1/campaigns/cad/variables",
                                     {"variables": VARIABLES})
            assert [v["name"] for v in defined["variables"]] == [v["name"] for v in VARIABLES]
            assert (await boss.ok("GET", "/api/v1/campaigns/cad/variables")) == defined
            status, _ = await boss.call("PUT", "/api/v1/campaigns/cad/variables",
                                        {"variables": VARIABLES})
            assert status == 403

            status, body = await client.call("GET", base + "/call-data")
            assert status == 404 and body["field"] == "attempt_id", body  # no call yet

            await client.ok("POST", base + "/session", {"campaign": "cad"})
            await client.ok("POST", base + "/state", {"state": "available"})
            on_call = await _event(events, lambda e: e["type"] == "agent.state"
                                   and e["data"]["state"] == "on_call" and "call" in e["data"])
            aid = on_call["data"]["call"]["attempt_id"]
            # the customer answered and is bridged (the agent's leg answers first)
            await _event(events, lambda e: e["type"] == "call.state"
                         and e["data"]["state"] == "bridged")

            # -- the screen pop carries the call data, masked as it is sent
            pop = on_call["data"]["call"]
            assert CARD not in json.dumps(on_call) and "12 34 56 78" not in json.dumps(on_call)
            popped = _by_name(pop["call_data"])
            assert popped["plan"]["value"] == "gold" and popped["plan"]["source"] == "contact"
            assert popped["card"]["value"] == "****1111" and popped["card"]["masked"] is True
            assert popped["alt_phone"]["value"] == "****5678"
            assert pop["contact"]["custom_fields"]["card"] == "****1111"
            assert pop["contact"]["custom_fields"]["alt_phone"] == "****5678"

            # -- the agent's GET: its current call
            data = await client.ok("GET", base + "/call-data")
            assert data["attempt_id"] == aid and data["version"] == 0 and data["writable"]
            shown = _by_name(data)
            assert [v["name"] for v in data["variables"]] == [v["name"] for v in VARIABLES]
            assert shown["plan"] == {**shown["plan"], "value": "gold", "editable": False,
                                     "masked": False}
            assert shown["card"]["value"] == "****1111" and shown["card"]["secure"] is True
            assert shown["note"]["value"] == "" and shown["note"]["source"] == "empty"
            assert CARD not in json.dumps(data)

            # -- refused values name the variable; nothing is written
            for values, field, words in (({"note": "x" * 257}, "values.note", "256"),
                                         ({"plan": "platinum"}, "values.plan", "not editable"),
                                         ({"colour": "red"}, "values.colour", "no such")):
                status, body = await client.call("PUT", base + "/call-data",
                                                  {"attempt_id": aid, "version": 0,
                                                   "values": {"note": "ok", **values}})
                assert status == 422 and body["field"] == field and words in body["message"], body
            assert (await client.ok("GET", base + "/call-data"))["version"] == 0

            # -- two tabs save from version 0 at once: the first wins, the other is told
            saves = await asyncio.gather(*(client.call(
                "PUT", base + "/call-data",
                {"attempt_id": aid, "version": 0, "values": {"note": text}})
                for text in ("from tab 1", "from tab 2")))
            assert sorted(s for s, _ in saves) == [200, 409], saves
            (won,) = [b for s, b in saves if s == 200]
            (lost,) = [b for s, b in saves if s == 409]
            winner = _by_name(won)["note"]["value"]
            assert won["version"] == 1 and [c["name"] for c in won["saved"]] == ["note"]
            assert lost["error"] == "conflict" and lost["field"] == "version"
            assert lost["version"] == 1
            (changed,) = lost["changed"]
            assert changed["name"] == "note" and changed["value"] == winner
            assert changed["by"]["username"] == agent.username and changed["at"]
            assert _by_name(lost["call_data"])["note"]["value"] == winner
            pushed = await _event(events, lambda e: e["type"] == "call.data")
            assert pushed["data"]["version"] == 1 and pushed["data"]["attempt_id"] == aid

            # -- a secure variable: written by the agent, never read back in clear
            saved = await client.ok("PUT", base + "/call-data", {
                "attempt_id": aid, "version": 1,
                "values": {"card": NEW_CARD, "alt_phone": "+33 6 99 88 77 66"}})
            assert saved["version"] == 2
            assert _by_name(saved)["card"]["value"] == "****4242"
            assert _by_name(saved)["alt_phone"]["value"] == "****7766"
            assert NEW_CARD not in json.dumps(saved)
            # a page sending the masked value back as shown leaves the secret as it was
            same = await client.ok("PUT", base + "/call-data", {
                "attempt_id": aid, "version": 2, "values": {"card": "****4242"}})
            assert same["version"] == 2 and same["saved"] == []
            async with connect(database_url) as conn:
                rows = await fetch_all(conn, "SELECT name, value FROM call_data_values"
                                       " WHERE attempt_id = %s ORDER BY name", (aid,))
            assert {r["name"]: r["value"] for r in rows} == {
                "alt_phone": "+33 6 99 88 77 66", "card": NEW_CARD, "note": winner}

            # -- who may read: not another agent; a supervisor, masked too, read-only
            status, body = await intruder.call("GET", f"/api/v1/agents/{other.id}/call-data"
                                                      f"?attempt_id={aid}")
            assert status == 403 and body["field"] == "attempt_id", body
            status, _ = await intruder.call("GET", base + "/call-data")
            assert status == 403
            status, _ = await intruder.call("PUT", f"/api/v1/agents/{other.id}/call-data",
                                            {"attempt_id": aid, "version": 2,
                                             "values": {"note": "mine"}})
            assert status == 403
            watched = await boss.ok("GET", base + "/call-data")
            assert watched["attempt_id"] == aid and watched["writable"] is False
            assert _by_name(watched)["card"]["value"] == "****4242"
            assert _by_name(watched)["note"]["value"] == winner
            status, _ = await boss.call("PUT", base + "/call-data",
                                        {"attempt_id": aid, "version": 2, "values": {"note": "x"}})
            assert status == 403

            # -- wrap-up: still the agent's to edit; dispositioned: final
            await client.ok("POST", base + "/hangup", {})
            await _event(events, lambda e: e["type"] == "agent.state"
                         and e["data"]["state"] == "wrap_up")
            wrap = await client.ok("PUT", base + "/call-data", {
                "attempt_id": aid, "version": 2, "values": {"note": "wrapped"}})
            assert wrap["version"] == 3
            await client.ok("POST", base + "/disposition", {"attempt_id": aid, "code": "Sale"})
            status, body = await client.call("PUT", base + "/call-data", {
                "attempt_id": aid, "version": 3, "values": {"note": "too late"}})
            assert status == 409 and body["field"] == "attempt_id", body
            final = await client.ok("GET", base + f"/call-data?attempt_id={aid}")
            assert final["dispositioned"] is True and final["writable"] is False
            assert _by_name(final)["note"]["value"] == "wrapped"
            await client.ok("DELETE", base + "/session")
