"""The authorization matrix, generated from the route table (`ROUTES`): every route x
every caller (no token, an unknown token, an agent, a supervisor, an admin) x, for the
routes with an ownership rule, the caller's own object and another agent's.

Expected, from the route alone: 401 without a token or with an unknown one; 403 when
the caller's role is below the route's least role, or the object is another agent's and
the rule does not let the caller act on it; otherwise the request passes authorization
and may still fail on its (minimal) body: 200/201, or 400/404/409/422, never 401/403 and
never a server error. A route added to the table is in the matrix without a line here.

The unknown-token cases each come from their own loopback address (127.0.1.x): the API
answers 429 to an address that sent too many unknown tokens lately, and that back-off
is checked on its own (`test_an_address_sending_unknown_tokens_is_slowed_down`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import inspect
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from orchestrator.api.app import build_app
from orchestrator.api.handlers import RIGHTS_RECHECK_S, WS_RIGHTS_GONE
from orchestrator.api.routes import ROUTES, ApiRoute
from orchestrator.core.access import Role
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger.pool import connect
from tests.e2e.support import TestAgent as Caller
from tests.e2e.support import make_agents
from tests.security.conftest import CAMPAIGN, World

module_loop = pytest.mark.asyncio(loop_scope="module")
"""The service of the module (`world`) runs in the module's event loop."""

PUBLIC = {"GET /healthz", "GET /metrics", "GET /openapi.json", "GET /agent", "GET /supervisor"}
"""The routes open without a token; any other route must name its least role."""

CALLERS = ("anonymous", "unknown-token", "web_callback", "agent", "supervisor", "admin")
RANK = {"web_callback": -1, "agent": 0, "supervisor": 1, "admin": 2}
"""The roles' order, written out here: the expectations do not come from the code tested.
A web-callback token (a website's call-me-back form) is below an agent: it may call the
routes whose least role is web_callback and nothing else."""
NO_SUCH_UUID = "00000000-0000-4000-8000-000000000000"
"""A well-formed id of nothing (a call, a supervision): the request reaches the handler."""
ALLOWED_STATUSES = {200, 201, 400, 404, 409, 422}
"""What an authorized request may get with the matrix's minimal bodies."""

IN_TWO_DAYS = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
"""A callback's day that passes its rules (ahead, within 31 days)."""

# Minimal bodies: valid where that is easy, so most allowed cases reach the dialer. A
# route not named here is sent {} (its handler may answer 422; authorization ran first).
BODIES: dict[str, Any] = {
    "POST /api/v1/agents/{agent_id}/session": {"campaign": CAMPAIGN},
    "POST /api/v1/agents/{agent_id}/state": {"state": "not_ready", "reason": "break"},
    "POST /api/v1/agents/{agent_id}/disposition": {
        "attempt_id": "00000000-0000-0000-0000-000000000000", "code": "Sale"},
    "POST /api/v1/campaigns": {"name": "matrix-new"},
    "PATCH /api/v1/campaigns/{campaign}": {"wrapup_seconds": 20},
    "PUT /api/v1/agents/{agent_id}/call-data": {
        "attempt_id": "00000000-0000-4000-8000-000000000000", "version": 0,
        "values": {"note": "x"}},
    "PUT /api/v1/campaigns/{campaign}/variables": {"variables": [{"name": "note"}]},
    "POST /api/v1/callbacks": {
        "phone": "+33 612 345 670", "name": "Matrix Caller", "date": IN_TWO_DAYS,
        "start_time": "10:00", "end_time": "11:00", "time_zone": "Europe/Paris",
        "campaign": CAMPAIGN},
    "PATCH /api/v1/callbacks/{callback_id}": {"reason": "later"},
    "POST /api/v1/web-callbacks": {"name": "Matrix Caller", "phone": "+33612345671",
                                   "campaign": CAMPAIGN},
}


@dataclass(frozen=True)
class MatrixCase:
    route: ApiRoute
    caller: str
    obj: str | None
    """"own" or "other" for a route with an ownership rule (None otherwise)."""
    via: str = "header"
    """How the token travels: "header", or "query" (the WebSocket's ?token=)."""

    @property
    def id(self) -> str:
        parts = [self.route.method, self.route.path, self.caller]
        if self.obj:
            parts.append(self.obj)
        if self.route.websocket:
            parts.append(self.via)
        return " ".join(parts)

    def expected(self) -> int | None:
        """401 or 403; None when authorization must let the request through."""
        route = self.route
        if route.role is None:
            return None
        if self.caller in ("anonymous", "unknown-token"):
            return 401
        rank = RANK[self.caller]
        if rank < RANK[route.role.value]:
            return 403
        if self.obj == "other":
            if route.owner == "self":
                return 403
            if route.owner == "self_or_supervisor" and rank < RANK["supervisor"]:
                return 403
        return None


