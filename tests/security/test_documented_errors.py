"""Error answers the generated run (test_schemathesis.py) cannot provoke, provoked on
purpose and held to the OpenAPI document with the same schemathesis checks: the token
back-off's 429, a body over the size limit's 413, and the 503 of a service shutting down.
Each must be a status the operation documents, with the documented headers
(``Retry-After`` on 429 and 503) and the ``Error`` body.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests
import schemathesis
from requests.adapters import HTTPAdapter
from schemathesis.checks import not_a_server_error

from tests.security.conftest import CAMPAIGN, World
from tests.security.test_schemathesis import RESPONSE_CHECKS

module_loop = pytest.mark.asyncio(loop_scope="module")


class _From(HTTPAdapter):
    """Connections from one loopback address (the back-off counts per address)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def _session_from(address: str) -> requests.Session:
    s = requests.Session()
    s.mount("http://", _From(address))
    return s


def _call(world: World, label: str, token: str, *, session: requests.Session | None = None,
          checks: list[Any] = RESPONSE_CHECKS, **case: Any) -> tuple[int, str | None, list[str]]:
    """Call the operation ``label`` of the live document: the status, the Retry-After
    header (None: none) and what the checks found wrong."""
    schema = schemathesis.openapi.from_url(f"{world.api}/openapi.json")
    op = schema.find_operation_by_label(label)
    assert op is not None, label
    c = op.Case(**case)
    resp = c.call(base_url=world.api, session=session or requests.Session(), timeout=10,
                  headers={"Authorization": f"Bearer {token}"})
    failures: list[str] = []
    try:
        c.validate_response(resp, checks=checks)
    except AssertionError as exc:
        failures.append(str(exc))
    except BaseExceptionGroup as exc:  # schemathesis' FailureGroup
        failures.append(str(exc))
    retry_after = resp.headers.get("retry-after")  # lower-case names, lists of values
    return resp.status_code, retry_after[0] if retry_after else None, failures


@module_loop
async def test_the_token_back_off_answers_as_documented(world: World) -> None:
    def run() -> tuple[int, str | None, list[str]]:
        session = _session_from("127.0.3.1")
        for n in range(200):
            status, retry_after, failures = _call(world, "GET /api/v1/me", f"dlr_guess{n}",
                                                  session=session)
            if status != 401:
                return status, retry_after, failures
            assert not failures, failures
        raise AssertionError("no back-off after 200 unknown tokens")

    status, retry_after, failures = await asyncio.to_thread(run)
    assert status == 429, status
    assert not failures, failures
    assert retry_after is not None and int(retry_after) >= 1, retry_after


@module_loop
async def test_a_body_over_the_limit_answers_as_documented(world: World) -> None:
    status, _, failures = await asyncio.to_thread(
        _call, world, "POST /api/v1/campaigns", world.admin.token,
        body={"name": "big", "notes": "x" * (1 << 20)})
    assert status == 413, status
    assert not failures, failures


@module_loop
async def test_a_service_shutting_down_answers_as_documented(world: World) -> None:
    """During a graceful shutdown the API still answers, and a login is refused 503:
    the document promises Retry-After on every 503 so that clients come back."""
    assert world.rt.dialer is not None
    world.rt.dialer.draining = True  # what Dialer.shutdown sets first
    try:
        status, retry_after, failures = await asyncio.to_thread(
            _call, world, "POST /api/v1/agents/{agent_id}/session", world.agent.token,
            path_parameters={"agent_id": world.agent.id}, body={"campaign": CAMPAIGN},
            checks=[c for c in RESPONSE_CHECKS if c is not not_a_server_error])
    finally:
        world.rt.dialer.draining = False
    assert status == 503, status
    assert not failures, failures
    assert retry_after is not None and int(retry_after) >= 1, retry_after
