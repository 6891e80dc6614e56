"""Fixtures of the end-to-end tests: a pbxsim subprocess per test (speed = SPEED)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.e2e.support import SPEED
from tests.support.pbxsim import PbxSim, run_pbxsim


@pytest_asyncio.fixture
async def pbx() -> AsyncIterator[PbxSim]:
    async with run_pbxsim(speed=SPEED, seed=7) as sim:
        yield sim
