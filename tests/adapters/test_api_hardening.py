"""Hardening of the HTTP API (issue 10, item 4), against the running service (real
PostgreSQL, pbxsim behind ARI, HTTP over loopback sockets):

* every id of a path or a body is ASCII (digits, or a UUID for attempts): '²' gave 500
  and '١' (Arabic-Indic one, which int() takes) named agent 1; both are now 400 naming
  the field;
* failed bearer tokens: a flood of random tokens costs a bounded number of ledger
  lookups, then 429 with Retry-After for that client only; a valid token's cache entry
  survives the flood; every table is bounded;
* the dashboard's figures are computed at most once per cache lifetime for every
  requester (stale ones served at once while they are refreshed), never past the rights
  of each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from orchestrator.api.app import build_app
from orchestrator.api.auth import CachedTokenLookup, TokenBackoff
from orchestrator.api.routes import ROUTES
from orchestrator.api.service import STATS_CACHE
from orchestrator.core.access import Principal, Role
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger.pool import AsyncConn, open_pool
from orchestrator.runtime import Runtime
from tests.e2e.support import make_agents, make_campaign, running_service, service_settings
from tests.support.pbxsim import run_pbxsim

ERROR_KEYS = {"error", "message", "field"}


async def _call(s: aiohttp.ClientSession, method: str, url: str, token: str | None,
                body: Any = None) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with s.request(method, url, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None), r.headers


# ---------------------------------------------------------------- ids are ASCII


# Not ids: a superscript two (isdigit() but int() refuses it: 500), Arabic-Indic one
# (int() reads it as 1), a fullwidth 1, more than a bigint holds, a negative number, 0.
BAD_AGENT_IDS = ("%C2%B2", "%D9%A1", "%EF%BC%91", "99999999999999999999", "-1", "0")
BAD_CAMPAIGNS = ("%C2%B2", "%D9%A1%D9%A2", "99999999999999999999")
BODIES: dict[str, Any] = {
    "POST /api/v1/agents/{agent_id}/session": {"campaign": "ids"},
    "POST /api/v1/agents/{agent_id}/state": {"state": "not_ready", "reason": "break"},
    "POST /api/v1/agents/{agent_id}/disposition": {
        "attempt_id": "00000000-0000-0000-0000-000000000000", "code": "Sale"},
    "PATCH /api/v1/campaigns/{campaign}": {"wrapup_seconds": 20},
}


@pytest.mark.timeout(60)
async def test_ids_in_paths_and_bodies_are_ascii_or_400_naming_the_field(database_url: str) -> None:
    campaign = await make_campaign(database_url, "ids", mode="preview")
    (agent,) = await make_agents(database_url, 1)
    (adm,) = await make_agents(database_url, 1, prefix="adm", role="admin")
    failures: list[str] = []
    async with run_pbxsim(speed=10) as pbx, \
            running_service(service_settings(database_url, pbx)) as rt, \
            aiohttp.ClientSession() as s:
        api = f"http://127.0.0.1:{rt.http_port}"

        async def expect_400(method: str, path: str, token: str, field: str, body: Any = None) -> None:
            status, answer, _ = await _call(s, method, api + path, token, body)
            if status != 400 or not isinstance(answer, dict) or set(answer) != ERROR_KEYS \
                    or answer["field"] != field or answer["error"] != "invalid_id":
                failures.append(f"{method} {path} {body}: {status} {answer}")

        # Every route with an id in its path, from the route table.
        for route in ROUTES:
            if route.websocket or not ("{agent_id}" in route.path or "{campaign}" in route.path):
                continue
            action = "skip" if "/preview/" in route.path else "pause"
            body = BODIES.get(route.name)
            if "{agent_id}" in route.path:
                for bad in BAD_AGENT_IDS:
                    path = route.path.replace("{agent_id}", bad).replace("{action}", action)
                    for token in (agent.token, adm.token):  # the owner rule must not turn it into 403
                        if route.owner == "self" and token == adm.token:
                            continue
                        await expect_400(route.method, path, token, "agent_id", body)
            if "{campaign}" in route.path:
                for bad in BAD_CAMPAIGNS:
                    path = route.path.replace("{campaign}", bad).replace("{action}", action)
                    await expect_400(route.method, path, adm.token, "campaign", body)
        # Ids in bodies: the campaign of a login, the attempt of a call.
        base = f"/api/v1/agents/{agent.id}"
        for bad in ("²", "١", "99999999999999999999"):
            await expect_400("POST", base + "/session", agent.token, "campaign", {"campaign": bad})
        arabic_zeros = "\u0660" * 8 + "-0000-0000-0000-000000000000"  # uuid.UUID() takes it
        for bad in ("²", arabic_zeros, "{00000000-0000-0000-0000-000000000000}",
                    "urn:uuid:00000000-0000-0000-0000-000000000000"):
            await expect_400("POST", base + "/disposition", agent.token, "attempt_id",
                             {"attempt_id": bad, "code": "Sale"})
            for action in ("hangup", "hold", "unhold"):
                await expect_400("POST", f"{base}/{action}", agent.token, "attempt_id",
                                 {"attempt_id": bad})
        # ASCII ids still work, by id (leading zeros too) and by name.
        for ref in ("ids", str(campaign.id), f"00{campaign.id}"):
            status, answer, _ = await _call(s, "GET", f"{api}/api/v1/campaigns/{ref}", adm.token)
            if status != 200 or answer["id"] != campaign.id:
                failures.append(f"GET campaign {ref}: {status} {answer}")
        status, answer, _ = await _call(s, "GET", f"{api}{base}/session", agent.token)
        if status != 200 or answer["agent_id"] != agent.id:
            failures.append(f"GET own session: {status} {answer}")
        status, answer, _ = await _call(s, "POST", f"{api}{base}/disposition", agent.token,
                                        {"attempt_id": "00000000-0000-0000-0000-00000000000A",
                                         "code": "Sale"})
        if status != 404 or answer["field"] != "attempt_id":
            failures.append(f"disposition of an unknown (well-formed) attempt: {status} {answer}")
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------ failed bearer tokens


def _ledger_lookup(pool: Any) -> Any:
    """The service's token lookup (runtime.py): one ledger query per call."""
    async def lookup(token: str) -> Principal | None:
        conn: AsyncConn
        async with pool.connection() as conn:
            agent = await agents_ledger.agent_by_token(conn, token)
        return None if agent is None else Principal(agent.id, agent.username, Role(agent.role))
    return lookup


