"""Masking turned on in the middle of a call (MISSION E; issue 10, item 4): the call in
progress is masked from the next send on, in the agent's session (GET) and in the next
event pushed to it. The screen pop used to be cached as the JSON first sent, masking
decided once when the card was read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    ApiClient,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
)
from tests.support.pbxsim import PbxSim


async def _event(events: asyncio.Queue[dict[str, Any]], pred: Any, within: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            e = await events.get()
            if pred(e):
                return e


@pytest.mark.timeout(60)
async def test_masking_turned_on_mid_call_masks_that_call_on_the_next_send(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    num = number(91, 1)
    await make_campaign(database_url, "midmask", mode="progressive", masking=False,
                        wrapup_seconds=600)
    await asyncio.to_thread(import_numbers, database_url, "midmask", [num], tmp_path)
    await pbx.script(num, "answer", ring_seconds=1, talk_seconds=60)
    (agent,) = await make_agents(database_url, 1)
    (adm,) = await make_agents(database_url, 1, prefix="adm", role="admin")
    base = f"/api/v1/agents/{agent.id}"
    masked = "****" + num[-4:]
    digits = num.lstrip("+")[-8:]
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events, \
                ApiClient(api, adm.token) as admin:
            await client.ok("POST", base + "/session", {"campaign": "midmask"})
            await client.ok("POST", base + "/state", {"state": "available"})
            on_call = await _event(events, lambda e: e["type"] == "agent.state"
                                   and e["data"]["state"] == "on_call" and "call" in e["data"])
            await _event(events, lambda e: e["type"] == "call.state" and e["data"]["state"] == "bridged")
            # Not masked yet: the agent sees the number in full.
            assert on_call["data"]["call"]["target"]["number"] == num
            session = await client.ok("GET", base + "/session")
            assert session["call"]["target"]["number"] == num and not session["call"]["target"]["masked"]

            await admin.ok("PATCH", "/api/v1/campaigns/midmask", {"masking": True})
            # The next GET of the call in progress is masked ...
            session = await client.ok("GET", base + "/session")
            assert session["state"] == "on_call"
            target = session["call"]["target"]
            assert target["number"] == masked and target["e164"] == masked and target["masked"] is True
            assert digits not in json.dumps(session)
            # ... and so is the next push (the wrap-up state carries the same call).
            await client.ok("POST", base + "/hangup", {})
            wrap = await _event(events, lambda e: e["type"] == "agent.state"
                                and e["data"]["state"] == "wrap_up" and "call" in e["data"])
            assert wrap["data"]["call"]["attempt_id"] == on_call["data"]["call"]["attempt_id"]
            assert wrap["data"]["call"]["target"]["number"] == masked
            assert digits not in json.dumps(wrap)
            # Supervisors' live calls read the setting per request too.
            live = await admin.ok("GET", "/api/v1/calls")
            assert digits not in json.dumps(live)
            await client.ok("POST", base + "/disposition",
                            {"attempt_id": wrap["data"]["call"]["attempt_id"], "code": "Sale"})
            await client.ok("DELETE", base + "/session")


@pytest.mark.timeout(60)
async def test_masking_turned_on_masks_the_preview_on_screen(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """A preview offered unmasked, then masking turned on: the agent's next read of it is
    masked (the preview used to keep the setting it had when offered)."""
    num = number(92, 1)
    await make_campaign(database_url, "pvmask", mode="direct_preview", masking=False,
                        preview_timeout_s=120)
    await asyncio.to_thread(import_numbers, database_url, "pvmask", [num], tmp_path)
    (agent,) = await make_agents(database_url, 1)
    (adm,) = await make_agents(database_url, 1, prefix="adm", role="admin")
    base = f"/api/v1/agents/{agent.id}"
    digits = num.lstrip("+")[-8:]
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events, \
                ApiClient(api, adm.token) as admin:
            await client.ok("POST", base + "/session", {"campaign": "pvmask"})
            await client.ok("POST", base + "/state", {"state": "available"})
            shown = await _event(events, lambda e: e["type"] == "preview.show")
            assert shown["data"]["target"]["number"] == num
            await admin.ok("PATCH", "/api/v1/campaigns/pvmask", {"masking": True})
            session = await client.ok("GET", base + "/session")
            preview = session["preview"]
            assert preview["preview_id"] == shown["data"]["preview_id"]
            assert preview["target"]["number"] == "****" + num[-4:]
            assert preview["target"]["masked"] is True
            assert digits not in json.dumps(preview)
