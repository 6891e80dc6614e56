"""The aiohttp application factory: routes from the route table, two middlewares.

* `_errors_and_metrics`: times each request (metric labelled by route template, never
  by the concrete path), turns dialer/ledger errors into JSON answers with a status.
* `_authorize`: resolves the bearer token to a `Principal` and applies the route's
  least role and ownership rule *before* the handler runs, so no handler can forget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import structlog
from aiohttp import web
from psycopg_pool import PoolTimeout

from orchestrator.api import keys
from orchestrator.api.auth import (
    CachedTokenLookup,
    TokenBackoff,
    TokenLookup,
    forbidden,
    token_from_request,
    too_many_failures,
    unauthorized,
)
from orchestrator.api.handlers import path_agent_id
from orchestrator.api.openapi import build_openapi
from orchestrator.api.routes import ROUTES, ApiRoute
from orchestrator.api.service import STATS_CACHE, STATS_CACHE_S, DialerApi, FiguresCache
from orchestrator.core.access import Role
from orchestrator.dialer.errors import DialerError
from orchestrator.hub import EventHub
from orchestrator.ledger.campaigns import CampaignError, CampaignNotFound, CampaignTransitionError
from orchestrator.metrics import DialerMetrics

log = structlog.get_logger("orchestrator.api")

LEDGER_RETRY_AFTER_S = 2
"""Retry-After (seconds) on a 503 while the database is unreachable."""

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return web.Response(
        status=status, content_type="application/json",
        text=json.dumps({"error": code, "message": message, "field": field}),
    )


def _route_of(request: web.Request) -> ApiRoute | None:
    info = request.match_info
    route = getattr(info, "route", None)
    handler = getattr(route, "handler", None) if route is not None else None
    if handler is None:
        return None
    table: dict[Any, ApiRoute] = request.app[_ROUTE_BY_HANDLER]
    return table.get((request.method if request.method != "HEAD" else "GET", handler))


_ROUTE_BY_HANDLER = web.AppKey("route_by_handler", dict)


@web.middleware
async def _errors_and_metrics(request: web.Request, handler: _Handler) -> web.StreamResponse:
    route = _route_of(request)
    label = route.path if route is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except web.HTTPException as exc:
        status = exc.status
        if exc.content_type != "application/json" and exc.status >= 400:
            return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
        raise
    except DialerError as exc:
        status = exc.status
        resp = _error(exc.status, exc.code, exc.message, exc.field)
        if exc.status == 503:  # shutting down: another instance (or this one restarted) will do
            resp.headers["Retry-After"] = str(LEDGER_RETRY_AFTER_S)
        return resp
    except CampaignNotFound as exc:
        status = 404
        return _error(404, "not_found", exc.message, exc.field)
    except CampaignTransitionError as exc:
        status = 409
        return _error(409, "conflict", exc.message, exc.field)
    except CampaignError as exc:
        status = 422
        return _error(422, "invalid", exc.message, exc.field)
    except (psycopg.OperationalError, PoolTimeout) as exc:
        # The ledger is unreachable for a moment (connections killed, a restart): the
        # request is safe to send again, and says so, rather than a 500 that reads as a bug.
        status = 503
        log.warning("api.ledger_unavailable", route=label, method=request.method,
                    error=type(exc).__name__)
        resp = _error(503, "unavailable", "the ledger is unreachable for a moment; try again")
        resp.headers["Retry-After"] = str(LEDGER_RETRY_AFTER_S)
        return resp
    except Exception:
        log.exception("api.unhandled_error", route=label, method=request.method)
        return _error(500, "internal_error", "internal error (see the service log)")
    finally:
        metrics: DialerMetrics = request.app[keys.METRICS]
        metrics.http_requests.labels(request.method, label, str(status)).inc()
        metrics.http_seconds.labels(label).observe(time.perf_counter() - started)


@web.middleware
async def _authorize(request: web.Request, handler: _Handler) -> web.StreamResponse:
    route = _route_of(request)
    if route is None or route.role is None:
        return await handler(request)
    token = token_from_request(request, allow_query=route.websocket)
    if token is None:
        raise unauthorized("missing bearer token (Authorization: Bearer <token>)")
    try:
        principal = await request.app[keys.TOKENS].authenticate(token, request.remote)
    except TokenBackoff as exc:
        raise too_many_failures(exc.retry_after) from None
    if principal is None:
        raise unauthorized("unknown or revoked token")
    if not principal.role.at_least(route.role):
        raise forbidden(f"requires role {route.role.value} or above")
    if route.owner is not None:
        # ASCII digits only (400 otherwise): str.isdigit() admits '²', which int() refuses
        target = path_agent_id(request)
        if target != principal.agent_id and not (
            route.owner == "self_or_supervisor" and principal.role.at_least(Role.SUPERVISOR)
        ):
            raise forbidden("an agent may act only on its own session and calls")
    request[keys.PRINCIPAL] = principal
    request[keys.ROUTE] = route
    structlog.contextvars.bind_contextvars(actor=principal.actor)
    try:
        return await handler(request)
    finally:
        structlog.contextvars.unbind_contextvars("actor")


def build_app(
    service: DialerApi,
    *,
    token_lookup: TokenLookup,
    hub: EventHub | None = None,
    metrics: DialerMetrics | None = None,
    token_cache_ttl: float = 5.0,
    token_failure_limit: int = 20,
    token_failure_window: float = 60.0,
    stats_cache_s: float = STATS_CACHE_S,
) -> web.Application:
    """The web application: REST routes, /openapi.json, /metrics, /healthz, /api/v1/events.

    ``token_failure_limit`` unknown tokens per ``token_failure_window`` seconds from one
    client, then 429 until the window ends; ``stats_cache_s``: how long the statistics
    routes serve the same figures (0: computed for every request).
    """
    app = web.Application(middlewares=[_errors_and_metrics, _authorize],
                          client_max_size=1 << 20)
    app[keys.SERVICE] = service
    app[keys.HUB] = hub or EventHub()
    app[keys.METRICS] = metrics or DialerMetrics()
    app[keys.TOKENS] = CachedTokenLookup(token_lookup, ttl=token_cache_ttl,
                                         failure_limit=token_failure_limit,
                                         failure_window=token_failure_window)
    stats = app[STATS_CACHE] = FiguresCache(stats_cache_s)

    async def stop_stats(_app: web.Application) -> None:
        await stats.close()

    app.on_cleanup.append(stop_stats)
    app[keys.OPENAPI] = build_openapi(ROUTES)
    by_handler: dict[Any, ApiRoute] = {}
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
        by_handler[(route.method, route.handler)] = route
    app[_ROUTE_BY_HANDLER] = by_handler
    add_pages(app)
    return app


_STATIC = Path(__file__).parent / "static"
_PAGE_HEADERS = {
    # The pages load only their own scripts and talk only to this service.
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
                               "img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def add_pages(app: web.Application) -> None:
    """What the web pages need besides their routes in the route table (/agent,
    /supervisor): their scripts and stylesheet under /static/, / leading to the agent
    desktop, and a Content-Security-Policy on every page and file."""

    async def root(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/agent")

    async def page_headers(request: web.Request, response: web.StreamResponse) -> None:
        if request.path in ("/agent", "/supervisor") or request.path.startswith("/static/"):
            response.headers.update(_PAGE_HEADERS)

    app.router.add_get("/", root)
    app.router.add_static("/static/", _STATIC)
    app.on_response_prepare.append(page_headers)
