"""Supervision end to end (MISSION E): a supervisor listens, whispers and barges into a
live call from their own phone through ARI snoop channels and bridges, switches modes
without being rung again, and leaves nothing behind in the PBX; the call's end ends the
supervision; a call in wrap-up, a second supervision, a refused phone and an agent's
token are refused; every action (and a supervisor's forcing of an agent's state or
logout) is in audit_log with who did it and no phone.

Judged from the PBX's own ARI (``GET /channels``, ``GET /bridges``): which channel the
snoop is on (``Snoop/<agent channel>-N``), what it serves (its Stasis arguments), who is
in which bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger.pool import connect, fetch_all
from orchestrator.runtime import Runtime
from tests.e2e.support import (
    REAL_ASTERISK,
    ApiClient,
    ari,
    bridges,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
    start_service_process,
    wait_for,
)
from tests.e2e.support import (
    TestAgent as Caller,
)
from tests.support import asterisk as asterisk_target
from tests.support.pbxsim import PbxSim

SUPERVISOR_PHONE = (f"Local/testagent9@{asterisk_target.TESTLINES}" if REAL_ASTERISK
                    else "Local/agentboss@dialer-agents")
"""The supervisor's configured phone (pbxsim answers the agent* phones of [dialer-agents])."""
SECOND_SUPERVISOR_PHONE = (f"Local/testagent8@{asterisk_target.TESTLINES}" if REAL_ASTERISK
                           else "Local/agentboss2@dialer-agents")


@dataclass
class World:
    rt: Runtime
    agent: Caller
    sup: Caller
    agent_api: ApiClient
    sup_api: ApiClient
    e164: str

    @property
    def base(self) -> str:
        return f"/api/v1/agents/{self.agent.id}"


@contextlib.asynccontextmanager
async def _world(database_url: str, pbx: PbxSim, tmp: Path, name: str, *,
                 nailed_up: bool, ring_seconds: float = 1) -> AsyncIterator[World]:
    """A progressive campaign with one customer who talks for ever, an agent logged in and
    available, a supervisor with a phone of their own."""
    e164 = number(hash(name) % 1000, 1)
    await make_campaign(database_url, name, mode="progressive", wrapup_seconds=600)
    await asyncio.to_thread(import_numbers, database_url, name, [e164], tmp)
    if not getattr(pbx, "real", False):  # a real test line ending in 0-4 answers by itself
        await pbx.script(e164, "answer", ring_seconds=ring_seconds, talk_seconds=3000)
    (agent,) = await make_agents(database_url, 1)
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    async with connect(database_url) as conn:
        await agents_ledger.update_agent(conn, sup.username, endpoint=SUPERVISOR_PHONE)
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as agent_api, ApiClient(api, sup.token) as sup_api:
            w = World(rt, agent, sup, agent_api, sup_api, e164)
            await agent_api.ok("POST", w.base + "/session", {"campaign": name, "nailed_up": nailed_up})
            await agent_api.ok("POST", w.base + "/state", {"state": "available"})
            yield w


async def _call_in(w: World, state: str) -> str:
    async def found() -> str | None:
        for c in (await w.sup_api.ok("GET", "/api/v1/calls"))["calls"]:
            if c["state"] == state:
                return str(c["attempt_id"])
        return None

    return str(await wait_for(found, 20, what=f"a call {state}"))


async def _pbx(pbx: PbxSim) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]]:
    """The PBX's channels by id, and each bridge's members."""
    channels = {c["id"]: c for c in await ari(pbx, "GET", "/channels")}
    return channels, {b["id"]: set(b["channels"]) for b in await bridges(pbx)}


async def _until(pbx: PbxSim, check: Any, what: str) -> tuple[dict[str, dict[str, Any]],
                                                                dict[str, set[str]]]:
    """Poll the PBX until ``check(channels, bridges)`` holds; its state then."""
    async def ok() -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]] | None:
        state = await _pbx(pbx)
        return state if check(*state) else None

    try:
        return await wait_for(ok, 10, interval=0.05)  # type: ignore[no-any-return]
    except TimeoutError:
        channels, members = await _pbx(pbx)
        raise AssertionError(f"{what}: channels {sorted(channels)}, bridges {members}") from None


def _ours(channels: dict[str, Any], members: dict[str, set[str]]) -> list[str]:
    """What supervision made that is still in the PBX."""
    return ([c for c in channels if c.startswith(("sup:", "snoop"))]
            + [b for b in members if b.startswith("supervision:")])


