"""Callbacks of every kind, actually dialed, end to end over sockets: PostgreSQL, pbxsim
(ARI + AMI), the service's HTTP API and WebSocket, agents acting through the API.

A scheduled callback booked through the API for tomorrow is made due by moving its window
in the ledger (time passing), never by a shortcut in the service."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from orchestrator import cli
from orchestrator.commands.simulate_agents import SimStats, SimulatedAgent
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import callbacks as callbacks_ledger
from orchestrator.ledger.pool import connect, execute, fetch_all, fetch_one
from tests.e2e.support import (
    ApiClient,
    TestAgent,
    attempts,
    customer_calls,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    observe_pbx,
    running_service,
    service_settings,
    wait_for,
)
from tests.support.pbxsim import PbxSim

PARIS = ZoneInfo("Europe/Paris")


def _settings(url: str, pbx: PbxSim, **kw: Any) -> Any:
    return service_settings(url, pbx, callback_tick_s=0.2, **kw)


def _tomorrow() -> str:
    return (datetime.now(PARIS) + timedelta(days=1)).date().isoformat()


def _booking(phone: str, campaign: str, **kw: Any) -> dict[str, Any]:
    """An API body: a callback tomorrow 10:00-11:00 in Paris (``kw`` changes it; a value
    None leaves its field out)."""
    body = {"phone": phone, "name": "Zoë Ünal", "date": _tomorrow(), "start_time": "10:00",
            "end_time": "11:00", "time_zone": "Europe/Paris", "campaign": campaign,
            "reason": "asked to be called back", **kw}
    return {k: v for k, v in body.items() if v is not None}


async def _make_due(url: str, callback_id: int) -> None:
    """Time passes: the callback's window has started (and lasts an hour)."""
    async with connect(url) as conn:
        await execute(conn, "UPDATE callbacks SET window_start = now() - interval '1 second',"
                            " window_end = now() + interval '1 hour' WHERE id = %s", (callback_id,))


async def _row(url: str, callback_id: int) -> dict[str, Any]:
    async with connect(url) as conn:
        row = await fetch_one(conn, "SELECT * FROM callbacks WHERE id = %s", (callback_id,))
    assert row is not None
    return row


async def _until_status(url: str, callback_id: int, statuses: tuple[str, ...], within: float = 20) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        row = await _row(url, callback_id)
        return row if row["status"] in statuses else None

    try:
        return await wait_for(ended, within)  # type: ignore[no-any-return]
    except TimeoutError:
        async with connect(url) as conn:
            history = await fetch_all(
                conn, "SELECT a.outcome, a.wrapup_code_id, t.unavailable_reason, t.available_from,"
                      " t.last_outcome FROM attempts a JOIN targets t ON t.id = a.target_id"
                      " WHERE a.callback_id = %s ORDER BY a.created_at", (callback_id,))
        raise AssertionError(f"callback {callback_id}: {await _row(url, callback_id)}; "
                             f"attempts: {history}") from None


async def _callback_attempts(url: str, callback_id: int) -> list[dict[str, Any]]:
    async with connect(url) as conn:
        return await fetch_all(conn, "SELECT * FROM attempts WHERE callback_id = %s ORDER BY created_at",
                               (callback_id,))


