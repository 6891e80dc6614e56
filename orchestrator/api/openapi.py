"""The OpenAPI 3.1 document, generated from the route table (never written by hand,
so it cannot drift from the routes that exist).

Every operation documents each answer it can give: its success (with a body schema),
and the errors of the middleware in app.py and of the handlers, all in one shape
(`Error`: ``{"error", "message", "field"}``):

* 400 a malformed id (path or body; ``field`` names it), or a WebSocket request that is
  not a handshake;
* 401 no or an unknown token; 403 the role or the ownership rule refuses it; 429 the
  caller's address sent too many unknown tokens (``Retry-After``);
* 404 no such object; 409 the object's state does not allow it; 413 a body over the
  size limit; 422 a field's value is refused (``field`` names it);
* 503 the ledger is unreachable for a moment, or the service is shutting down
  (``Retry-After``).

tests/security/ runs schemathesis against the running service with this document and
fails on any answer it does not describe.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator import __name__ as _pkg
from orchestrator.api.routes import CALL_ACTIONS, CAMPAIGN_ACTIONS, PREVIEW_ACTIONS, ApiRoute
from orchestrator.ledger.agents import AGENT_STATES
from orchestrator.ledger.campaigns import STATUSES

_PARAM = re.compile(r"{([a-z_]+)}")

MAX_ID = 2**63 - 1
"""Ids are PostgreSQL bigints; a larger one is malformed (400)."""

_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "agent_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    "campaign": {"type": "string", "minLength": 1, "maxLength": 200,
                 "pattern": "^[!-~][ -~]*$",
                 "description": "Campaign name or numeric id (printable ASCII)"},
    "callback_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}

_ERROR = {
    "type": "object",
    "required": ["error", "message", "field"],
    "properties": {
        "error": {"type": "string", "description": "Machine-readable code"},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "The offending field, if any"},
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str) -> dict[str, Any]:
    return {"type": "object", "required": [key],
            "properties": {key: {"type": "array", "items": {"type": "object"}}}}


# Bodies of the success answers, by component name.
_SCHEMAS: dict[str, dict[str, Any]] = {
    "Me": {
        "type": "object", "required": ["agent_id", "username", "role"],
        "properties": {"agent_id": {"type": "integer"}, "username": {"type": "string"},
                       "role": {"type": "string", "enum": ["agent", "supervisor", "admin"]}},
    },
    "AgentSession": {
        "type": "object", "required": ["agent_id", "state"],
        "properties": {"agent_id": {"type": "integer"},
                       "state": {"type": "string", "enum": list(AGENT_STATES)},
                       "campaign": {"type": ["string", "null"]},
                       "campaign_id": {"type": ["integer", "null"]}},
    },
    "Campaign": {
        "type": "object", "required": ["id", "name", "status", "mode"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                       "status": {"type": "string", "enum": list(STATUSES)},
                       "mode": {"type": "string"}},
    },
    "Health": {
        "type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}},
    },
    "AgentSessions": _list_of("agents"),
    "Campaigns": _list_of("campaigns"),
    "Calls": _list_of("calls"),
    "Supervision": {
        "type": "object",
        "required": ["supervision_id", "attempt_id", "supervisor_id", "mode", "state"],
        "properties": {"supervision_id": {"type": "string", "format": "uuid"},
                       "attempt_id": {"type": "string", "format": "uuid"},
                       "agent_id": {"type": ["integer", "null"]},
                       "supervisor_id": {"type": "integer"},
                       "mode": {"type": "string", "enum": ["listen", "whisper", "barge"]},
                       "state": {"type": "string", "enum": ["ringing", "active", "ended"]},
                       "ended_reason": {"type": ["string", "null"]}},
    },
    "Supervisions": _list_of("supervisions"),
    "Callback": {
        "type": "object",
        "required": ["id", "kind", "status", "e164", "window_start", "window_end", "time_zone"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["scheduled", "personal", "web", "queue"]},
            "status": {"type": "string", "enum": ["pending", "offered", "dialing", "done",
                                                  "failed", "missed", "deleted"]},
            "e164": {"type": "string", "description": "The number (last 4 digits when the "
                                                      "campaign masks)"},
            "name": {"type": ["string", "null"]},
            "campaign_id": {"type": ["integer", "null"]},
            "campaign": {"type": ["string", "null"]},
            "window_start": {"type": "string", "format": "date-time"},
            "window_end": {"type": "string", "format": "date-time"},
            "time_zone": {"type": "string"},
            "assigned_agent_id": {"type": ["integer", "null"]},
            "waiting_reason": {"type": ["string", "null"],
                               "description": "Why a due callback is not dialed now"},
            "attempts_made": {"type": "integer"},
            "max_attempts": {"type": "integer"},
            "result": {"type": ["string", "null"]},
        },
    },
    "Callbacks": _list_of("callbacks"),
    "WebCallback": {
        "type": "object", "required": ["callback_id", "status"],
        "properties": {"callback_id": {"type": "integer"}, "status": {"type": "string"},
                       "kind": {"type": "string"},
                       "window_end": {"type": "string", "format": "date-time"}},
    },
    "Object": {"type": "object"},
}

# Success answer of each operation (by operationId, i.e. handler name): status and body
# schema (a component name); the rest answer 200 with a JSON object.
_SUCCESS: dict[str, tuple[str, str]] = {
    "me": ("200", "Me"),
    "list_sessions": ("200", "AgentSessions"),
    "get_session": ("200", "AgentSession"),
    "agent_campaigns": ("200", "Campaigns"),
    "login": ("200", "AgentSession"),
    "logout": ("200", "AgentSession"),
    "set_state": ("200", "AgentSession"),
    "list_campaigns": ("200", "Campaigns"),
    "create_campaign": ("201", "Campaign"),
    "get_campaign": ("200", "Campaign"),
    "update_campaign": ("200", "Campaign"),
    "campaign_action": ("200", "Campaign"),
    "live_calls": ("200", "Calls"),
    "supervise": ("201", "Supervision"),
    "list_supervisions": ("200", "Supervisions"),
    "change_supervision": ("200", "Supervision"),
    "end_supervision": ("200", "Supervision"),
    "list_callbacks": ("200", "Callbacks"),
    "create_callback": ("201", "Callback"),
    "get_callback": ("200", "Callback"),
    "update_callback": ("200", "Callback"),
    "delete_callback": ("200", "Callback"),
    "create_web_callback": ("201", "WebCallback"),
}

_PAGES = ("agent_page", "supervisor_page")


def _param_schema(route: ApiRoute, name: str) -> dict[str, Any]:
    if name == "action":
        actions = (PREVIEW_ACTIONS if "/preview/" in route.path else
                   CALL_ACTIONS if "/call/" in route.path else CAMPAIGN_ACTIONS)
        return {"type": "string", "enum": list(actions)}
    return _PARAM_SCHEMAS.get(name, {"type": "string"})


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _success(route: ApiRoute) -> dict[str, Any]:
    op_id = _operation_id(route)
    if route.websocket:
        return {"101": {"description": "Switching to the WebSocket protocol"}}
    if op_id == "healthz":
        return {"200": {"description": "Ready", "content": _json(_ref("Health"))},
                "503": {"description": "Not ready (database or ARI socket down)",
                        "content": _json(_ref("Health"))}}
    if op_id == "metrics":
        return {"200": {"description": "Prometheus text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}
    if op_id in _PAGES:
        return {"200": {"description": "The page",
                        "content": {"text/html": {"schema": {"type": "string"}}}}}
    status, schema = _SUCCESS.get(op_id, ("200", "Object"))
    return {status: {"description": "Created" if status == "201" else "OK",
                     "content": _json(_ref(schema))}}


def _errors(route: ApiRoute, has_params: bool) -> dict[str, str]:
    """The error answers of ``route``: status -> description."""
    errors: dict[str, str] = {}
    if route.websocket:
        errors["400"] = "Not a WebSocket handshake"
    if has_params or route.body is not None:
        errors["400"] = "A malformed id, in the path or the body (named in `field`)"
        errors["404"] = "No such object"
        errors["422"] = "A field is invalid (named in `field`)"
    if route.body is not None:
        errors["413"] = "The request body is too large"
    if _operation_id(route) in _PAGES:
        errors["404"] = "The page is not installed"
    if route.role is not None:
        errors["401"] = "Missing or unknown bearer token"
        errors["403"] = "The caller's role or ownership does not allow it"
        errors["429"] = "Too many unknown tokens from this address lately"
        errors["503"] = "The ledger is unreachable for a moment, or the service is stopping"
        if route.method != "GET":
            errors["409"] = "The object's state does not allow it"
    return dict(sorted(errors.items()))


def _err_response(status: str, description: str) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": _json(_ref("Error"))}
    if status in ("429", "503"):
        out["headers"] = dict(_RETRY_AFTER)
    return out


def build_openapi(routes: tuple[ApiRoute, ...], *, version: str = "0.1.0") -> dict[str, Any]:
    """The OpenAPI document for ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": _ERROR, **_SCHEMAS}
    for route in routes:
        op: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": route.summary,
            "tags": [route.tag],
            "responses": _success(route),
        }
        params = [
            {"name": n, "in": "path", "required": True, "schema": _param_schema(route, n)}
            for n in _PARAM.findall(route.path)
        ]
        has_params = bool(params)
        if route.websocket:
            params.append({"name": "token", "in": "query", "required": False,
                           "schema": {"type": "string"},
                           "description": "Bearer token, for clients that cannot set headers"})
            params.append({"name": "topics", "in": "query", "required": False,
                           "schema": {"type": "string"},
                           "description": "Comma-separated event type prefixes"})
        if params:
            op["parameters"] = params
        if route.body is not None:
            name = route.body.__name__
            schema = route.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for sub_name, sub in schema.pop("$defs", {}).items():
                schemas[sub_name] = sub
            schemas[name] = schema
            op["requestBody"] = {
                "required": route.method in ("POST", "PATCH") and name not in (
                    "HangupRequest", "PreviewActionRequest"),
                "content": _json(_ref(name)),
            }
        if route.role is None:
            op["security"] = []
            if route.public_reason:
                op["description"] = f"Public: {route.public_reason}."
        else:
            op["security"] = [{"bearerAuth": []}]
            rights = f"Least role: {route.role.value}."
            if route.owner == "self":
                rights += " Only the agent itself (the agent_id in the path)."
            elif route.owner == "self_or_supervisor":
                rights += " The agent itself, or a supervisor or admin."
            op["description"] = rights
            op["x-roles"] = [r for r in ("web_callback", "agent", "supervisor", "admin")
                             if _allowed(route, r)]
        for status, description in _errors(route, has_params).items():
            op["responses"][status] = _err_response(status, description)
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dialer orchestrator API",
            "version": version,
            "description": "Agent sessions, preview actions, dispositions, campaigns, live "
                           "statistics and a WebSocket event stream of the "
                           f"{_pkg} service.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def _allowed(route: ApiRoute, role: str) -> bool:
    from orchestrator.core.access import Role

    assert route.role is not None
    return Role(role).at_least(route.role)


def _operation_id(route: ApiRoute) -> str:
    return route.handler.__name__
