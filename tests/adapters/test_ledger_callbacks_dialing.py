"""Callbacks in the ledger against a real PostgreSQL (MISSION F): every scheduled-callback
rule refused naming its field, edits and deletion until the start time (logged as
deleted), the queue callback's contract, web-callback tokens, and dialing: due callbacks
claimed under a lease (two claimers never get the same one), held back by the rules
(DNC added after booking, the calling window) with the reason visible, written ahead
with the callback linked, settled from the outcome (no answer then answer, a machine
counts as answered, attempts used up), missed when the window passed."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from orchestrator.ledger import agents, attempts, callbacks, campaigns, claims
from orchestrator.ledger.claims import AttemptRefusal, AttemptTicket, RefusalReason
from orchestrator.ledger.pool import AsyncConn, connect, execute, fetch_all, fetch_one
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON, add_contact

pytestmark = pytest.mark.timeout(30)
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database

_numbers = itertools.count(1)


def next_e164() -> str:
    """A fresh valid French mobile number (callback numbers are checked as typed)."""
    return f"+3361234{next(_numbers):04d}"


BOOKED = NOON - timedelta(days=1)
"""When the callbacks of these tests were booked (a day before NOON, when they are due)."""
LEASE = timedelta(seconds=60)


async def _campaign(conn: AsyncConn, name: str = "Autumn", **settings: Any) -> campaigns.Campaign:
    c = await campaigns.create_campaign(conn, name, mode="progressive", **settings)
    return await campaigns.start_campaign(conn, c.id)


async def _due(conn: AsyncConn, c: campaigns.Campaign, *, phone: str | None = None,
               name: str = "Grace Hopper", agent_id: int | None = None,
               start: datetime = NOON - timedelta(minutes=5), hours: int = 2,
               **kw: Any) -> callbacks.Callback:
    """A scheduled callback booked a day ago whose window holds NOON."""
    return await callbacks.create_callback(
        conn, phone=phone or next_e164(), window_start=start,
        window_end=start + timedelta(hours=hours),
        time_zone="Europe/London", campaign_id=c.id, name=name, assigned_agent_id=agent_id,
        now=BOOKED, **kw)


async def _row(conn: AsyncConn, callback_id: int) -> dict[str, Any]:
    row = await fetch_one(conn, "SELECT * FROM callbacks WHERE id = %s", (callback_id,))
    assert row is not None
    return row


# ------------------------------------------------------------------ the rules, by field


AHEAD = date(2025, 3, 14)  # two days after NOON


@pytest.mark.parametrize(("window", "field", "words"), [
    ((AHEAD, time(10), time(10, 29), "Europe/Paris"), "end_time", None),  # checked by check_window
    ((AHEAD, time(11), time(10), "Europe/Paris"), "end_time", "after start_time"),
    ((date(2025, 3, 30), time(2, 30), time(4), "Europe/Paris"), "start_time", "does not exist"),
    ((AHEAD, time(10), time(11), "Europe/Atlantis"), "time_zone", "unknown"),
    ((AHEAD, time(10), time(11), ""), "time_zone", "required"),
    (("2025-03-14", time(10), time(11), "UTC"), "date", "a date"),
    ((AHEAD, "10:00", time(11), "UTC"), "start_time", "time of day"),
])
def test_local_window_rules_name_the_field(window: tuple[Any, ...], field: str,
                                           words: str | None) -> None:
    day, start, end, zone = window
    with pytest.raises(callbacks.CallbackError) as err:
        ws, we, tz = callbacks.local_window(day, start, end, zone)
        # a window that is well formed still meets the 30-minute rule, naming the end
        callbacks.check_window(ws, we, NOON, end_field="end_time")
    assert err.value.field == field, err.value
    if words:
        assert words in err.value.message, err.value


def test_local_window_in_the_callbacks_zone_and_over_midnight() -> None:
    ws, we, tz = callbacks.local_window(AHEAD, time(23, 30), time(0, 30), "Europe/Paris",
                                        end_date=AHEAD + timedelta(days=1))
    assert tz == "Europe/Paris" and we - ws == timedelta(hours=1)
    assert ws.astimezone(UTC) == datetime(2025, 3, 14, 22, 30, tzinfo=UTC)


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"name": None}, "name", "required"),
    ({"name": "Jo"}, "name", "3 to 250"),
    ({"name": "e\u0301e"}, "name", "3 to 250"),  # é typed as e + accent: 2 characters (NFC)
    ({"name": "\U0001f600" * 251}, "name", "3 to 250"),
    ({"queue": "sales queue"}, "queue", "queue name"),
    ({"notes": "n" * 2001}, "notes", "2000"),
    ({"phone": "+33 6 1234-5678 9"}, "phone", "7 to 15"),
    ({"phone": "+1 (415) 555"}, "phone", "only digits"),
])
def test_more_scheduled_callback_rules_name_the_field(changes: dict[str, Any], field: str,
                                                      words: str) -> None:
    values: dict[str, Any] = {"kind": "scheduled", "phone": "+33 612 345 123",
                              "window_start": NOON + timedelta(hours=1), "window_end": None,
                              "time_zone": "Europe/London", "now": NOON, "name": "Ada Lovelace",
                              "name_required": True}
    values.update(changes)
    with pytest.raises(callbacks.CallbackError) as err:
        callbacks.validate_callback(**values)
    assert err.value.field == field and words in err.value.message, err.value


def test_a_name_of_250_unicode_characters_is_kept_whole() -> None:
    name = "\U0001f600" * 250
    ok = callbacks.validate_callback(kind="scheduled", phone="+33612345123",
                                     window_start=NOON + timedelta(hours=1), window_end=None,
                                     time_zone="UTC", now=NOON, name=name, name_required=True)
    assert ok.name == name


async def test_create_refuses_each_rule_and_writes_nothing(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        for kw, field in (({"name": "Al"}, "name"), ({"phone": "12"}, "phone"),
                          ({"start": BOOKED - timedelta(minutes=1)}, "window_start"),
                          ({"reason": "r" * 251}, "reason")):
            with pytest.raises(callbacks.CallbackError) as err:
                await _due(conn, c, **kw)
            assert err.value.field == field
        with pytest.raises(callbacks.CallbackError) as err:
            await callbacks.create_callback(conn, phone="+33612345123", time_zone="UTC",
                                            window_start=NOON, campaign_id=c.id + 100, now=BOOKED)
        assert err.value.field == "campaign_id"
        n = await fetch_one(conn, "SELECT count(*) AS n FROM callbacks")
        assert n == {"n": 0}


# ------------------------------------------------------------------ edit and delete


async def test_edit_until_the_start_time_each_value_checked_again(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn, callback_attempts=2)
        agent, _ = await agents.create_agent(conn, "edith", display_name="Edith")
        cb = await _due(conn, c)
        assert cb.max_attempts == 2 and cb.kind == "scheduled"
        before = BOOKED + timedelta(hours=1)
        with pytest.raises(callbacks.CallbackError) as err:
            await callbacks.update_callback(conn, cb.id, {"name": "Zo"}, actor="t", now=before)
        assert err.value.field == "name"
        with pytest.raises(callbacks.CallbackError) as err:
            await callbacks.update_callback(conn, cb.id, {"window_end": cb.window_start}, actor="t",
                                            now=before)
        assert err.value.field == "window_end"
        with pytest.raises(callbacks.CallbackError) as err:
            await callbacks.update_callback(conn, cb.id, {"status": "done"}, actor="t", now=before)
        assert err.value.field == "status"
        new_start = cb.window_start + timedelta(hours=3)
        changed = await callbacks.update_callback(
            conn, cb.id, {"name": "Grace B. Hopper", "window_start": new_start,
                          "assigned_agent_id": agent.id, "reason": "renewal"}, actor="t", now=before)
        assert changed.name == "Grace B. Hopper" and changed.kind == "personal"
        assert changed.window_start == new_start and changed.window_end - new_start == timedelta(hours=2)
        # once its start time has passed, it can no longer be changed
        with pytest.raises(callbacks.CallbackStateError) as err:
            await callbacks.update_callback(conn, cb.id, {"reason": "x"}, actor="t",
                                            now=new_start + timedelta(seconds=1))
        assert err.value.field == "window_start"
        audit = await fetch_all(conn, "SELECT action FROM audit_log WHERE object_type = 'callback'"
                                      " AND object_id = %s ORDER BY id", (str(cb.id),))
        assert [a["action"] for a in audit] == ["callback.create", "callback.update"]


async def test_delete_is_logged_as_deleted_and_refused_after_the_start(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        one, two = await _due(conn, c), await _due(conn, c)
        with pytest.raises(callbacks.CallbackStateError) as err:
            await callbacks.delete_callback(conn, one.id, actor="agent:ann", now=NOON)
        assert err.value.field == "window_start"
        gone = await callbacks.delete_callback(conn, one.id, actor="agent:ann",
                                               now=BOOKED + timedelta(minutes=1), reason="sold")
        assert gone.status == "deleted" and gone.deleted_by == "agent:ann"
        assert gone.result == "deleted by agent:ann" and gone.deleted_at is not None
        # a supervisor takes a waiting one off after its start
        off = await callbacks.delete_callback(conn, two.id, actor="supervisor:sue", now=NOON,
                                              after_start=True)
        assert off.status == "deleted"
        with pytest.raises(callbacks.CallbackStateError) as err:
            await callbacks.delete_callback(conn, two.id, actor="supervisor:sue", after_start=True)
        assert err.value.field == "status"
        logged = await fetch_all(conn, "SELECT actor, object_id, details FROM audit_log"
                                       " WHERE action = 'callback.delete' ORDER BY id")
        assert [(r["actor"], r["object_id"]) for r in logged] == [
            ("agent:ann", str(one.id)), ("supervisor:sue", str(two.id))]
        assert logged[0]["details"]["reason"] == "sold"
        # deleted callbacks are never claimed
        claim = await callbacks.claim_due_callbacks(conn, owner="a", limit=10, lease=LEASE, now=NOON)
        assert claim.claimed == [] and claim.waiting == []


# ------------------------------------------------------------------ queue and web callbacks


async def test_create_queue_callback_keeps_position_and_order(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn, callback_queue="sales", callback_attempts=3)
        first = await callbacks.create_queue_callback(conn, queue="sales", position=4,
                                                      e164="+33612340201", source_channel="PJSIP/t-1",
                                                      now=NOON)
        second = await callbacks.create_queue_callback(conn, queue="sales", position=2,
                                                       e164="+33612340202", source_channel=None,
                                                       now=NOON)
        assert isinstance(first, int) and second > first
        row = await _row(conn, first)
        assert (row["kind"], row["queue"], row["queue_position"], row["source_channel"]) == (
            "queue", "sales", 4, "PJSIP/t-1")
        assert row["campaign_id"] == c.id and row["max_attempts"] == 3 and row["status"] == "pending"
        assert row["window_start"] == NOON and row["window_end"] == NOON + callbacks.QUEUE_CALLBACK_WINDOW
        for kw, field in (({"queue": "nobody"}, "queue"), ({"position": 0}, "position"),
                          ({"e164": "0612"}, "e164"), ({"queue": ""}, "queue")):
            args: dict[str, Any] = {"queue": "sales", "position": 1, "e164": "+33612340203",
                                    "source_channel": None, **kw}
            with pytest.raises(callbacks.CallbackError) as err:
                await callbacks.create_queue_callback(conn, **args)
            assert err.value.field == field
        # dialed in the order they were created
        claim = await callbacks.claim_due_callbacks(conn, owner="a", limit=10, lease=LEASE, now=NOON)
        assert [d.id for d in claim.claimed] == [first, second]
        assert [d.queue_position for d in claim.claimed] == [4, 2]


async def test_web_tokens_and_web_callbacks(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        row, token = await callbacks.create_web_token(conn, "shop-site", c.id)
        assert token.startswith("dlw_")
        found = await callbacks.web_token_by_token(conn, token)
        assert found is not None and found.campaign_id == c.id and found.name == "shop-site"
        assert await callbacks.web_token_by_token(conn, token + "x") is None
        with pytest.raises(callbacks.CallbackError) as err:
            await callbacks.create_web_token(conn, "shop-site", c.id)
        assert err.value.field == "name"
        cb = await callbacks.create_web_callback(conn, campaign_id=c.id, phone="+33 612 340 301",
                                                 name="Ada", reason="a question")
        assert (cb.kind, cb.name, cb.e164, cb.status) == ("web", "Ada", "+33612340301", "pending")
        assert cb.time_zone == "Europe/Paris"
        with pytest.raises(callbacks.CallbackError) as err:
            await callbacks.create_web_callback(conn, campaign_id=c.id, phone="+33612340301", name="")
        assert err.value.field == "name"
        assert await callbacks.revoke_web_token(conn, "shop-site")
        assert await callbacks.web_token_by_token(conn, token) is None
        assert not await callbacks.revoke_web_token(conn, "shop-site")


# ------------------------------------------------------------------ claims


async def test_two_concurrent_claimers_never_get_the_same_callback(database_url: str) -> None:
    async with connect(database_url) as setup:
        c = await _campaign(setup)
        made = [(await _due(setup, c)).id for _ in range(30)]

    async def claimer(owner: str) -> list[int]:
        got: list[int] = []
        async with connect(database_url) as conn:
            while True:
                claim = await callbacks.claim_due_callbacks(conn, owner=owner, limit=3,
                                                            lease=LEASE, now=NOON)
                if not claim.claimed:
                    return got
                got.extend(d.id for d in claim.claimed)
                await asyncio.sleep(0)

    a, b = await asyncio.gather(claimer("inst-a"), claimer("inst-b"))
    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(made)
    async with connect(database_url) as conn:
        rows = await fetch_all(conn, "SELECT id, lease_owner FROM callbacks")
        assert {r["id"] for r in rows if r["lease_owner"] == "inst-a"} == set(a)
        assert {r["id"] for r in rows if r["lease_owner"] == "inst-b"} == set(b)
        # a lease blocks the others until it expires
        again = await callbacks.claim_due_callbacks(conn, owner="inst-c", limit=50, lease=LEASE,
                                                    now=NOON + timedelta(seconds=30))
        assert again.claimed == []
        later = await callbacks.claim_due_callbacks(conn, owner="inst-c", limit=50, lease=LEASE,
                                                    now=NOON + timedelta(seconds=61))
        assert len(later.claimed) == 30


async def test_claim_makes_a_callback_only_target_the_list_never_dials(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        cb = await _due(conn, c, name="Alan Turing")
        # a list contact with an open callback is left to the callback too
        kid, (tid,) = await add_contact(conn, c.id)
        listed = await _due(conn, c, start=NOON + timedelta(hours=3))
        await execute(conn, "UPDATE callbacks SET contact_id = %s, target_id = %s WHERE id = %s",
                      (kid, tid, listed.id))
        (due,) = (await callbacks.claim_due_callbacks(conn, owner="a", limit=5, lease=LEASE,
                                                      now=NOON)).claimed
        assert due.id == cb.id
        t = await fetch_one(conn, "SELECT t.*, k.first_name, k.external_id FROM targets t"
                                  " JOIN contacts k ON k.id = t.contact_id WHERE t.id = %s",
                            (due.target_id,))
        assert t is not None and t["callback_only"] and t["e164"] == cb.e164
        assert t["first_name"] == "Alan Turing" and t["external_id"] == f"callback-{cb.id}"
        assert t["candidate_time_zones"] == ["Europe/Paris"]
        await claims.release_leases(conn, "a")
        res = await claims.claim_targets(conn, c.id, owner="list", limit=50, now=NOON)
        assert res.claimed == [], "neither the callback's target nor the contact with a callback"


async def test_rules_hold_a_callback_back_with_the_reason_visible(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        dnc = await _due(conn, c)
        # booked first, put on the do-not-call list after
        await execute(conn, "INSERT INTO dnc_entries (e164, source) VALUES (%s, 'opt-out')", (dnc.e164,))
        late = await _campaign(conn, "Night", window_start="20:00", window_end="21:00")
        window = await _due(conn, late, hours=6)
        paused = await _campaign(conn, "Paused")
        await campaigns.transition_campaign(conn, paused.id, "pause")
        stopped = await _due(conn, paused)
        claim = await callbacks.claim_due_callbacks(conn, owner="a", limit=10, lease=LEASE, now=NOON)
        assert claim.claimed == []
        why = {w.id: w for w in claim.waiting}
        assert why[dnc.id].reason == "DNC"
        assert why[window.id].reason == "Outside calling window"
        assert why[window.id].next_try_at == datetime(2025, 3, 12, 19, 0, tzinfo=UTC)
        assert why[stopped.id].reason == "Campaign not running"
        for w in claim.waiting:
            row = await _row(conn, w.id)
            assert row["waiting_reason"] == w.reason and row["lease_owner"] is None
            assert row["next_try_at"] == w.next_try_at
        # not looked at again before next_try_at; then dialable in its window
        assert (await callbacks.claim_due_callbacks(conn, owner="a", limit=10, lease=LEASE,
                                                    now=NOON + timedelta(seconds=2))).waiting == []
        at_eight = datetime(2025, 3, 12, 19, 0, 1, tzinfo=UTC)  # 20:00 in Paris
        (due,) = (await callbacks.claim_due_callbacks(conn, owner="a", limit=10, lease=LEASE,
                                                      campaign_ids=[late.id], now=at_eight)).claimed
        assert due.id == window.id


# ------------------------------------------------------------------ write-ahead and settle


async def _write_ahead(conn: AsyncConn, due: callbacks.DueCallback, owner: str = "a",
                       **kw: Any) -> AttemptTicket | AttemptRefusal:
    return await claims.write_ahead_attempt(conn, due.target_id, owner=owner, mode="callback",
                                            require_lease=False, callback_id=due.id, now=NOON, **kw)


async def test_write_ahead_links_the_callback_and_needs_its_lease(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        cb = await _due(conn, c)
        (due,) = (await callbacks.claim_due_callbacks(conn, owner="a", limit=1, lease=LEASE,
                                                      now=NOON)).claimed
        refused = await _write_ahead(conn, due, owner="b")
        assert isinstance(refused, AttemptRefusal) and refused.reason is RefusalReason.LEASE_LOST
        ticket = await _write_ahead(conn, due)
        assert isinstance(ticket, AttemptTicket)
        att = await fetch_one(conn, "SELECT callback_id, mode FROM attempts WHERE id = %s",
                              (ticket.attempt_id,))
        assert att == {"callback_id": cb.id, "mode": "callback"}
        row = await _row(conn, cb.id)
        assert row["status"] == "dialing" and row["attempt_id"] == ticket.attempt_id
        assert row["lease_owner"] is None
        created = await fetch_one(conn, "SELECT data FROM attempt_events WHERE attempt_id = %s"
                                        " AND kind = 'created'", (ticket.attempt_id,))
        assert created is not None and created["data"]["callback_id"] == cb.id
        # a second write-ahead for it: no longer leased (dialing)
        again = await _write_ahead(conn, due)
        assert isinstance(again, AttemptRefusal) and again.reason is RefusalReason.LEASE_LOST


async def _dial_and_end(conn: AsyncConn, owner: str, outcome: str, at: datetime) -> uuid.UUID:
    claim = await callbacks.claim_due_callbacks(conn, owner=owner, limit=1, lease=LEASE, now=at)
    (due,) = claim.claimed
    ticket = await claims.write_ahead_attempt(conn, due.target_id, owner=owner, mode="callback",
                                              require_lease=False, callback_id=due.id, now=at)
    assert isinstance(ticket, AttemptTicket), ticket
    await attempts.end_attempt(conn, ticket.attempt_id, outcome=outcome, at=at + timedelta(seconds=30))
    return ticket.attempt_id


async def test_no_answer_then_answer_on_the_second_attempt(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn, callback_retry_delay="5m", cadence={"no_answer": 60})
        cb = await _due(conn, c)
        await _dial_and_end(conn, "a", "no_answer", NOON)
        (s,) = await callbacks.settle_callbacks(conn)
        assert (s.status, s.attempts_made) == ("pending", 1)
        assert s.next_try_at == NOON + timedelta(seconds=30) + timedelta(minutes=5)
        row = await _row(conn, cb.id)
        assert row["status"] == "pending" and row["waiting_reason"].startswith("Next attempt after no answer")
        # not before the retry delay
        assert (await callbacks.claim_due_callbacks(conn, owner="a", limit=1, lease=LEASE,
                                                    now=NOON + timedelta(minutes=2))).claimed == []
        second = await _dial_and_end(conn, "a", "human", NOON + timedelta(minutes=6))
        (s,) = await callbacks.settle_callbacks(conn)
        assert (s.status, s.attempts_made, s.result) == ("done", 2, "answered")
        assert (await _row(conn, cb.id))["attempt_id"] == second
        rows = await fetch_all(conn, "SELECT outcome FROM attempts WHERE callback_id = %s"
                                     " ORDER BY created_at", (cb.id,))
        assert [r["outcome"] for r in rows] == ["no_answer", "human"]
        done = await fetch_one(conn, "SELECT details FROM audit_log WHERE action = 'callback.done'")
        assert done is not None and done["details"]["attempts"] == 2


async def test_an_answering_machine_counts_as_answered(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn, callback_retry_delay=0, cadence={"no_answer": 0})
        cb = await _due(conn, c)
        await _dial_and_end(conn, "a", "no_answer", NOON)
        await callbacks.settle_callbacks(conn)
        await _dial_and_end(conn, "a", "machine", NOON + timedelta(minutes=1))
        (s,) = await callbacks.settle_callbacks(conn)
        assert (s.status, s.attempts_made) == ("done", 2)
        assert s.result == "answered by an answering machine"
        # no third attempt: it is not due any more
        later = NOON + timedelta(minutes=2)
        assert (await callbacks.claim_due_callbacks(conn, owner="a", limit=5, lease=LEASE,
                                                    now=later)).claimed == []
        assert (await _row(conn, cb.id))["status"] == "done"


async def test_attempts_used_up_fail_and_an_unplaced_call_costs_none(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn, callback_attempts=2, callback_retry_delay=0,
                            cadence={"busy": 0, "not_dialed": 0})
        cb = await _due(conn, c)
        at = NOON
        for outcome in ("not_dialed", "busy", "busy"):
            await _dial_and_end(conn, "a", outcome, at)
            (s,) = await callbacks.settle_callbacks(conn)
            at += timedelta(minutes=1)
        row = await _row(conn, cb.id)
        assert (row["status"], row["attempts_made"], row["result"]) == ("failed", 2, "busy after 2 attempts")


async def test_missed_when_its_window_passed_saying_why(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        cb = await _due(conn, c)
        await execute(conn, "INSERT INTO dnc_entries (e164, source) VALUES (%s, 'opt-out')", (cb.e164,))
        await callbacks.claim_due_callbacks(conn, owner="a", limit=1, lease=LEASE, now=NOON)
        assert await callbacks.mark_missed(conn, now=NOON + timedelta(hours=1)) == []
        assert await callbacks.mark_missed(conn, now=cb.window_end) == [cb.id]
        row = await _row(conn, cb.id)
        assert row["status"] == "missed" and row["result"] == "missed: DNC"
        audit = await fetch_one(conn, "SELECT details FROM audit_log WHERE action = 'callback.missed'")
        assert audit is not None and audit["details"]["result"] == "missed: DNC"


async def test_an_offer_whose_instance_died_is_pending_again(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _campaign(conn)
        cb = await _due(conn, c)
        await callbacks.claim_due_callbacks(conn, owner="a", limit=1, lease=LEASE, now=NOON)
        target = await callbacks.lease_callback_target(conn, cb.id, owner="a", lease=LEASE, now=NOON)
        assert isinstance(target, claims.ClaimedTarget) and target.lease_owner == "a"
        assert (await _row(conn, cb.id))["status"] == "offered"
        assert await callbacks.recover_offers(conn, now=NOON + timedelta(seconds=30)) == 0
        assert await callbacks.recover_offers(conn, now=NOON + timedelta(seconds=61)) == 1
        row = await _row(conn, cb.id)
        assert row["status"] == "pending" and row["lease_owner"] is None
        # a preview closed by the agent's Remove ends it; a Skip puts it back
        await callbacks.claim_due_callbacks(conn, owner="a", limit=1, lease=LEASE,
                                            now=NOON + timedelta(minutes=2))
        await callbacks.lease_callback_target(conn, cb.id, owner="a", lease=LEASE,
                                              now=NOON + timedelta(minutes=2))
        assert await callbacks.offer_closed(conn, cb.id, "b", "remove") is None  # not b's
        assert await callbacks.offer_closed(conn, cb.id, "a", "skip") == "pending"
        await callbacks.claim_due_callbacks(conn, owner="a", limit=1, lease=LEASE,
                                            now=NOON + timedelta(minutes=3))
        await callbacks.lease_callback_target(conn, cb.id, owner="a", lease=LEASE,
                                              now=NOON + timedelta(minutes=3))
        assert await callbacks.offer_closed(conn, cb.id, "a", "remove") == "failed"
        assert (await _row(conn, cb.id))["result"] == "removed by the agent"