async def test_random_tokens_cost_bounded_lookups_and_never_evict_a_valid_one(database_url: str) -> None:
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    pool = await open_pool(database_url, min_size=1, max_size=2)
    try:
        tokens = CachedTokenLookup(_ledger_lookup(pool), ttl=60, max_entries=100, max_negative=50,
                                   failure_limit=5, failure_window=60, max_clients=100)
        principal = await tokens.authenticate(sup.token, "10.0.0.1")
        assert principal is not None and principal.agent_id == sup.id
        assert tokens.lookups == 1
        # One client, 1000 random tokens: 5 lookups, then 429s that touch nothing.
        refused: list[int] = []
        for _ in range(1000):
            try:
                assert await tokens.authenticate(secrets.token_urlsafe(24), "10.6.6.6") is None
            except TokenBackoff as exc:
                refused.append(exc.retry_after)
        assert tokens.lookups == 1 + 5
        assert len(refused) == 995 and all(1 <= r <= 60 for r in refused)
        # A concurrent burst from a fresh client cannot slip past its limit either (its
        # lookups run two at a time: at most one more than the limit).
        burst = await asyncio.gather(*(tokens.authenticate(secrets.token_urlsafe(24), "10.7.7.7")
                                       for _ in range(100)), return_exceptions=True)
        assert sum(isinstance(r, TokenBackoff) for r in burst) >= 94
        assert 1 + 5 + 5 <= tokens.lookups <= 1 + 5 + 6
        # Many clients, one random token each: the caches and the client table stay bounded,
        # and the valid token's entry survives (the old cache emptied itself when full).
        for i in range(400):
            assert await tokens.authenticate(secrets.token_urlsafe(24), f"10.1.{i // 256}.{i % 256}") is None
        assert tokens.sizes() == {"valid": 1, "invalid": 50, "clients": 100}
        before = tokens.lookups
        for client in ("10.0.0.1", "10.6.6.6", "10.9.9.9"):  # the flooder's too: it is cached
            assert await tokens.authenticate(sup.token, client) == principal
        assert tokens.lookups == before
        # Forty requests at once with one fresh valid token: none refused, and a lookup for
        # each of the client's two slots at most (the rest find the answer cached).
        (fresh,) = await make_agents(database_url, 1, prefix="fresh")
        before = tokens.lookups
        answers = await asyncio.gather(*(tokens.authenticate(fresh.token, "10.6.6.6")
                                         for _ in range(40)), return_exceptions=True)
        assert all(isinstance(a, Principal) and a.agent_id == fresh.id for a in answers), answers
        assert before < tokens.lookups <= before + 2
        # A valid token is not charged: a client logging many agents in is never refused.
        agents = await make_agents(database_url, 8)
        for a in agents:
            assert await tokens.authenticate(a.token, "10.2.2.2") is not None
        assert await tokens.authenticate(secrets.token_urlsafe(24), "10.2.2.2") is None
    finally:
        await pool.close()