def _cases() -> list[MatrixCase]:
    cases = []
    for route in ROUTES:
        for caller in CALLERS:
            vias = ("header", "query") if route.websocket else ("header",)
            owned = route.owner is not None and caller in RANK
            for obj, via in itertools.product(("own", "other") if owned else (None,), vias):
                cases.append(MatrixCase(route, caller, obj, via))
    return cases


CASES = _cases()
HTTP_CASES = [c for c in CASES if not c.route.websocket]
WS_CASES = [c for c in CASES if c.route.websocket]
_addresses = itertools.count(2)


def _caller(world: World, caller: str) -> Caller | None:
    return {"agent": world.agent, "supervisor": world.supervisor,
            "admin": world.admin, "web_callback": world.web}.get(caller)


def _path(world: World, case: MatrixCase) -> str:
    me = _caller(world, case.caller)
    if case.obj == "own" and me is not None:
        agent_id = me.id
    elif me is world.agent:
        agent_id = world.other.id  # the agent's "other": another agent
    else:
        agent_id = world.agent.id  # anyone else's "other": the agent
    return (case.route.path.replace("{agent_id}", str(agent_id))
            .replace("{campaign}", CAMPAIGN)
            .replace("{action}", "skip" if "/preview/" in case.route.path else "pause")
            .replace("{attempt_id}", NO_SUCH_UUID).replace("{supervision_id}", NO_SUCH_UUID)
            .replace("{callback_id}", "999999"))


@contextlib.asynccontextmanager
async def _client(world: World, case: MatrixCase) -> AsyncIterator[tuple[aiohttp.ClientSession,
                                                                        dict[str, str], str]]:
    """A client session for the case's caller; its headers; the query (WebSocket token)."""
    me = _caller(world, case.caller)
    token = me.token if me is not None else (
        f"dlr_unknown{next(_addresses)}" if case.caller == "unknown-token" else None)
    connector = None
    if case.caller == "unknown-token":
        # its own address: the back-off counts unknown tokens per address
        n = next(_addresses)
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.1.{n % 250 + 1}", 0))
    headers: dict[str, str] = {}
    query = ""
    if token is not None:
        if case.via == "query":
            query = f"?token={token}"
        else:
            headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession(connector=connector) as s:
        yield s, headers, query


def test_every_route_names_its_least_role_or_is_one_of_the_public_ones() -> None:
    names = [r.name for r in ROUTES]
    assert len(names) == len(set(names)), "a route is in the table twice"
    public = {r.name for r in ROUTES if r.role is None}
    assert public == PUBLIC, f"public routes changed: {sorted(public ^ PUBLIC)}"
    for route in ROUTES:
        if route.role is None:
            assert route.public_reason, f"{route.name} is public without a reason"
            assert route.owner is None and not route.path.startswith("/api/")
        if route.owner is not None:
            assert route.owner in ("self", "self_or_supervisor"), route.name
            assert "{agent_id}" in route.path, f"{route.name}: an owner rule needs the agent_id"


def test_the_app_serves_no_route_outside_the_table() -> None:
    """The middleware applies the table's rules; a route added to the router by hand
    would get none. Only the pages' redirect and static files are outside the table."""
    async def nobody(token: str) -> None:
        return None

    app = build_app(object(), token_lookup=nobody)  # type: ignore[arg-type]
    served = set()
    for r in app.router.routes():
        info = r.resource.get_info() if r.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        served.add(f"{r.method} {path}")
    table = {r.name for r in ROUTES}
    extra = {s for s in served - table if not s.startswith("HEAD ")}
    assert extra == {"GET /", "GET /static"}, extra
    assert table <= served


def test_the_matrix_covers_every_route_role_and_object() -> None:
    assert set(RANK) == {r.value for r in Role}
    assert all(Role(a).at_least(Role(b)) == (RANK[a] >= RANK[b]) for a in RANK for b in RANK)
    assert {c.route.name for c in CASES} == {r.name for r in ROUTES}
    for route in ROUTES:
        mine = [c for c in CASES if c.route is route]
        assert {c.caller for c in mine} == set(CALLERS), route.name
        if route.owner is not None:
            assert {(c.caller, c.obj) for c in mine if c.caller in RANK} == {
                (caller, obj) for caller in RANK for obj in ("own", "other")}, route.name
    # the rules are not vacuous: the matrix expects each answer somewhere
    expected = {c.expected() for c in CASES}
    assert expected == {None, 401, 403}