@contextlib.asynccontextmanager
async def _simulated(api: str, agent: TestAgent, campaign: str, *,
                     codes: tuple[str, ...] = ("Sale",)) -> AsyncIterator[SimStats]:
    """An agent desktop that logs in, answers its calls, hangs up and dispositions."""
    stats = SimStats()
    sim = SimulatedAgent(api, agent.id, agent.token, campaign, agent.endpoint, talk=(0.2, 0.3),
                         wrap=(0.05, 0.1), codes=list(codes), rng=random.Random(agent.id),
                         stats=stats)
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    try:
        yield stats
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _next(events: asyncio.Queue[dict[str, Any]], kind: str, within: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            e = await events.get()
            if e["type"] == kind:
                return e


def _cli(*args: str) -> int:
    return cli.main(list(args))


# ------------------------------------------------------------------ scheduled, agent first


@pytest.mark.timeout(60)
async def test_a_scheduled_callback_is_dialed_when_due_agent_first_then_customer(
        database_url: str, pbx: PbxSim) -> None:
    # a customer-first campaign: its callbacks still ring the agent first
    await make_campaign(database_url, "cb-sched", mode="progressive",
                        progressive_flavour="customer_first")
    (agent,) = await make_agents(database_url, 1)
    phone = number(501, 1)
    async with observe_pbx(pbx) as seen, running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events:
            booked = await client.ok("POST", "/api/v1/callbacks",
                                     _booking(phone[:3] + " " + phone[3:], "cb-sched"))
            assert booked["kind"] == "scheduled" and booked["status"] == "pending"
            assert booked["e164"] == phone and booked["campaign"] == "cb-sched"
            async with _simulated(api, agent, "cb-sched"):
                await asyncio.sleep(0.5)
                assert await _callback_attempts(database_url, booked["id"]) == []  # not yet due
                await _make_due(database_url, booked["id"])
                announced = await _next(events, "callback.call")
                row = await _until_status(database_url, booked["id"], ("done", "failed"))
            listed = await client.ok("GET", "/api/v1/callbacks?status=done")
    assert row["status"] == "done" and row["result"] == "answered" and row["attempts_made"] == 1
    assert announced["agent_id"] == agent.id
    assert announced["data"]["callback_id"] == booked["id"] and announced["data"]["number"] == phone
    assert announced["data"]["name"] == "Zoë Ünal" and announced["data"]["attempt"] == 1
    (att,) = await _callback_attempts(database_url, booked["id"])
    assert att["agent_id"] == agent.id and att["mode"] == "callback" and att["outcome"] == "human"
    assert str(att["id"]) == announced["data"]["attempt_id"] == str(row["attempt_id"])
    assert [c["id"] for c in listed["callbacks"]] == [booked["id"]]
    # agent first: its leg was up before the customer's channel existed
    aid = str(att["id"])
    ids = [(i, e) for i, e in enumerate(seen) if isinstance(e.get("channel"), dict)]
    agent_up = min(i for i, e in ids if e["channel"]["id"] == f"agent:{aid}"
                   and e["channel"].get("state") == "Up")
    customer_first = min(i for i, e in ids if e["channel"]["id"] == aid)
    assert agent_up < customer_first
    assert [c["number"] for c in customer_calls(pbx)] == [phone.lstrip("+")]


# ------------------------------------------------------------------ personal


@pytest.mark.timeout(60)
async def test_a_personal_callback_reaches_its_agent_first(database_url: str, pbx: PbxSim,
                                                          tmp_path: Path) -> None:
    async with connect(database_url) as conn:
        await agents_ledger.create_team(conn, "blue")
    campaign = await make_campaign(database_url, "cb-pers", mode="progressive",
                                   progressive_flavour="agent_first", teams=["blue"])
    await asyncio.to_thread(import_numbers, database_url, "cb-pers",
                            [number(600 + i, 1) for i in range(6)], tmp_path)
    first, second = await make_agents(database_url, 2, teams=["blue"])
    async with running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, first.token) as client:
            # the first agent books it for the second (an agent of the same team)
            booked = await client.ok("POST", "/api/v1/callbacks", _booking(
                number(690, 2), "cb-pers", assign_to="agent", agent=second.username))
            assert booked["kind"] == "personal" and booked["assigned_agent_id"] == second.id
            await _make_due(database_url, booked["id"])

            async def waiting() -> str | None:
                got = await client.ok("GET", f"/api/v1/callbacks/{booked['id']}")
                return got["waiting_reason"] if got["waiting_reason"] == "Agent not logged in" else None

            assert await wait_for(waiting, 10) == "Agent not logged in"
            # both available, the first one longest: the callback is still the second's
            async with _simulated(api, first, "cb-pers"):
                await asyncio.sleep(0.5)
                async with _simulated(api, second, "cb-pers"):
                    row = await _until_status(database_url, booked["id"], ("done", "failed"))
                    await asyncio.sleep(0.5)
    assert row["status"] == "done"
    (att,) = await _callback_attempts(database_url, booked["id"])
    assert att["agent_id"] == second.id
    seconds = [r for r in await attempts(database_url, campaign.id) if r["agent_id"] == second.id]
    assert seconds[0]["id"] == att["id"], "the callback was the second agent's next interaction"
    assert any(r["agent_id"] == first.id for r in await attempts(database_url, campaign.id))