def _client_from(address: str) -> aiohttp.ClientSession:
    """An HTTP client whose requests come from ``address`` (any 127/8 address is loopback)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


@pytest.mark.timeout(60)
async def test_a_client_flooding_random_tokens_gets_429_and_others_keep_working(
        database_url: str) -> None:
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    (agent,) = await make_agents(database_url, 1)
    async with run_pbxsim(speed=10) as pbx, \
            running_service(service_settings(database_url, pbx)) as rt, \
            _client_from("127.0.0.1") as flooder, _client_from("127.0.0.2") as other:
        me = f"http://127.0.0.1:{rt.http_port}/api/v1/me"
        assert (await _call(flooder, "GET", me, sup.token))[0] == 200
        statuses: list[int] = []
        retry_after: set[str] = set()
        for _ in range(60):
            status, answer, headers = await _call(flooder, "GET", me, secrets.token_urlsafe(24))
            statuses.append(status)
            if status == 429:
                assert set(answer) == ERROR_KEYS and answer["error"] == "too_many_requests"
                retry_after.add(headers["Retry-After"])
        assert statuses == [401] * 20 + [429] * 40, statuses
        assert retry_after and all(v.isascii() and v.isdigit() and 1 <= int(v) <= 60
                                   for v in retry_after), retry_after
        # The WebSocket takes its token through the same gate.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with flooder.ws_connect(me.replace("/me", "/events") + "?token=nope-" + "x" * 20):
                pass
        assert refused.value.status == 429
        # The flooder's valid (cached) token still works; another client is not touched:
        # its valid token is looked up and its own unknown tokens get their 401.
        assert (await _call(flooder, "GET", me, sup.token))[0] == 200
        status, answer, _ = await _call(other, "GET", me, agent.token)
        assert status == 200 and answer["agent_id"] == agent.id
        assert (await _call(other, "GET", me, secrets.token_urlsafe(24)))[0] == 401


# -------------------------------------------------------------- dashboard figures


@contextlib.asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server: Any = site._server  # noqa: SLF001 - the port chosen by the OS
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()


def _app_of(rt: Runtime, stats_cache_s: float) -> web.Application:
    """The service's web app, built like runtime.py does, on the running dialer."""
    assert rt.dialer is not None
    return build_app(rt.dialer.service, token_lookup=_ledger_lookup(rt.dialer.pool),
                     stats_cache_s=stats_cache_s)


