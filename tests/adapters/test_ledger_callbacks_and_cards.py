"""Ledger follow-ups against a real PostgreSQL: callbacks (MISSION F rules, field-named
refusals), the predictive pacer's saved state, screen-pop cards, an agent's campaigns,
live calls, and what reconciliation asks about dead and live instances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.core.pacing import CampaignPacer
from orchestrator.ledger import agents, attempts, callbacks, campaigns, claims, reports, screen_pop
from orchestrator.ledger.claims import AttemptTicket
from orchestrator.ledger.pool import AsyncConn, connect, execute, fetch_one
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON, add_contact

pytestmark = pytest.mark.timeout(30)
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database


async def _campaign(conn: AsyncConn, name: str = "Winter", **settings: object) -> campaigns.Campaign:
    settings = {"mode": "progressive", **settings}
    c = await campaigns.create_campaign(conn, name, **settings)
    return await campaigns.start_campaign(conn, c.id)


async def _dial(conn: AsyncConn, c: campaigns.Campaign, tid: int, *, owner: str = "a",
                agent_id: int | None = None) -> AttemptTicket:
    res = await claims.claim_targets(conn, c.id, owner=owner, limit=50, now=NOON)
    assert tid in {t.target_id for t in res.claimed}, res
    ticket = await claims.write_ahead_attempt(conn, tid, owner=owner, agent_id=agent_id, now=NOON)
    assert isinstance(ticket, AttemptTicket), ticket
    await claims.release_leases(conn, owner)
    return ticket


# ------------------------------------------------------------------ callbacks

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"phone": "12345"}, "phone", "7 to 15"),
    ({"phone": "+33 6 12 34 56 78"}, "phone", "7 to 15"),  # 17 characters as typed
    ({"phone": "+33(6)12345678"}, "phone", "only digits"),
    ({"phone": "0612345678"}, "phone", "country code"),
    ({"phone": "+999 123 4567"}, "phone", "country code"),
    ({"name": "Al"}, "name", "3 to 250"),
    ({"name": "x" * 251}, "name", "3 to 250"),
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "unknown"),
    ({"time_zone": "Etc/Unknown"}, "time_zone", "known"),
    ({"window_start": NOW - timedelta(minutes=1)}, "window_start", "future"),
    ({"window_start": datetime(2026, 1, 6, 9, 0)}, "window_start", "time zone"),
    ({"window_end": LATER + timedelta(minutes=29)}, "window_end", "30 minutes"),
    ({"window_start": NOW + timedelta(days=31), "window_end": NOW + timedelta(days=31, minutes=31)},
     "window_end", "31 days"),
    ({"reason": "r" * 251}, "reason", "250"),
    ({"kind": "urgent"}, "kind", "one of"),
])
def test_callback_rules_name_the_field(changes: dict[str, object], field: str, words: str) -> None:
    values: dict[str, object] = {"kind": "scheduled", "phone": "+33 612 345 678", "window_start": LATER,
                                 "window_end": None, "time_zone": "Europe/Paris", "now": NOW}
    values.update(changes)
    with pytest.raises(callbacks.CallbackError) as err:
        callbacks.validate_callback(**values)  # type: ignore[arg-type]
    assert err.value.field == field and words in err.value.message, err.value


def test_callback_phone_forms_normalize_to_e164() -> None:
    assert callbacks.normalize_phone("+336-12.34,5678") == "+33612345678"
    assert callbacks.normalize_phone("06 1234 5678", default_region="FR") == "+33612345678"
    ok = callbacks.validate_callback(kind="scheduled", phone="+33 612 345 679", window_start=LATER,
                                     window_end=LATER + timedelta(days=2), time_zone="Europe/London",
                                     now=NOW, name="  Zoë Ünal ", reason="call about the renewal")
    assert ok.e164 == "+33612345679" and ok.name == "Zoë Ünal"
    assert ok.window_end - ok.window_start == timedelta(days=2)
    # A start alone gets the shortest window.
    ok = callbacks.validate_callback(kind="web", phone="+33612345679", window_start=LATER, window_end=None,
                                     time_zone="UTC", now=NOW)
    assert ok.window_end - ok.window_start == callbacks.MIN_WINDOW


async def test_create_callback_releases_the_previewed_target_until_the_window(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        cid, (tid,) = await add_contact(conn, c.id)
        agent, _ = await agents.create_agent(conn, "cal", display_name="Cal")
        res = await claims.claim_targets(conn, c.id, owner="node", limit=1, now=NOON)
        assert [t.target_id for t in res.claimed] == [tid]
        start = datetime.now(UTC) + timedelta(days=1)
        cb = await callbacks.create_callback(
            conn, phone="+33 612 345 699", window_start=start, time_zone="Europe/London",
            campaign_id=c.id, contact_id=cid, target_id=tid, assigned_agent_id=agent.id,
            created_by=agent.id, notes="after lunch", release_owner="node")
        assert cb.kind == "personal" and cb.e164 == "+33612345699" and cb.status == "pending"
        assert cb.window_end - cb.window_start == timedelta(minutes=30)
        t = await fetch_one(conn, "SELECT * FROM targets WHERE id = %s", (tid,))
        assert t is not None and t["lease_owner"] is None
        assert t["unavailable_reason"] == "Not in cadence" and t["available_from"] == start
        audit = await fetch_one(conn, "SELECT * FROM audit_log WHERE action = 'callback.create'")
        assert audit is not None and audit["object_id"] == str(cb.id)
        # A reference to nothing is refused naming it; nothing is written.
        with pytest.raises(callbacks.CallbackError) as err:
            await callbacks.create_callback(conn, phone="+33612345699", window_start=start,
                                            time_zone="UTC", contact_id=cid + 1000)
        assert err.value.field == "contact_id"
        with pytest.raises(callbacks.CallbackError) as err:
            await callbacks.create_callback(conn, phone="+33612345699", window_start=start - timedelta(days=2),
                                            time_zone="UTC")
        assert err.value.field == "window_start"
        n = await fetch_one(conn, "SELECT count(*) AS n FROM callbacks")
        assert n is not None and n["n"] == 1


# ------------------------------------------------------------------ pacer state


async def test_pacer_state_round_trips_with_its_abandon_counts(database_url: str) -> None:
    pacer = CampaignPacer(abandon_cap=0.03)
    now = 1_000_000.0
    for i in range(40):
        pacer.observe_dial(now + i)
        pacer.observe_outcome(now + i + 5, "human", 5.0)
        if i % 10 == 0:
            pacer.observe_abandon(now + i + 6)
        else:
            pacer.observe_connect(now + i + 6, 0.4)
    before = pacer.stats(now + 60)
    assert before.abandoned_24h == 4
    async with connect(database_url) as conn:
        c = await _campaign(conn, mode="predictive")
        assert await campaigns.load_pacing_state(conn, c.id) is None
        await campaigns.save_pacing_state(conn, c.id, {"version": 1, "stale": True})
        await campaigns.save_pacing_state(conn, c.id, pacer.snapshot())  # replaces
        snap = await campaigns.load_pacing_state(conn, c.id)
        with pytest.raises(campaigns.CampaignNotFound):
            await campaigns.save_pacing_state(conn, c.id + 99, pacer.snapshot())
    assert snap is not None
    fresh = CampaignPacer(abandon_cap=0.03)
    fresh.restore(snap)
    after = fresh.stats(now + 60)
    assert (after.answered_24h, after.abandoned_24h) == (before.answered_24h, before.abandoned_24h)
    assert after.drop_budget_30d == pytest.approx(before.drop_budget_30d)
    assert after.abandon_rate_30d == pytest.approx(before.abandon_rate_30d)


async def test_each_instance_restores_its_own_pacer_state(database_url: str) -> None:
    # Two instances pace one campaign, each its own calls: a restarted instance takes up its
    # own abandon counts, never the other's (the last to save used to win for everybody).
    def pacer_with(abandons: int) -> CampaignPacer:
        p = CampaignPacer(abandon_cap=0.03)
        for i in range(100):
            p.observe_dial(1000.0 + i)
            p.observe_outcome(1000.0 + i + 5, "human", 5.0)
            (p.observe_abandon if i < abandons else lambda t: p.observe_connect(t, 0.4))(1000.0 + i + 6)
        return p

    async with connect(database_url) as conn:
        c = await _campaign(conn, mode="predictive")
        await campaigns.save_pacing_state(conn, c.id, pacer_with(0).snapshot())  # of no instance
        await campaigns.save_pacing_state(conn, c.id, pacer_with(3).snapshot(), instance_id="node-a:8080")
        await campaigns.save_pacing_state(conn, c.id, pacer_with(1).snapshot(), instance_id="node-b:8080")
        mine = {i: await campaigns.load_pacing_state(conn, c.id, instance_id=i)
                for i in ("node-a:8080", "node-b:8080", "node-c:8080")}
        with pytest.raises(campaigns.CampaignError) as err:
            await campaigns.save_pacing_state(conn, c.id, {}, instance_id="x" * 201)
        assert err.value.field == "instance_id"
    abandons = {}
    for i, snap in mine.items():
        assert snap is not None
        p = CampaignPacer(abandon_cap=0.03)
        p.restore(snap)
        abandons[i] = p.stats(1200.0).abandoned_24h
    # node-c has no row of its own: it starts from the snapshot of no instance
    assert abandons == {"node-a:8080": 3, "node-b:8080": 1, "node-c:8080": 0}


# ------------------------------------------------------------------ screen pop


async def test_attempt_card_has_the_contact_target_and_earlier_attempts(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn, cadence={"busy": 0})
        cid, (tid,) = await add_contact(conn, c.id, external_id="ext-7", first_name="Grace")
        await execute(conn, "UPDATE contacts SET custom_fields = '{\"plan\": \"gold\"}', postal_code = '75001'"
                            " WHERE id = %s", (cid,))
        agent, _ = await agents.create_agent(conn, "gus", display_name="Gus")
        first = await _dial(conn, c, tid)
        await attempts.end_attempt(conn, first.attempt_id, outcome="busy")
        await execute(conn, "UPDATE targets SET available_from = NULL WHERE id = %s", (tid,))
        second = await _dial(conn, c, tid, agent_id=agent.id)
        card = await screen_pop.attempt_card(conn, second.attempt_id)
        assert await screen_pop.attempt_card(conn, "00000000-0000-0000-0000-000000000000") is None
        assert await screen_pop.attempt_card(conn, "not-a-uuid") is None
        preview = await screen_pop.target_card(conn, tid)
    assert card is not None and preview is not None
    assert card.contact.first_name == "Grace" and card.contact.external_id == "ext-7"
    assert card.contact.custom_fields == {"plan": "gold"} and card.contact.postal_code == "75001"
    assert (card.target.attempts_made, card.target.max_attempts) == (2, 10)
    assert card.target.last_outcome == "Busy" and card.target.description == "Mobile"
    assert card.attempt_id == second.attempt_id and card.masking is False
    # The call on screen is not in its own history; the earlier one is, with its disposition.
    assert [(h.title, h.outcome, h.disposition) for h in card.history] == [
        ("Attempt 1 (Mobile)", "busy", "Busy")]
    assert [h.attempt_number for h in preview.history] == [2, 1]


# ------------------------------------------------------------------ agent's campaigns


async def test_agent_campaigns_are_its_teams_and_the_open_ones(database_url: str) -> None:
    async with connect(database_url) as conn:
        await agents.create_team(conn, "north")
        await agents.create_team(conn, "south")
        await campaigns.create_campaign(conn, "N1", teams=["north"])
        await campaigns.create_campaign(conn, "S1", teams=["south"])
        await campaigns.create_campaign(conn, "Open")
        ann, _ = await agents.create_agent(conn, "ann", display_name="Ann", teams=["north"])
        bob, _ = await agents.create_agent(conn, "bob", display_name="Bob")
        assert [c.name for c in await campaigns.agent_campaigns(conn, ann.id)] == ["N1", "Open"]
        assert [c.name for c in await campaigns.agent_campaigns(conn, bob.id)] == ["Open"]


# ------------------------------------------------------------------ instances


async def test_dead_and_live_instances_as_reconciliation_sees_them(database_url: str) -> None:
    stale = timedelta(seconds=30)
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        ag, _ = await agents.create_agent(conn, "ida", display_name="Ida")
        _, (t1,) = await add_contact(conn, c.id)
        _, (t2,) = await add_contact(conn, c.id)
        _, (t3,) = await add_contact(conn, c.id)
        now = datetime.now(UTC)
        await attempts.heartbeat(conn, "dead", now=now - timedelta(hours=1))
        await attempts.heartbeat(conn, "alive")
        dead = await _dial(conn, c, t1, owner="dead", agent_id=ag.id)
        alive = await _dial(conn, c, t2, owner="alive", agent_id=ag.id)
        live = await _dial(conn, c, t3, owner="alive", agent_id=ag.id)
        for tk in (dead, alive):  # talked to an agent, ended, waiting for the wrap-up
            await attempts.mark_bridged(conn, tk.attempt_id, ag.id)
            ended = await attempts.end_attempt(conn, tk.attempt_id)
            assert ended.dispositioned_at is None
        orphans = await attempts.undispositioned_of_dead_owners(conn, stale_after=stale, exclude_owner="me")
        assert [a.id for a in orphans] == [dead.attempt_id]
        assert await attempts.undispositioned_of_dead_owners(conn, stale_after=stale, exclude_owner="dead") == []
        elsewhere = await attempts.live_attempts_elsewhere(
            conn, [live.attempt_id, dead.attempt_id], me="me", stale_after=stale)
        assert elsewhere == {str(live.attempt_id)}
        assert await attempts.live_attempts_elsewhere(conn, [live.attempt_id], me="alive",
                                                      stale_after=stale) == set()
        calls = await reports.live_calls(conn)
        assert [lc.attempt_id for lc in calls] == [str(live.attempt_id)]
        assert calls[0].campaign == "Winter" and calls[0].owner == "alive" and not calls[0].masking

        # Agents: logged in on a live instance (kept), on a dead one or logged out (not).
        bo, _ = await agents.create_agent(conn, "bo", display_name="Bo")
        cy, _ = await agents.create_agent(conn, "cy", display_name="Cy")
        await agents.record_agent_state(conn, ag.id, "available", instance_id="alive")
        await agents.record_agent_state(conn, bo.id, "on_call", instance_id="dead")
        await agents.record_agent_state(conn, cy.id, "available", instance_id="alive")
        await agents.record_agent_state(conn, cy.id, "logged_out", instance_id="alive")
        ids = [ag.id, bo.id, cy.id]
        assert await agents.agents_hosted_elsewhere(conn, ids, me="me", stale_after=stale) == {ag.id}
        assert await agents.agents_hosted_elsewhere(conn, ids, me="alive", stale_after=stale) == set()
