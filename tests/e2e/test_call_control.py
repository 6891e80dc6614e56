"""Call control end to end over sockets (issue 12, MISSION E): consult, switch,
transfer (after a consultation and blind), conference of up to 8 with control passing
and post-call, recording pause/resume, and each refusal with the rule it names.

A progressive campaign gives agent 1 one long call; other agents log in afterwards (so
the call is agent 1's). Consulted numbers go through the transfer dial string, which the
tests point at pbxsim's customer lines (the digit at the end picks the outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    ApiClient,
    TestAgent,
    attempt_event_kinds,
    bridges,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
    wait_for,
)
from tests.support.pbxsim import PbxSim

pytestmark = pytest.mark.timeout(90)


@dataclass
class Scene:
    api: str
    agents: list[TestAgent]
    clients: list[ApiClient]
    attempt_id: str
    campaign_id: int
    pbx: PbxSim
    database_url: str

    def base(self, i: int) -> str:
        return f"/api/v1/agents/{self.agents[i].id}"

    async def session(self, i: int) -> dict[str, Any]:
        out: dict[str, Any] = await self.clients[i].ok("GET", self.base(i) + "/session")
        return out

    async def state(self, i: int, want: str, within: float = 15) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            s = await self.session(i)
            return s if s["state"] == want else None
        found: dict[str, Any] = await wait_for(reached, within, interval=0.1,
                                               what=f"agent {i + 1} never {want}")
        return found

    async def control(self, i: int) -> dict[str, Any]:
        out: dict[str, Any] = (await self.session(i))["call_control"]
        return out

    async def party_talking(self, i: int, n: int = 1, within: float = 15) -> dict[str, Any]:
        async def talking() -> dict[str, Any] | None:
            c = await self.control(i)
            up = [p for p in c["parties"] if p["state"] == "talking"]
            return c if len(up) >= n else None
        found: dict[str, Any] = await wait_for(talking, within, what="party never answered")
        return found

    async def refused(self, i: int, path: str, body: dict[str, Any], status: int = 409) -> str:
        got, payload = await self.clients[i].call("POST", self.base(i) + path, body)
        assert got == status, (path, got, payload)
        return str(payload.get("message") or payload)


@contextlib.asynccontextmanager
async def scene(database_url: str, pbx: PbxSim, tmp: Path, name: str, *, agents: int = 3,
                **campaign: Any) -> AsyncIterator[Scene]:
    num = number(hash(name) % 9000 + 100, 1)
    c = await make_campaign(database_url, name, mode="progressive", wrapup_seconds=600, **campaign)
    await asyncio.to_thread(import_numbers, database_url, name, [num], tmp)
    if not getattr(pbx, "real", False):
        # a real Asterisk's test line ending in 1 answers and talks 22 s by itself
        await pbx.script(num, "answer", ring_seconds=1, talk_seconds=600)
    # Agent phones are Local/agent...@dialer-agents: pbxsim's dialplan answers "_age[n]t."
    team = await make_agents(database_url, agents, prefix="agent" + name.replace("-", "") + "n")
    # Consulted numbers ring where customers do (pbxsim's lines, or a real Asterisk's test
    # lines): the last digit picks what the line does.
    customers = service_settings(database_url, pbx).customer_endpoint
    settings = service_settings(database_url, pbx, transfer_numbers="3361*,3362*",
                                transfer_endpoint=customers.replace("{e164}", "{number}"))
    async with running_service(settings) as rt, contextlib.AsyncExitStack() as stack:
        api = f"http://127.0.0.1:{rt.http_port}"
        clients = [await stack.enter_async_context(ApiClient(api, a.token)) for a in team]
        s = Scene(api, team, clients, "", c.id, pbx, database_url)
        await clients[0].ok("POST", s.base(0) + "/session", {"campaign": name})
        await clients[0].ok("POST", s.base(0) + "/state", {"state": "available"})
        on_call = await s.state(0, "on_call")
        s.attempt_id = on_call["call"]["attempt_id"]
        await wait_for(lambda: _connected(s), 15, what="agent 1 never connected")
        for i in range(1, agents):
            await clients[i].ok("POST", s.base(i) + "/session", {"campaign": name})
            await clients[i].ok("POST", s.base(i) + "/state", {"state": "available"})
        yield s


async def _connected(s: Scene) -> bool:
    c = (await s.session(0)).get("call_control")
    return bool(c and c["you_control"])


async def _members(s: Scene, channel: str) -> set[str]:
    """The channels sharing a bridge with ``channel`` in pbxsim (itself included)."""
    for b in await bridges(s.pbx):
        if channel in b["channels"]:
            return set(b["channels"])
    return set()


async def test_consult_an_agent_switch_and_complete_the_transfer(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    async with scene(database_url, pbx, tmp_path, "cc-xfer") as s:
        view = await s.clients[0].ok("POST", s.base(0) + "/consult",
                                     {"kind": "agent", "target": str(s.agents[1].id)})
        assert view["mode"] == "consult" and view["customer"]["on_hold"] is True
        await s.state(0, "consulting")
        view = await s.party_talking(0)
        party = view["parties"][0]
        assert party["agent_id"] == str(s.agents[1].id)
        # The customer is out of the room: agent 1 and agent 2 talk alone.
        assert s.attempt_id not in await _members(s, f"party1:{s.attempt_id}")
        assert (await s.session(1))["state"] == "on_call"
        # Switch: the customer back, the consulted agent on hold (never both held).
        view = await s.clients[0].ok("POST", s.base(0) + "/call/switch", {})
        assert view["customer"]["on_hold"] is False
        assert view["parties"][0]["state"] == "held"
        view = await s.clients[0].ok("POST", s.base(0) + "/call/switch", {})
        assert view["customer"]["on_hold"] is True and view["parties"][0]["state"] == "talking"
        # Complete: customer and agent 2 talk on; agent 1 goes to wrap-up.
        await s.clients[0].ok("POST", s.base(0) + "/transfer", {})
        await s.state(0, "wrap_up")
        members = await _members(s, s.attempt_id)
        assert f"party1:{s.attempt_id}" in members
        control = await s.control(1)
        assert control["you_control"] is True and control["controller"] == str(s.agents[1].id)
        # Agent 2 ends the call and wraps it up: the attempt's disposition is theirs,
        # agent 1's wrap-up is kept in the history.
        await s.clients[0].ok("POST", s.base(0) + "/disposition",
                              {"attempt_id": s.attempt_id, "code": "No answer"})
        await s.clients[1].ok("POST", s.base(1) + "/hangup", {})
        await s.state(1, "wrap_up")
        await s.clients[1].ok("POST", s.base(1) + "/disposition",
                              {"attempt_id": s.attempt_id, "code": "Sale"})
        kinds = (await attempt_event_kinds(database_url, s.campaign_id))[s.attempt_id]
        for k in ("consult", "party_joined", "transfer", "agent_left", "agent_wrapup"):
            assert k in kinds, kinds
        async with __import__("orchestrator.ledger.pool", fromlist=["connect"]).connect(
                database_url) as conn:
            cur = await conn.execute(
                "SELECT a.agent_id, w.label FROM attempts a JOIN wrapup_codes w"
                " ON w.id = a.wrapup_code_id WHERE a.id = %s", (s.attempt_id,))
            row = await cur.fetchone()
        assert row is not None and row[0] == s.agents[1].id and row[1] == "Sale"


async def test_refusals_name_their_rule(database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    async with scene(database_url, pbx, tmp_path, "cc-refuse") as s:
        # A held call cannot be ended.
        await s.clients[0].ok("POST", s.base(0) + "/hold", {})
        assert "held call cannot be ended" in await s.refused(0, "/hangup", {})
        await s.clients[0].ok("POST", s.base(0) + "/unhold", {})
        # A queue transfer never routes back to the agent asking: only agent 2 and 3 may
        # take it; with both made unavailable, none is found.
        for i in (1, 2):
            await s.clients[i].ok("POST", s.base(i) + "/state", {"state": "not_ready", "reason": "Break"})
        why = await s.refused(0, "/consult", {"kind": "queue", "target": ""})
        assert "never chosen" in why
        # No transfer to an agent in wrap-up / not available.
        why = await s.refused(0, "/transfer", {"kind": "agent", "target": str(s.agents[1].id)})
        assert "not available" in why
        # A number the admins did not admit never reaches the dial string.
        why = await s.refused(0, "/consult", {"kind": "number", "target": "+1 900 555 0100"}, 422)
        assert "ORCH_TRANSFER_NUMBERS" in why
        why = await s.refused(0, "/consult", {"kind": "number", "target": "12"}, 422)
        assert "3 to 18" in why
        # Agent 2 cannot act on agent 1's call.
        got, _ = await s.clients[1].call("POST", s.base(0) + "/consult",
                                          {"kind": "number", "target": "3361000001"})
        assert got == 403
        # During a consultation: no hold, no hang-up, no second consultation.
        await s.clients[0].ok("POST", s.base(0) + "/consult",
                              {"kind": "number", "target": "33610000011"})
        assert "switch" in await s.refused(0, "/hold", {})
        assert "held call cannot be ended" in await s.refused(0, "/hangup", {})
        assert "in progress" in await s.refused(0, "/consult", {"kind": "number",
                                                               "target": "33610000021"})
        assert "conference" in await s.refused(0, "/call/leave", {})
        await s.party_talking(0)
        await s.clients[0].ok("POST", s.base(0) + "/call/cancel-consult", {})
        view = await s.control(0)
        assert view["mode"] == "talk" and view["customer"]["on_hold"] is False
        assert view["parties"] == []


async def test_conference_of_eight_refuses_a_ninth_control_passes_and_post_call(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    async with scene(database_url, pbx, tmp_path, "cc-conf", agents=2, recording=True) as s:
        await s.clients[0].ok("POST", s.base(0) + "/consult",
                              {"kind": "agent", "target": str(s.agents[1].id)})
        await s.party_talking(0)
        view = await s.clients[0].ok("POST", s.base(0) + "/call/conference", {})
        assert view["mode"] == "conference"
        await s.state(0, "conferencing")
        assert "consultation or a conference" in await s.refused(0, "/call/pause-recording", {})
        # Customer, agent 1, agent 2 and five numbers: eight.
        for k in range(5):
            await s.clients[0].ok("POST", s.base(0) + "/consult",
                                  {"kind": "number", "target": f"336200000{k}1"})
        view = await s.party_talking(0, n=6, within=20)
        assert view["participants"] == 8
        assert "at most 8" in await s.refused(0, "/consult", {"kind": "number",
                                                             "target": "33620000091"})
        assert len(await _members(s, s.attempt_id)) == 8
        # The primary leaves: control passes to agent 2 (present longest); agent 1 wraps up.
        await s.clients[0].ok("POST", s.base(0) + "/call/leave", {})
        await s.state(0, "wrap_up")
        control = await s.control(1)
        assert control["you_control"] is True and control["participants"] == 7
        # The customer hangs up: the others stay connected (post-call).
        await s.pbx.far_end_hangup(s.attempt_id)
        async def post_call() -> bool:
            c = (await s.session(1)).get("call_control")
            return bool(c and c["mode"] == "post_call")
        await wait_for(post_call, 10, what="never post-call")
        assert len(await _members(s, f"party1:{s.attempt_id}")) == 6
        # Agent 2 removes the numbers one by one; alone with the last one, the call ends.
        control = await s.control(1)
        for p in [p for p in control["parties"] if p["kind"] == "number"][:-1]:
            await s.clients[1].ok("POST", s.base(1) + "/call/remove-party", {"party_id": p["party_id"]})
        await s.clients[1].ok("POST", s.base(1) + "/call/leave", {})
        await s.state(1, "wrap_up")

        async def no_bridge_left() -> bool:
            return not [b for b in await bridges(s.pbx) if s.attempt_id in b["id"]]
        await wait_for(no_bridge_left, 10, what="the call's bridge was left behind")
        kinds = (await attempt_event_kinds(database_url, s.campaign_id))[s.attempt_id]
        assert "customer_left" in kinds and "control_passed" in kinds and "conference" in kinds


async def test_blind_transfer_to_a_number_and_recording_pause(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    async with scene(database_url, pbx, tmp_path, "cc-blind", agents=1, recording=True) as s:
        view = await s.clients[0].ok("POST", s.base(0) + "/call/pause-recording", {})
        assert view["recording"]["paused"] is True
        assert "already paused" in await s.refused(0, "/call/pause-recording", {})
        view = await s.clients[0].ok("POST", s.base(0) + "/call/resume-recording", {})
        assert view["recording"]["paused"] is False
        await s.clients[0].ok("POST", s.base(0) + "/transfer",
                              {"kind": "number", "target": "3361-000-0041"})
        await s.state(0, "wrap_up")

        async def joined() -> bool:
            return f"party1:{s.attempt_id}" in await _members(s, s.attempt_id)
        await wait_for(joined, 15, what="the customer never reached the transfer's number")
        kinds = (await attempt_event_kinds(database_url, s.campaign_id))[s.attempt_id]
        assert kinds.count("recording_paused") == 1 and "recording_resumed" in kinds
        assert "transfer" in kinds and "party_joined" in kinds


async def test_a_queue_consult_reaches_another_agent_and_a_paused_recording_resumes_itself(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    async with scene(database_url, pbx, tmp_path, "cc-queue", agents=2, recording=True,
                     recording_resume_s=5) as s:
        await s.clients[0].ok("POST", s.base(0) + "/call/pause-recording", {})

        async def resumed() -> bool:
            return not (await s.control(0))["recording"]["paused"]
        # 5 s of campaign time (0.5 s at pbxsim's 10x): the agent forgot, the call did not.
        await wait_for(resumed, 5, what="the paused recording never resumed")
        kinds = (await attempt_event_kinds(database_url, s.campaign_id))[s.attempt_id]
        assert "recording_resumed" in kinds
        # The queue (the campaign's agents) never gives the call back to agent 1.
        async with s.clients[1].events() as events:
            view = await s.clients[0].ok("POST", s.base(0) + "/consult",
                                         {"kind": "queue", "target": ""})
            assert view["parties"][0]["agent_id"] == str(s.agents[1].id)
            await s.party_talking(0)
            await s.clients[0].ok("POST", s.base(0) + "/transfer", {})
            await s.state(0, "wrap_up")
            assert (await s.control(1))["you_control"] is True
            # Agent 2's desktop was told, without asking: its panel now has control.
            async with asyncio.timeout(5):
                while True:
                    e = await events.get()
                    if e["type"] == "call.control" and e["data"]["you_control"]:
                        break


@pytest.mark.parametrize("refuse", [False, True], ids=["201-then-failed", "refused-500"])
async def test_a_recording_asterisk_could_not_make_is_reported_not_assumed(
        database_url: str, pbx: PbxSim, tmp_path: Path, refuse: bool) -> None:
    """Asterisk answers 201 and then RecordingFailed, or (found on a real Asterisk 22
    whose recording directory was missing) 500 at once: either way the call is not
    shown as recorded."""
    if getattr(pbx, "real", False):
        pytest.skip("making a recording fail is a pbxsim switch")
    await pbx.fail_recordings("*", "Failed to answer channel", refuse=refuse)
    name = "cc-recref" if refuse else "cc-recfail"
    async with scene(database_url, pbx, tmp_path, name, agents=1, recording=True) as s:
        async def failed() -> bool:
            return bool((await s.control(0))["recording"]["failed"])
        await wait_for(failed, 10, what="the failed recording was never reported")
        view = await s.control(0)
        assert view["recording"]["name"] is None
        assert view["controls"]["pause_recording"]["enabled"] is False
        assert "not being recorded" in await s.refused(0, "/call/pause-recording", {})
        kinds = (await attempt_event_kinds(database_url, s.campaign_id))[s.attempt_id]
        assert "recording_failed" in kinds
