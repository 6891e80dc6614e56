"""The agent desktop and the supervisor dashboard in a real browser (Debian Chromium via
Playwright), against the real service, pbxsim and PostgreSQL.

What a user does and sees: an agent signs in with a token, logs in to a campaign, goes
Available, gets a progressive call (screen pop, timer), hangs up, picks a wrap-up code,
and the ledger holds the disposition; a supervisor watches the agent's state change
live (WebSocket) and the campaign's figures; a preview campaign shows the preview card
without the Skip it hides, refuses a bad reschedule naming the field, and Accept dials.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    attempts,
    customer_calls,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    running_service,
    service_settings,
    wait_for,
)
from tests.support.pbxsim import PbxSim

pytest.importorskip("playwright")
from playwright.async_api import expect  # noqa: E402

from tests.browser.pages import agent_page as _agent_page  # noqa: E402
from tests.browser.pages import close as _close  # noqa: E402
from tests.browser.pages import new_page as _new_page  # noqa: E402
from tests.browser.pages import sign_in as _sign_in  # noqa: E402


async def _ledger_row(database_url: str, campaign_id: int) -> dict[str, Any]:
    async def dispositioned() -> dict[str, Any] | None:
        rows = [r for r in await attempts(database_url, campaign_id) if r["dispositioned_at"]]
        return rows[0] if rows else None

    row: dict[str, Any] = await wait_for(dispositioned, 10, what="a dispositioned attempt")
    return row


@pytest.mark.timeout(60)
async def test_progressive_call_on_the_agent_desktop_seen_live_by_the_supervisor(
        database_url: str, pbx: PbxSim, tmp_path: Path, browser: Any, shots: Path) -> None:
    campaign = await make_campaign(database_url, "prog", mode="progressive",
                                   progressive_flavour="agent_first", wrapup_seconds=900)
    await asyncio.to_thread(import_numbers, database_url, "prog", [number(1, 1)], tmp_path)
    # The agent hangs up: the customer talks on meanwhile (pbxsim's random talk time,
    # median 6 s at x10, once ended the call before the supervisor's page was read).
    await pbx.script(number(1, 1), "answer", ring_seconds=1, talk_seconds=3000)
    (agent,) = await make_agents(database_url, 1)
    (boss,) = await make_agents(database_url, 1, prefix="boss", role="supervisor")

    async with running_service(service_settings(database_url, pbx)) as rt:
        base = f"http://127.0.0.1:{rt.http_port}"

        # The supervisor signs in; an agent's token is refused there, naming the role.
        errors: list[str] = []
        sup = await _new_page(browser, errors)
        resp = await sup.goto(base + "/supervisor")
        assert resp is not None and resp.ok
        assert "default-src 'self'" in resp.headers["content-security-policy"]
        await _sign_in(sup, agent.token)
        await expect(sup.locator("#signin-error")).to_contain_text("supervisor role")
        await _sign_in(sup, boss.token)
        card = sup.locator(".campaign-card[data-campaign='prog']")
        await expect(card.locator(".badge.status")).to_have_text("running")
        await expect(card.get_by_role("button", name="start prog")).to_be_disabled()
        await expect(sup.locator("#stream")).to_have_text("Live")

        # The agent: / leads to the desktop; a wrong token gets a clear message.
        page = await _new_page(browser, errors)
        await page.goto(base + "/")
        assert page.url.endswith("/agent")
        await _sign_in(page, "not-a-token")
        await expect(page.locator("#signin-error")).to_contain_text("token: unknown or revoked")
        await page.goto(base + "/agent")
        await _sign_in(page, agent.token)
        # The login form offers the agent's campaigns (GET /api/v1/agents/{id}/campaigns).
        await expect(page.locator("#campaign-choices")).to_have_text("Your campaigns: prog")
        # A campaign that does not exist: the error names the field.
        await page.get_by_label("Campaign", exact=True).fill("nope")
        await page.get_by_role("button", name="Log in", exact=True).click()
        await expect(page.locator("#campaign-error")).to_contain_text("nope")
        await page.get_by_label("Campaign", exact=True).fill("prog")
        await page.get_by_role("button", name="Log in", exact=True).click()
        await expect(page.locator("#state-badge")).to_have_text("Not ready")
        row = sup.locator(f"#agents tr[data-agent='{agent.id}']")
        await expect(row.locator(".badge")).to_have_text("Not ready")

        await page.get_by_role("button", name="Available", exact=True).click()
        # Progressive: the next contact is dialed for the agent; the call panel pops.
        call = page.locator("#call")
        await expect(call).to_be_visible(timeout=10_000)
        await expect(page.locator("#call-state")).to_have_text("Connected", timeout=10_000)
        await expect(page.locator("#state-badge")).to_have_text("On call")
        await expect(page.locator("#call-timer")).to_have_text(re.compile(r"^\d+:\d\d$"))
        # The screen pop of the dialed call: the contact, its number and attempts, history.
        await expect(call.locator(".contact-name")).to_have_text("Contact 0")
        await expect(call).to_contain_text(number(1, 1) + " (Mobile)")
        await expect(call).to_contain_text("1/10")
        await expect(call.get_by_role("tab", name="Attempt history (0)")).to_be_visible()
        await expect(page.get_by_role("button", name="Answering machine")).to_be_enabled()
        # The supervisor saw every step live (the feed is fed by the WebSocket only).
        feed = sup.locator("#feed")
        await expect(feed).to_contain_text("Agent 1: Available")
        await expect(feed).to_contain_text("Agent 1: On call")
        await expect(row.locator(".badge")).to_have_text("On call")
        await expect(sup.locator("#calls tr")).to_have_count(1)
        await expect(sup.locator("#calls tr")).to_contain_text(number(1, 1))  # GET /api/v1/calls
        await page.screenshot(path=str(shots / "agent-on-call.png"))
        # Hold (a held call cannot be ended), then resume.
        await page.get_by_role("button", name="Hold", exact=True).click()
        await expect(page.locator("#state-badge")).to_have_text("Hold")
        await expect(page.locator("#call-state")).to_have_text("On hold")
        await expect(page.get_by_role("button", name="Hang up")).to_be_disabled()
        await expect(row.locator(".badge")).to_have_text("Hold")
        await page.get_by_role("button", name="Resume", exact=True).click()
        await expect(page.locator("#state-badge")).to_have_text("On call")
        await expect(page.get_by_role("button", name="Hang up")).to_be_enabled()
        await sup.screenshot(path=str(shots / "supervisor-on-call.png"), full_page=True)

        # Hang up: the wrap-up dialog with the campaign's codes.
        await page.get_by_role("button", name="Hang up").click()
        dialog = page.locator("#wrapup")
        await expect(dialog).to_be_visible()
        await expect(page.locator("#state-badge")).to_have_text("Wrap-up")
        await expect(row.locator(".badge")).to_have_text("Wrap-up")
        await expect(dialog.locator("#wrapup-codes")).to_contain_text("Sale")
        await expect(dialog.locator("#wrapup-codes")).to_contain_text("Answering machine detected")
        # The countdown to the auto-disposition (the session's wrapup_remaining_s).
        await expect(dialog.locator("#wrapup-countdown-label")).to_have_text("Auto-disposition in")
        await expect(dialog.locator("#wrapup-contact")).to_have_text("Call with Contact 0")
        # Saving with no code chosen is refused in the page, naming the field.
        await dialog.get_by_role("button", name="Save disposition").click()
        await expect(dialog.locator("#wrapup-error")).to_contain_text("code:")
        await dialog.locator("#wrapup-codes input[value='Sale']").check()
        await dialog.get_by_label("Notes").fill("bought the premium plan")
        await page.screenshot(path=str(shots / "agent-wrap-up.png"))
        await dialog.get_by_role("button", name="Save disposition").click()
        await expect(dialog).to_be_hidden()

        saved = await _ledger_row(database_url, campaign.id)
        assert saved["code"] == "Sale" and saved["outcome"] == "human"
        assert saved["agent_id"] == agent.id
        await expect(page.locator("#log")).to_contain_text("Disposition saved: Sale")
        await expect(page.locator("#state-badge")).to_have_text("Available")
        await expect(feed).to_contain_text("Disposition Sale by Agent 1")

        # Campaign figures from the ledger: one attempt, answered, no contact left.
        await expect(card.locator("[data-metric='attempts']")).to_have_text("1", timeout=10_000)
        await expect(card.locator("[data-metric='left']")).to_have_text("0")
        await expect(card.locator("[data-metric='answer_rate']")).to_have_text("100.0 %")
        await expect(card.locator("[data-metric='abandon_24h']")).to_contain_text("0.00 %")
        await expect(sup.locator("#calls tr")).to_have_count(0, timeout=10_000)

        # Pause from the dashboard: the status changes and Pause is no longer offered.
        await card.get_by_role("button", name="pause prog").click()
        await expect(card.locator(".badge.status")).to_have_text("paused")
        await expect(card.get_by_role("button", name="pause prog")).to_be_disabled()
        await sup.screenshot(path=str(shots / "supervisor-after.png"), full_page=True)

        # Not ready with a reason, then log out.
        await page.get_by_label("Not ready reason").select_option("lunch")
        await page.get_by_role("button", name="Not ready", exact=True).click()
        await expect(page.locator("#state")).to_contain_text("Reason: lunch")
        await expect(row).to_contain_text("lunch")
        await page.get_by_role("button", name="Log out").click()
        await expect(page.get_by_role("heading", name="Log in to a campaign")).to_be_visible()
        await expect(row).to_have_count(0)
        # Close the pages while the service still runs: a page left open would try to
        # reconnect its event stream to the stopped service and log that as an error.
        await _close(sup, page)
    assert not errors, errors


@pytest.mark.timeout(60)
async def test_preview_card_hides_skip_refuses_a_bad_reschedule_and_accept_dials(
        database_url: str, pbx: PbxSim, tmp_path: Path, browser: Any, shots: Path) -> None:
    campaign = await make_campaign(database_url, "pv", mode="preview", preview_timeout_s=1200,
                                   preview_allow_skip=False, preview_allow_remove=True,
                                   wrapup_seconds=900)
    await asyncio.to_thread(import_numbers, database_url, "pv", [number(40, 1)], tmp_path,
                            zones=["Europe/Paris"])
    (agent,) = await make_agents(database_url, 1)

    async with running_service(service_settings(database_url, pbx)) as rt:
        base = f"http://127.0.0.1:{rt.http_port}"
        errors: list[str] = []
        page = await _agent_page(browser, errors, base, agent.token, "pv")
        await page.get_by_role("button", name="Available", exact=True).click()

        preview = page.locator("#preview")
        await expect(preview).to_be_visible(timeout=10_000)
        await expect(preview.locator(".contact-name")).to_have_text("Contact 0")
        await expect(preview).to_contain_text("Mobile")
        await expect(preview).to_contain_text("Europe/Paris")
        await expect(preview.get_by_role("button", name="Accept")).to_be_visible()
        await expect(preview.get_by_role("button", name="Skip")).to_be_hidden()
        await expect(preview.get_by_role("button", name="Remove")).to_be_visible()
        await expect(preview.get_by_role("button", name="Requeue")).to_be_visible()
        await expect(page.locator("#preview-countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
        await expect(page.locator("#state-badge")).to_have_text("Reserved")
        await preview.get_by_role("tab", name=re.compile("Attempt history")).click()
        await expect(preview.get_by_role("tab", name=re.compile("Attempt history"))).to_have_attribute(
            "aria-selected", "true")
        await preview.get_by_role("tab", name="Contact").click()

        # Reschedule to a time zone that does not exist: the server's error names the field.
        await preview.get_by_role("button", name="Reschedule…").click()
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        await page.get_by_label("Date").fill(tomorrow)
        await page.get_by_label("Time", exact=True).fill("10:30")
        await page.get_by_label("Time zone (IANA)").fill("Mars/Olympus_Mons")
        await page.screenshot(path=str(shots / "agent-preview.png"))
        await preview.get_by_role("button", name="Save callback").click()
        await expect(page.locator("#preview-error")).to_contain_text("time_zone")
        await expect(preview).to_be_visible()

        # Accept dials the customer; the screen pop shows the previewed contact.
        await preview.get_by_role("button", name="Accept").click()
        call = page.locator("#call")
        await expect(call).to_be_visible(timeout=10_000)
        await expect(preview).to_be_hidden()
        await expect(call.locator(".contact-name")).to_have_text("Contact 0")
        await expect(page.locator("#call-state")).to_have_text("Connected", timeout=10_000)
        await page.screenshot(path=str(shots / "agent-preview-call.png"))

        # One click "Answering machine": recorded, the call ends, no wrap-up.
        await call.get_by_role("button", name="Answering machine").click()
        saved = await _ledger_row(database_url, campaign.id)
        assert saved["code"] == "Answering machine detected"
        assert saved["agent_id"] == agent.id and saved["outcome"] == "human"
        await expect(page.locator("#wrapup")).to_be_hidden()
        await expect(call).to_be_hidden()
        await expect(page.locator("#idle")).to_contain_text("waiting for your next contact")
        await _close(page)
    # Accept dialed the previewed number, once.
    assert [c["number"] for c in customer_calls(pbx)] == [number(40, 1).lstrip("+")]
    assert not errors, errors