@module_loop
@pytest.mark.parametrize("case", HTTP_CASES, ids=lambda c: c.id)
async def test_http_route(world: World, case: MatrixCase) -> None:
    route = case.route
    body = BODIES.get(route.name, {} if route.body is not None else None)
    async with _client(world, case) as (s, headers, _), s.request(
            route.method, world.api + _path(world, case), json=body, headers=headers) as r:
        status = r.status
        text = await r.text()
    expected = case.expected()
    if expected is not None:
        assert status == expected, f"{case.id}: {status} {text}"
        error = json.loads(text)
        assert error["error"] and error["message"], text
        if expected == 401:
            assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    else:
        assert status in ALLOWED_STATUSES, f"{case.id}: {status} {text}"


@module_loop
@pytest.mark.parametrize("case", WS_CASES, ids=lambda c: c.id)
async def test_event_stream(world: World, case: MatrixCase) -> None:
    expected = case.expected()
    async with _client(world, case) as (s, headers, query):
        url = world.api + case.route.path + query
        if expected is not None:
            with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                async with s.ws_connect(url, headers=headers):
                    pass
            assert exc.value.status == expected
            return
        me = _caller(world, case.caller)
        assert me is not None
        async with s.ws_connect(url, headers=headers) as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello == {"type": "hello",
                             "data": {"agent_id": me.id, "role": case.caller}}, hello


