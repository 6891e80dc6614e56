"""Call control on the agent desktop and supervision on the dashboard, in a real browser
(Debian Chromium via Playwright) against the real service, pbxsim and PostgreSQL
(issue 12, MISSION E).

What the agents see and do: a progressive campaign gives agent 1 a long call; agent 2
logs in after it. Agent 1 consults agent 2 by id (Alt+C puts the focus on the target),
agent 2's phone answers on its own (pbxsim answers every phone of [dialer-agents]), and
each control is enabled only when the call allows it, a disabled one saying why (its
title and the hint line). Transfer (Alt+T) hands the customer to agent 2, who is then in
control; or Conference brings the three together and agent 1's Leave passes control to
agent 2. A supervisor forces the agent ready, barges into the call from the dashboard with
the phone named at the top of the page, switches to listening and stops; pbxsim's bridges
show where the supervisor's leg is.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.api.routes import ROUTES
from tests.e2e.support import (
    ApiClient,
    TestAgent,
    bridges,
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
from playwright.async_api import Locator, Page, expect  # noqa: E402

from tests.browser.pages import agent_page, close, doc_shot, new_page, sign_in  # noqa: E402

pytestmark = pytest.mark.timeout(90)

_PATHS = {(r.method, r.path) for r in ROUTES}
SUPERVISION = ("POST", "/api/v1/calls/{attempt_id}/supervise") in _PATHS
CALL_DATA = ("PUT", "/api/v1/agents/{agent_id}/call-data") in _PATHS


@dataclass
class Desks:
    """Two agents' desktops; agent 1 is on the campaign's one call, agent 2 Available."""

    base: str
    agents: list[TestAgent]
    pages: list[Page]
    errors: list[str]

    def bar(self, i: int) -> Locator:
        return self.pages[i].get_by_role("toolbar", name="Call controls")

    def button(self, i: int, name: str) -> Locator:
        return self.bar(i).get_by_role("button", name=name, exact=True)

    def party(self, i: int, party: str) -> Locator:
        """A row of agent i's party list: "customer", "primary" or a party id (p1...)."""
        return self.pages[i].locator(f"#cc-parties tr[data-party='{party}']")


async def _one_long_call(database_url: str, pbx: PbxSim, tmp: Path, name: str,
                         **campaign: Any) -> None:
    """A progressive campaign with one contact who answers and talks for ten minutes."""
    num = number(abs(hash(name)) % 9000 + 100, 1)
    await make_campaign(database_url, name, mode="progressive", wrapup_seconds=600, **campaign)
    await asyncio.to_thread(import_numbers, database_url, name, [num], tmp)
    await pbx.script(num, "answer", ring_seconds=1, talk_seconds=6000)


@contextlib.asynccontextmanager
async def desks(database_url: str, pbx: PbxSim, tmp: Path, browser: Any, name: str,
                setup: Callable[[str], Awaitable[None]] | None = None,
                **campaign: Any) -> AsyncIterator[Desks]:
    """``setup(base URL)`` runs once the service is up, before the agents log in."""
    await _one_long_call(database_url, pbx, tmp, name, **campaign)
    # pbxsim answers the phones Local/agent<N>@dialer-agents at once.
    team = await make_agents(database_url, 2)
    async with running_service(service_settings(database_url, pbx)) as rt:
        base = f"http://127.0.0.1:{rt.http_port}"
        if setup is not None:
            await setup(base)
        errors: list[str] = []
        d = Desks(base, team, [], errors)
        try:
            p1 = await agent_page(browser, errors, base, team[0].token, name)
            d.pages.append(p1)
            await p1.get_by_role("button", name="Available", exact=True).click()
            await expect(p1.locator("#call-state")).to_have_text("Connected", timeout=15_000)
            await expect(p1.locator("#cc-controller")).to_have_text("You are in control")
            # Agent 2 logs in once the call is agent 1's: the campaign has no other contact.
            p2 = await agent_page(browser, errors, base, team[1].token, name)
            d.pages.append(p2)
            await p2.get_by_role("button", name="Available", exact=True).click()
            await expect(p2.locator("#state-badge")).to_have_text("Available")
            yield d
        finally:
            # Closed while the service runs: an open page would log its stream's reconnects.
            await close(*d.pages)
    assert not errors, errors