@pytest.mark.timeout(60)
async def test_stats_are_computed_once_per_second_for_every_requester(database_url: str) -> None:
    await make_campaign(database_url, "figures", mode="preview")
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    (agent,) = await make_agents(database_url, 1)
    async with run_pbxsim(speed=10) as pbx, \
            running_service(service_settings(database_url, pbx)) as rt, \
            aiohttp.ClientSession() as s:
        app = _app_of(rt, stats_cache_s=1.5)
        async with _serve(app) as api:
            cache = app[STATS_CACHE]
            stats = f"{api}/api/v1/stats"

            async def names() -> list[str]:
                status, answer, _ = await _call(s, "GET", stats, sup.token)
                assert status == 200, answer
                return sorted(c["name"] for c in answer["campaigns"])

            # 40 dashboards at once: one computation, one answer for all.
            answers = await asyncio.gather(*(_call(s, "GET", stats, sup.token) for _ in range(40)))
            assert {a[0] for a in answers} == {200}
            assert all(a[1] == answers[0][1] for a in answers)
            assert [c["name"] for c in answers[0][1]["campaigns"]] == ["figures"]
            assert cache.computed == 1
            # Rights are the request's, not the cache's.
            assert (await _call(s, "GET", stats, agent.token))[0] == 403
            assert (await _call(s, "GET", stats, None))[0] == 401
            assert (await _call(s, "GET", stats, "not-a-token"))[0] == 401
            # Within the TTL the figures are the same ones ...
            await make_campaign(database_url, "figures-2", mode="preview")
            assert await names() == ["figures"] and cache.computed == 1
            # ... then, up to twice the TTL, still served at once while new ones are computed
            # (no request waits for the ledger) ...
            await asyncio.sleep(1.8)
            assert await names() == ["figures"] and cache.computed == 2
            for _ in range(50):
                if await names() == ["figures", "figures-2"]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the figures were not refreshed")
            assert cache.computed == 2
            # ... and older than that, a request waits for new figures.
            await make_campaign(database_url, "figures-3", mode="preview")
            await asyncio.sleep(3.2)
            assert await names() == ["figures", "figures-2", "figures-3"]
            assert cache.computed == 3
            # A campaign's own figures: cached per campaign; an error is never kept.
            one = f"{api}/api/v1/campaigns/figures/stats"
            answers = await asyncio.gather(*(_call(s, "GET", one, sup.token) for _ in range(20)))
            assert {a[0] for a in answers} == {200} and answers[0][1]["name"] == "figures"
            assert cache.computed == 4
            for _ in range(2):
                assert (await _call(s, "GET", f"{api}/api/v1/campaigns/nope/stats", sup.token))[0] == 404
            assert cache.computed == 6
        # The cache off (the benchmark's "before"): computed for every request.
        app = _app_of(rt, stats_cache_s=0)
        async with _serve(app) as api:
            for _ in range(5):
                assert (await _call(s, "GET", f"{api}/api/v1/stats", sup.token))[0] == 200
            assert app[STATS_CACHE].computed == 5


async def test_a_campaign_action_and_an_agent_state_are_never_read_stale(database_url: str) -> None:
    """The figures cache never undoes what the dashboard has just done or seen: a pause
    is in the next read within the TTL (the cache is dropped on every campaign change),
    and the agents' states are read per request (a second-old state would undo the event
    the page has just shown). A CI run's browser test met the stale pause."""
    await make_campaign(database_url, "fresh", mode="preview")
    (adm,) = await make_agents(database_url, 1, prefix="adm", role="admin")
    (agent,) = await make_agents(database_url, 1)
    async with run_pbxsim(speed=10) as pbx, \
            running_service(service_settings(database_url, pbx)) as rt, \
            aiohttp.ClientSession() as s:
        app = _app_of(rt, stats_cache_s=30)
        async with _serve(app) as api:
            stats = f"{api}/api/v1/stats"

            async def read() -> dict[str, Any]:
                status, answer, _ = await _call(s, "GET", stats, adm.token)
                assert status == 200, answer
                return dict(answer)

            first = await read()
            assert [c["status"] for c in first["campaigns"]] == ["running"]
            assert first["agents"] == []
            status, answer, _ = await _call(s, "POST", f"{api}/api/v1/campaigns/fresh/pause",
                                            adm.token)
            assert status == 200, answer
            assert [c["status"] for c in (await read())["campaigns"]] == ["paused"]
            status, answer, _ = await _call(s, "POST", f"{api}/api/v1/agents/{agent.id}/session",
                                            agent.token, {"campaign": "fresh"})
            assert status == 200, answer
            agents = (await read())["agents"]
            assert [a["agent_id"] for a in agents] == [agent.id]
            assert app[STATS_CACHE].computed == 2  # the pause dropped it; the login did not