@module_loop
async def test_the_event_stream_shows_an_agent_only_its_own_events(world: World) -> None:
    """Object rights on the stream: an agent gets its own events and those for all,
    never another agent's or the supervisors' ones; a supervisor gets every one."""
    hub = world.rt.hub
    async with aiohttp.ClientSession() as s:
        socks = {}
        for who in (world.agent, world.other, world.supervisor):
            ws = await s.ws_connect(f"{world.api}/api/v1/events?token={who.token}")
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            socks[who.username] = ws
        hub.publish("test.mine", {"n": 1}, agent_id=world.agent.id)
        hub.publish("test.other", {"n": 2}, agent_id=world.other.id)
        hub.publish("test.sup", {"n": 3}, audience="supervisors")
        hub.publish("test.all", {"n": 4}, audience="all")
        hub.publish("test.end", {"n": 5}, audience="all")

        async def until_end(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
            seen: list[str] = []
            while True:
                event = await ws.receive_json(timeout=5)
                if event["type"] == "test.end":
                    return seen
                if event["type"].startswith("test."):  # (not the dialer's own events)
                    seen.append(event["type"])

        assert await until_end(socks[world.agent.username]) == ["test.mine", "test.all"]
        assert await until_end(socks[world.other.username]) == ["test.other", "test.all"]
        assert await until_end(socks[world.supervisor.username]) == [
            "test.mine", "test.other", "test.sup", "test.all"]
        for ws in socks.values():
            await ws.close()


TOKEN_CACHE_S = inspect.signature(build_app).parameters["token_cache_ttl"].default
"""How long the service may go on trusting a token's cached rights (5 s)."""


async def _next_tick(ws: aiohttp.ClientWebSocketResponse) -> int:
    while True:
        event = await ws.receive_json(timeout=5)
        if event["type"] == "test.tick":
            return int(event["data"]["seq"])


@module_loop
@pytest.mark.timeout(60)
async def test_an_open_stream_ends_when_its_rights_are_taken_away(world: World) -> None:
    """Token rotated, supervisor demoted to agent, agent deactivated (in the ledger, as
    the CLI does): each open stream closes with 4403 within the token cache's lifetime
    plus one re-check, and gets no event published once the service knows of the change
    (when its REST answers for that token change) and the stream has re-checked. An
    unchanged supervisor's stream, fed the same events all along, stays open."""
    rotated, demoted, deactivated, kept = await make_agents(
        world.database_url, 4, prefix="rights", role="supervisor")
    hub = world.rt.hub
    base = hub.client_count
    seq = itertools.count()
    published: dict[int, float] = {}

    def publish() -> None:
        n = next(seq)
        published[n] = time.monotonic()
        hub.publish("test.tick", {"seq": n}, audience="supervisors")

    async def drain(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[int], float, int | None, str]:
        """The ticks a stream gets until it closes; when; its close code and reason."""
        seen: list[int] = []
        async with asyncio.timeout(TOKEN_CACHE_S + RIGHTS_RECHECK_S + 3):
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    event = json.loads(msg.data)
                    if event["type"] == "test.tick":  # (the dialer's own events too)
                        seen.append(event["data"]["seq"])
                    continue
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.CLOSING), msg
                return seen, time.monotonic(), ws.close_code, str(msg.extra or "")

    async def known(who: Caller, address: str, changed: Any) -> float:
        """When the service's REST answer for ``who``'s token first shows the change (the
        token cache holds it from then on). Its own address: unknown tokens count."""
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        async with aiohttp.ClientSession(connector=connector) as s:
            while True:
                at = time.monotonic()
                async with s.get(f"{world.api}/api/v1/me",
                                 headers={"Authorization": f"Bearer {who.token}"}) as r:
                    if changed(r.status, await r.json()):
                        return at
                await asyncio.sleep(0.25)

    async with aiohttp.ClientSession() as s:
        socks = {}
        for who in (rotated, demoted, deactivated, kept):
            ws = await s.ws_connect(f"{world.api}/api/v1/events?token={who.token}")
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            socks[who.username] = ws
        assert hub.client_count == base + 4
        publish()
        for ws in socks.values():  # every stream gets events before the change
            assert await _next_tick(ws) == 0
        async with connect(world.database_url) as conn:
            await agents_ledger.rotate_token(conn, rotated.username)
            await agents_ledger.update_agent(conn, demoted.username, role="agent")
            await agents_ledger.update_agent(conn, deactivated.username, active=False)
        changed = time.monotonic()

        async def ticker() -> None:
            while True:
                publish()
                await asyncio.sleep(0.05)

        tick = asyncio.create_task(ticker())
        try:
            ends, known_at = await asyncio.gather(
                asyncio.gather(*(drain(socks[w.username]) for w in (rotated, demoted, deactivated))),
                asyncio.gather(
                    known(rotated, "127.0.4.1", lambda st, _: st == 401),
                    known(demoted, "127.0.4.2", lambda st, me: st == 200 and me["role"] == "agent"),
                    known(deactivated, "127.0.4.3", lambda st, _: st == 401)))
            cut_off = hub.client_count
            await asyncio.sleep(0.3)
            last = next(seq)
        finally:
            tick.cancel()
        reasons = ["token revoked or agent deactivated", "rights changed: reconnect",
                   "token revoked or agent deactivated"]
        for (seen, closed_at, code, reason), why, at in zip(ends, reasons, known_at, strict=True):
            assert (code, reason) == (WS_RIGHTS_GONE, why)
            assert at - changed <= TOKEN_CACHE_S + 0.5, f"the change took {at - changed:.1f} s"
            assert closed_at - changed <= TOKEN_CACHE_S + RIGHTS_RECHECK_S + 1.5, closed_at - changed
            late = [n for n in seen if published[n] > at + RIGHTS_RECHECK_S + 0.5]
            assert not late, f"{why}: {len(late)} events delivered after the rights were gone"
        assert cut_off == base + 1, "the hub still feeds a stream whose rights are gone"
        # the unchanged stream got the events the others were cut off from
        kept_seen: list[int] = []
        while not kept_seen or kept_seen[-1] < last - 1:
            kept_seen.append(await _next_tick(socks[kept.username]))
        assert not socks[kept.username].closed
        assert kept_seen[-1] > max(max(e[0], default=0) for e in ends)

        # Reconnecting: the old token and the deactivated agent are refused; the demoted
        # supervisor is an agent now, and gets no supervisors' event.
        for who in (rotated, deactivated):
            with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                await s.ws_connect(f"{world.api}/api/v1/events?token={who.token}")
            assert exc.value.status == 401
        async with s.ws_connect(f"{world.api}/api/v1/events?token={demoted.token}") as ws:
            assert (await ws.receive_json(timeout=5))["data"]["role"] == "agent"
            hub.publish("test.sup", {}, audience="supervisors")
            hub.publish("test.own", {}, agent_id=demoted.id)
            assert (await ws.receive_json(timeout=5))["type"] == "test.own"
        for ws in socks.values():
            await ws.close()


@module_loop
@pytest.mark.timeout(60)
async def test_an_address_sending_unknown_tokens_is_slowed_down(world: World) -> None:
    """After a run of unknown tokens an address gets 429 with Retry-After, as the
    OpenAPI document says; a valid caller from another address is not affected."""
    connector = aiohttp.TCPConnector(local_addr=("127.0.2.1", 0))
    async with aiohttp.ClientSession(connector=connector) as s:
        for n in range(200):
            async with s.get(f"{world.api}/api/v1/me",
                             headers={"Authorization": f"Bearer dlr_guess{n}"}) as r:
                if r.status == 429:
                    body = await r.json()
                    retry_after = r.headers.get("Retry-After", "")
                    break
                assert r.status == 401, r.status
        else:
            raise AssertionError("200 unknown tokens from one address and no 429")
    assert n >= 5, f"429 after only {n} unknown tokens"
    assert retry_after.isdigit() and int(retry_after) >= 1, retry_after
    assert set(body) >= {"error", "message"}, body
    async with aiohttp.ClientSession() as s, s.get(
            f"{world.api}/api/v1/me",
            headers={"Authorization": f"Bearer {world.supervisor.token}"}) as r:
        assert r.status == 200