async def _consult_agent_2(d: Desks) -> None:
    """Agent 1 consults agent 2 by id through the consult form; agent 2's phone answers."""
    p1 = d.pages[0]
    await d.button(0, "Consult…").click()
    await expect(p1.get_by_role("heading", name="Consult")).to_be_visible()
    await p1.get_by_label("Whom").select_option("agent")
    await p1.get_by_label("Target").fill(str(d.agents[1].id))
    await p1.get_by_role("button", name="Start consultation").click()
    await expect(p1.locator("#xfer-form")).to_be_hidden()
    await expect(p1.locator("#cc-mode")).to_have_text("Consulting")
    await expect(d.party(0, "p1")).to_contain_text(f"Agent {d.agents[1].id} · agent")
    await expect(d.party(0, "p1").locator(".party-state")).to_have_text("Talking", timeout=10_000)


async def test_consult_another_agent_then_transfer_with_the_keyboard(
        database_url: str, pbx: PbxSim, tmp_path: Path, browser: Any, shots: Path) -> None:
    async with desks(database_url, pbx, tmp_path, browser, "ccpx") as d:
        p1, p2 = d.pages
        a1, a2 = d.agents
        # A plain call: no consultation, so no Transfer; the hint line and the title say why.
        transfer = d.button(0, "Transfer")
        await expect(transfer).to_be_disabled()
        await expect(transfer).to_have_attribute("title", "no answered consultation")
        await expect(p1.locator("#call-hint")).to_contain_text(
            re.compile(r"Transfer[^·]*: no answered consultation"))
        await expect(d.button(0, "Leave")).to_have_attribute("title", "only a conference can be left")
        await expect(p1.locator("#call-shortcuts")).to_contain_text("Alt+T transfer")
        await expect(d.party(0, "customer")).to_contain_text("Talking")
        await expect(d.party(0, "primary")).to_contain_text("You (primary agent)")

        # An agent that is not available is refused, the rule in the error area.
        await p1.keyboard.press("Alt+KeyC")
        target = p1.get_by_label("Target")
        await expect(target).to_be_focused()
        await target.fill(str(a1.id))
        await p1.get_by_role("button", name="Start consultation").click()
        await expect(p1.locator("#call-error")).to_contain_text(
            "target: an agent cannot consult or transfer to itself (HTTP 409)")

        # Alt+C again: the form is open, the focus back on the target. Agent 2 this time.
        await p1.locator("body").click(position={"x": 5, "y": 5})
        await p1.keyboard.press("Alt+KeyC")
        await expect(target).to_be_focused()
        await p1.get_by_label("Whom").select_option("agent")
        await target.fill(str(a2.id))
        await p1.get_by_role("button", name="Start consultation").click()
        await expect(p1.locator("#cc-mode")).to_have_text("Consulting")
        await expect(p1.locator("#state-badge")).to_have_text("Consulting")
        await expect(p1.locator("#call-error")).to_be_hidden()
        await expect(d.party(0, "p1").locator(".party-state")).to_have_text("Talking", timeout=10_000)
        # The customer is held meanwhile; hold and hang-up are off, and say why.
        await expect(d.party(0, "customer").locator(".party-state")).to_have_text("On hold")
        await expect(transfer).to_be_enabled()
        await expect(d.button(0, "Switch")).to_be_enabled()
        await expect(d.button(0, "Hold")).to_have_attribute(
            "title", "hold is for a plain call (during a consultation, switch between the parties)")
        await expect(d.button(0, "Hang up")).to_be_disabled()
        await expect(d.button(0, "Hang up")).to_have_attribute("title", "a held call cannot be ended")
        await expect(p1.locator("#call-hint")).to_contain_text(
            "Hold: hold is for a plain call (during a consultation, switch between the parties)")
        await expect(p1.locator("#cc-participants")).to_have_text("3 of 8 participants")

        # Agent 2 is on the call too, agent 1 in control: its controls are off, and say why.
        await expect(p2.locator("#state-badge")).to_have_text("On call")
        await expect(p2.locator("#cc-controller")).to_have_text(f"Agent {a1.id} is in control")
        await expect(d.button(1, "Consult…")).to_have_attribute(
            "title", "another agent is in control of this call")
        await expect(d.party(1, "p1")).to_contain_text("You · agent")
        await p1.screenshot(path=doc_shot(shots, "desktop-consult.png"))

        # Switch: the customer back, agent 2 on hold; Switch again, then Alt+T transfers.
        await d.button(0, "Switch").click()
        await expect(d.party(0, "p1").locator(".party-state")).to_have_text("On hold")
        await expect(d.party(0, "customer").locator(".party-state")).to_have_text("Talking")
        await d.button(0, "Switch").click()
        await expect(d.party(0, "p1").locator(".party-state")).to_have_text("Talking")
        await expect(transfer).to_be_enabled()
        await p1.keyboard.press("Alt+KeyT")
        # Agent 1 wraps up; agent 2 has the customer and the control.
        await expect(p1.locator("#wrapup")).to_be_visible()
        await expect(p1.locator("#state-badge")).to_have_text("Wrap-up")
        await expect(p2.locator("#cc-controller")).to_have_text("You are in control")
        await expect(d.party(1, "customer").locator(".party-state")).to_have_text("Talking")
        await expect(d.button(1, "Transfer")).to_have_attribute("title", "no answered consultation")

        # Agent 2 holds the call (Alt+H), resumes it, and hangs up (Alt+X): wrap-up.
        await expect(d.button(1, "Hold")).to_be_enabled()
        await p2.keyboard.press("Alt+KeyH")
        await expect(p2.locator("#state-badge")).to_have_text("Hold")
        await expect(d.party(1, "customer").locator(".party-state")).to_have_text("On hold")
        await p2.keyboard.press("Alt+KeyX")
        await expect(p2.locator("#call-note")).to_have_text(
            "Hang up is not possible now: a held call cannot be ended.")
        await d.button(1, "Resume").click()
        await expect(p2.locator("#state-badge")).to_have_text("On call")
        await expect(d.button(1, "Hang up")).to_be_enabled()
        await p2.keyboard.press("Alt+KeyX")
        await expect(p2.locator("#wrapup")).to_be_visible()
        await expect(p2.locator("#state-badge")).to_have_text("Wrap-up")


