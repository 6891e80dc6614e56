"""Fixtures of the end-to-end tests: a pbxsim subprocess per test (speed = SPEED), or the
real Asterisk named by ORCH_TEST_ASTERISK (tests/support/asterisk.py, docs/asterisk.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.support import REAL_ASTERISK, SPEED, TIME_FACTOR
from tests.support.asterisk import real_asterisk
from tests.support.pbxsim import run_pbxsim


@pytest_asyncio.fixture
async def pbx() -> AsyncIterator[Any]:
    if REAL_ASTERISK:
        async with real_asterisk() as pbx:
            yield pbx
        return
    async with run_pbxsim(speed=SPEED, seed=7) as sim:
        yield sim


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A real Asterisk runs in real time: every e2e test's timeout grows by TIME_FACTOR."""
    if TIME_FACTOR == 1:
        return
    for item in items:
        marker = item.get_closest_marker("timeout")
        if marker is not None and marker.args:
            item.add_marker(pytest.mark.timeout(marker.args[0] * TIME_FACTOR))