# ------------------------------------------------------------------ never outside the rules


@pytest.mark.timeout(60)
async def test_callbacks_held_back_by_the_calling_window_and_a_dnc_entry_added_after_booking(
        database_url: str, pbx: PbxSim, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    today = datetime.now(PARIS).isoweekday()
    closed = await make_campaign(database_url, "cb-closed", mode="progressive",
                                 window_days=[d for d in range(1, 8) if d != today])
    await make_campaign(database_url, "cb-dnc", mode="progressive")
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    a1, a2 = await make_agents(database_url, 2)
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)
    async with running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, sup.token) as client:
            in_window = await client.ok("POST", "/api/v1/callbacks",
                                        _booking(number(701, 1), "cb-closed"))
            on_dnc = await client.ok("POST", "/api/v1/callbacks", _booking(number(702, 1), "cb-dnc"))
            # booked first; the customer asks not to be called after
            assert await asyncio.to_thread(_cli, "dnc", "add", number(702, 1), "--source",
                                           "opt-out") == 0
            for cb in (in_window, on_dnc):
                await _make_due(database_url, cb["id"])
            async with _simulated(api, a1, "cb-closed"), _simulated(api, a2, "cb-dnc"):
                async def reasons() -> dict[int, str] | None:
                    got = await client.ok("GET", "/api/v1/callbacks?status=open")
                    found = {c["id"]: c["waiting_reason"] for c in got["callbacks"]}
                    return found if None not in found.values() and len(found) == 2 else None

                found = await wait_for(reasons, 10)
                await asyncio.sleep(1.0)  # several ticks: still nothing dialed
                still = await client.ok("GET", "/api/v1/callbacks?status=open")
    assert found == {in_window["id"]: "Outside calling window", on_dnc["id"]: "DNC"}
    assert {c["id"]: c["status"] for c in still["callbacks"]} == {
        in_window["id"]: "pending", on_dnc["id"]: "pending"}
    assert await attempts(database_url) == [] and customer_calls(pbx) == []
    assert (await _row(database_url, in_window["id"]))["next_try_at"] is not None
    capsys.readouterr()
    assert await asyncio.to_thread(_cli, "callbacks", "list", "--campaign", "cb-closed") == 0
    out = capsys.readouterr().out
    assert "Outside calling window" in out and number(701, 1) in out and "Zoë Ünal" in out
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(in_window["id"])]
    assert in_window["campaign_id"] == closed.id


# ------------------------------------------------------------------ attempts


@pytest.mark.timeout(60)
async def test_no_answer_then_answer_on_the_second_attempt(database_url: str, pbx: PbxSim) -> None:
    await make_campaign(database_url, "cb-retry", mode="progressive", callback_attempts=3,
                        callback_retry_delay="2s", cadence={"no_answer": 0}, wrapup_seconds=2)
    (agent,) = await make_agents(database_url, 1)
    phone = number(801, 1)
    await pbx.script(phone, "noanswer", ring_seconds=60)  # until our no-answer timer
    async with connect(database_url) as conn:
        row = await fetch_one(conn, "SELECT id FROM campaigns WHERE name = 'cb-retry'")
        assert row is not None
        _, token = await callbacks_ledger.create_web_token(conn, "retry-site", row["id"])
    async with running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, token) as web:
            made = await web.ok("POST", "/api/v1/web-callbacks", {"name": "Ada", "phone": phone})
        cid = made["callback_id"]
        async with _simulated(api, agent, "cb-retry"):
            async def first_ended() -> bool:
                rows = await _callback_attempts(database_url, cid)
                return bool(rows) and rows[0]["ended_at"] is not None

            await wait_for(first_ended, 20)
            await pbx.script(phone, "answer")
            row = await _until_status(database_url, cid, ("done", "failed"))
    assert (row["status"], row["attempts_made"], row["result"]) == ("done", 2, "answered")
    rows = await _callback_attempts(database_url, cid)
    assert [r["outcome"] for r in rows] == ["no_answer", "human"]
    assert rows[1]["created_at"] - rows[0]["ended_at"] >= timedelta(seconds=2)  # the retry delay
    assert [c["number"] for c in customer_calls(pbx)] == [phone.lstrip("+")] * 2


