"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, against the real
service (in-process Runtime), pbxsim and PostgreSQL, set up with the e2e helpers.

Playwright's own browser download is never used: the tests launch /usr/bin/chromium
(`apt-get install chromium`; .ci/run installs it) and skip, saying why, without it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.conftest import pbx  # noqa: F401 - the pbxsim fixture, shared with e2e

CHROMIUM = os.environ.get("ORCH_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("ORCH_TEST_SCREENSHOTS", "/tmp/dialer-screens"))

try:
    from playwright.async_api import async_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    async_playwright = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if async_playwright is None:
        reason = "the playwright package is not installed (pip install -e '.[test]')"
    elif not os.path.exists(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is None:
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Debian Chromium (one per test)."""
    assert async_playwright is not None
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def shots() -> Path:
    """Where the tests leave their screenshots (to look at the pages)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
