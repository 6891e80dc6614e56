"""The OpenAPI document as generated from the route table (no service needed): each
operation lists the error answers the middleware and its handlers can give, in the one
error shape, with Retry-After where the client is told to come back. The live service is
held to it by test_schemathesis.py and test_documented_errors.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from orchestrator.api import openapi
from orchestrator.api.routes import ROUTES, ApiRoute

DOC = openapi.build_openapi(ROUTES)


def _op(route: ApiRoute) -> dict[str, Any]:
    op: dict[str, Any] = DOC["paths"][route.path][route.method.lower()]
    return op


def test_the_document_is_json_and_names_each_operation_once() -> None:
    json.dumps(DOC)
    ids = [_op(r)["operationId"] for r in ROUTES]
    assert len(ids) == len(set(ids))
    # the success answers described by operation: no stale name
    assert set(openapi._SUCCESS) <= set(ids)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_each_operation_documents_its_error_answers(route: ApiRoute) -> None:
    responses = _op(route)["responses"]
    codes = set(responses)
    inputs = bool(re.search(r"{\w+}", route.path)) or route.body is not None
    expected = set()
    if route.role is not None:
        expected |= {"401", "403", "429", "503"}
        if route.method != "GET":
            expected.add("409")
    if inputs:
        expected |= {"400", "404", "422"}
    if route.body is not None:
        expected.add("413")
    if route.websocket:
        expected.add("400")
    assert expected <= codes, f"{route.name} lacks {sorted(expected - codes)}"
    successes = {c for c in codes if c < "400"}
    assert len(successes) == 1 or route.name == "GET /healthz", successes
    for code, answer in responses.items():
        if code >= "400" and route.name != "GET /healthz":
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (route.name, code)
        if code in ("429", "503") and route.name != "GET /healthz":
            header = answer["headers"]["Retry-After"]
            assert header["required"] and header["schema"]["type"] == "integer"


def test_the_error_shape() -> None:
    error = DOC["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message", "field"}
    assert error["properties"]["field"]["type"] == ["string", "null"]


def test_success_answers_name_their_body() -> None:
    created = [r for r in ROUTES if r.name == "POST /api/v1/campaigns"]
    assert created and "201" in _op(created[0])["responses"]
    for route in ROUTES:
        for code, answer in _op(route)["responses"].items():
            if code in ("200", "201"):
                assert answer.get("content"), f"{route.name} {code}: no body described"