@pytest.mark.timeout(60)
async def test_an_answering_machine_ends_the_callback(database_url: str, pbx: PbxSim) -> None:
    campaign = await make_campaign(database_url, "cb-machine", mode="progressive",
                                   callback_attempts=3, callback_retry_delay=0,
                                   cadence={"machine": 0, "no_answer": 0})
    (agent,) = await make_agents(database_url, 1)
    phone = number(802, 8)  # pbxsim: an answering machine answers
    async with connect(database_url) as conn:
        cb = await callbacks_ledger.create_web_callback(conn, campaign_id=campaign.id, phone=phone,
                                                        name="Machine Owner")
    async with running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        # the agent hears the machine and says so (a retry for a list contact)
        async with _simulated(api, agent, "cb-machine", codes=("Answering machine detected",)):
            row = await _until_status(database_url, cb.id, ("done", "failed"))
            await asyncio.sleep(1.5)  # no further attempt comes
    assert (row["status"], row["attempts_made"]) == ("done", 1)
    (att,) = await _callback_attempts(database_url, cb.id)
    async with connect(database_url) as conn:
        code = await fetch_one(conn, "SELECT label FROM wrapup_codes WHERE id = %s",
                               (att["wrapup_code_id"],))
    assert code == {"label": "Answering machine detected"}
    assert len(customer_calls(pbx)) == 1


# ------------------------------------------------------------------ deleted, missed, restarts


@pytest.mark.timeout(60)
async def test_a_queue_callback_deleted_is_logged_as_deleted_and_never_dialed(
        database_url: str, pbx: PbxSim) -> None:
    await make_campaign(database_url, "cb-queue", mode="progressive", callback_queue="sales")
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    (agent,) = await make_agents(database_url, 1)
    async with connect(database_url) as conn:
        # what the dialplan's FastAGI callback-offer books: the caller was third in line
        queued = await callbacks_ledger.create_queue_callback(
            conn, queue="sales", position=3, e164=number(901, 1), source_channel="PJSIP/trunk-0001")
        other = await callbacks_ledger.create_queue_callback(
            conn, queue="sales", position=4, e164=number(902, 1), source_channel=None)
    async with running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, sup.token) as s, ApiClient(api, agent.token) as a:
            async def nobody() -> bool:
                got = await s.ok("GET", "/api/v1/callbacks?queue=sales")
                return all(c["waiting_reason"] == "No agent logged in" for c in got["callbacks"])

            await wait_for(nobody, 10)
            status, body = await a.call("DELETE", f"/api/v1/callbacks/{queued}")
            assert status == 409 and body["field"] == "window_start"  # an agent: not once started
            gone = await s.ok("DELETE", f"/api/v1/callbacks/{queued}?reason=caller%20came%20back")
            assert gone["status"] == "deleted" and gone["deleted_by"] == f"supervisor:{sup.username}"
            status, _ = await s.call("DELETE", f"/api/v1/callbacks/{queued}")
            assert status == 409
            async with _simulated(api, agent, "cb-queue"):
                await _until_status(database_url, other, ("done", "failed"))
                await asyncio.sleep(0.5)
    assert await _callback_attempts(database_url, queued) == []
    assert [c["number"] for c in customer_calls(pbx)] == [number(902, 1).lstrip("+")]
    async with connect(database_url) as conn:
        logged = await fetch_one(conn, "SELECT * FROM audit_log WHERE action = 'callback.delete'")
    assert logged is not None and logged["object_id"] == str(queued)
    assert logged["actor"] == f"supervisor:{sup.username}"
    assert logged["details"]["queue"] == "sales" and logged["details"]["queue_position"] == 3
    assert logged["details"]["reason"] == "caller came back"