async def test_conference_the_primary_leaves_and_control_passes(
        database_url: str, pbx: PbxSim, tmp_path: Path, browser: Any, shots: Path) -> None:
    async with desks(database_url, pbx, tmp_path, browser, "ccpc", recording=True) as d:
        p1, p2 = d.pages
        a2 = d.agents[1]
        # Recording: pause and resume on a plain call.
        await expect(p1.locator("#cc-recording")).to_have_text("● Recording")
        await d.button(0, "Pause recording").click()
        await expect(p1.locator("#cc-recording")).to_have_text("Recording paused")
        await d.button(0, "Resume recording").click()
        await expect(p1.locator("#cc-recording")).to_have_text("● Recording")

        await _consult_agent_2(d)
        await d.button(0, "Conference").click()
        await expect(p1.locator("#cc-mode")).to_have_text("Conference")
        await expect(p1.locator("#state-badge")).to_have_text("Conferencing")
        await expect(d.party(0, "customer").locator(".party-state")).to_have_text("Talking")
        await expect(d.party(0, "p1").locator(".party-state")).to_have_text("Talking")
        await expect(p1.locator("#cc-participants")).to_have_text("3 of 8 participants")
        # Not during a conference: recording pause, hold, a blind transfer.
        await expect(d.button(0, "Pause recording")).to_have_attribute(
            "title", "not during a consultation or conference")
        await expect(d.button(0, "Blind transfer…")).to_be_disabled()
        await expect(d.button(0, "Leave")).to_be_enabled()
        await expect(d.party(0, "p1").get_by_role("button", name=f"Remove Agent {a2.id}")).to_be_visible()
        await expect(d.party(1, "p1")).to_contain_text("You · agent")
        await p1.screenshot(path=doc_shot(shots, "desktop-conference.png"))

        # The primary leaves: agent 1 wraps up, agent 2 (present longest) takes control.
        await d.button(0, "Leave").click()
        await expect(p1.locator("#wrapup")).to_be_visible()
        await expect(p2.locator("#cc-controller")).to_have_text("You are in control")
        await expect(d.party(1, "primary")).to_have_count(0)
        await expect(d.party(1, "customer").locator(".party-state")).to_have_text("Talking")
        await expect(p2.locator("#cc-participants")).to_have_text("2 of 8 participants")
        await p2.screenshot(path=doc_shot(shots, "desktop-control-passed.png"))


