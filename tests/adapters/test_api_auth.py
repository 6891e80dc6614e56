"""Authorization of every route of the HTTP API, against the running service (real
PostgreSQL, pbxsim behind ARI, HTTP over a loopback socket).

The route table drives the test: each route is called without a token, with an unknown
token, and as an agent, another agent, a supervisor and an admin; the answer must be
401 / 403 exactly when the route's least role and ownership rule say so. A route added
to the table without a rule here fails the coverage check.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator.api.routes import ROUTES, ApiRoute
from orchestrator.core.access import Role
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger.pool import connect
from tests.e2e.support import (
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
)
from tests.support.pbxsim import run_pbxsim

BODIES: dict[str, Any] = {
    "POST /api/v1/agents/{agent_id}/session": {"campaign": "authz"},
    "POST /api/v1/agents/{agent_id}/state": {"state": "not_ready", "reason": "break"},
    "POST /api/v1/agents/{agent_id}/preview/{action}": {},
    "POST /api/v1/agents/{agent_id}/hangup": {},
    "POST /api/v1/agents/{agent_id}/disposition": {
        "attempt_id": "00000000-0000-0000-0000-000000000000", "code": "Sale"},
    "POST /api/v1/campaigns": {"name": "authz-new"},
    "PATCH /api/v1/campaigns/{campaign}": {"wrapup_seconds": 20},
}


def _path(route: ApiRoute, agent_id: int) -> str:
    return (route.path.replace("{agent_id}", str(agent_id))
            .replace("{campaign}", "authz")
            .replace("{action}", "skip" if "/preview/" in route.path else "pause")
            # a well-formed id of nothing (a call, a supervision): the handler is reached
            .replace("{attempt_id}", "00000000-0000-4000-8000-000000000000")
            .replace("{supervision_id}", "00000000-0000-4000-8000-000000000000")
            .replace("{callback_id}", "999999"))


def _allowed(route: ApiRoute, role: Role, is_owner: bool) -> bool:
    assert route.role is not None
    if not role.at_least(route.role):
        return False
    if route.owner == "self":
        return is_owner
    if route.owner == "self_or_supervisor":
        return is_owner or role.at_least(Role.SUPERVISOR)
    return True


@pytest.mark.timeout(60)
async def test_every_route_enforces_roles_and_ownership(database_url: str, tmp_path: Path) -> None:
    await make_campaign(database_url, "authz", mode="preview")
    await asyncio.to_thread(import_numbers, database_url, "authz", [number(1, 1)], tmp_path)
    agent1, agent2 = await make_agents(database_url, 2)
    # A campaign of a team agent2 is in and agent1 is not.
    async with connect(database_url) as conn:
        await agents_ledger.create_team(conn, "red")
        await agents_ledger.add_agent_to_team(conn, agent2.username, "red")
    await make_campaign(database_url, "teamed", mode="preview", teams=["red"])
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    (adm,) = await make_agents(database_url, 1, prefix="adm", role="admin")
    callers = [("agent", Role.AGENT, agent1.token, True), ("other-agent", Role.AGENT, agent2.token, False),
               ("supervisor", Role.SUPERVISOR, sup.token, False), ("admin", Role.ADMIN, adm.token, False)]
    checked: set[str] = set()
    failures: list[str] = []
    async with run_pbxsim(speed=10) as pbx, running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        async with aiohttp.ClientSession() as s:
            for route in ROUTES:
                path = _path(route, agent1.id)
                body = BODIES.get(route.name)
                if route.websocket:
                    for name, _role, token, _owner in callers:
                        async with s.ws_connect(api + path + f"?token={token}") as ws:
                            hello = await ws.receive_json(timeout=5)
                            if hello["type"] != "hello":
                                failures.append(f"{route.name} as {name}: no hello")
                    for bad in ("", "?token=nope"):
                        try:
                            async with s.ws_connect(api + path + bad):
                                failures.append(f"{route.name}: opened without a valid token")
                        except aiohttp.WSServerHandshakeError as exc:
                            if exc.status != 401:
                                failures.append(f"{route.name}{bad}: {exc.status} != 401")
                    checked.add(route.name)
                    continue
                async with s.request(route.method, api + path, json=body) as r:
                    anon = r.status
                if route.role is None:
                    if anon in (401, 403):
                        failures.append(f"{route.name}: public route answered {anon}")
                    checked.add(route.name)
                    continue
                if anon != 401:
                    failures.append(f"{route.name} without token: {anon} != 401")
                async with s.request(route.method, api + path, json=body,
                                     headers={"Authorization": "Bearer not-a-token"}) as r:
                    if r.status != 401:
                        failures.append(f"{route.name} bad token: {r.status} != 401")
                for name, role, token, is_owner in callers:
                    async with s.request(route.method, api + path, json=body,
                                         headers={"Authorization": f"Bearer {token}"}) as r:
                        status = r.status
                        payload = await r.json(content_type=None)
                    allowed = _allowed(route, role, is_owner)
                    if allowed and status in (401, 403):
                        failures.append(f"{route.name} as {name}: refused {status} {payload}")
                    if not allowed and status != 403:
                        failures.append(f"{route.name} as {name}: {status} != 403")
                checked.add(route.name)
        # Object rights inside an allowed route: an agent's campaigns are its teams' (and
        # the open ones), whoever reads them.
        async with aiohttp.ClientSession() as s:
            # ("authz-new" was created by the POST /api/v1/campaigns above, with no team.)
            open_ones = ["authz", "authz-new"]
            for reader, agent, expected in ((agent1, agent1, open_ones), (agent2, agent2, [*open_ones, "teamed"]),
                                            (sup, agent1, open_ones)):
                async with s.get(f"{api}/api/v1/agents/{agent.id}/campaigns",
                                 headers={"Authorization": f"Bearer {reader.token}"}) as r:
                    assert r.status == 200
                    names = [c["name"] for c in (await r.json())["campaigns"]]
                if names != expected:
                    failures.append(f"campaigns of {agent.username} read by {reader.username}: {names}")
            # The team rule is the login rule too.
            async with s.post(f"{api}/api/v1/agents/{agent1.id}/session", json={"campaign": "teamed"},
                              headers={"Authorization": f"Bearer {agent1.token}"}) as r:
                if r.status != 403:
                    failures.append(f"agent1 logged in to another team's campaign: {r.status}")
    assert not failures, "\n".join(failures)
    assert checked == {r.name for r in ROUTES}


@pytest.mark.timeout(60)
async def test_openapi_document_lists_every_route_with_its_security(database_url: str) -> None:
    async with run_pbxsim(speed=10) as pbx, running_service(service_settings(database_url, pbx)) as rt:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{rt.http_port}/openapi.json") as r:
                assert r.status == 200
                doc = await r.json()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        if route.role is None:
            assert op["security"] == []
        else:
            assert op["security"] == [{"bearerAuth": []}]
            assert "403" in op["responses"] and "401" in op["responses"]
        if route.body is not None:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            name = ref.rsplit("/", 1)[-1]
            assert name in doc["components"]["schemas"]
    login = doc["components"]["schemas"]["LoginRequest"]
    assert "campaign" in login["required"]
    # Every path parameter is declared.
    for path, ops in doc["paths"].items():
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(__import__("re").findall(r"{(\w+)}", path)), path


@pytest.mark.timeout(60)
async def test_open_event_streams_lose_rights_that_were_taken_away(database_url: str) -> None:
    """Rights were checked once, at connect: a socket kept streaming after its token was
    rotated, its agent deactivated or its supervisor demoted (22 events with contact data
    after a demotion). Each now ends within the token cache's 5 s (+ the re-check)."""
    demoted, rotated, deactivated, kept = await make_agents(database_url, 4, prefix="sup",
                                                            role="supervisor")
    async with run_pbxsim(speed=10) as pbx, \
            running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}/api/v1/events"
        async with aiohttp.ClientSession() as s:
            sockets = {}
            for who in (demoted, rotated, deactivated, kept):
                ws = await s.ws_connect(f"{api}?token={who.token}")
                assert (await ws.receive_json(timeout=5))["type"] == "hello"
                sockets[who.username] = ws
            async with connect(database_url) as conn:
                await agents_ledger.update_agent(conn, demoted.username, role="agent")
                await agents_ledger.rotate_token(conn, rotated.username)
                await agents_ledger.update_agent(conn, deactivated.username, active=False)

            async def closed(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
                while True:
                    msg = await ws.receive(timeout=8)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.CLOSING):
                        return ws.close_code, str(msg.extra or "")

            ends = await asyncio.gather(*(closed(sockets[w.username])
                                          for w in (demoted, rotated, deactivated)))
            assert ends[0] == (4403, "rights changed: reconnect"), ends
            assert ends[1] == (4403, "token revoked or agent deactivated"), ends
            assert ends[2] == (4403, "token revoked or agent deactivated"), ends
            # an unchanged caller keeps its stream
            with pytest.raises(asyncio.TimeoutError):
                await sockets[kept.username].receive(timeout=1.5)
            assert not sockets[kept.username].closed
            for ws in sockets.values():
                await ws.close()


