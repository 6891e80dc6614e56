"""HTTP handlers: parse and validate, call the dialer service, answer JSON.

Authentication and the role/ownership checks of the route table have already run
(middleware in app.py) when a handler starts; ``request[PRINCIPAL]`` is the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ValidationError

from orchestrator.api import keys
from orchestrator.api import schemas as s
from orchestrator.api.auth import token_from_request
from orchestrator.api.service import STATS_CACHE
from orchestrator.core.access import Principal
from orchestrator.dialer.errors import DialerError, Invalid, NotFound

M = TypeVar("M", bound=BaseModel)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _principal(request: web.Request) -> Principal:
    principal: Principal = request[keys.PRINCIPAL]
    return principal


class MalformedId(DialerError):
    """An id in the path or the body that cannot be one (see `schemas.parse_id`): 400."""

    status = 400
    code = "invalid_id"


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "...")


def path_agent_id(request: web.Request) -> int:
    """The ``{agent_id}`` of the path; 400 naming ``agent_id`` unless ASCII digits."""
    raw = request.match_info["agent_id"]
    value = s.parse_id(raw)
    if value is None:
        raise MalformedId(f"an agent id is ASCII digits, got {_shown(raw)}", "agent_id")
    return value


def _campaign_ref(raw: str, field: str = "campaign") -> str:
    ref = s.parse_campaign_ref(raw)
    if ref is None:
        raise MalformedId(f"a campaign is named by its ASCII name or its id in ASCII digits, "
                          f"got {_shown(raw)}", field)
    return ref


def _campaign(request: web.Request) -> str:
    return _campaign_ref(request.match_info["campaign"])


def _attempt_id(raw: str) -> str:
    aid = s.parse_attempt_id(raw)
    if aid is None:
        raise MalformedId(f"an attempt id is a UUID (8-4-4-4-12 hex digits), got {_shown(raw)}",
                          "attempt_id")
    return aid


async def _body(request: web.Request, model: type[M]) -> M:
    if not request.can_read_body:
        raw: Any = {}
    else:
        try:
            raw = await request.json()
        except ValueError:
            raise Invalid("request body is not valid JSON", "body") from None
    if not isinstance(raw, dict):
        raise Invalid("request body must be a JSON object", "body")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field, message = s.first_error(exc)
        raise Invalid(message, field) from None


# ------------------------------------------------------------------ system


async def healthz(request: web.Request) -> web.Response:
    health = await request.app[keys.SERVICE].health()
    return _json(health, status=200 if health.get("ok") else 503)


async def metrics(request: web.Request) -> web.Response:
    from orchestrator.metrics import CONTENT_TYPE_LATEST

    body = request.app[keys.METRICS].render()
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def openapi(request: web.Request) -> web.Response:
    return _json(request.app[keys.OPENAPI])


STATIC_DIR = Path(__file__).resolve().parent / "static"


def _page(name: str) -> web.StreamResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise NotFound(f"{name} is not installed", "page")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def agent_page(request: web.Request) -> web.StreamResponse:
    return _page("agent.html")


async def supervisor_page(request: web.Request) -> web.StreamResponse:
    return _page("supervisor.html")


async def me(request: web.Request) -> web.Response:
    p = _principal(request)
    return _json({"agent_id": p.agent_id, "username": p.username, "role": p.role.value})


# ------------------------------------------------------------------ agents


async def list_sessions(request: web.Request) -> web.Response:
    return _json({"agents": await request.app[keys.SERVICE].agent_sessions()})


async def get_session(request: web.Request) -> web.Response:
    return _json(await request.app[keys.SERVICE].agent_session(path_agent_id(request)))


async def agent_campaigns(request: web.Request) -> web.Response:
    out = await request.app[keys.SERVICE].agent_campaigns(path_agent_id(request))
    return _json({"campaigns": out})


async def login(request: web.Request) -> web.Response:
    agent_id = path_agent_id(request)
    body = await _body(request, s.LoginRequest)
    out = await request.app[keys.SERVICE].login(
        _principal(request), agent_id, _campaign_ref(body.campaign), body.endpoint,
        body.nailed_up)
    return _json(out)


async def logout(request: web.Request) -> web.Response:
    return _json(await request.app[keys.SERVICE].logout(_principal(request), path_agent_id(request)))


async def set_state(request: web.Request) -> web.Response:
    agent_id = path_agent_id(request)
    body = await _body(request, s.StateRequest)
    out = await request.app[keys.SERVICE].set_state(
        _principal(request), agent_id, body.state, body.reason)
    return _json(out)


async def preview_action(request: web.Request) -> web.Response:
    from orchestrator.api.routes import PREVIEW_ACTIONS

    agent_id = path_agent_id(request)
    action = request.match_info["action"]
    if action not in PREVIEW_ACTIONS:
        raise NotFound(f"unknown preview action {action!r}; use one of {', '.join(PREVIEW_ACTIONS)}",
                       "action")
    body = await _body(request, s.PreviewActionRequest)
    out = await request.app[keys.SERVICE].preview_action(
        _principal(request), agent_id, action, body.model_dump(exclude_none=True))
    return _json(out)


async def hangup(request: web.Request) -> web.Response:
    agent_id = path_agent_id(request)
    body = await _body(request, s.HangupRequest)
    attempt_id = _attempt_id(body.attempt_id) if body.attempt_id is not None else None
    out = await request.app[keys.SERVICE].hangup(_principal(request), agent_id, attempt_id)
    return _json(out)


async def _hold(request: web.Request, on: bool) -> web.Response:
    agent_id = path_agent_id(request)
    body = await _body(request, s.HangupRequest)
    attempt_id = _attempt_id(body.attempt_id) if body.attempt_id is not None else None
    out = await request.app[keys.SERVICE].hold(_principal(request), agent_id, attempt_id, on)
    return _json(out)


async def hold(request: web.Request) -> web.Response:
    return await _hold(request, True)


async def consult(request: web.Request) -> web.Response:
    agent_id = path_agent_id(request)
    body = await _body(request, s.ConsultBody)
    attempt_id = _attempt_id(body.attempt_id) if body.attempt_id is not None else None
    out = await request.app[keys.SERVICE].control.consult(agent_id, attempt_id, body.kind,
                                                          body.target)
    return _json(out)


async def transfer(request: web.Request) -> web.Response:
    agent_id = path_agent_id(request)
    body = await _body(request, s.TransferBody)
    attempt_id = _attempt_id(body.attempt_id) if body.attempt_id is not None else None
    control = request.app[keys.SERVICE].control
    if body.kind is None:
        out = await control.transfer(agent_id, attempt_id)
    else:
        out = await control.consult(agent_id, attempt_id, body.kind, body.target, blind=True)
    return _json(out)


async def call_action(request: web.Request) -> web.Response:
    agent_id = path_agent_id(request)
    body = await _body(request, s.CallActionBody)
    attempt_id = _attempt_id(body.attempt_id) if body.attempt_id is not None else None
    out = await request.app[keys.SERVICE].control.action(
        agent_id, attempt_id, request.match_info["action"], body.party_id)
    return _json(out)


async def unhold(request: web.Request) -> web.Response:
    return await _hold(request, False)


async def disposition(request: web.Request) -> web.Response:
    agent_id = path_agent_id(request)
    body = await _body(request, s.DispositionRequest)
    out = await request.app[keys.SERVICE].disposition(
        _principal(request), agent_id, _attempt_id(body.attempt_id), body.code, body.notes,
        body.amd_false_positive)
    return _json(out)


# --------------------------------------------------------------- campaigns


async def list_campaigns(request: web.Request) -> web.Response:
    return _json({"campaigns": await request.app[keys.SERVICE].list_campaigns()})


async def create_campaign(request: web.Request) -> web.Response:
    body = await _body(request, s.CampaignCreate)
    out = await request.app[keys.SERVICE].create_campaign(
        _principal(request), body.name, body.teams, s.campaign_settings(body))
    request.app[STATS_CACHE].invalidate()
    return _json(out, status=201)


async def get_campaign(request: web.Request) -> web.Response:
    return _json(await request.app[keys.SERVICE].get_campaign(_campaign(request)))


async def update_campaign(request: web.Request) -> web.Response:
    ref = _campaign(request)
    body = await _body(request, s.CampaignUpdate)
    changes = s.campaign_settings(body)
    if not changes:
        raise Invalid("give at least one setting to change", "body")
    out = await request.app[keys.SERVICE].update_campaign(_principal(request), ref, changes)
    request.app[STATS_CACHE].invalidate()
    return _json(out)


async def campaign_action(request: web.Request) -> web.Response:
    from orchestrator.api.routes import CAMPAIGN_ACTIONS

    action = request.match_info["action"]
    if action not in CAMPAIGN_ACTIONS:
        raise NotFound(f"unknown campaign action {action!r}; use start, pause or stop", "action")
    out = await request.app[keys.SERVICE].campaign_action(
        _principal(request), _campaign(request), action)
    request.app[STATS_CACHE].invalidate()
    return _json(out)


def _json_text(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/json")


async def campaign_stats(request: web.Request) -> web.Response:
    # The route admits supervisors and admins only, who see the same figures: the key is
    # the campaign alone (the rights were checked for this request before it got here).
    ref = _campaign(request)
    service = request.app[keys.SERVICE]

    async def compute() -> str:
        return _dumps(await service.campaign_stats(ref))

    return _json_text(await request.app[STATS_CACHE].get(("campaign", ref), compute))


async def live_stats(request: web.Request) -> web.Response:
    service = request.app[keys.SERVICE]

    async def compute() -> str:
        figures = await service.live_stats()
        figures.pop("agents", None)
        return _dumps(figures)

    # The ledger's figures from the cache; the agents' states (memory, no query) read
    # now: a dashboard reloads right after an agent's event, and a second-old state would
    # undo the event it has just shown.
    cached = await request.app[STATS_CACHE].get("live", compute)
    agents = _dumps(await service.agent_sessions())
    joint = ", " if cached != "{}" else ""
    return _json_text(cached[:-1] + joint + '"agents": ' + agents + "}")


async def live_calls(request: web.Request) -> web.Response:
    return _json({"calls": await request.app[keys.SERVICE].live_calls()})


# ------------------------------------------------------------------ events


RIGHTS_RECHECK_S = 1.0
"""How often an open event stream re-reads its caller's rights (through the token cache,
so at most one database lookup per token per cache lifetime)."""
WS_RIGHTS_GONE = 4403
"""Close code of a stream whose caller lost the rights it was opened with."""


async def events_ws(request: web.Request) -> web.StreamResponse:
    """The WebSocket event stream; ``?topics=agent.,call.`` narrows it by type prefix."""
    hub = request.app[keys.HUB]
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    topics = frozenset(t for t in request.query.get("topics", "").split(",") if t)
    client = hub.connect(_principal(request), topics)
    metrics = request.app[keys.METRICS]
    metrics.ws_clients.inc()
    p = _principal(request)
    await ws.send_json({"type": "hello", "data": {"agent_id": p.agent_id, "role": p.role.value}})

    async def reader() -> None:
        # Incoming frames are not used (but must be read for pings and close).
        async for msg in ws:
            if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break

    token = token_from_request(request, allow_query=True) or ""
    tokens = request.app[keys.TOKENS]

    async def rights() -> str:
        # Rights are the caller's CURRENT ones: a token rotated, an agent deactivated or
        # a supervisor demoted loses the stream within the token cache's lifetime (a
        # probe got 22 events with contact data after a demotion). -> why it ends.
        while True:
            await asyncio.sleep(RIGHTS_RECHECK_S)
            now = await tokens(token)
            if now is None:
                return "token revoked or agent deactivated"
            if now != p:
                return "rights changed: reconnect"

    read_task = asyncio.ensure_future(reader())
    rights_task = asyncio.ensure_future(rights())
    try:
        while not ws.closed:
            get = asyncio.ensure_future(client.queue.get())
            done, _ = await asyncio.wait({get, read_task, rights_task},
                                         return_when=asyncio.FIRST_COMPLETED)
            if rights_task in done:
                get.cancel()
                hub.disconnect(client)  # not one more event under the old rights
                await ws.close(code=WS_RIGHTS_GONE, message=rights_task.result().encode())
                break
            if get not in done:
                get.cancel()
                break
            event = get.result()
            if event is None:
                break
            await ws.send_str(json.dumps(event, default=str))
    except (ConnectionResetError, RuntimeError):
        pass
    finally:
        hub.disconnect(client)
        metrics.ws_clients.dec()
        read_task.cancel()
        rights_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await read_task
        await ws.close()
    return ws