@pytest.mark.timeout(60)
async def test_due_while_the_service_was_down_fires_after_restart_or_is_marked_missed(
        database_url: str, pbx: PbxSim) -> None:
    campaign = await make_campaign(database_url, "cb-down", mode="progressive")
    (agent,) = await make_agents(database_url, 1)
    async with running_service(_settings(database_url, pbx)):
        pass  # the service ran, and stopped
    now = datetime.now(UTC)
    async with connect(database_url) as conn:
        # booked earlier; while the service was down one came due, one's window passed
        due = await callbacks_ledger.create_callback(
            conn, phone=number(911, 1), name="Due Caller", campaign_id=campaign.id,
            window_start=now - timedelta(minutes=1), window_end=now + timedelta(minutes=30),
            time_zone="Europe/Paris", now=now - timedelta(hours=1))
        past = await callbacks_ledger.create_callback(
            conn, phone=number(912, 1), name="Late Caller", campaign_id=campaign.id,
            window_start=now - timedelta(minutes=90), window_end=now - timedelta(minutes=60),
            time_zone="Europe/Paris", now=now - timedelta(hours=2))
    async with running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        missed = await _until_status(database_url, past.id, ("missed",))
        async with _simulated(api, agent, "cb-down"):
            fired = await _until_status(database_url, due.id, ("done", "failed"))
    assert fired["status"] == "done"
    assert missed["result"] == "missed: not dialed in its window"
    assert await _callback_attempts(database_url, past.id) == []
    async with connect(database_url) as conn:
        audit = await fetch_one(conn, "SELECT * FROM audit_log WHERE action = 'callback.missed'")
    assert audit is not None and audit["object_id"] == str(past.id)


# ------------------------------------------------------------------ preview


@pytest.mark.timeout(60)
async def test_a_preview_campaign_shows_the_callback_to_the_agent_first(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    campaign = await make_campaign(database_url, "cb-prev", mode="preview", preview_timeout_s=120)
    await asyncio.to_thread(import_numbers, database_url, "cb-prev", [number(950, 1)], tmp_path)
    (agent,) = await make_agents(database_url, 1)
    async with connect(database_url) as conn:
        cb = await callbacks_ledger.create_web_callback(conn, campaign_id=campaign.id,
                                                        phone=number(951, 1), name="Preview Caller")
    async with running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, agent.token) as client, client.events() as events:
            async with _simulated(api, agent, "cb-prev"):  # accepts what it is shown
                shown = await _next(events, "preview.show")
                row = await _until_status(database_url, cb.id, ("done", "failed"))
    assert shown["data"]["callback_id"] == cb.id
    assert shown["data"]["contact"]["first_name"] == "Preview Caller"
    assert row["status"] == "done"
    (att,) = await _callback_attempts(database_url, cb.id)
    assert str(att["id"]) == shown["data"]["preview_id"] and att["agent_id"] == agent.id
    # the callback went first: the list's contact came after
    rows = await attempts(database_url, campaign.id)
    assert rows[0]["id"] == att["id"]


# ------------------------------------------------------------------ web callback token


