"""HTTP handlers of call-associated data (MISSION E): an agent reads and saves the
variables of its call, supervisors read any call's, admins define a campaign's variables.

The route table has checked the role and the ``{agent_id}`` ownership before a handler
runs (reading: the agent or a supervisor; saving: the agent itself). The dialer checks
the call: an agent's own (403 otherwise), not dispositioned (409), the version the
client read (409 with what changed since: the first save wins), each value (422 naming
``values.<name>``: unknown, not editable, over 256 characters).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from orchestrator.api import keys
from orchestrator.api import schemas as s
from orchestrator.api.handlers import (
    _attempt_id,
    _body,
    _campaign,
    _json,
    _principal,
    path_agent_id,
)
from orchestrator.core.access import Principal
from orchestrator.dialer.calls.call_data import StaleCallData
from orchestrator.dialer.errors import Unavailable


class CallDataApi(Protocol):
    """What the handlers need of the dialer's call data (`CallDataService`)."""

    async def read(self, who: Principal, agent_id: int,
                   attempt_id: str | None) -> dict[str, Any]: ...
    async def save(self, who: Principal, agent_id: int, attempt_id: str, version: int,
                   values: Mapping[str, str]) -> dict[str, Any]: ...
    async def variables(self, ref: str) -> dict[str, Any]: ...
    async def define(self, who: Principal, ref: str,
                     items: Sequence[Mapping[str, Any]]) -> dict[str, Any]: ...


@runtime_checkable
class HasCallData(Protocol):
    """A dialer service that offers call data (`DialerService.call_data`)."""

    @property
    def call_data(self) -> CallDataApi: ...


def _call_data(request: web.Request) -> CallDataApi:
    service = request.app[keys.SERVICE]
    if not isinstance(service, HasCallData):
        raise Unavailable("this service does not offer call data")
    return service.call_data


async def get_call_data(request: web.Request) -> web.Response:
    """``GET /api/v1/agents/{agent_id}/call-data[?attempt_id=]``."""
    agent_id = path_agent_id(request)
    raw = request.query.get("attempt_id")
    attempt_id = _attempt_id(raw) if raw is not None else None
    out = await _call_data(request).read(_principal(request), agent_id, attempt_id)
    return _json(out)


async def save_call_data(request: web.Request) -> web.Response:
    """``PUT /api/v1/agents/{agent_id}/call-data``: 200 with the new version, or 409
    ``{"error": "conflict", "field": "version", "version", "changed": [...],
    "call_data": {...}}`` when the client's version is stale."""
    agent_id = path_agent_id(request)
    body = await _body(request, s.CallDataSave)
    try:
        out = await _call_data(request).save(_principal(request), agent_id,
                                             _attempt_id(body.attempt_id), body.version,
                                             body.values)
    except StaleCallData as exc:
        return _json({"error": exc.code, "message": exc.message, "field": exc.field,
                      "version": exc.version, "changed": exc.changed,
                      "call_data": exc.current}, status=exc.status)
    return _json(out)


async def get_campaign_variables(request: web.Request) -> web.Response:
    return _json(await _call_data(request).variables(_campaign(request)))


async def put_campaign_variables(request: web.Request) -> web.Response:
    ref = _campaign(request)
    body = await _body(request, s.CampaignVariables)
    items = [v.model_dump(exclude_none=True) for v in body.variables]
    return _json(await _call_data(request).define(_principal(request), ref, items))
