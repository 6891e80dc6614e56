"""HTTP handlers of callbacks (MISSION F): scheduled and personal callbacks listed,
created, edited and deleted by agents (their campaigns') and supervisors (any), and a
website's "call me back" form (``POST /api/v1/web-callbacks``).

The route table has checked the role; the dialer's `CallbacksService` checks the object
(an agent's campaigns, its team for a named agent) and every field (422 naming it). A
web-callback token answered 429 carries Retry-After.
"""

from __future__ import annotations

from aiohttp import web

from orchestrator.api import keys
from orchestrator.api import schemas as s
from orchestrator.api.auth import client_key
from orchestrator.api.handlers import MalformedId, _body, _json, _principal, _shown
from orchestrator.api.service import CallbacksApi
from orchestrator.dialer.callbacks import RateLimited
from orchestrator.dialer.errors import Invalid

_QUERY = ("campaign", "status", "kind", "queue", "mine", "limit")


def _callbacks(request: web.Request) -> CallbacksApi:
    return request.app[keys.SERVICE].callbacks


def _callback_id(request: web.Request) -> int:
    raw = request.match_info["callback_id"]
    value = s.parse_id(raw)
    if value is None:
        raise MalformedId(f"a callback id is ASCII digits, got {_shown(raw)}", "callback_id")
    return value


def _query_text(request: web.Request, name: str, limit: int = 200) -> str | None:
    raw = request.query.get(name)
    if raw is None or not raw.strip():
        return None
    if len(raw) > limit or not raw.isprintable():
        raise Invalid(f"at most {limit} printable characters", name)
    return raw.strip()


async def list_callbacks(request: web.Request) -> web.Response:
    """``GET /api/v1/callbacks[?campaign=&status=open|pending,...&kind=&queue=&mine=1&limit=]``:
    ``{"callbacks": [...]}``, open ones first, soonest first."""
    for name in request.query:
        if name not in _QUERY:
            raise Invalid(f"unknown query parameter; use {', '.join(_QUERY)}", name)
    limit_raw = request.query.get("limit")
    limit = 200
    if limit_raw is not None:
        parsed = s.parse_id(limit_raw)
        if parsed is None or parsed > 1000:
            raise Invalid("must be a whole number from 1 to 1000", "limit")
        limit = parsed
    mine = request.query.get("mine", "").strip().lower() in ("1", "true", "yes")
    out = await _callbacks(request).list(
        _principal(request), campaign=_query_text(request, "campaign"),
        status=_query_text(request, "status"), kind=_query_text(request, "kind"),
        queue=_query_text(request, "queue"), mine=mine, limit=limit)
    return _json(out)


async def create_callback(request: web.Request) -> web.Response:
    """``POST /api/v1/callbacks``: 201 with the callback."""
    body = await _body(request, s.CallbackCreate)
    out = await _callbacks(request).create(_principal(request), body.model_dump())
    return _json(out, status=201)


async def get_callback(request: web.Request) -> web.Response:
    return _json(await _callbacks(request).get(_principal(request), _callback_id(request)))


async def update_callback(request: web.Request) -> web.Response:
    """``PATCH /api/v1/callbacks/{callback_id}``: the fields given; 409 once it started."""
    callback_id = _callback_id(request)
    body = await _body(request, s.CallbackUpdate)
    out = await _callbacks(request).update(_principal(request), callback_id,
                                           body.model_dump(exclude_unset=True))
    return _json(out)


async def delete_callback(request: web.Request) -> web.Response:
    """``DELETE /api/v1/callbacks/{callback_id}[?reason=]``: kept as 'deleted' and logged."""
    callback_id = _callback_id(request)
    out = await _callbacks(request).delete(_principal(request), callback_id,
                                           reason=request.query.get("reason"))
    return _json(out)


async def create_web_callback(request: web.Request) -> web.Response:
    """``POST /api/v1/web-callbacks``: 201 ``{"callback_id", "status", "kind",
    "window_end"}``; 429 with Retry-After past the rate limit."""
    body = await _body(request, s.WebCallbackCreate)
    try:
        out = await _callbacks(request).create_web(
            _principal(request), client_key(request.remote), body.model_dump())
    except RateLimited as exc:
        resp = _json({"error": exc.code, "message": exc.message, "field": None}, status=429)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    return _json(out, status=201)
