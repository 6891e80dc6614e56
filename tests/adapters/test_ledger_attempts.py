"""Attempt events, dispositions and reconciliation against a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.ledger import agents, attempts, campaigns, claims
from orchestrator.ledger.claims import AttemptTicket
from orchestrator.ledger.pool import AsyncConn, connect, execute, fetch_all, fetch_one
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON, add_contact, next_e164

pytestmark = pytest.mark.timeout(30)
# One shared, emptied-per-test database instead of one database per test (faster).
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database


async def _setup(conn: AsyncConn, **settings: object) -> campaigns.Campaign:
    c = await campaigns.create_campaign(conn, "Autumn", mode="progressive", **settings)
    return await campaigns.start_campaign(conn, c.id)


async def _dial(conn: AsyncConn, c: campaigns.Campaign, tid: int, *, owner: str = "a",
                agent_id: int | None = None, now=NOON) -> AttemptTicket:
    res = await claims.claim_targets(conn, c.id, owner=owner, limit=50, now=now)
    assert tid in {t.target_id for t in res.claimed}, res
    ticket = await claims.write_ahead_attempt(conn, tid, owner=owner, agent_id=agent_id, now=now)
    assert isinstance(ticket, AttemptTicket), ticket
    await claims.release_leases(conn, owner)
    return ticket


async def _target(conn: AsyncConn, tid: int) -> dict:
    row = await fetch_one(conn, "SELECT t.*, k.complete AS contact_complete FROM targets t"
                                " JOIN contacts k ON k.id = t.contact_id WHERE t.id = %s", (tid,))
    assert row is not None
    return row


async def test_events_mirror_state_and_replays_count_once(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        _, (tid,) = await add_contact(conn, c.id)
        agent, _ = await agents.create_agent(conn, "ann", display_name="Ann")
        tk = await _dial(conn, c, tid)
        t0 = NOON
        assert await attempts.mark_originated(conn, tk.attempt_id, at=t0)
        assert await attempts.mark_ringing(conn, tk.attempt_id, at=t0 + timedelta(seconds=1))
        assert await attempts.mark_answered(conn, tk.attempt_id, at=t0 + timedelta(seconds=8))
        assert await attempts.record_amd(conn, tk.attempt_id, "MACHINE", cause="INITIALSILENCE",
                                         at=t0 + timedelta(seconds=10))
        # A reconnect replays everything: nothing changes, the machine is counted once.
        assert not await attempts.mark_ringing(conn, tk.attempt_id, at=t0 + timedelta(seconds=1))
        assert not await attempts.record_amd(conn, tk.attempt_id, "MACHINE", at=t0 + timedelta(seconds=10))
        assert await attempts.record_event(conn, tk.attempt_id, "hold", key="1741791610.1")
        assert not await attempts.record_event(conn, tk.attempt_id, "hold", key="1741791610.1")
        assert await attempts.mark_bridged(conn, tk.attempt_id, agent.id, at=t0 + timedelta(seconds=11))
        att = await attempts.get_attempt(conn, tk.attempt_id)
        assert att.state == "bridged" and att.outcome == "machine" and att.agent_id == agent.id
        assert att.answered_at == t0 + timedelta(seconds=8) and att.connected_at == t0 + timedelta(seconds=11)
        # A late 'ringing' replay never moves the state back.
        assert not await attempts.mark_ringing(conn, tk.attempt_id)
        ended = await attempts.end_attempt(conn, tk.attempt_id, outcome="human", cause=16,
                                           cause_txt="Normal Clearing", at=t0 + timedelta(seconds=70))
        again = await attempts.end_attempt(conn, tk.attempt_id, outcome="busy", at=t0 + timedelta(seconds=99))
        assert ended == again
        assert ended.state == "ended" and ended.outcome == "machine" and ended.cause == 16
        assert ended.dispositioned_at is None, "a machine passed to an agent waits for the agent"
        assert (await _target(conn, tid))["amd_count"] == 1
        kinds = [r["kind"] for r in await fetch_all(
            conn, "SELECT kind FROM attempt_events WHERE attempt_id = %s ORDER BY id", (tk.attempt_id,))]
        assert kinds == ["created", "originated", "ringing", "answered", "amd", "hold", "bridged", "ended"]


async def test_busy_gets_automatic_busy_disposition_and_cadence(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        _, (tid,) = await add_contact(conn, c.id)
        tk = await _dial(conn, c, tid)
        end = NOON + timedelta(seconds=5)
        att = await attempts.end_attempt(conn, tk.attempt_id, outcome="busy", cause=17, at=end)
        assert att.dispositioned_at == end and att.wrapup_code_id is not None
        t = await _target(conn, tid)
        assert (t["last_outcome"], t["last_outcome_class"], t["unavailable_reason"]) == ("Busy", "retry", "Not in cadence")
        assert t["available_from"] == end + timedelta(minutes=15), "the system Busy code retries after 15 min"
        # Claimable again once the cadence has passed, not before.
        assert (await claims.claim_targets(conn, c.id, owner="a", limit=1, now=end + timedelta(minutes=14))).claimed == []
        res = await claims.claim_targets(conn, c.id, owner="a", limit=1, now=end + timedelta(minutes=15))
        assert [x.target_id for x in res.claimed] == [tid]


async def test_campaign_cadence_overrides_code_delay(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn, cadence={"no_answer": 600})
        _, (tid,) = await add_contact(conn, c.id)
        tk = await _dial(conn, c, tid)
        await attempts.end_attempt(conn, tk.attempt_id, outcome="no_answer", at=NOON)
        t = await _target(conn, tid)
        assert t["last_outcome"] == "No answer" and t["available_from"] == NOON + timedelta(minutes=10)


async def test_final_success_completes_the_contact(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        _, (t1, t2) = await add_contact(conn, c.id, numbers=[next_e164(), next_e164()])
        agent, _ = await agents.create_agent(conn, "bob", display_name="Bob")
        tk = await _dial(conn, c, t1)
        await attempts.mark_answered(conn, tk.attempt_id, at=NOON)
        await attempts.mark_bridged(conn, tk.attempt_id, agent.id, at=NOON)
        ended = await attempts.end_attempt(conn, tk.attempt_id, at=NOON + timedelta(minutes=3))
        assert ended.outcome == "human" and ended.dispositioned_at is None
        # The contact stays out of the queue while the agent wraps up.
        assert (await claims.claim_targets(conn, c.id, owner="a", limit=5, now=NOON + timedelta(hours=5))).claimed == []
        res = await attempts.record_disposition(conn, tk.attempt_id, "sale", agent_id=agent.id, note="2 units",
                                                now=NOON + timedelta(minutes=4))
        assert res.outcome_class == "final_success" and res.unavailable_reason == "Complete" and not res.replayed
        a, b = await _target(conn, t1), await _target(conn, t2)
        assert a["unavailable_reason"] == "Complete" and a["contact_complete"]
        assert b["unavailable_reason"] == "Complete"
        # The first disposition wins.
        second = await attempts.record_disposition(conn, tk.attempt_id, "Busy", agent_id=agent.id)
        assert second.replayed and second.label == "Sale"
        history = await attempts.contact_history(conn, tk.contact_id)
        assert [(h.title, h.outcome, h.agent, h.disposition, h.note) for h in history] == [
            ("Attempt 1 (Mobile)", "human", "Bob", "Sale", "2 units")
        ]


async def test_final_failure_and_invalid_number(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        _, (fax,) = await add_contact(conn, c.id)
        _, (bad,) = await add_contact(conn, c.id)
        tk = await _dial(conn, c, fax)
        await attempts.end_attempt(conn, tk.attempt_id, outcome="fax", at=NOON)
        assert (await _target(conn, fax))["unavailable_reason"] == "Last outcome not valid for calling"
        tk2 = await _dial(conn, c, bad)
        await attempts.end_attempt(conn, tk2.attempt_id, outcome="invalid_number", cause=1, at=NOON)
        t = await _target(conn, bad)
        assert (t["unavailable_reason"], t["last_outcome"], t["last_outcome_class"]) == (
            "Invalid target", "Invalid number", "final_failure")


async def test_dnc_disposition_adds_a_global_entry(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        other = await campaigns.start_campaign(conn, (await campaigns.create_campaign(conn, "Other")).id)
        number = next_e164()
        _, (tid,) = await add_contact(conn, c.id, numbers=[number])
        _, (elsewhere,) = await add_contact(conn, other.id, numbers=[number])
        code = await campaigns.add_wrapup_code(conn, c.id, "Do not call me", "dnc")
        tk = await _dial(conn, c, tid)
        await attempts.mark_bridged(conn, tk.attempt_id, (await agents.create_agent(conn, "cy", display_name="Cy"))[0].id)
        res = await attempts.record_disposition(conn, tk.attempt_id, code.id)
        assert res.unavailable_reason == "DNC"
        entry = await fetch_one(conn, "SELECT campaign_id, source FROM dnc_entries WHERE e164 = %s", (number,))
        assert entry == {"campaign_id": None, "source": "disposition"}
        assert (await _target(conn, elsewhere))["unavailable_reason"] == "DNC"
        await attempts.end_attempt(conn, tk.attempt_id, at=NOON)
        assert (await claims.claim_targets(conn, other.id, owner="a", limit=5, now=NOON + timedelta(days=3))).claimed == []


async def test_exhausted_and_max_amd(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn, max_amd_per_target=1, cadence={"busy": 0})
        _, (two,) = await add_contact(conn, c.id, max_attempts=2)
        _, (machine,) = await add_contact(conn, c.id)
        tk = await _dial(conn, c, two)
        await attempts.end_attempt(conn, tk.attempt_id, outcome="busy", at=NOON)
        assert (await _target(conn, two))["unavailable_reason"] == "Not in cadence"
        later = NOON + timedelta(hours=2)
        tk = await _dial(conn, c, two, now=later)
        assert tk.attempt_number == 2
        await attempts.end_attempt(conn, tk.attempt_id, outcome="busy", at=later)
        assert (await _target(conn, two))["unavailable_reason"] == "Exhausted"

        tk = await _dial(conn, c, machine)
        await attempts.mark_answered(conn, tk.attempt_id, at=NOON)
        await attempts.record_amd(conn, tk.attempt_id, "MACHINE", at=NOON)
        att = await attempts.end_attempt(conn, tk.attempt_id, at=NOON)
        assert att.outcome == "machine" and att.dispositioned_at is not None
        t = await _target(conn, machine)
        assert (t["last_outcome"], t["unavailable_reason"]) == ("Answering machine detected", "Max answering machine detections")


async def test_a_call_never_placed_gives_its_attempt_back(database_url: str) -> None:
    # The agent's leg failed before the customer was dialed: the written-ahead attempt ends
    # 'not_dialed'. It stays in the history, but a failing phone must not exhaust the list
    # nor start a minimum gap for the number.
    async with connect(database_url) as conn:
        c = await _setup(conn, min_gap="1h")
        contact_id, (tid,) = await add_contact(conn, c.id, max_attempts=1)
        tk = await _dial(conn, c, tid)
        phone = await fetch_one(conn, "SELECT last_call_at FROM phone_numbers WHERE e164 = %s", (tk.e164,))
        assert phone is not None and phone["last_call_at"] == NOON
        await attempts.end_attempt(conn, tk.attempt_id, outcome="not_dialed", cause_txt="agent leg failed",
                                   auto_disposition=True, at=NOON)
        t = await _target(conn, tid)
        assert (t["attempts_made"], t["last_attempt_at"], t["unavailable_reason"]) == (0, None, "Not in cadence")
        k = await fetch_one(conn, "SELECT attempts_made FROM contacts WHERE id = %s", (contact_id,))
        assert k is not None and k["attempts_made"] == 0
        phone = await fetch_one(conn, "SELECT last_call_at FROM phone_numbers WHERE e164 = %s", (tk.e164,))
        assert phone is not None and phone["last_call_at"] is None
        # Dialed again once its cadence is over (max 1: it would be Exhausted otherwise);
        # the history numbers it after the row that stays.
        later = NOON + timedelta(hours=2)
        tk2 = await _dial(conn, c, tid, now=later)
        assert tk2.attempt_number == 2
        await attempts.end_attempt(conn, tk2.attempt_id, outcome="busy", at=later)
        t = await _target(conn, tid)
        assert (t["attempts_made"], t["unavailable_reason"]) == (1, "Exhausted")
        assert t["last_attempt_at"] == later
        titles = [(h.title, h.outcome) for h in await attempts.contact_history(conn, contact_id)]
        assert titles == [("Attempt 2 (Mobile)", "busy"), ("Attempt 1 (Mobile)", "not_dialed")]
        # Replaying the end changes nothing (the refund happens once).
        await attempts.end_attempt(conn, tk.attempt_id, outcome="not_dialed", at=NOON)
        assert (await _target(conn, tid))["attempts_made"] == 1


async def test_abandon_locks_the_number_across_campaigns(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn, abandon_lock="72h")
        other = await campaigns.start_campaign(conn, (await campaigns.create_campaign(conn, "Other")).id)
        number = next_e164()
        _, (tid,) = await add_contact(conn, c.id, numbers=[number])
        _, (elsewhere,) = await add_contact(conn, other.id, numbers=[number])
        tk = await _dial(conn, c, tid)
        await attempts.mark_answered(conn, tk.attempt_id, at=NOON)
        assert await attempts.mark_abandoned(conn, tk.attempt_id, at=NOON + timedelta(seconds=2))
        assert not await attempts.mark_abandoned(conn, tk.attempt_id, at=NOON + timedelta(seconds=3))
        att = await attempts.end_attempt(conn, tk.attempt_id, at=NOON + timedelta(seconds=12))
        assert att.outcome == "abandoned" and att.dispositioned_at is not None
        lock_end = NOON + timedelta(seconds=2, hours=72)
        row = await fetch_one(conn, "SELECT abandon_locked_until FROM phone_numbers WHERE e164 = %s", (number,))
        assert row == {"abandon_locked_until": lock_end}
        t = await _target(conn, tid)
        assert t["available_from"] == lock_end and t["last_outcome"] == "Abandoned"
        # No campaign may call the number before the lock ends.
        assert (await claims.claim_targets(conn, other.id, owner="a", limit=5, now=lock_end - timedelta(minutes=1))).claimed == []
        res = await claims.claim_targets(conn, other.id, owner="a", limit=5, now=lock_end.replace(hour=15))
        assert [x.target_id for x in res.claimed] == [elsewhere]


async def test_retry_code_with_explicit_time_and_rejected_by_agent(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        code = await campaigns.add_wrapup_code(conn, c.id, "Call back later", "retry", retry_after="3h")
        _, (tid,) = await add_contact(conn, c.id)
        _, (rej,) = await add_contact(conn, c.id)
        tk = await _dial(conn, c, tid)
        await attempts.mark_answered(conn, tk.attempt_id, at=NOON)
        res = await attempts.record_disposition(conn, tk.attempt_id, "call back later", now=NOON)
        assert res.wrapup_code_id == code.id and res.available_from == NOON + timedelta(hours=3)
        tk2 = await _dial(conn, c, rej)
        await attempts.end_attempt(conn, tk2.attempt_id, outcome="rejected_by_agent", at=NOON)
        assert (await _target(conn, rej))["unavailable_reason"] == "Offered"
        _, (cb,) = await add_contact(conn, c.id)
        tk3 = await _dial(conn, c, cb)
        with pytest.raises(campaigns.CampaignError) as exc:
            await attempts.record_disposition(conn, tk3.attempt_id, "No such code")
        assert exc.value.field == "wrapup_code"
        # An explicit callback time wins over the code's delay.
        res3 = await attempts.record_disposition(conn, tk3.attempt_id, code.id, retry_at=NOON + timedelta(days=2))
        assert res3.available_from == NOON + timedelta(days=2)
        assert (await _target(conn, cb))["available_from"] == NOON + timedelta(days=2)


async def test_reconcile_finishes_lost_calls_and_keeps_live_ones(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        tids = [(await add_contact(conn, c.id))[1][0] for _ in range(4)]
        mine_live = await _dial(conn, c, tids[0], owner="me")
        mine_gone = await _dial(conn, c, tids[1], owner="me")
        dead_live = await _dial(conn, c, tids[2], owner="dead")
        dead_gone = await _dial(conn, c, tids[3], owner="dead")
        await attempts.heartbeat(conn, "dead", now=NOON - timedelta(minutes=5))
        await attempts.heartbeat(conn, "me", now=NOON)
        assert {a.id for a in await attempts.live_attempts(conn, "me")} == {mine_live.attempt_id, mine_gone.attempt_id}
        orphans = await attempts.orphaned_attempts(conn, stale_after=timedelta(minutes=1), now=NOON, exclude_owner="me")
        assert {a.id for a in orphans} == {dead_live.attempt_id, dead_gone.attempt_id}
        assert await attempts.orphaned_attempts(conn, stale_after=timedelta(minutes=10), now=NOON) == []

        result = await attempts.reconcile(
            conn, "me", [str(mine_live.attempt_id), str(dead_live.attempt_id)],
            stale_after=timedelta(minutes=1), fates={str(mine_gone.attempt_id): "no_answer"}, now=NOON,
        )
        assert {a.id for a in result.still_live} == {mine_live.attempt_id, dead_live.attempt_id}
        assert all(a.owner == "me" for a in result.still_live), "orphans still up are adopted"
        finished = {a.id: a for a in result.finished}
        assert finished[mine_gone.attempt_id].outcome == "no_answer"
        assert finished[dead_gone.attempt_id].outcome == "unknown"
        assert all(a.state == "ended" and a.dispositioned_at is not None for a in finished.values())
        t = await _target(conn, tids[3])
        assert t["last_outcome"] == "Unknown" and t["unavailable_reason"] == "Not in cadence"
        assert t["available_from"] == NOON + timedelta(hours=1), "never redialed blindly: default cadence"
        # Nothing to do the second time.
        again = await attempts.reconcile(conn, "me", [str(mine_live.attempt_id), str(dead_live.attempt_id)],
                                         stale_after=timedelta(minutes=1), now=NOON)
        assert again.finished == [] and len(again.still_live) == 2


async def test_undispositioned_after_crash_get_auto_disposition(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        _, (tid,) = await add_contact(conn, c.id)
        agent, _ = await agents.create_agent(conn, "dee", display_name="Dee")
        tk = await _dial(conn, c, tid)
        await attempts.mark_bridged(conn, tk.attempt_id, agent.id, at=NOON)
        await attempts.end_attempt(conn, tk.attempt_id, at=NOON + timedelta(minutes=1))
        pending = await attempts.undispositioned_attempts(conn, ended_before=NOON + timedelta(minutes=5))
        assert [a.id for a in pending] == [tk.attempt_id]
        res = await attempts.auto_disposition(conn, tk.attempt_id, now=NOON + timedelta(minutes=5))
        assert res.label == "Human answer" and res.outcome_class == "retry"
        assert (await attempts.auto_disposition(conn, tk.attempt_id)).replayed
        await execute(conn, "SELECT 1")
        assert await attempts.undispositioned_attempts(conn) == []


async def test_disposition_without_dialing(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _setup(conn)
        _, (tid,) = await add_contact(conn, c.id)
        agent, _ = await agents.create_agent(conn, "eve", display_name="Eve")
        with pytest.raises(attempts.AttemptError, match="lease"):
            await attempts.disposition_without_dialing(conn, tid, "Sale", owner="a", now=NOON)
        # Preview targets may be shown outside the window: 23:00 UTC.
        night = NOON + timedelta(hours=8)
        await execute(conn, "UPDATE targets SET lease_owner = 'a', lease_expires_at = %s WHERE id = %s",
                      (night + timedelta(minutes=1), tid))
        res = await attempts.disposition_without_dialing(conn, tid, "Sale", owner="a", agent_id=agent.id,
                                                         note="signed on the web", now=night)
        assert res.unavailable_reason == "Complete"
        (h,) = await attempts.contact_history(conn, (await _target(conn, tid))["contact_id"])
        assert (h.title, h.outcome, h.disposition, h.agent) == ("Attempt 1 (Mobile)", "not_dialed", "Sale", "Eve")
        assert await attempts.live_attempts(conn, "a") == []


@pytest.mark.parametrize(("mode", "flavour"), [("power", None), ("predictive", None),
                                               ("progressive", "customer_first")])
async def test_reconcile_counts_a_customer_first_call_that_ended_unseen_as_an_abandon(
        database_url: str, mode: str, flavour: str | None) -> None:
    # Asterisk drops a call answered while its app is away (cause 0, narrow surprise 33):
    # nothing proves it was not answered, so it counts as the regulator would count it.
    extra = {"progressive_flavour": flavour} if flavour else {}
    async with connect(database_url) as conn:
        c = await _setup(conn, **extra) if mode == "progressive" else await campaigns.start_campaign(
            conn, (await campaigns.create_campaign(conn, "Winter", mode=mode)).id)
        tids = [(await add_contact(conn, c.id))[1][0] for _ in range(3)]
        ringing = await _dial(conn, c, tids[0], owner="gone")
        await attempts.mark_originated(conn, ringing.attempt_id, at=NOON)
        await attempts.mark_ringing(conn, ringing.attempt_id, at=NOON)
        pending = await _dial(conn, c, tids[1], owner="gone")  # never sent: not an abandon
        talked = await _dial(conn, c, tids[2], owner="gone")
        agent, _ = await agents.create_agent(conn, "zed", display_name="Zed")
        await attempts.mark_originated(conn, talked.attempt_id, at=NOON)
        await attempts.mark_bridged(conn, talked.attempt_id, agent.id, at=NOON)
        await attempts.heartbeat(conn, "gone", now=NOON - timedelta(minutes=5))
        result = await attempts.reconcile(conn, "me", [], stale_after=timedelta(minutes=1), now=NOON)
        assert result.presumed_abandoned == [ringing.attempt_id]
        done = {a.id: a for a in result.finished}
        assert done[ringing.attempt_id].outcome == "abandoned"
        assert done[pending.attempt_id].outcome == "unknown"
        assert done[talked.attempt_id].outcome == "human"
        kinds = [r["kind"] for r in await fetch_all(
            conn, "SELECT kind FROM attempt_events WHERE attempt_id = %s ORDER BY id",
            (ringing.attempt_id,))]
        assert "abandon_presumed" in kinds and "abandoned" in kinds
        (lock,) = await fetch_all(conn, "SELECT abandon_locked_until FROM phone_numbers WHERE e164 = %s",
                                  (done[ringing.attempt_id].e164,))
        assert lock["abandon_locked_until"] >= NOON + timedelta(hours=71)


async def test_reconcile_does_not_count_an_agent_first_call_as_an_abandon(database_url: str) -> None:
    # Agent first: the customer is dialed into the agent's own bridge, never left alone.
    async with connect(database_url) as conn:
        c = await _setup(conn, progressive_flavour="agent_first")
        _, (tid,) = await add_contact(conn, c.id)
        tk = await _dial(conn, c, tid, owner="gone")
        await attempts.mark_originated(conn, tk.attempt_id, at=NOON)
        await attempts.heartbeat(conn, "gone", now=NOON - timedelta(minutes=5))
        result = await attempts.reconcile(conn, "me", [], stale_after=timedelta(minutes=1), now=NOON)
        assert result.presumed_abandoned == [] and result.finished[0].outcome == "unknown"