@pytest.mark.timeout(60)
async def test_a_web_callback_token_does_nothing_else_and_is_rate_limited(
        database_url: str, pbx: PbxSim) -> None:
    campaign = await make_campaign(database_url, "cb-web", mode="progressive")
    other = await make_campaign(database_url, "cb-other", mode="progressive")
    (agent,) = await make_agents(database_url, 1)
    async with connect(database_url) as conn:
        _, token = await callbacks_ledger.create_web_token(conn, "shop", campaign.id)
        _, second = await callbacks_ledger.create_web_token(conn, "shop2", campaign.id)
    async with running_service(_settings(database_url, pbx, web_callback_rate=4)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, token) as web:
            # nothing but web callbacks
            for method, path, body in (
                    ("GET", "/api/v1/me", None), ("GET", "/api/v1/callbacks", None),
                    ("POST", "/api/v1/callbacks", _booking(number(960, 1), "cb-web")),
                    ("GET", f"/api/v1/agents/{agent.id}/session", None),
                    ("POST", f"/api/v1/agents/{agent.id}/state", {"state": "available"}),
                    ("GET", "/api/v1/campaigns", None), ("GET", "/api/v1/calls", None)):
                status, answer = await web.call(method, path, body)
                assert status == 403, (path, status, answer)
            async with aiohttp.ClientSession() as s:
                with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                    async with s.ws_connect(f"{api}/api/v1/events?token={token}"):
                        pass
                assert exc.value.status == 403
            status, answer = await web.call("POST", "/api/v1/web-callbacks", {
                "name": "Eve", "phone": number(961, 1), "campaign": str(other.id)})
            assert status == 403 and answer["field"] == "campaign"
            status, answer = await web.call("POST", "/api/v1/web-callbacks",
                                            {"name": "Al", "phone": number(961, 1)})
            assert status == 422 and answer["field"] == "name"
            made = [await web.ok("POST", "/api/v1/web-callbacks",
                                 {"name": f"Caller {i}", "phone": number(962 + i, 1)})
                    for i in range(2)]
            async with web._session.post(  # type: ignore[union-attr]
                    api + "/api/v1/web-callbacks",
                    json={"name": "Caller 9", "phone": number(969, 1)}) as r:
                assert r.status == 429
                assert int(r.headers["Retry-After"]) >= 1
                assert (await r.json())["error"] == "too_many_requests"
        # another token from the same address: the address's limit holds too
        async with ApiClient(api, second) as web2:
            status, _ = await web2.call("POST", "/api/v1/web-callbacks",
                                        {"name": "Caller 8", "phone": number(968, 1)})
            assert status == 429
        # ...from another address, it is its own token's first
        connector = aiohttp.TCPConnector(local_addr=("127.0.3.1", 0))
        async with aiohttp.ClientSession(connector=connector) as s, s.post(
                api + "/api/v1/web-callbacks", json={"name": "Caller 7", "phone": number(967, 1)},
                headers={"Authorization": f"Bearer {second}"}) as r:
            assert r.status == 201, await r.text()
    async with connect(database_url) as conn:
        rows = await fetch_all(conn, "SELECT kind, campaign_id, name FROM callbacks ORDER BY id")
    assert [(r["kind"], r["campaign_id"]) for r in rows] == [("web", campaign.id)] * 3
    assert [m["status"] for m in made] == ["pending", "pending"]


@pytest.mark.timeout(60)
async def test_a_personal_callback_goes_to_anyone_when_the_campaign_says_so(
        database_url: str, pbx: PbxSim) -> None:
    campaign = await make_campaign(database_url, "cb-fall", mode="progressive",
                                   personal_callback_fallback="anyone")
    away, present = await make_agents(database_url, 2)
    async with connect(database_url) as conn:
        cb = await callbacks_ledger.create_callback(
            conn, phone=number(980, 1), name="Fallback Caller", campaign_id=campaign.id,
            assigned_agent_id=away.id, window_start=datetime.now(UTC) + timedelta(minutes=1),
            time_zone="Europe/Paris")
    await _make_due(database_url, cb.id)
    async with running_service(_settings(database_url, pbx)) as rt:
        async with _simulated(f"http://127.0.0.1:{rt.http_port}", present, "cb-fall"):
            row = await _until_status(database_url, cb.id, ("done", "failed"))
    assert row["status"] == "done" and row["assigned_agent_id"] == away.id
    (att,) = await _callback_attempts(database_url, cb.id)
    assert att["agent_id"] == present.id


