"""A bounded schemathesis run over the running service's own ``/openapi.json``.

Every operation of the document is called with cases generated from it, as an admin and
as a supervisor: schema-valid cases (with generated path values, and with the caller's
own agent id, an existing campaign and callback, so the handlers behind the checks are
reached) and schema-invalid ones. Each answer must be no server error, a status the document lists
for the operation, with the documented content type, headers (``Retry-After``) and body
schema. The run is derandomized (the same cases every time) and bounded
(`MAX_EXAMPLES` per operation, caller and pass).

Nothing is excluded: the API has no route that revokes a token or deactivates a
caller, so the run cannot saw off the branch it sits on; what it creates, renames,
starts or stops is this module's own database.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from orchestrator.api.routes import ROUTES
from tests.security.conftest import World

module_loop = pytest.mark.asyncio(loop_scope="module")

MAX_EXAMPLES = 4
"""Cases per operation, caller and pass (hypothesis stops sooner when it runs out)."""

RESPONSE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                   response_headers_conformance, response_schema_conformance]


@dataclass
class Report:
    cases: int = 0
    seconds: float = 0.0
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    """Every operation of the document."""


def _run(api: str, callers: dict[str, tuple[str, int]], campaign_id: int,
         callback_id: int) -> Report:
    """The whole run (blocking: schemathesis calls over `requests`)."""
    report = Report()
    started = time.monotonic()
    session = requests.Session()
    # The document as the service serves it (from_dict: from_url would leave out the
    # document's own operation, GET /openapi.json).
    document = session.get(f"{api}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            report.failures.append(f"an operation schemathesis cannot read: {result.err()}")
            continue
        op = result.ok()
        report.operations.append(op.label)
        params = {p.name for p in op.path_parameters}
        has_input = bool(params) or bool(op.query) or len(op.body) > 0
        for who, (token, own_id) in callers.items():
            known = {k: v for k, v in (("agent_id", own_id), ("campaign", str(campaign_id)),
                                       ("callback_id", callback_id))
                     if k in params}
            passes: list[tuple[str, GenerationMode, dict[str, Any] | None]] = [
                ("positive", GenerationMode.POSITIVE, None)]
            if known:
                passes.append(("positive-known", GenerationMode.POSITIVE, known))
            if has_input:
                passes.append(("negative", GenerationMode.NEGATIVE, None))
            for name, mode, path_parameters in passes:
                _run_pass(report, api, session, op, f"{op.label} as {who} ({name})", name,
                          mode, path_parameters, token)
    report.seconds = time.monotonic() - started
    return report


def _run_pass(report: Report, api: str, session: requests.Session, op: Any, label: str,
              name: str, mode: GenerationMode, path_parameters: dict[str, Any] | None,
              token: str) -> None:
    checks = list(RESPONSE_CHECKS)
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=op.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def call(case: Any) -> None:
        resp = case.call(base_url=api, session=session, timeout=10,
                         headers={"Authorization": f"Bearer {token}"})
        report.cases += 1
        report.statuses[(op.label, name, resp.status_code)] += 1
        try:
            case.validate_response(resp, checks=checks)
        except (FailureGroup, AssertionError) as exc:
            report.failures.append(f"{label}: {exc}")

    try:
        call()
    except Unsatisfiable:
        report.failures.append(f"{label}: no case could be generated")


@module_loop
@pytest.mark.timeout(120)
async def test_the_api_answers_as_its_openapi_document_says(world: World) -> None:
    callers = {"admin": (world.admin.token, world.admin.id),
               "supervisor": (world.supervisor.token, world.supervisor.id)}
    report = await asyncio.to_thread(_run, world.api, callers, world.campaign_id,
                                     world.callback_id)
    print(f"\nschemathesis: {report.cases} cases in {report.seconds:.1f} s")
    assert not report.failures, "\n\n".join(report.failures)
    # The run was what it claims: every operation called, a few hundred cases, and the
    # callers' tokens good throughout (schema-valid cases never refused as unknown).
    assert {op for op, _, _ in report.statuses} == set(report.operations)
    assert len(report.operations) == len(ROUTES)
    assert 200 <= report.cases <= 1000, report.cases
    refused = {k: n for k, n in report.statuses.items()
               if k[1] != "negative" and k[2] in (401, 429)}
    assert not refused, refused
    # ...and it reached the handlers, not only the checks in front of them.
    reached = {op for op, _, status in report.statuses if status in (200, 201)}
    assert len(reached) >= len(report.operations) // 2, reached
