"""The OpenAPI 3.1 document, generated from the route table (never written by hand,
so it cannot drift from the routes that exist)."""

from __future__ import annotations

import re
from typing import Any

from orchestrator import __name__ as _pkg
from orchestrator.api.routes import CAMPAIGN_ACTIONS, PREVIEW_ACTIONS, ApiRoute

_PARAM = re.compile(r"{([a-z_]+)}")

_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "agent_id": {"type": "integer", "minimum": 1},
    "campaign": {"type": "string", "description": "Campaign name or numeric id"},
}

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "Machine-readable code"},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "The offending field, if any"},
    },
}


def _param_schema(route: ApiRoute, name: str) -> dict[str, Any]:
    if name == "action":
        actions = PREVIEW_ACTIONS if "/preview/" in route.path else CAMPAIGN_ACTIONS
        return {"type": "string", "enum": list(actions)}
    return _PARAM_SCHEMAS.get(name, {"type": "string"})


def build_openapi(routes: tuple[ApiRoute, ...], *, version: str = "0.1.0") -> dict[str, Any]:
    """The OpenAPI document for ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": _ERROR}
    for route in routes:
        op: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": route.summary,
            "tags": [route.tag],
            "responses": {"200": {"description": "OK"}},
        }
        params = [
            {"name": n, "in": "path", "required": True, "schema": _param_schema(route, n)}
            for n in _PARAM.findall(route.path)
        ]
        if route.websocket:
            params.append({"name": "token", "in": "query", "required": False,
                           "schema": {"type": "string"},
                           "description": "Bearer token, for clients that cannot set headers"})
            params.append({"name": "topics", "in": "query", "required": False,
                           "schema": {"type": "string"},
                           "description": "Comma-separated event type prefixes"})
            op["responses"] = {"101": {"description": "Switching to the WebSocket protocol"}}
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
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
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
            op["x-roles"] = [r for r in ("agent", "supervisor", "admin")
                             if _allowed(route, r)]
            op["responses"].update({
                "401": _err_response("Missing or unknown bearer token"),
                "403": _err_response("The caller's role or ownership does not allow it"),
            })
        if route.body is not None or params:
            op["responses"]["422"] = _err_response("A field is invalid (named in `field`)")
            op["responses"]["404"] = _err_response("No such object")
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
    from orchestrator.api.auth import Role

    assert route.role is not None
    return Role(role).at_least(route.role)


def _err_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation_id(route: ApiRoute) -> str:
    return route.handler.__name__