@pytest.mark.timeout(60)
async def test_the_callback_api_names_each_refused_field_and_keeps_agents_to_their_campaigns(
        database_url: str, pbx: PbxSim) -> None:
    async with connect(database_url) as conn:
        for team in ("blue", "red"):
            await agents_ledger.create_team(conn, team)
    await make_campaign(database_url, "cb-blue", mode="progressive", teams=["blue"])
    await make_campaign(database_url, "cb-red", mode="progressive", teams=["red"])
    ann, bob = await make_agents(database_url, 2, teams=["blue"])
    (rick,) = await make_agents(database_url, 1, prefix="red", teams=["red"])
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    far = (datetime.now(PARIS) + timedelta(days=40)).date().isoformat()
    refusals: list[tuple[dict[str, Any], int, str]] = [
        ({"phone": "12345"}, 422, "phone"),
        ({"phone": "+33 (6) 12 34"}, 422, "phone"),
        ({"name": "Al"}, 422, "name"),
        ({"name": "x" * 251}, 422, "name"),
        ({"end_time": "10:20"}, 422, "end_time"),
        ({"end_time": "09:00"}, 422, "end_time"),
        ({"date": far}, 422, "date"),
        ({"date": "2020-01-01"}, 422, "start_time"),
        ({"time_zone": "Mars/Base"}, 422, "time_zone"),
        ({"reason": "r" * 251}, 422, "reason"),
        ({"campaign": None}, 422, "campaign"),
        ({"campaign": None, "queue": "nobody"}, 422, "queue"),
        ({"campaign": "cb-red"}, 403, "campaign"),
        ({"campaign": "no-such"}, 404, "campaign"),
        ({"assign_to": "agent", "agent": rick.username}, 422, "agent"),
        ({"assign_to": "agent"}, 422, "agent"),
        ({"start_time": "25:00"}, 422, "start_time"),
    ]
    async with running_service(_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with ApiClient(api, ann.token) as a, ApiClient(api, sup.token) as s:
            for change, status, field in refusals:
                got, body = await a.call("POST", "/api/v1/callbacks",
                                         _booking(**{"phone": number(990, 1), "campaign": "cb-blue",
                                                     **change}))
                assert (got, body["field"]) == (status, field), (change, got, body)
            assert (await s.ok("GET", "/api/v1/callbacks?status=all"))["callbacks"] == []
            mine = await a.ok("POST", "/api/v1/callbacks", _booking(
                number(991, 1), "cb-blue", assign_to="agent", agent=bob.username))
            red = await s.ok("POST", "/api/v1/callbacks", _booking(
                number(992, 1), "cb-red", assign_to="agent", agent=str(rick.id)))
            # an agent sees its campaigns' callbacks only
            listed = await a.ok("GET", "/api/v1/callbacks")
            assert [c["id"] for c in listed["callbacks"]] == [mine["id"]]
            status, _ = await a.call("GET", f"/api/v1/callbacks/{red['id']}")
            assert status == 404
            status, _ = await a.call("DELETE", f"/api/v1/callbacks/{red['id']}")
            assert status == 404
            # edits before the start time, each value checked again
            status, body = await a.call("PATCH", f"/api/v1/callbacks/{mine['id']}",
                                        {"end_time": "10:10"})
            assert (status, body["field"]) == (422, "end_time")
            status, body = await a.call("PATCH", f"/api/v1/callbacks/{mine['id']}", {"name": "Z"})
            assert (status, body["field"]) == (422, "name")
            moved = await a.ok("PATCH", f"/api/v1/callbacks/{mine['id']}",
                               {"start_time": "14:00", "end_time": "15:30", "assign_to": "me"})
            start = datetime.fromisoformat(moved["window_start"]).astimezone(PARIS)
            assert (start.hour, start.minute) == (14, 0) and moved["assigned_agent_id"] == ann.id
            # once started it can no longer be changed or deleted by an agent
            await _make_due(database_url, mine["id"])
            status, body = await a.call("PATCH", f"/api/v1/callbacks/{mine['id']}", {"reason": "x"})
            assert (status, body["field"]) == (409, "window_start")
            status, body = await a.call("DELETE", f"/api/v1/callbacks/{mine['id']}")
            assert status == 409
            gone = await s.ok("DELETE", f"/api/v1/callbacks/{red['id']}")
            assert gone["status"] == "deleted"
