"""Fixtures of the security suite: one running service per test module (real PostgreSQL,
pbxsim behind ARI, the HTTP API on a loopback port) with an agent, another agent, a
supervisor and an admin, each with a bearer token.

The service and its database live for the module (`loop_scope="module"`): the suite
makes hundreds of requests, and starting a service per request would cost minutes.
Tests that take rights away (token rotation, demotion, deactivation) use callers of
their own, never the four shared ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from orchestrator.ledger import callbacks as callbacks_ledger
from orchestrator.ledger.pool import connect
from orchestrator.runtime import Runtime
from tests.conftest import _url_for
from tests.e2e.support import (
    TestAgent,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
)
from tests.support.pbxsim import PbxSim, run_pbxsim

CAMPAIGN = "sec"
"""The campaign every caller may log in to (no team)."""


@dataclass
class World:
    """The running service and its callers."""

    api: str
    database_url: str
    rt: Runtime
    pbx: PbxSim
    agent: TestAgent
    """The agent whose own objects the matrix acts on."""
    other: TestAgent
    """Another agent: its objects are not the first one's."""
    supervisor: TestAgent
    admin: TestAgent
    campaign_id: int
    """The id of `CAMPAIGN`."""
    web: TestAgent
    """A web-callback token of `CAMPAIGN` (role web_callback: web callbacks only; no agent,
    id 0)."""
    callback_id: int
    """A scheduled callback of `CAMPAIGN`, two days ahead."""


@pytest.fixture(scope="module")
def module_database_url(_database_pool: object) -> Iterator[str]:
    """A migrated database for the whole test module (see tests/conftest.py)."""
    pool = _database_pool
    name = pool.checkout()  # type: ignore[attr-defined]
    try:
        yield _url_for(name)
    finally:
        pool.checkin(name)  # type: ignore[attr-defined]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(module_database_url: str, tmp_path_factory: pytest.TempPathFactory,
                ) -> AsyncIterator[World]:
    url = module_database_url
    tmp: Path = tmp_path_factory.mktemp("security")
    campaign = await make_campaign(url, CAMPAIGN, mode="preview")
    await asyncio.to_thread(import_numbers, url, CAMPAIGN, [number(1, 1)], tmp)
    agent, other = await make_agents(url, 2)
    (supervisor,) = await make_agents(url, 1, prefix="sup", role="supervisor")
    (admin,) = await make_agents(url, 1, prefix="adm", role="admin")
    async with connect(url) as conn:
        _, web_token = await callbacks_ledger.create_web_token(conn, "matrix-site", campaign.id)
        callback = await callbacks_ledger.create_callback(
            conn, phone="+33612345679", name="Known Caller", campaign_id=campaign.id,
            window_start=datetime.now(UTC) + timedelta(days=2), time_zone="Europe/Paris")
    web = TestAgent(0, "web:matrix-site", web_token, "")
    async with run_pbxsim(speed=10) as pbx, \
            running_service(service_settings(url, pbx)) as rt:
        yield World(f"http://127.0.0.1:{rt.http_port}", url, rt, pbx, agent, other,
                    supervisor, admin, campaign.id, web, callback.id)
