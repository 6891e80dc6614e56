"""HTTP handlers of supervision (MISSION E): a supervisor listens to, whispers into or
barges into a live call from their own phone, switches mode, ends it, lists theirs.

The route table admits supervisors and admins only (an agent gets 403 before a handler
runs). The dialer refuses what the call or the supervisor's state does not allow: 409
naming the rule (a call not bridged yet or ended, i.e. its agent in wrap-up; a second
supervision), 422 naming ``endpoint`` for a phone the agent-phone gate refuses.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from orchestrator.api import keys
from orchestrator.api import schemas as s
from orchestrator.api.handlers import MalformedId, _attempt_id, _body, _json, _principal, _shown
from orchestrator.core.access import Principal
from orchestrator.dialer.errors import Unavailable


class SupervisionApi(Protocol):
    """What the handlers need of the dialer's supervisions (`SupervisionSessions`)."""

    def of(self, who: Principal) -> list[dict[str, Any]]: ...
    async def start(self, who: Principal, attempt_id: str, mode_name: str,
                    endpoint: str | None) -> dict[str, Any]: ...
    async def change(self, who: Principal, supervision_id: str,
                     mode_name: str) -> dict[str, Any]: ...
    async def stop(self, who: Principal, supervision_id: str) -> dict[str, Any]: ...


@runtime_checkable
class Supervises(Protocol):
    """A dialer service that offers supervision (`DialerService.supervision`)."""

    @property
    def supervision(self) -> SupervisionApi: ...


def _supervision(request: web.Request) -> SupervisionApi:
    service = request.app[keys.SERVICE]
    if not isinstance(service, Supervises):
        raise Unavailable("this service does not offer supervision")
    return service.supervision


def _supervision_id(request: web.Request) -> str:
    raw = request.match_info["supervision_id"]
    sid = s.parse_attempt_id(raw)  # the same UUID form
    if sid is None:
        raise MalformedId(f"a supervision id is a UUID (8-4-4-4-12 hex digits), got "
                          f"{_shown(raw)}", "supervision_id")
    return sid


async def supervise(request: web.Request) -> web.Response:
    """``POST /api/v1/calls/{attempt_id}/supervise``: 201 with the supervision (its phone
    rings; ``state`` goes ringing -> active -> ended)."""
    attempt_id = _attempt_id(request.match_info["attempt_id"])
    body = await _body(request, s.SuperviseRequest)
    out = await _supervision(request).start(_principal(request), attempt_id, body.mode,
                                            body.endpoint)
    return _json(out, status=201)


async def change_supervision(request: web.Request) -> web.Response:
    sid = _supervision_id(request)
    body = await _body(request, s.SupervisionModeRequest)
    return _json(await _supervision(request).change(_principal(request), sid, body.mode))


async def end_supervision(request: web.Request) -> web.Response:
    sid = _supervision_id(request)
    return _json(await _supervision(request).stop(_principal(request), sid))


async def list_supervisions(request: web.Request) -> web.Response:
    return _json({"supervisions": _supervision(request).of(_principal(request))})
