"""What the browser tests share: a page in its own context that records script and
console errors, signing in, an agent logged in to a campaign, and where the screenshots
go."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

VIEWPORT = {"width": 1366, "height": 860}
"""A common laptop screen."""

DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
"""The screenshots docs/web.md shows: written there only when ORCH_TEST_DOC_SCREENSHOTS=1
(a test run does not rewrite tracked images each time), else beside the other shots."""


def doc_shot(shots: Path, name: str) -> str:
    """Where the documentation screenshot ``name`` goes (see DOC_SCREENSHOTS)."""
    if os.environ.get("ORCH_TEST_DOC_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return str(DOC_SCREENSHOTS / name)
    return str(shots / name)


async def new_page(browser: Any, errors: list[str]) -> Page:
    """A page in its own context (own sessionStorage) that records script errors and
    console errors (CSP violations among them), except the browser's own notes about
    the HTTP errors the tests provoke on purpose."""
    page: Page = await (await browser.new_context(viewport=VIEWPORT)).new_page()
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    return page


async def close(*pages: Page) -> None:
    for page in pages:
        await page.context.close()


async def sign_in(page: Page, token: str) -> None:
    await page.get_by_label("Access token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def agent_page(browser: Any, errors: list[str], base: str, token: str,
                     campaign: str) -> Page:
    """The agent desktop, signed in and logged in to ``campaign`` (Not ready, stream live)."""
    page = await new_page(browser, errors)
    await page.goto(base + "/agent")
    await sign_in(page, token)
    await page.get_by_label("Campaign", exact=True).fill(campaign)
    await page.get_by_role("button", name="Log in", exact=True).click()
    await expect(page.locator("#state-badge")).to_have_text("Not ready")
    await expect(page.locator("#stream")).to_have_text("Live")
    return page
