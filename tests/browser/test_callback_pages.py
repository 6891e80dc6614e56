"""Callbacks on the agent desktop and the supervisor dashboard, in a real browser (Debian
Chromium via Playwright) against the real service, pbxsim and PostgreSQL (issue 13 item 8,
MISSION F).

What the users see and do: an agent schedules a callback through the desktop's form (a bad
number refused naming ``phone``), finds it in the list, edits its reason and deletes it
giving why; a supervisor finds the pending callbacks grouped by queue and by campaign,
each saying why it waits; a due callback rings the agent, whose desktop announces it with
the number, the number gone after 5 seconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orchestrator.ledger import callbacks as callbacks_ledger
from orchestrator.ledger.pool import connect, execute, fetch_one
from tests.e2e.support import (
    ApiClient,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
)
from tests.support.pbxsim import PbxSim

pytest.importorskip("playwright")
from playwright.async_api import Page, expect  # noqa: E402

from tests.browser.pages import agent_page, close, new_page, sign_in  # noqa: E402

pytestmark = pytest.mark.timeout(60)

PARIS = ZoneInfo("Europe/Paris")


def _tomorrow() -> str:
    return (datetime.now(PARIS) + timedelta(days=1)).date().isoformat()


def _booking(phone: str, campaign: str, **kw: Any) -> dict[str, Any]:
    """An API body: a callback tomorrow 10:00-11:00 in Paris."""
    return {"phone": phone, "name": "Zoë Ünal", "date": _tomorrow(), "start_time": "10:00",
            "end_time": "11:00", "time_zone": "Europe/Paris", "campaign": campaign,
            "reason": "asked to be called back", **kw}


async def _row(url: str, callback_id: int) -> dict[str, Any]:
    async with connect(url) as conn:
        row = await fetch_one(conn, "SELECT * FROM callbacks WHERE id = %s", (callback_id,))
    assert row is not None
    return row


async def _schedule(page: Page, phone: str, name: str, reason: str) -> None:
    form = page.locator("#cb-form")
    await form.get_by_label("Phone", exact=True).fill(phone)
    await form.get_by_label("Name", exact=True).fill(name)
    await form.get_by_label("Day", exact=True).fill(_tomorrow())
    await form.get_by_label("From", exact=True).fill("10:00")
    await form.get_by_label("To", exact=True).fill("11:00")
    await form.get_by_label("Time zone", exact=True).fill("Europe/Paris")
    await form.get_by_label("Reason", exact=True).fill(reason)
    await form.get_by_role("button", name="Schedule callback").click()


async def test_an_agent_schedules_edits_and_deletes_a_callback(
        database_url: str, pbx: PbxSim, browser: Any, shots: Path) -> None:
    await make_campaign(database_url, "cbpage", mode="progressive")
    (agent,) = await make_agents(database_url, 1)
    errors: list[str] = []
    async with running_service(service_settings(database_url, pbx)) as rt:
        base = f"http://127.0.0.1:{rt.http_port}"
        page = await agent_page(browser, errors, base, agent.token, "cbpage")
        try:
            # The time zone starts as the browser's own.
            zone = await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
            await expect(page.locator("#cb-zone")).to_have_value(zone)
            await expect(page.locator("#cb-empty")).to_be_visible()

            # A number that is not one: the server's error names the field.
            await _schedule(page, "12", "Zoë Ünal", "asked to be called back")
            await expect(page.locator("#cb-error")).to_contain_text("phone: ")
            await expect(page.locator("#cb-list tr")).to_have_count(0)

            phone = number(811, 1)
            await _schedule(page, phone, "Zoë Ünal", "asked to be called back")
            await expect(page.locator("#cb-error")).to_be_hidden()
            await expect(page.locator("#cb-note")).to_contain_text("Callback of Zoë Ünal scheduled")
            row = page.locator("#cb-list tr")
            await expect(row).to_have_count(1)
            await expect(row).to_contain_text(phone)
            await expect(row).to_contain_text("10:00–11:00 Europe/Paris")
            await expect(row.locator(".cb-reason")).to_have_text("asked to be called back")
            callback_id = int(await row.get_attribute("data-callback") or 0)
            booked = await _row(database_url, callback_id)
            assert booked["status"] == "pending" and booked["e164"] == phone
            assert booked["window_start"].astimezone(PARIS).hour == 10

            # Edit: only the reason changes.
            await row.get_by_role("button", name="Edit").click()
            await expect(page.locator("#cb-reason")).to_have_value("asked to be called back")
            await page.locator("#cb-reason").fill("call after lunch")
            await page.get_by_role("button", name="Save changes").click()
            await expect(row.locator(".cb-reason")).to_have_text("call after lunch")
            edited = await _row(database_url, callback_id)
            assert edited["reason"] == "call after lunch"
            assert edited["window_start"] == booked["window_start"]
            await page.locator("#callbacks").screenshot(path=str(shots / "agent-callbacks.png"))

            # Delete, saying why.
            page.once("dialog", lambda d: asyncio.ensure_future(d.accept("customer called in")))
            await row.get_by_role("button", name="Delete").click()
            await expect(page.locator("#cb-list tr")).to_have_count(0)
            gone = await _row(database_url, callback_id)
            assert gone["status"] == "deleted"
        finally:
            await close(page)
    assert not errors, errors


async def test_the_dashboard_lists_pending_callbacks_per_queue(
        database_url: str, pbx: PbxSim, browser: Any, shots: Path) -> None:
    await make_campaign(database_url, "cbq", mode="progressive", callback_queue="sales")
    await make_campaign(database_url, "cbmask", mode="progressive", masking=True)
    (boss,) = await make_agents(database_url, 1, prefix="boss", role="supervisor")
    async with connect(database_url) as conn:
        await callbacks_ledger.create_queue_callback(
            conn, queue="sales", position=2, e164=number(921, 1), source_channel=None)
    errors: list[str] = []
    async with running_service(service_settings(database_url, pbx)) as rt:
        base = f"http://127.0.0.1:{rt.http_port}"
        page = await new_page(browser, errors)
        try:
            await page.goto(base + "/supervisor")
            await sign_in(page, boss.token)
            panel = page.locator("#pending-callbacks")
            queue = panel.locator(".pcb-group[data-group='Queue sales']")
            await expect(queue.locator("tbody tr")).to_have_count(1)
            await expect(queue).to_contain_text("(place 2)")
            await expect(queue.locator(".pcb-waiting")).to_have_text("No agent logged in",
                                                                     timeout=15_000)
            # Booked through the API while the page is open: it appears (callback.updated or
            # the 15 s reread), its number masked as the campaign says.
            phone = number(922, 1)
            async with ApiClient(base, boss.token) as client:
                booked = await client.ok("POST", "/api/v1/callbacks", _booking(phone, "cbmask"))
            group = panel.locator(".pcb-group[data-group='Campaign cbmask']")
            row = group.locator(f"tr[data-callback='{booked['id']}']")
            await expect(row).to_contain_text("Zoë Ünal", timeout=20_000)
            await expect(row).to_contain_text("10:00–11:00 Europe/Paris")
            await expect(row).to_contain_text("0/")
            await expect(row).to_contain_text("Anyone")
            assert phone not in await row.inner_text()
            await expect(row).to_contain_text(phone[-4:])
            await panel.screenshot(path=str(shots / "supervisor-callbacks.png"))
        finally:
            await close(page)
    assert not errors, errors


async def test_a_callback_call_announces_itself_with_its_number_for_5_seconds(
        database_url: str, pbx: PbxSim, browser: Any, shots: Path) -> None:
    await make_campaign(database_url, "cbcall", mode="progressive", wrapup_seconds=600)
    (agent,) = await make_agents(database_url, 1)
    phone = number(831, 1)
    await pbx.script(phone, "answer", ring_seconds=1, talk_seconds=6000)
    errors: list[str] = []
    settings = service_settings(database_url, pbx, callback_tick_s=0.2)
    async with running_service(settings) as rt:
        base = f"http://127.0.0.1:{rt.http_port}"
        page = await agent_page(browser, errors, base, agent.token, "cbcall")
        try:
            async with ApiClient(base, agent.token) as client:
                booked = await client.ok("POST", "/api/v1/callbacks", _booking(phone, "cbcall"))
            await page.get_by_role("button", name="Available", exact=True).click()
            await expect(page.locator("#state-badge")).to_have_text("Available")
            async with connect(database_url) as conn:
                # Time passes: its window has started.
                await execute(conn, "UPDATE callbacks SET window_start = now() - interval '1 second',"
                                    " window_end = now() + interval '1 hour' WHERE id = %s",
                              (booked["id"],))
            banner = page.locator("#cb-banner")
            await expect(banner).to_be_visible(timeout=20_000)
            shown = time.monotonic()
            await expect(banner).to_contain_text("Callback: Zoë Ünal")
            await expect(page.locator("#cb-banner-number")).to_have_text(phone)
            await page.screenshot(path=str(shots / "agent-callback-call.png"))
            await expect(banner).to_be_hidden(timeout=8_000)
            assert time.monotonic() - shown > 4, "the number stayed less than 5 seconds"
            await expect(page.locator("#cb-banner-number")).to_have_text("")
        finally:
            await close(page)
    assert not errors, errors