@pytest.mark.timeout(60)
async def test_a_deactivated_agent_is_offered_no_more_calls(database_url: str,
                                                            tmp_path: Path) -> None:
    """A deactivated agent's logged-in session kept being offered calls."""
    await make_campaign(database_url, "deact", mode="power", power_lines_per_agent=1)
    (agent,) = await make_agents(database_url, 1)
    async with run_pbxsim(speed=10) as pbx, \
            running_service(service_settings(database_url, pbx)) as rt, \
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {agent.token}"}) as s:
        base = f"http://127.0.0.1:{rt.http_port}/api/v1/agents/{agent.id}"
        async with s.post(base + "/session", json={"campaign": "deact"}) as r:
            assert r.status in (200, 201), await r.text()
        async with s.post(base + "/state", json={"state": "available"}) as r:
            assert r.status == 200, await r.text()
        async with connect(database_url) as conn:
            await agents_ledger.update_agent(conn, agent.username, active=False)
        assert rt.dialer is not None
        for _ in range(100):  # the heartbeat (0.5 s here) notices it
            session = rt.dialer.sessions.sessions.get(agent.id)
            if session is None or not session.machine.logged_in:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the deactivated agent is still logged in")
        await asyncio.to_thread(import_numbers, database_url, "deact", [number(5, 1)], tmp_path)
        await asyncio.sleep(1.0)
    assert pbx.read_call_log() == [], "a deactivated agent was offered a call"