@pytest.mark.skipif(not CALL_DATA, reason="call-data routes not present")
async def test_call_data_the_first_save_wins_and_the_other_agent_is_told(
        database_url: str, pbx: PbxSim, tmp_path: Path, browser: Any, shots: Path) -> None:
    (admin,) = await make_agents(database_url, 1, prefix="admin", role="admin")

    async def define_variables(base: str) -> None:
        async with ApiClient(base, admin.token) as api:
            await api.ok("PUT", "/api/v1/campaigns/ccpd/variables", {"variables": [
                {"name": "order_ref", "label": "Order reference", "editable": True},
                {"name": "card", "label": "Card number", "editable": True, "secure": True},
                {"name": "segment", "label": "Segment"}]})

    async with desks(database_url, pbx, tmp_path, browser, "ccpd", setup=define_variables) as d:
        p1, p2 = d.pages
        await _consult_agent_2(d)
        cad1, cad2 = p1.locator("#cad"), p2.locator("#cad")
        await expect(cad1).to_be_visible()
        await expect(cad2).to_be_visible()
        await expect(cad1.get_by_label("Segment")).not_to_be_editable()
        await expect(cad1.get_by_label("Segment")).to_have_attribute("readonly", "")
        await expect(cad1.get_by_label("Order reference")).to_have_attribute("maxlength", "256")

        # Both edit; agent 2 saves first, agent 1's save is refused and says what won.
        await cad1.get_by_label("Order reference").fill("A-100")
        await cad2.get_by_label("Order reference").fill("B-200")
        await cad2.get_by_role("button", name="Save").click()
        await expect(p2.locator("#cad-note")).to_have_text("Saved.")
        await cad1.get_by_role("button", name="Save").click()
        await expect(p1.locator("#cad-error")).to_have_text(
            "Someone else saved first: Order reference is now B-200 (by Agent 2)")
        await expect(cad1.get_by_label("Order reference")).to_have_value("B-200")
        await p1.screenshot(path=doc_shot(shots, "desktop-call-data.png"))

        # A secure value: typed in a password field, shown masked once saved.
        card = cad1.get_by_label("Card number")
        await expect(card).to_have_attribute("type", "password")
        await card.fill("4111111111111111")
        await cad1.get_by_role("button", name="Save").click()
        await expect(p1.locator("#cad-note")).to_have_text("Saved.")
        await expect(cad1.locator("label[for]", has_text="Card number")).to_contain_text(
            "(secure: ****1111)")
        await expect(card).to_have_value("")
        await expect(p1.locator("#cad-error")).to_be_hidden()

        # Revert: back to the saved values.
        await cad1.get_by_label("Order reference").fill("typo")
        await cad1.get_by_role("button", name="Revert").click()
        await expect(cad1.get_by_label("Order reference")).to_have_value("B-200")
        await expect(p1.locator("#cad-note")).to_have_text("Reverted to the saved values.")


async def _supervisor_leg_in(pbx: PbxSim, attempt_id: str) -> bool:
    """True when a supervisor's leg (sup:<id>) shares the call's own bridge."""
    for b in await bridges(pbx):
        if attempt_id in b["channels"]:
            return any(c.startswith("sup:") for c in b["channels"])
    return False