async def _audit(database_url: str) -> list[dict[str, Any]]:
    async with connect(database_url) as conn:
        return await fetch_all(conn, "SELECT actor, action, object_type, object_id, details"
                                     " FROM audit_log WHERE action LIKE 'supervision.%%'"
                                     " OR action LIKE 'agent.force%%' ORDER BY id")


def _snoop_of(channels: dict[str, Any], sid: str, n: int) -> dict[str, Any]:
    return channels[f"snoop{n}:{sid}"]


@pytest.mark.timeout(60)
async def test_listen_whisper_barge_on_one_ring_then_nothing_left(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    async with _world(database_url, pbx, tmp_path, "svmodes", nailed_up=False,
                      ring_seconds=20) as w:
        sup = w.sup_api
        # Not connected yet (the customer rings for 2 s at speed 10): refused, naming why.
        ringing = await _call_in(w, "ringing")
        status, body = await sup.call("POST", f"/api/v1/calls/{ringing}/supervise",
                                      {"mode": "listen"})
        assert (status, body["field"]) == (409, "attempt_id"), body
        assert "not bridged" in body["message"], body

        aid = await _call_in(w, "bridged")
        call_bridge, agent_leg = f"{aid}:bridge", f"agent:{aid}"
        # An agent may not supervise; a phone the gate refuses is named.
        status, _ = await w.agent_api.call("POST", f"/api/v1/calls/{aid}/supervise",
                                           {"mode": "listen"})
        assert status == 403
        status, body = await sup.call("POST", f"/api/v1/calls/{aid}/supervise",
                                      {"mode": "listen", "endpoint": f"Local/{w.e164[1:]}@dialer-out"})
        assert (status, body["field"]) == (422, "endpoint"), body

        started = await sup.ok("POST", f"/api/v1/calls/{aid}/supervise", {"mode": "listen"})
        sid = started["supervision_id"]
        assert started["attempt_id"] == aid and started["mode"] == "listen"
        assert started["agent_id"] == w.agent.id and started["supervisor_id"] == w.sup.id
        leg, own = f"sup:{sid}", f"supervision:{sid}"

        # listen: the supervisor's answered leg and a snoop on the agent's channel, in a
        # bridge of their own; the call's bridge is untouched.
        channels, members = await _until(
            pbx, lambda ch, br: br.get(own) == {leg, f"snoop1:{sid}"}, "listening")
        snoop = _snoop_of(channels, sid, 1)
        assert snoop["name"].startswith(f"Snoop/{agent_leg}-"), snoop
        assert snoop["dialplan"]["app_data"] == f"{w.rt.settings.ari_app},snoop,{sid},listen"
        assert members[call_bridge] == {aid, agent_leg}
        assert channels[leg]["state"] == "Up"
        rung_at = channels[leg]["creationtime"]
        mine = await sup.ok("GET", "/api/v1/supervisions")
        assert [(s["supervision_id"], s["state"]) for s in mine["supervisions"]] == [(sid, "active")]

        # One supervision at a time.
        status, body = await sup.call("POST", f"/api/v1/calls/{aid}/supervise", {"mode": "barge"})
        assert (status, body["field"]) == (409, "supervision_id"), body

        # whisper: a second snoop (directions cannot change), the first hung up, same leg.
        changed = await sup.ok("PATCH", f"/api/v1/supervisions/{sid}", {"mode": "whisper"})
        assert changed["mode"] == "whisper" and changed["state"] == "active"
        channels, members = await _until(
            pbx, lambda ch, br: br.get(own) == {leg, f"snoop2:{sid}"} and f"snoop1:{sid}" not in ch,
            "whispering")
        assert _snoop_of(channels, sid, 2)["name"].startswith(f"Snoop/{agent_leg}-")
        assert _snoop_of(channels, sid, 2)["dialplan"]["app_data"] == \
            f"{w.rt.settings.ari_app},snoop,{sid},whisper"
        assert channels[leg]["creationtime"] == rung_at, "the supervisor was rung again"
        assert members[call_bridge] == {aid, agent_leg}

        # barge: the leg moves into the call's bridge; no snoop left.
        await sup.ok("PATCH", f"/api/v1/supervisions/{sid}", {"mode": "barge"})
        channels, members = await _until(
            pbx, lambda ch, br: br.get(call_bridge) == {aid, agent_leg, leg}
            and not [c for c in ch if c.startswith("snoop")], "barging")
        assert members[own] == set() and channels[leg]["creationtime"] == rung_at

        # back to listen: out of the call's bridge, a new snoop.
        await sup.ok("PATCH", f"/api/v1/supervisions/{sid}", {"mode": "listen"})
        await _until(pbx, lambda ch, br: br.get(own) == {leg, f"snoop3:{sid}"}
                     and br.get(call_bridge) == {aid, agent_leg}, "listening again")

        ended = await sup.ok("DELETE", f"/api/v1/supervisions/{sid}")
        assert ended["state"] == "ended" and ended["ended_reason"] == "stopped by the supervisor"
        channels, members = await _until(pbx, lambda ch, br: not _ours(ch, br), "all gone")
        assert members[call_bridge] == {aid, agent_leg}, "the call goes on"
        assert (await sup.ok("GET", "/api/v1/supervisions"))["supervisions"] == []
        status, _ = await sup.call("DELETE", f"/api/v1/supervisions/{sid}")
        assert status == 404

        # A supervision still up when the service stops: the supervisor's phone is hung up.
        again = (await sup.ok("POST", f"/api/v1/calls/{aid}/supervise",
                              {"mode": "barge"}))["supervision_id"]
        await _until(pbx, lambda ch, br: f"sup:{again}" in br.get(call_bridge, ()), "barging")
    channels, members = await _until(pbx, lambda ch, br: not _ours(ch, br), "gone at shutdown")
    assert members[call_bridge] == {aid, agent_leg}, "the call is left to the next start"

    rows = await _audit(database_url)
    assert [(r["actor"], r["action"], r["details"].get("mode")) for r in rows] == [
        ("supervisor:sup1", "supervision.start", "listen"),
        ("supervisor:sup1", "supervision.mode", "whisper"),
        ("supervisor:sup1", "supervision.mode", "barge"),
        ("supervisor:sup1", "supervision.mode", "listen"),
        ("supervisor:sup1", "supervision.stop", "listen"),
        ("supervisor:sup1", "supervision.start", "barge"),
        ("system", "supervision.end", "barge"),
    ]
    assert rows[-1]["details"]["reason"] == "the service is stopping"
    for r in rows[:-2]:
        assert (r["object_type"], r["object_id"]) == ("attempt", aid)
        assert r["details"]["supervisor_id"] == w.sup.id
        assert r["details"]["supervision_id"] == sid
        text = json.dumps(r["details"])
        assert "Local/" not in text and w.e164[-8:] not in text, text


@pytest.mark.timeout(60)
async def test_the_calls_end_ends_the_supervision_and_wrap_up_is_refused(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """A nailed-up agent: the call's bridge is the agent's own and outlives the call, so
    only the call's end can take the barging supervisor out of it."""
    async with _world(database_url, pbx, tmp_path, "svend", nailed_up=True) as w:
        aid = await _call_in(w, "bridged")
        started = await w.sup_api.ok("POST", f"/api/v1/calls/{aid}/supervise", {"mode": "barge"})
        sid = started["supervision_id"]
        leg = f"sup:{sid}"
        agent_bridge = f"agent.{w.agent.id}.bridge"
        channels, members = await _until(pbx, lambda ch, br: leg in br.get(agent_bridge, ()),
                                         "barging into the agent's bridge")
        assert aid in members[agent_bridge] and len(members[agent_bridge]) == 3

        await w.agent_api.ok("POST", w.base + "/hangup", {})
        channels, members = await _until(pbx, lambda ch, br: not _ours(ch, br), "all gone")
        assert aid not in channels and len(members[agent_bridge]) == 1, "the agent's leg stays"
        assert (await w.sup_api.ok("GET", "/api/v1/supervisions"))["supervisions"] == []
        assert (await w.agent_api.ok("GET", w.base + "/session"))["state"] == "wrap_up"

        status, body = await w.sup_api.call("POST", f"/api/v1/calls/{aid}/supervise",
                                            {"mode": "listen"})
        assert (status, body["field"]) == (409, "attempt_id"), body
        assert "wrap-up" in body["message"], body
        status, body = await w.sup_api.call(
            "POST", "/api/v1/calls/00000000-0000-4000-8000-000000000000/supervise",
            {"mode": "listen"})
        assert status == 404, body
        status, body = await w.sup_api.call("POST", "/api/v1/calls/not-a-call/supervise",
                                            {"mode": "listen"})
        assert (status, body["field"]) == (400, "attempt_id"), body

    rows = await _audit(database_url)
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("supervisor:sup1", "supervision.start"), ("system", "supervision.end")]
    assert rows[1]["details"]["reason"] == "the call is hanging up", rows[1]
    assert rows[1]["details"]["supervisor_id"] == w.sup.id


@pytest.mark.timeout(60)
async def test_a_supervisor_forcing_an_agents_state_or_logout_is_audited(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    await make_campaign(database_url, "svforce", mode="progressive")
    (agent,) = await make_agents(database_url, 1)
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    base = f"/api/v1/agents/{agent.id}"
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as me, ApiClient(api, sup.token) as boss:
            await me.ok("POST", base + "/session", {"campaign": "svforce"})
            await me.ok("POST", base + "/state", {"state": "available"})  # its own: not audited
            await boss.ok("POST", base + "/state", {"state": "not_ready", "reason": "coaching"})
            await boss.ok("DELETE", base + "/session")
            assert (await me.ok("GET", base + "/session"))["state"] == "logged_out"
    rows = await _audit(database_url)
    assert [(r["actor"], r["action"], r["object_type"], r["object_id"]) for r in rows] == [
        ("supervisor:sup1", "agent.force_state", "agent", str(agent.id)),
        ("supervisor:sup1", "agent.force_logout", "agent", str(agent.id)),
    ]
    forced, out = (r["details"] for r in rows)
    assert forced == {"supervisor_id": sup.id, "previous_state": "available",
                      "requested": "not_ready", "reason": "coaching", "state": "not_ready"}
    assert out["supervisor_id"] == sup.id and out["previous_state"] == "not_ready"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(90)
async def test_a_crashed_services_supervisions_leave_no_orphan(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """SIGKILL while one supervisor barges and another listens: the restarted service adopts
    the call and leaves it talking, but hangs up both supervisors' legs and the snoop (the
    barging leg shares the adopted call's bridge, which would otherwise keep it) and
    destroys the listening supervision's bridge once empty."""
    e164 = number(901, 0)
    await make_campaign(database_url, "svcrash", mode="progressive")
    await asyncio.to_thread(import_numbers, database_url, "svcrash", [e164], tmp_path)
    if not getattr(pbx, "real", False):  # a real test line ending in 0-4 answers by itself
        await pbx.script(e164, "answer", ring_seconds=1, talk_seconds=3000)
    (agent,) = await make_agents(database_url, 1)
    barger, listener = await make_agents(database_url, 2, prefix="sup", role="supervisor")
    async with connect(database_url) as conn:
        for who, phone in ((barger, SUPERVISOR_PHONE), (listener, SECOND_SUPERVISOR_PHONE)):
            await agents_ledger.update_agent(conn, who.username, endpoint=phone)
    settings = service_settings(database_url, pbx, instance_id="svcrash-1",
                                http_port=_free_port())
    svc = await start_service_process(settings, tmp_path / "svc0.log")
    try:
        async with ApiClient(svc.api, agent.token) as me, \
                ApiClient(svc.api, barger.token) as b1, ApiClient(svc.api, listener.token) as b2:
            base = f"/api/v1/agents/{agent.id}"
            await me.ok("POST", base + "/session", {"campaign": "svcrash", "nailed_up": False})
            await me.ok("POST", base + "/state", {"state": "available"})

            async def bridged() -> str | None:
                for c in (await b1.ok("GET", "/api/v1/calls"))["calls"]:
                    if c["state"] == "bridged":
                        return str(c["attempt_id"])
                return None

            aid = await wait_for(bridged, 20)
            barge = (await b1.ok("POST", f"/api/v1/calls/{aid}/supervise",
                                 {"mode": "barge"}))["supervision_id"]
            listen = (await b2.ok("POST", f"/api/v1/calls/{aid}/supervise",
                                  {"mode": "listen"}))["supervision_id"]
            call_bridge = f"{aid}:bridge"
            await _until(pbx, lambda ch, br: f"sup:{barge}" in br.get(call_bridge, ())
                         and br.get(f"supervision:{listen}") == {f"sup:{listen}",
                                                                 f"snoop1:{listen}"},
                         "barging and listening")
    finally:
        await svc.kill()
    svc = await start_service_process(settings, tmp_path / "svc1.log")
    try:
        channels, members = await _until(pbx, lambda ch, br: not _ours(ch, br),
                                         "the supervisions' orphans gone")
        assert members.get(call_bridge) == {aid, f"agent:{aid}"}, "the call talks on"
    finally:
        assert await svc.terminate() == 0
