"""Claims, leases and the write-ahead attempt against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from orchestrator.core.rules import UnavailableReason
from orchestrator.ledger import attempts, campaigns, claims
from orchestrator.ledger.claims import AttemptRefusal, AttemptTicket, RefusalReason
from orchestrator.ledger.pool import AsyncConn, connect, execute, fetch_one
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON, add_contact, next_e164

pytestmark = pytest.mark.timeout(30)
# One shared, emptied-per-test database instead of one database per test (faster).
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database


async def _running(conn: AsyncConn, name: str = "Spring", **settings: object) -> campaigns.Campaign:
    c = await campaigns.create_campaign(conn, name, mode="progressive", **settings)
    return await campaigns.start_campaign(conn, c.id)


async def _target(conn: AsyncConn, target_id: int) -> dict:
    row = await fetch_one(conn, "SELECT * FROM targets WHERE id = %s", (target_id,))
    assert row is not None
    return row


async def test_two_concurrent_claimers_never_share_a_target(database_url: str) -> None:
    async with connect(database_url) as setup:
        c = await _running(setup)
        for _ in range(60):
            await add_contact(setup, c.id)

    async def claimer(owner: str) -> list[int]:
        got: list[int] = []
        async with connect(database_url) as conn:
            while True:
                res = await claims.claim_targets(conn, c.id, owner=owner, limit=3, now=NOON)
                if not res.claimed:
                    return got
                got.extend(t.target_id for t in res.claimed)
                await asyncio.sleep(0)

    a, b = await asyncio.gather(claimer("inst-a"), claimer("inst-b"))
    assert not set(a) & set(b)
    assert len(a) + len(b) == 60
    assert len(set(a)) == len(a) and len(set(b)) == len(b)
    async with connect(database_url) as conn:
        row = await fetch_one(conn, "SELECT count(*) FILTER (WHERE lease_owner = 'inst-a') AS a,"
                                    " count(*) FILTER (WHERE lease_owner = 'inst-b') AS b FROM targets")
        assert row == {"a": len(a), "b": len(b)}


async def test_lease_blocks_others_until_it_expires(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn)
        _, (tid,) = await add_contact(conn, c.id)
        first = await claims.claim_targets(conn, c.id, owner="a", limit=5, lease=timedelta(seconds=30), now=NOON)
        assert [t.target_id for t in first.claimed] == [tid]
        assert first.claimed[0].lease_expires_at == NOON + timedelta(seconds=30)
        assert (await claims.claim_targets(conn, c.id, owner="b", limit=5, now=NOON + timedelta(seconds=29))).claimed == []
        # Renewal keeps it; a lost lease cannot be renewed.
        assert await claims.renew_leases(conn, "a", [tid], lease=timedelta(seconds=30),
                                         now=NOON + timedelta(seconds=20)) == [tid]
        assert (await claims.claim_targets(conn, c.id, owner="b", limit=5, now=NOON + timedelta(seconds=45))).claimed == []
        later = NOON + timedelta(seconds=51)
        second = await claims.claim_targets(conn, c.id, owner="b", limit=5, now=later)
        assert [t.target_id for t in second.claimed] == [tid]
        assert await claims.renew_leases(conn, "a", [tid], now=later) == []
        # a's write-ahead is refused: the lease is b's now.
        refused = await claims.write_ahead_attempt(conn, tid, owner="a", now=later)
        assert isinstance(refused, AttemptRefusal) and refused.reason is RefusalReason.LEASE_LOST
        ticket = await claims.write_ahead_attempt(conn, tid, owner="b", now=later)
        assert isinstance(ticket, AttemptTicket)


async def test_release_and_expire_leases(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn)
        for _ in range(3):
            await add_contact(conn, c.id)
        res = await claims.claim_targets(conn, c.id, owner="a", limit=3, now=NOON)
        ids = [t.target_id for t in res.claimed]
        assert await claims.release_leases(conn, "a", ids[:1], available_from=NOON + timedelta(hours=1)) == 1
        t0 = await _target(conn, ids[0])
        assert t0["lease_owner"] is None and t0["unavailable_reason"] == "Not in cadence"
        assert await claims.expire_stale_leases(conn, now=NOON + timedelta(minutes=5)) == 2
        again = await claims.claim_targets(conn, c.id, owner="b", limit=5, now=NOON + timedelta(minutes=5))
        assert sorted(t.target_id for t in again.claimed) == sorted(ids[1:])


async def test_release_campaign_leases_frees_one_owners_leases_on_one_campaign(database_url: str) -> None:
    """What a dialing loop gives back after a tick that failed part-way: its own leases on
    its own campaign, not another owner's, not another campaign's."""
    async with connect(database_url) as conn:
        c = await _running(conn)
        other = await _running(conn, "Other")
        for _ in range(2):
            await add_contact(conn, c.id)
            await add_contact(conn, other.id)
        await add_contact(conn, c.id)
        mine = await claims.claim_targets(conn, c.id, owner="a", limit=2, now=NOON)
        theirs = await claims.claim_targets(conn, c.id, owner="b", limit=5, now=NOON)
        elsewhere = await claims.claim_targets(conn, other.id, owner="a", limit=5, now=NOON)
        assert len(mine.claimed) == 2 and len(theirs.claimed) == 1 and len(elsewhere.claimed) == 2
        assert await claims.release_campaign_leases(conn, "a", c.id) == 2
        for t in mine.claimed:
            assert (await _target(conn, t.target_id))["lease_owner"] is None
        assert (await _target(conn, theirs.claimed[0].target_id))["lease_owner"] == "b"
        for t in elsewhere.claimed:
            assert (await _target(conn, t.target_id))["lease_owner"] == "a"
        again = await claims.claim_targets(conn, c.id, owner="a", limit=5, now=NOON)
        assert sorted(t.target_id for t in again.claimed) == sorted(t.target_id for t in mine.claimed)


async def test_claim_prefilters_and_one_target_per_contact(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn)
        other = await _running(conn, "Other")
        _, (ok,) = await add_contact(conn, c.id)
        _, two = await add_contact(conn, c.id, numbers=[next_e164(), next_e164()])
        _, (dnc,) = await add_contact(conn, c.id)
        _, (done,) = await add_contact(conn, c.id)
        _, (locked,) = await add_contact(conn, c.id)
        _, (later,) = await add_contact(conn, c.id)
        shared = next_e164()
        _, (busy,) = await add_contact(conn, c.id, numbers=[shared])
        _, (elsewhere,) = await add_contact(conn, other.id, numbers=[shared])
        await execute(conn, "INSERT INTO dnc_entries (e164) SELECT e164 FROM targets WHERE id = %s", (dnc,))
        await execute(conn, "UPDATE contacts SET complete = true WHERE id = (SELECT contact_id FROM targets WHERE id = %s)", (done,))
        await execute(conn, "INSERT INTO phone_numbers (e164, abandon_locked_until) SELECT e164, %s FROM targets WHERE id = %s",
                      (NOON + timedelta(hours=1), locked))
        await execute(conn, "UPDATE targets SET available_from = %s WHERE id = %s", (NOON + timedelta(minutes=1), later))
        # A live attempt to the shared number from the other campaign.
        await claims.claim_targets(conn, other.id, owner="x", limit=1, now=NOON)
        assert isinstance(await claims.write_ahead_attempt(conn, elsewhere, owner="x", now=NOON), AttemptTicket)

        res = await claims.claim_targets(conn, c.id, owner="a", limit=50, now=NOON)
        got = {t.target_id for t in res.claimed}
        assert got == {ok, two[0]}, "second target of a contact, DNC, complete, locked, later, live number excluded"
        assert dnc not in got and busy not in got
        assert res.claimed[0].lease_owner == "a"


async def test_rules_reject_outside_window_and_store_next_time(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn)
        # 15:00 UTC is 10:00 in New York (in the window) but 00:00 in Tokyo (outside).
        _, (ny,) = await add_contact(conn, c.id, time_zone="America/New_York")
        _, (tokyo,) = await add_contact(conn, c.id, time_zone="Asia/Tokyo")
        _, (nowhere,) = await add_contact(conn, c.id, time_zone=None, numbers=["+80012345678"])
        res = await claims.claim_targets(conn, c.id, owner="a", limit=10, now=NOON)
        assert [t.target_id for t in res.claimed] == [ny]
        rej = {r.target_id: r for r in res.rejected}
        assert rej[tokyo].reason is UnavailableReason.OUTSIDE_CALLING_WINDOW
        # Tokyo opens at 09:00 JST = 00:00 UTC next day.
        assert rej[tokyo].next_dialable_at == NOON.replace(hour=0) + timedelta(days=1)
        t = await _target(conn, tokyo)
        assert t["unavailable_reason"] == "Outside calling window"
        assert t["available_from"] == rej[tokyo].next_dialable_at and t["lease_owner"] is None
        assert rej[nowhere].next_dialable_at is None
        assert (await _target(conn, nowhere))["available_from"] == NOON + claims.RECHECK_UNKNOWN
        # Not looked at again before its time; claimed once the window opens.
        assert (await claims.claim_targets(conn, c.id, owner="a", limit=10, now=NOON)).rejected == []
        res2 = await claims.claim_targets(conn, c.id, owner="b", limit=10, now=rej[tokyo].next_dialable_at)
        assert tokyo in {x.target_id for x in res2.claimed}
        assert (await _target(conn, tokyo))["unavailable_reason"] is None


async def test_paused_campaign_gives_nothing_and_refuses_write_ahead(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn)
        _, (tid,) = await add_contact(conn, c.id)
        res = await claims.claim_targets(conn, c.id, owner="a", limit=1, now=NOON)
        assert res.claimed
        await campaigns.pause_campaign(conn, c.id)
        refused = await claims.write_ahead_attempt(conn, tid, owner="a", now=NOON)
        assert isinstance(refused, AttemptRefusal) and refused.reason is RefusalReason.CAMPAIGN_NOT_RUNNING
        assert (await claims.claim_targets(conn, c.id, owner="a", limit=1, now=NOON)).claimed == []


async def test_write_ahead_commits_attempt_and_created_event(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn, caller_id="+14155550100")
        cid, (tid,) = await add_contact(conn, c.id)
        await claims.claim_targets(conn, c.id, owner="a", limit=1, now=NOON)
        aid = uuid.uuid4()
        ticket = await claims.write_ahead_attempt(conn, tid, owner="a", attempt_id=aid, now=NOON)
        assert isinstance(ticket, AttemptTicket)
        assert ticket.channel_id == str(aid) and ticket.attempt_number == 1 and ticket.contact_id == cid
        assert ticket.caller_id == "+14155550100" and ticket.mode == "progressive"
        row = await fetch_one(conn, "SELECT state, owner, created_at FROM attempts WHERE id = %s", (aid,))
        assert row == {"state": "pending", "owner": "a", "created_at": NOON}
        ev = await fetch_one(conn, "SELECT kind, data FROM attempt_events WHERE attempt_id = %s", (aid,))
        assert ev is not None and ev["kind"] == "created" and ev["data"]["owner"] == "a"
        t = await _target(conn, tid)
        assert t["attempts_made"] == 1 and t["lease_owner"] is None
        # The contact is busy until the attempt is settled: not claimable, not writable again.
        assert (await claims.claim_targets(conn, c.id, owner="a", limit=1, now=NOON)).claimed == []


async def test_write_ahead_refuses_dnc_from_the_database(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn)
        _, (tid,) = await add_contact(conn, c.id)
        await claims.claim_targets(conn, c.id, owner="a", limit=1, now=NOON)
        # The number goes on the campaign's DNC list after the claim.
        await execute(conn, "INSERT INTO dnc_entries (e164, campaign_id) SELECT e164, campaign_id FROM targets WHERE id = %s", (tid,))
        refused = await claims.write_ahead_attempt(conn, tid, owner="a", now=NOON)
        assert isinstance(refused, AttemptRefusal)
        assert refused.reason is RefusalReason.DNC and refused.unavailable_reason is UnavailableReason.DNC
        t = await _target(conn, tid)
        assert t["unavailable_reason"] == "DNC" and t["attempts_made"] == 0 and t["lease_owner"] is None
        assert (await fetch_one(conn, "SELECT count(*) AS n FROM attempts")) == {"n": 0}


async def test_write_ahead_refuses_second_live_attempt_for_a_number(database_url: str) -> None:
    async with connect(database_url) as conn:
        a = await _running(conn, "A")
        b = await _running(conn, "B")
        shared = next_e164()
        _, (ta,) = await add_contact(conn, a.id, numbers=[shared])
        _, (tb,) = await add_contact(conn, b.id, numbers=[shared])
        assert (await claims.claim_targets(conn, a.id, owner="x", limit=1, now=NOON)).claimed
        assert (await claims.claim_targets(conn, b.id, owner="y", limit=1, now=NOON)).claimed
        assert isinstance(await claims.write_ahead_attempt(conn, ta, owner="x", now=NOON), AttemptTicket)
        refused = await claims.write_ahead_attempt(conn, tb, owner="y", now=NOON)
        assert isinstance(refused, AttemptRefusal) and refused.reason is RefusalReason.LIVE_ATTEMPT
        assert (await _target(conn, tb))["attempts_made"] == 0


async def test_write_ahead_refuses_attempts_above_max(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn, cadence={"busy": 0})
        _, (tid,) = await add_contact(conn, c.id, max_attempts=1)
        await claims.claim_targets(conn, c.id, owner="a", limit=1, now=NOON)
        t1 = await claims.write_ahead_attempt(conn, tid, owner="a", now=NOON)
        assert isinstance(t1, AttemptTicket)
        await attempts.end_attempt(conn, t1.attempt_id, outcome="busy", at=NOON)
        assert (await _target(conn, tid))["unavailable_reason"] == "Exhausted"
        # Even if something puts the target back into play, the database refuses attempt 2.
        await execute(conn, "UPDATE targets SET unavailable_reason = NULL, available_from = NULL,"
                            " last_outcome = NULL, last_outcome_class = NULL,"
                            " lease_owner = 'a', lease_expires_at = %s WHERE id = %s",
                      (NOON + timedelta(hours=3), tid))
        # (Two hours on, past the default retry cadence the rules apply after any attempt.)
        refused = await claims.write_ahead_attempt(conn, tid, owner="a", now=NOON + timedelta(hours=2))
        assert isinstance(refused, AttemptRefusal)
        assert refused.reason is RefusalReason.EXHAUSTED, refused
        assert (await _target(conn, tid))["unavailable_reason"] == "Exhausted"


async def test_write_ahead_rechecks_rules(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn)
        _, (tid,) = await add_contact(conn, c.id)
        await claims.claim_targets(conn, c.id, owner="a", limit=1, lease=timedelta(hours=12), now=NOON)
        # By 22:00 UTC the window (09:00-21:00 UTC) has closed.
        refused = await claims.write_ahead_attempt(conn, tid, owner="a", now=NOON + timedelta(hours=7))
        assert isinstance(refused, AttemptRefusal) and refused.reason is RefusalReason.RULES
        assert refused.unavailable_reason is UnavailableReason.OUTSIDE_CALLING_WINDOW
        assert refused.next_dialable_at == NOON.replace(hour=9) + timedelta(days=1)


async def test_call_caps_give_reason_codes(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn, max_concurrent_calls=1)
        d = await _running(conn, "Uncapped")
        _, (t1,) = await add_contact(conn, c.id)
        _, (t2,) = await add_contact(conn, c.id)
        _, (t3,) = await add_contact(conn, d.id)
        await claims.claim_targets(conn, c.id, owner="a", limit=2, now=NOON)
        await claims.claim_targets(conn, d.id, owner="a", limit=1, now=NOON)
        assert isinstance(await claims.write_ahead_attempt(conn, t1, owner="a", now=NOON), AttemptTicket)
        capped = await claims.write_ahead_attempt(conn, t2, owner="a", now=NOON)
        assert isinstance(capped, AttemptRefusal) and capped.reason is RefusalReason.CAMPAIGN_CALL_CAP
        assert capped.reason.value == "campaign call cap"
        assert (await _target(conn, t2))["lease_owner"] == "a", "a transient refusal keeps the lease"
        sys_capped = await claims.write_ahead_attempt(conn, t3, owner="a", system_call_cap=1, now=NOON)
        assert isinstance(sys_capped, AttemptRefusal) and sys_capped.reason is RefusalReason.SYSTEM_CALL_CAP
        assert sys_capped.reason.value == "system call cap"
        assert isinstance(await claims.write_ahead_attempt(conn, t3, owner="a", system_call_cap=2, now=NOON),
                          AttemptTicket)


async def test_concurrent_write_aheads_respect_the_campaign_cap(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn, max_concurrent_calls=2)
        tids = []
        for _ in range(6):
            tids.append((await add_contact(conn, c.id))[1][0])
        await claims.claim_targets(conn, c.id, owner="a", limit=6, now=NOON)

    async def one(tid: int) -> object:
        async with connect(database_url) as conn:
            return await claims.write_ahead_attempt(conn, tid, owner="a", now=NOON)

    results = await asyncio.gather(*(one(t) for t in tids))
    assert sum(isinstance(r, AttemptTicket) for r in results) == 2
    assert all(r.reason is RefusalReason.CAMPAIGN_CALL_CAP for r in results if isinstance(r, AttemptRefusal))


async def test_write_ahead_refuses_to_run_inside_a_transaction(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await _running(conn)
        _, (tid,) = await add_contact(conn, c.id)
        await claims.claim_targets(conn, c.id, owner="a", limit=1, now=NOON)
        with pytest.raises(RuntimeError, match="outside a transaction"):
            async with conn.transaction():
                await claims.write_ahead_attempt(conn, tid, owner="a", now=NOON)
        assert isinstance(await claims.write_ahead_attempt(conn, tid, owner="a", now=NOON), AttemptTicket)
