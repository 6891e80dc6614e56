"""Typed keys of the aiohttp application and request (aiohttp.web.AppKey)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from orchestrator.api.auth import CachedTokenLookup
from orchestrator.api.service import DialerApi
from orchestrator.core.access import Principal
from orchestrator.hub import EventHub
from orchestrator.metrics import DialerMetrics

SERVICE = web.AppKey("service", DialerApi)
HUB = web.AppKey("hub", EventHub)
METRICS = web.AppKey("metrics", DialerMetrics)
TOKENS = web.AppKey("tokens", CachedTokenLookup)
OPENAPI = web.AppKey("openapi", dict[str, Any])
PRINCIPAL = web.RequestKey("principal", Principal)
"""Request key: the authenticated `Principal`."""
ROUTE = web.RequestKey("route", object)
"""Request key: the matched `ApiRoute`."""