@pytest.mark.skipif(not SUPERVISION, reason="supervision routes not present")
async def test_supervisor_forces_ready_barges_listens_and_stops_from_the_dashboard(
        database_url: str, pbx: PbxSim, tmp_path: Path, browser: Any, shots: Path) -> None:
    await _one_long_call(database_url, pbx, tmp_path, "svb")
    (agent,) = await make_agents(database_url, 1)
    (boss,) = await make_agents(database_url, 1, prefix="agentsup", role="supervisor")
    async with running_service(service_settings(database_url, pbx)) as rt:
        base = f"http://127.0.0.1:{rt.http_port}"
        errors: list[str] = []
        page = await agent_page(browser, errors, base, agent.token, "svb")
        sup = await new_page(browser, errors)
        try:
            await sup.goto(base + "/supervisor")
            await sign_in(sup, boss.token)
            await expect(sup.locator("#stream")).to_have_text("Live")
            phone = sup.get_by_label("My phone")
            await phone.fill(boss.endpoint)
            await phone.press("Tab")  # the change is kept on leaving the field

            # Force ready: no confirmation; the result is shown and the agent gets the call.
            row = sup.locator(f"#agents tr[data-agent='{agent.id}']")
            await row.get_by_role("button", name="Force ready").click()
            await expect(sup.locator("#agent-result")).to_have_text("Agent 1: Available.")
            await expect(page.locator("#call-state")).to_have_text("Connected", timeout=15_000)
            # Barge from the live call's row: the phone rings, then the supervisor is in.
            call = sup.locator("#calls tr")
            await expect(call).to_have_count(1)
            attempt_id = await call.get_attribute("data-attempt")
            assert attempt_id
            await call.get_by_role("button", name="Barge").click()
            panel = sup.locator("#supervision")
            await expect(panel).to_be_visible()
            await expect(sup.locator("#sv-state")).to_have_text("Active: barge", timeout=10_000)
            await expect(call).to_contain_text("Supervising: barge")
            await wait_for(lambda: _supervisor_leg_in(pbx, attempt_id), 10,
                           what="the supervisor's leg never joined the call's bridge")
            await sup.screenshot(path=doc_shot(shots, "dashboard-barge.png"), full_page=True)

            # Listen: the same leg leaves the call's bridge (it hears through a snoop).
            await panel.get_by_role("button", name="Listen").click()
            await expect(sup.locator("#sv-state")).to_have_text("Active: listen")
            await expect(panel.get_by_role("button", name="Listen")).to_have_attribute(
                "aria-pressed", "true")

            async def left_bridge() -> bool:
                return not await _supervisor_leg_in(pbx, attempt_id)
            await wait_for(left_bridge, 10, what="listening, the supervisor stayed in the bridge")

            # Stop: ended; the call's buttons are offered again.
            await panel.get_by_role("button", name="Stop").click()
            await expect(sup.locator("#sv-state")).to_contain_text("Ended")
            await expect(call.get_by_role("button", name="Whisper")).to_be_enabled()

            # The phone field is remembered on this computer.
            await sup.reload()
            await expect(sup.get_by_label("My phone")).to_have_value(boss.endpoint)

            # Not ready and log out during the call: the server defers both, the dashboard
            # says so.
            row = sup.locator(f"#agents tr[data-agent='{agent.id}']")
            await sup.get_by_label("Force not ready with").select_option("coaching")
            await row.get_by_role("button", name="Force not ready").click()
            await expect(sup.locator("#agent-result")).to_have_text(
                "Agent 1 is On call: Not ready (coaching) once the call is over.")
            await row.get_by_role("button", name="Log out").click()
            await expect(sup.locator("#agent-result")).to_have_text(
                "Agent 1 will be logged out when the call ends.")
            # The agent ends the call and wraps it up: then the logout happens.
            await page.get_by_role("button", name="Hang up").click()
            wrapup = page.locator("#wrapup")
            await wrapup.locator("#wrapup-codes input[value='Sale']").check()
            await wrapup.get_by_role("button", name="Save disposition").click()
            await expect(page.get_by_role("heading", name="Log in to a campaign")).to_be_visible()
            await expect(row).to_have_count(0)
        finally:
            await close(page, sup)
    assert not errors, errors
