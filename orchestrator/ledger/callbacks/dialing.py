"""Dialing callbacks: claim the due ones under a lease, lease a callback's target for a
preview, settle a callback from its attempt's outcome, mark the missed.

Several orchestrator instances share the callbacks as they share targets:

1. `claim_due_callbacks` picks pending callbacks whose window has started (and whose
   `next_try_at`, if any, has passed) with ``FOR UPDATE OF cb SKIP LOCKED`` and puts a
   lease on each (owner, expiry): two instances never get the same callback. Each gets
   a target to dial first (`ensure_target`: the previewed target, else one of its
   contact's with the callback's number, else a new contact and target made for the
   callback alone, ``callback_only``, which the campaign's list never dials). The rules
   are then checked on that target as for any claim (DNC, the calling window in the
   number's zones, attempt caps, cadence, the abandon lock, the minimum gap, a call in
   progress for the contact): a callback they refuse is not leased; its
   ``waiting_reason`` says why and ``next_try_at`` when to look again.
2. The dialer then finds it an agent and dials it through `write_ahead_attempt` with
   ``callback_id`` (the attempt row names the callback; the callback turns 'dialing' in
   the same transaction), or shows it in preview (`lease_callback_target`: 'offered').
3. `settle_callbacks` reads the outcome of each dialing callback's attempt once it has
   ended, whoever placed it (so a callback whose instance died is settled by another):
   answered (a person, an answering machine, a fax) -> done; an invalid number ->
   failed; else another attempt after the campaign's ``callback_retry_delay`` until
   ``max_attempts`` -> failed. A call never placed (the agent's phone failed) costs no
   attempt.
4. `mark_missed` ends a pending callback whose window passed, saying why it waited;
   `recover_offers` puts back a callback whose preview's instance stopped renewing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from orchestrator.core.phones import candidate_time_zones
from orchestrator.core.rules import DialingPolicy, evaluate
from orchestrator.ledger.campaigns import Campaign, get_campaign, load_dialing_policy
from orchestrator.ledger.claims import ClaimedTarget
from orchestrator.ledger.claims.facts import _FACT_COLUMNS, target_facts
from orchestrator.ledger.claims.leases import claimed_target
from orchestrator.ledger.pool import AsyncConn, audit, db_now, execute, fetch_all, fetch_one

RECHECK = timedelta(seconds=60)
"""A callback a rule holds with no known end (DNC, a cap) is looked at again after this."""
CAMPAIGN_RECHECK = timedelta(seconds=5)
BUSY_RECHECK = timedelta(seconds=5)

# What a callback waits for, in the product's words (besides the rules' own reasons:
# 'Outside calling window', 'DNC', 'Not in cadence', 'Exhausted', ...).
CAMPAIGN_NOT_RUNNING = "Campaign not running"
CONTACT_BUSY = "Contact has a call in progress"
NO_CAMPAIGN = "No campaign"

ANSWERED = {"human": "answered", "machine": "answered by an answering machine",
            "fax": "answered by a fax"}
"""Outcomes that end a callback: an answering machine counts as answered."""
_NOT_PLACED = "not_dialed"


@dataclass(frozen=True)
class DueCallback:
    """A callback leased to this instance, ready to be given an agent."""

    id: int
    kind: str
    campaign_id: int
    contact_id: int
    target_id: int
    e164: str
    name: str | None
    reason: str | None
    queue: str | None
    queue_position: int | None
    assigned_agent_id: int | None
    window_end: datetime
    attempts_made: int
    max_attempts: int
    lease_expires_at: datetime


@dataclass(frozen=True)
class Waiting:
    """A due callback the rules hold back (not leased)."""

    id: int
    reason: str
    next_try_at: datetime | None


@dataclass(frozen=True)
class CallbackClaim:
    claimed: list[DueCallback]
    waiting: list[Waiting]


_DUE_SQL = """
SELECT cb.*, c.status AS campaign_status
  FROM callbacks cb JOIN campaigns c ON c.id = cb.campaign_id
 WHERE cb.status = 'pending'
   AND cb.window_start <= %(now)s AND cb.window_end > %(now)s
   AND (cb.next_try_at IS NULL OR cb.next_try_at <= %(now)s OR cb.waiting_reason = ANY(%(retry)s))
   AND (cb.lease_expires_at IS NULL OR cb.lease_expires_at <= %(now)s)
   AND (%(cids)s::bigint[] IS NULL OR cb.campaign_id = ANY(%(cids)s))
 ORDER BY cb.window_start, cb.id
 LIMIT %(limit)s
 FOR UPDATE OF cb SKIP LOCKED"""

_TARGET_FACTS_SQL = (
    "SELECT" + _FACT_COLUMNS + """
  FROM targets t
  JOIN contacts k ON k.id = t.contact_id
  LEFT JOIN phone_numbers p ON p.e164 = t.e164
 WHERE t.id = %(target_id)s"""
)


async def claim_due_callbacks(
    conn: AsyncConn, *, owner: str, limit: int, lease: timedelta,
    campaign_ids: Sequence[int] | None = None, retry_waits: Sequence[str] = (),
    now: datetime | None = None,
) -> CallbackClaim:
    """Lease up to `limit` due callbacks the rules allow now (see the module doc).

    `retry_waits`: waiting reasons whose ``next_try_at`` is not waited for (an agent
    became Available: the callbacks that waited for an agent are looked at at once)."""
    claimed: list[DueCallback] = []
    waiting: list[Waiting] = []
    if limit < 1:
        return CallbackClaim(claimed, waiting)
    async with conn.transaction():
        now = await db_now(conn, now)
        rows = await fetch_all(conn, _DUE_SQL, {
            "now": now, "limit": limit, "retry": list(retry_waits),
            "cids": list(campaign_ids) if campaign_ids is not None else None})
        policies: dict[int, tuple[Campaign, DialingPolicy]] = {}
        for row in rows:
            held = await _hold_back(conn, row, policies, now)
            if held is not None:
                waiting.append(held)
                await _wait(conn, held)
                continue
            claimed.append(await _lease(conn, row, owner, now + lease))
    return CallbackClaim(claimed, waiting)


async def _hold_back(conn: AsyncConn, row: dict[str, Any],
                     policies: dict[int, tuple[Campaign, DialingPolicy]], now: datetime) -> Waiting | None:
    """Why the rules hold this callback back now (None: it may be dialed)."""
    cid = int(row["campaign_id"])
    if row["campaign_status"] != "running":
        return Waiting(row["id"], CAMPAIGN_NOT_RUNNING, now + CAMPAIGN_RECHECK)
    if cid not in policies:
        campaign = await get_campaign(conn, cid)
        policies[cid] = (campaign, await load_dialing_policy(conn, campaign))
    campaign, policy = policies[cid]
    row["target_id"] = await ensure_target(conn, row, campaign)
    facts = await fetch_one(conn, _TARGET_FACTS_SQL, {"target_id": row["target_id"], "now": now})
    assert facts is not None
    row["contact_id"] = facts["contact_id"]
    busy = await fetch_one(conn, "SELECT 1 FROM attempts WHERE contact_id = %s AND dispositioned_at"
                                 " IS NULL LIMIT 1", (facts["contact_id"],))
    if busy is not None:
        return Waiting(row["id"], CONTACT_BUSY, now + BUSY_RECHECK)
    verdict = evaluate(target_facts(facts), policy, now)
    if verdict.dialable:
        return None
    assert verdict.reason is not None
    return Waiting(row["id"], verdict.reason.value, verdict.next_dialable_at or now + RECHECK)


async def _wait(conn: AsyncConn, w: Waiting) -> None:
    await execute(
        conn,
        "UPDATE callbacks SET waiting_reason = %s, next_try_at = %s, lease_owner = NULL,"
        " lease_expires_at = NULL WHERE id = %s",
        (w.reason, w.next_try_at, w.id))


async def _lease(conn: AsyncConn, row: Mapping[str, Any], owner: str, expires: datetime) -> DueCallback:
    await execute(
        conn,
        "UPDATE callbacks SET lease_owner = %s, lease_expires_at = %s, next_try_at = NULL"
        " WHERE id = %s", (owner, expires, row["id"]))
    return DueCallback(
        id=row["id"], kind=row["kind"], campaign_id=row["campaign_id"], contact_id=row["contact_id"],
        target_id=row["target_id"], e164=row["e164"], name=row["name"], reason=row["reason"],
        queue=row["queue"], queue_position=row["queue_position"],
        assigned_agent_id=row["assigned_agent_id"], window_end=row["window_end"],
        attempts_made=row["attempts_made"], max_attempts=row["max_attempts"],
        lease_expires_at=expires)


async def ensure_target(conn: AsyncConn, row: Mapping[str, Any], campaign: Campaign) -> int:
    """The target a callback dials: the one it was made from when the number is still
    its number, else its contact's target with that number, else a new one (made for
    the callback alone; with a new contact named after the caller when it has none)."""
    e164 = row["e164"]
    if row["target_id"] is not None:
        t = await fetch_one(conn, "SELECT id FROM targets WHERE id = %s AND e164 = %s",
                            (row["target_id"], e164))
        if t is not None:
            return int(t["id"])
    contact_id = row["contact_id"]
    if contact_id is None:
        k = await fetch_one(
            conn,
            "INSERT INTO contacts (campaign_id, external_id, first_name, custom_fields)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (campaign.id, f"callback-{row['id']}", row["name"],
             Jsonb({"callback_id": row["id"], "callback_kind": row["kind"]})))
        assert k is not None
        contact_id = int(k["id"])
    else:
        t = await fetch_one(conn, "SELECT id FROM targets WHERE contact_id = %s AND e164 = %s"
                                  " ORDER BY position LIMIT 1", (contact_id, e164))
        if t is not None:
            await _link(conn, row["id"], contact_id, int(t["id"]))
            return int(t["id"])
    t = await fetch_one(
        conn,
        "INSERT INTO targets (contact_id, campaign_id, position, description, e164,"
        " candidate_time_zones, max_attempts, callback_only)"
        " SELECT %s, %s, coalesce(max(position), 0) + 1, 'Callback', %s, %s, %s, true"
        "   FROM targets WHERE contact_id = %s RETURNING id",
        (contact_id, campaign.id, e164, list(candidate_time_zones(e164)),
         campaign.max_attempts_per_target, contact_id))
    assert t is not None
    await _link(conn, row["id"], contact_id, int(t["id"]))
    return int(t["id"])


async def _link(conn: AsyncConn, callback_id: int, contact_id: int, target_id: int) -> None:
    await execute(conn, "UPDATE callbacks SET contact_id = %s, target_id = %s WHERE id = %s",
                  (contact_id, target_id, callback_id))


# ------------------------------------------------------------------ leases


async def renew_callback_leases(conn: AsyncConn, owner: str, ids: Sequence[int], *,
                                lease: timedelta, now: datetime | None = None) -> list[int]:
    """Extend this owner's leases (callbacks waiting for an agent, or shown in preview);
    returns the ids still held."""
    if not ids:
        return []
    rows = await fetch_all(
        conn,
        "UPDATE callbacks SET lease_expires_at = coalesce(%(now)s::timestamptz, now()) + %(lease)s"
        " WHERE id = ANY(%(ids)s) AND lease_owner = %(owner)s"
        "   AND status IN ('pending', 'offered') RETURNING id",
        {"now": now, "lease": lease, "ids": list(ids), "owner": owner})
    return sorted(int(r["id"]) for r in rows)


async def release_callback(conn: AsyncConn, callback_id: int, owner: str, *,
                           waiting_reason: str | None, next_try_at: datetime | None = None) -> bool:
    """Give a pending callback back (with why it waits, and when to look again)."""
    n = await execute(
        conn,
        "UPDATE callbacks SET lease_owner = NULL, lease_expires_at = NULL, waiting_reason = %s,"
        " next_try_at = %s WHERE id = %s AND lease_owner = %s AND status = 'pending'",
        (waiting_reason, next_try_at, callback_id, owner))
    return n == 1


async def release_callback_leases(conn: AsyncConn, owner: str) -> int:
    """Every lease of this owner back (shutdown); an offered callback is pending again."""
    return await execute(
        conn,
        "UPDATE callbacks SET lease_owner = NULL, lease_expires_at = NULL,"
        " status = CASE WHEN status = 'offered' THEN 'pending' ELSE status END"
        " WHERE lease_owner = %s AND status IN ('pending', 'offered')", (owner,))


async def note_waiting(conn: AsyncConn, callback_id: int, owner: str, reason: str | None) -> None:
    """Why a leased callback still waits (for its agent, for a free agent)."""
    await execute(conn, "UPDATE callbacks SET waiting_reason = %s WHERE id = %s AND lease_owner = %s",
                  (reason, callback_id, owner))


async def lease_callback_target(
    conn: AsyncConn, callback_id: int, *, owner: str, lease: timedelta,
    policy: DialingPolicy | None = None, now: datetime | None = None,
) -> ClaimedTarget | Waiting:
    """Preview: lease the callback's target to `owner` (the rules checked again) and mark
    the callback 'offered'; or say why not (the callback is then released)."""
    async with conn.transaction():
        now = await db_now(conn, now)
        cb = await fetch_one(conn, "SELECT * FROM callbacks WHERE id = %s FOR UPDATE", (callback_id,))
        if cb is None or cb["status"] != "pending" or cb["lease_owner"] != owner:
            return Waiting(callback_id, "lease lost", None)
        row = await fetch_one(conn, _TARGET_FACTS_SQL + " FOR UPDATE OF t, k",
                              {"target_id": cb["target_id"], "now": now})
        assert row is not None
        if policy is None:
            policy = await load_dialing_policy(conn, await get_campaign(conn, int(row["campaign_id"])))
        verdict = evaluate(target_facts(row), policy, now)
        lease_free = row["lease_owner"] in (None, owner) or (
            row["lease_expires_at"] is None or row["lease_expires_at"] <= now)
        if not verdict.dialable or not lease_free:
            w = Waiting(callback_id, verdict.reason.value if verdict.reason else CONTACT_BUSY,
                        verdict.next_dialable_at or now + (RECHECK if verdict.reason else BUSY_RECHECK))
            await _wait(conn, w)
            return w
        expires = now + lease
        await execute(conn, "UPDATE targets SET lease_owner = %s, lease_expires_at = %s WHERE id = %s",
                      (owner, expires, row["target_id"]))
        await execute(conn, "UPDATE callbacks SET status = 'offered', lease_expires_at = %s,"
                            " waiting_reason = NULL, updated_at = now() WHERE id = %s",
                      (expires, callback_id))
    return claimed_target(row, owner, expires, verdict)


_CLOSED_WITHOUT_CALL = {
    "disposition": ("done", "dispositioned by the agent without a call"),
    "reschedule": ("done", "rescheduled by the agent (a new callback)"),
    "remove": ("failed", "removed by the agent"),
}


async def offer_closed(conn: AsyncConn, callback_id: int, owner: str, closed_by: str) -> str | None:
    """A callback's preview closed without a call: the agent settled it (disposition,
    reschedule, remove), else it is pending again (skipped, requeued, delayed, the
    campaign stopped, the write-ahead refused). Returns its status (None: not ours)."""
    status, result = _CLOSED_WITHOUT_CALL.get(closed_by, ("pending", None))
    async with conn.transaction():
        n = await execute(
            conn,
            "UPDATE callbacks SET status = %s, result = %s, lease_owner = NULL,"
            " lease_expires_at = NULL, waiting_reason = %s, updated_at = now()"
            " WHERE id = %s AND status = 'offered' AND lease_owner = %s",
            (status, result, None if result else f"Preview closed ({closed_by})"[:200],
             callback_id, owner))
        if n == 0:
            return None
        if result is not None:
            await audit(conn, actor="system", action=f"callback.{status}", object_type="callback",
                        object_id=callback_id, details={"result": result})
    return status


# ------------------------------------------------------------------ settle


@dataclass(frozen=True)
class Settled:
    """A dialing callback whose attempt ended, and what became of it."""

    id: int
    campaign_id: int
    status: str
    """done, failed, or pending (another attempt later)."""
    outcome: str
    attempts_made: int
    result: str | None
    next_try_at: datetime | None


async def settle_callbacks(conn: AsyncConn, *, now: datetime | None = None) -> list[Settled]:
    """Every dialing callback whose attempt has ended: done, failed or tried again."""
    out: list[Settled] = []
    async with conn.transaction():
        now = await db_now(conn, now)
        rows = await fetch_all(
            conn,
            """SELECT cb.id, cb.campaign_id, cb.attempts_made, cb.max_attempts, a.outcome,
                      a.ended_at, c.callback_retry_delay
                 FROM callbacks cb JOIN attempts a ON a.id = cb.attempt_id
                 JOIN campaigns c ON c.id = cb.campaign_id
                WHERE cb.status = 'dialing' AND a.ended_at IS NOT NULL
                FOR UPDATE OF cb SKIP LOCKED""")
        for r in rows:
            settled = _settle(r)
            out.append(settled)
            await execute(
                conn,
                "UPDATE callbacks SET status = %s, attempts_made = %s, result = %s,"
                " next_try_at = %s, waiting_reason = %s, lease_owner = NULL,"
                " lease_expires_at = NULL, updated_at = now() WHERE id = %s",
                (settled.status, settled.attempts_made, settled.result, settled.next_try_at,
                 _retry_reason(settled), settled.id))
            if settled.status != "pending":
                await audit(conn, actor="system", action=f"callback.{settled.status}",
                            object_type="callback", object_id=settled.id,
                            details={"outcome": settled.outcome, "attempts": settled.attempts_made,
                                     "result": settled.result})
    return out


def _settle(r: Mapping[str, Any]) -> Settled:
    outcome = str(r["outcome"])
    made = int(r["attempts_made"])
    if outcome == _NOT_PLACED:  # the agent's leg failed: the customer was never called
        return Settled(r["id"], r["campaign_id"], "pending", outcome, made, None, None)
    made += 1
    if outcome in ANSWERED:
        return Settled(r["id"], r["campaign_id"], "done", outcome, made, ANSWERED[outcome], None)
    label = outcome.replace("_", " ")
    if outcome == "invalid_number":
        return Settled(r["id"], r["campaign_id"], "failed", outcome, made, "invalid number", None)
    if made >= int(r["max_attempts"]):
        return Settled(r["id"], r["campaign_id"], "failed", outcome, made,
                       f"{label} after {made} attempt{'s' if made > 1 else ''}", None)
    return Settled(r["id"], r["campaign_id"], "pending", outcome, made, None,
                   r["ended_at"] + r["callback_retry_delay"])


def _retry_reason(s: Settled) -> str | None:
    if s.status != "pending":
        return None
    if s.outcome == _NOT_PLACED:
        return "Agent phone not reached"
    return f"Next attempt after {s.outcome.replace('_', ' ')} ({s.attempts_made} made)"


# ------------------------------------------------------------------ missed, recovered


async def mark_missed(conn: AsyncConn, *, now: datetime | None = None) -> list[int]:
    """Pending callbacks whose window has passed: missed (never silently dropped; the
    result says what held it back). Returns their ids."""
    async with conn.transaction():
        now = await db_now(conn, now)
        rows = await fetch_all(
            conn,
            "UPDATE callbacks SET status = 'missed', lease_owner = NULL, lease_expires_at = NULL,"
            " result = left('missed: ' || coalesce(waiting_reason, 'not dialed in its window'), 200),"
            " updated_at = now()"
            " WHERE status = 'pending' AND window_end <= %s RETURNING id, kind, queue, result,"
            " attempts_made", (now,))
        for r in rows:
            await audit(conn, actor="system", action="callback.missed", object_type="callback",
                        object_id=r["id"], details={"kind": r["kind"], "queue": r["queue"],
                                                    "result": r["result"],
                                                    "attempts": r["attempts_made"]})
    return [int(r["id"]) for r in rows]


async def recover_offers(conn: AsyncConn, *, now: datetime | None = None) -> int:
    """Callbacks shown in a preview whose instance stopped renewing the lease (it died):
    pending again (the attempt, if the preview was accepted, made them 'dialing')."""
    return await execute(
        conn,
        "UPDATE callbacks SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL,"
        " updated_at = now() WHERE status = 'offered'"
        " AND (lease_expires_at IS NULL OR lease_expires_at <= coalesce(%s::timestamptz, now()))",
        (now,))


async def attempt_callback(conn: AsyncConn, attempt_id: uuid.UUID | str) -> int | None:
    """The callback an attempt was made for, if any."""
    row = await fetch_one(conn, "SELECT callback_id FROM attempts WHERE id = %s",
                          (uuid.UUID(str(attempt_id)),))
    return int(row["callback_id"]) if row and row["callback_id"] is not None else None


__all__ = [
    "ANSWERED", "CAMPAIGN_NOT_RUNNING", "CONTACT_BUSY", "CallbackClaim", "DueCallback", "Settled",
    "Waiting", "attempt_callback", "claim_due_callbacks", "ensure_target", "lease_callback_target",
    "mark_missed", "note_waiting", "offer_closed", "recover_offers", "release_callback",
    "release_callback_leases", "renew_callback_leases", "settle_callbacks",
]
