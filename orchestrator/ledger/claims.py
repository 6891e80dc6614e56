"""Claiming targets to dial, and the write-ahead attempt.

Several orchestrator instances share one database without double dialing:

1. `claim_targets` picks dialable targets of a running campaign with
   `SELECT ... FOR UPDATE OF t, k SKIP LOCKED` and puts a lease on each (lease_owner =
   the instance id, lease_expires_at = now + lease). A target leased by someone else,
   whose lease has not expired, is never returned. The SQL pre-filters everything the
   database knows (status, permanent reasons, attempt caps, contact complete/expired,
   available_from, live or undispositioned attempts, DNC, abandon lock, minimum gap);
   `rules.evaluate` then decides the calling window in Python. Targets it rejects get its
   `unavailable_reason` and `available_from = next_dialable_at` and are not leased.
   At most one target per contact is leased at a time.
2. Just before originating, `write_ahead_attempt` re-checks in ONE transaction (target and
   contact rows locked, lease still ours, campaign running, rules again, call caps) and
   INSERTs the attempt (its uuid is the future ARI channelId) plus an attempt_events row
   'created'. The database itself refuses a DNC number (trigger), a second live attempt
   for a number (unique index) and attempts above max (CHECK via the counting trigger);
   those errors come back as typed refusals. Only after this commits does the caller
   originate. The lease is cleared: from here the attempt itself, which stays
   undispositioned until its outcome is settled, keeps the contact from being claimed.

Leases are a liveness device, not a safety one: safety comes from the row locks and the
constraints at write-ahead. An instance renews its leases while it holds targets (preview
on screen, waiting for an agent) and releases them when it gives up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from orchestrator.core.rules import (
    PERMANENT_REASONS,
    DialingPolicy,
    OutcomeClass,
    TargetFacts,
    UnavailableReason,
    Verdict,
    evaluate,
)
from orchestrator.ledger.attempts import next_attempt_number
from orchestrator.ledger.campaigns import (
    Campaign,
    CampaignNotFound,
    get_campaign,
    load_dialing_policy,
)
from orchestrator.ledger.pool import AsyncConn, db_now, execute, fetch_all, fetch_one

DEFAULT_LEASE = timedelta(seconds=60)
RECHECK_UNKNOWN = timedelta(hours=1)
"""When rules give a time reason but no next instant (unknown zone, nothing opens within the
horizon), the target is looked at again after this long instead of on every claim."""

# pg_advisory_xact_lock(classid, objid) keys serialising the call-cap checks.
_CAP_LOCK_CLASS = 0x0D1A
_SYSTEM_CAP_OBJ = 0  # campaign ids start at 1
TIME_REASONS = ("Not in cadence", "Outside calling window")


@dataclass(frozen=True)
class ClaimedTarget:
    """A target leased to this instance, with what the dialer and a preview screen need."""

    target_id: int
    contact_id: int
    campaign_id: int
    position: int
    description: str
    e164: str
    attempts_made: int
    max_attempts: int
    amd_count: int
    contact_attempts_made: int
    external_id: str | None
    first_name: str | None
    last_name: str | None
    postal_code: str | None
    time_zone: str | None
    custom_fields: dict[str, Any]
    lease_owner: str
    lease_expires_at: datetime
    time_zones: tuple[str, ...] = ()
    """Zones the calling window was checked in."""


@dataclass(frozen=True)
class Rejection:
    """A candidate the rules refused at claim time (stored on the target)."""

    target_id: int
    reason: UnavailableReason
    next_dialable_at: datetime | None
    detail: str


@dataclass(frozen=True)
class ClaimResult:
    claimed: list[ClaimedTarget] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class RefusalReason(StrEnum):
    """Why write_ahead_attempt did not write an attempt."""

    NOT_FOUND = "target not found"
    LEASE_LOST = "lease lost"
    """The target is not leased to this owner (expired and maybe claimed by another)."""
    CAMPAIGN_NOT_RUNNING = "campaign not running"
    CONTACT_BUSY = "contact has an attempt in progress"
    """Another target of the contact has a live or undispositioned attempt."""
    RULES = "rules"
    """rules.evaluate refused; see AttemptRefusal.unavailable_reason."""
    DNC = "DNC"
    LIVE_ATTEMPT = "live attempt for number"
    EXHAUSTED = "Exhausted"
    CAMPAIGN_CALL_CAP = "campaign call cap"
    SYSTEM_CALL_CAP = "system call cap"
    DUPLICATE_ID = "attempt id already used"


TRANSIENT_REFUSALS = frozenset(
    {RefusalReason.CAMPAIGN_CALL_CAP, RefusalReason.SYSTEM_CALL_CAP, RefusalReason.CONTACT_BUSY}
)
"""Refusals after which the caller keeps its lease and may try again shortly."""


@dataclass(frozen=True)
class AttemptRefusal:
    """No attempt was written; nothing may be originated."""

    reason: RefusalReason
    detail: str = ""
    unavailable_reason: UnavailableReason | None = None
    """The target's reason when the refusal made it unavailable (RULES, DNC, EXHAUSTED)."""
    next_dialable_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return False


@dataclass(frozen=True)
class AttemptTicket:
    """A committed attempt: originate it now with channelId = str(attempt_id)."""

    attempt_id: uuid.UUID
    attempt_number: int
    """Per contact: shown as "Attempt N (description)"."""
    campaign_id: int
    contact_id: int
    target_id: int
    description: str
    e164: str
    mode: str
    agent_id: int | None
    owner: str
    created_at: datetime
    caller_id: str | None
    no_answer_timeout_s: int
    amd_policy: str

    @property
    def ok(self) -> bool:
        return True

    @property
    def channel_id(self) -> str:
        return str(self.attempt_id)


# ------------------------------------------------------------------ facts


def target_facts(row: Mapping[str, Any], *, for_write_ahead: bool = False) -> TargetFacts:
    """rules.TargetFacts from a row of the claim queries.

    For write-ahead, DNC and the per-target attempt cap are left to the database (trigger and
    CHECK) so that their refusal is the database's own, whatever races happened before.
    """
    reason = row["unavailable_reason"]
    available_from = row["available_from"]
    lock = row["abandon_locked_until"]
    # The abandon lock is stored as its end instant; it acts like available_from.
    if lock is not None and (available_from is None or lock > available_from):
        available_from = lock
    cls = row["last_outcome_class"]
    return TargetFacts(
        e164=row["e164"],
        contact_time_zone=row["time_zone"],
        number_time_zones=tuple(row["candidate_time_zones"]) or None,
        invalid=reason == UnavailableReason.INVALID_TARGET.value,
        attempts_made=row["attempts_made"],
        max_attempts=None if for_write_ahead else row["max_attempts"],
        contact_attempts_made=row["contact_attempts_made"],
        contact_complete=row["contact_complete"],
        target_complete=reason == UnavailableReason.COMPLETE.value,
        last_outcome=row["last_outcome"],
        last_outcome_class=OutcomeClass(cls) if cls else None,
        last_attempt_at=row["last_attempt_at"],
        amd_count=row["amd_count"],
        available_from=available_from,
        offered_rejected=reason == UnavailableReason.OFFERED.value,
        on_dnc=False if for_write_ahead else bool(row["on_dnc"]),
        last_call_at_any_campaign=row["last_call_at"],
        last_abandoned_at=None,
        contact_expires_at=row["contact_expires_at"],
    )


_FACT_COLUMNS = """
       t.id AS target_id, t.contact_id, t.campaign_id, t.position, t.description, t.e164,
       t.candidate_time_zones, t.attempts_made, t.max_attempts, t.amd_count, t.available_from,
       t.last_attempt_at, t.last_outcome, t.last_outcome_class, t.unavailable_reason,
       t.lease_owner, t.lease_expires_at,
       k.external_id, k.first_name, k.last_name, k.postal_code, k.time_zone, k.custom_fields,
       k.expires_at AS contact_expires_at, k.complete AS contact_complete,
       k.attempts_made AS contact_attempts_made,
       p.last_call_at, p.abandon_locked_until,
       EXISTS (SELECT 1 FROM dnc_entries d
                WHERE d.e164 = t.e164 AND (d.campaign_id IS NULL OR d.campaign_id = t.campaign_id)
                  AND (d.expires_at IS NULL OR d.expires_at > %(now)s)) AS on_dnc
"""

_CLAIM_SQL = (
    "SELECT" + _FACT_COLUMNS + """
  FROM targets t
  JOIN campaigns c ON c.id = t.campaign_id
  JOIN contacts k ON k.id = t.contact_id
  LEFT JOIN phone_numbers p ON p.e164 = t.e164
 WHERE t.campaign_id = %(campaign_id)s
   AND c.status = 'running'
   AND (t.unavailable_reason IS NULL OR t.unavailable_reason IN ('Not in cadence', 'Outside calling window'))
   AND t.attempts_made < t.max_attempts
   AND t.amd_count < c.max_amd_per_target
   AND (c.max_attempts_per_contact IS NULL OR k.attempts_made < c.max_attempts_per_contact)
   AND NOT k.complete
   AND (k.expires_at IS NULL OR k.expires_at > %(now)s)
   AND (t.available_from IS NULL OR t.available_from <= %(now)s)
   AND (t.lease_expires_at IS NULL OR t.lease_expires_at <= %(now)s)
   AND (p.abandon_locked_until IS NULL OR p.abandon_locked_until <= %(now)s)
   AND (p.last_call_at IS NULL OR p.last_call_at + c.min_gap <= %(now)s)
   AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.e164 = t.e164 AND a.ended_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.contact_id = t.contact_id AND a.dispositioned_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM targets o WHERE o.contact_id = t.contact_id AND o.id <> t.id
                      AND o.lease_expires_at > %(now)s)
   AND NOT EXISTS (SELECT 1 FROM dnc_entries d
                    WHERE d.e164 = t.e164 AND (d.campaign_id IS NULL OR d.campaign_id = t.campaign_id)
                      AND (d.expires_at IS NULL OR d.expires_at > %(now)s))
 ORDER BY t.available_from NULLS FIRST, t.id
 LIMIT %(scan)s
 FOR UPDATE OF t, k SKIP LOCKED"""
)


async def _store_verdict(conn: AsyncConn, target_id: int, verdict: Verdict, now: datetime) -> None:
    """Record why a target is not dialable, and release any lease on it."""
    assert verdict.reason is not None
    if verdict.reason in PERMANENT_REASONS:
        await execute(
            conn,
            "UPDATE targets SET unavailable_reason = %s, lease_owner = NULL, lease_expires_at = NULL"
            " WHERE id = %s",
            (verdict.reason.value, target_id),
        )
    else:
        nxt = verdict.next_dialable_at or now + RECHECK_UNKNOWN
        await execute(
            conn,
            "UPDATE targets SET unavailable_reason = %s, available_from = %s,"
            " lease_owner = NULL, lease_expires_at = NULL WHERE id = %s",
            (verdict.reason.value, nxt, target_id),
        )


def _claimed(row: Mapping[str, Any], owner: str, expires: datetime, verdict: Verdict) -> ClaimedTarget:
    return ClaimedTarget(
        target_id=row["target_id"], contact_id=row["contact_id"], campaign_id=row["campaign_id"],
        position=row["position"], description=row["description"], e164=row["e164"],
        attempts_made=row["attempts_made"], max_attempts=row["max_attempts"],
        amd_count=row["amd_count"], contact_attempts_made=row["contact_attempts_made"],
        external_id=row["external_id"], first_name=row["first_name"], last_name=row["last_name"],
        postal_code=row["postal_code"], time_zone=row["time_zone"],
        custom_fields=dict(row["custom_fields"] or {}), lease_owner=owner, lease_expires_at=expires,
        time_zones=verdict.time_zones,
    )


async def claim_targets(
    conn: AsyncConn,
    campaign_id: int,
    *,
    owner: str,
    limit: int,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
    policy: DialingPolicy | None = None,
) -> ClaimResult:
    """Lease up to `limit` dialable targets of a running campaign to `owner`.

    Two owners calling this at once never get the same target (row locks + SKIP LOCKED,
    and the lease check is re-evaluated on the locked row). Targets the rules refuse come
    back in `rejected`, already marked in the ledger. `policy` defaults to the campaign's
    (pass it to save two queries per call when the caller caches it).
    """
    if limit < 1:
        return ClaimResult()
    async with conn.transaction():
        now = await db_now(conn, now)
        if policy is None:
            try:
                campaign = await get_campaign(conn, campaign_id)
            except CampaignNotFound:
                return ClaimResult()
            if campaign.status != "running":
                return ClaimResult()
            policy = await load_dialing_policy(conn, campaign)
        # Look at more rows than needed: some fail the window, some share a contact.
        scan = max(limit * 2, limit + 20)
        rows = await fetch_all(conn, _CLAIM_SQL, {"campaign_id": campaign_id, "now": now, "scan": scan})
        expires = now + lease
        claimed: list[ClaimedTarget] = []
        rejected: list[Rejection] = []
        contacts: set[int] = set()
        for row in rows:
            if len(claimed) >= limit:
                break
            if row["contact_id"] in contacts:
                continue
            verdict = evaluate(target_facts(row), policy, now)
            if not verdict.dialable:
                assert verdict.reason is not None
                await _store_verdict(conn, row["target_id"], verdict, now)
                rejected.append(Rejection(row["target_id"], verdict.reason, verdict.next_dialable_at,
                                          verdict.detail))
                continue
            contacts.add(row["contact_id"])
            claimed.append(_claimed(row, owner, expires, verdict))
        if claimed:
            await execute(
                conn,
                "UPDATE targets SET lease_owner = %s, lease_expires_at = %s, unavailable_reason = NULL"
                " WHERE id = ANY(%s)",
                (owner, expires, [c.target_id for c in claimed]),
            )
    return ClaimResult(claimed, rejected)


async def renew_leases(
    conn: AsyncConn,
    owner: str,
    target_ids: Sequence[int],
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
) -> list[int]:
    """Extend this owner's unexpired leases; returns the ids still held (others were lost)."""
    if not target_ids:
        return []
    rows = await fetch_all(
        conn,
        "UPDATE targets SET lease_expires_at = coalesce(%(now)s::timestamptz, now()) + %(lease)s"
        " WHERE id = ANY(%(ids)s) AND lease_owner = %(owner)s"
        "   AND lease_expires_at > coalesce(%(now)s::timestamptz, now())"
        " RETURNING id",
        {"now": now, "lease": lease, "ids": list(target_ids), "owner": owner},
    )
    return sorted(r["id"] for r in rows)


async def release_leases(
    conn: AsyncConn,
    owner: str,
    target_ids: Iterable[int] | None = None,
    *,
    available_from: datetime | None = None,
) -> int:
    """Give back this owner's leases (all of them when target_ids is None).

    `available_from` (e.g. now + the campaign's preview delay for a Delay action) is stored
    on the released targets when given. Returns the number released.
    """
    ids = None if target_ids is None else list(target_ids)
    return await execute(
        conn,
        "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL,"
        " available_from = coalesce(%(af)s, available_from),"
        " unavailable_reason = CASE WHEN %(af)s::timestamptz IS NULL THEN unavailable_reason"
        "                           ELSE 'Not in cadence' END"
        " WHERE lease_owner = %(owner)s AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))",
        {"owner": owner, "ids": ids, "af": available_from},
    )


async def expire_stale_leases(conn: AsyncConn, *, now: datetime | None = None) -> int:
    """Clear leases that have expired (housekeeping: claims already ignore them)."""
    return await execute(
        conn,
        "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL"
        " WHERE lease_owner IS NOT NULL AND lease_expires_at <= coalesce(%s::timestamptz, now())",
        (now,),
    )


async def mark_shown(conn: AsyncConn, target_id: int, owner: str, *, now: datetime | None = None) -> bool:
    """Record that a leased target was shown to an agent (preview): targets.last_shown_at."""
    n = await execute(
        conn,
        "UPDATE targets SET last_shown_at = coalesce(%s::timestamptz, now()) WHERE id = %s AND lease_owner = %s",
        (now, target_id, owner),
    )
    return n == 1


async def mark_offered_rejected(conn: AsyncConn, target_id: int, owner: str) -> bool:
    """An agent rejected the offered target (preview Remove): reason 'Offered', lease released."""
    n = await execute(
        conn,
        "UPDATE targets SET unavailable_reason = 'Offered', lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id = %s AND lease_owner = %s",
        (target_id, owner),
    )
    return n == 1


async def count_live_attempts(conn: AsyncConn, campaign_id: int | None = None) -> int:
    """Attempts not ended, for one campaign or system-wide."""
    row = await fetch_one(
        conn,
        "SELECT count(*) AS n FROM attempts WHERE ended_at IS NULL"
        " AND (%(cid)s::bigint IS NULL OR campaign_id = %(cid)s)",
        {"cid": campaign_id},
    )
    assert row is not None
    return int(row["n"])


# ------------------------------------------------------------------ write-ahead

_WRITE_AHEAD_SQL = (
    "SELECT" + _FACT_COLUMNS + """
  FROM targets t
  JOIN contacts k ON k.id = t.contact_id
  LEFT JOIN phone_numbers p ON p.e164 = t.e164
 WHERE t.id = %(target_id)s
 FOR UPDATE OF t, k"""
)


async def _refuse(
    conn: AsyncConn, target_id: int, reason: RefusalReason, detail: str,
    *, mark: UnavailableReason | None = None, release: bool = True,
) -> AttemptRefusal:
    if mark is not None:
        await execute(
            conn,
            "UPDATE targets SET unavailable_reason = %s, lease_owner = NULL, lease_expires_at = NULL WHERE id = %s",
            (mark.value, target_id),
        )
    elif release:
        await execute(
            conn, "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL WHERE id = %s", (target_id,)
        )
    return AttemptRefusal(reason, detail, mark)


async def write_ahead_attempt(
    conn: AsyncConn,
    target_id: int,
    *,
    owner: str,
    agent_id: int | None = None,
    mode: str | None = None,
    attempt_id: uuid.UUID | None = None,
    system_call_cap: int | None = None,
    require_lease: bool = True,
    now: datetime | None = None,
    campaign: Campaign | None = None,
    policy: DialingPolicy | None = None,
) -> AttemptTicket | AttemptRefusal:
    """Commit an attempt for a leased target, or say why not. Originate only on a ticket.

    Runs in its own transaction (pass an autocommit connection, not one inside a caller's
    transaction, or the attempt is not committed before the originate). Checks, in order:
    target exists; lease held by `owner` (unless require_lease=False, e.g. a callback the
    caller did not claim); campaign running; no other live/undispositioned attempt for the
    contact; rules.evaluate (window, cadence, abandon lock, minimum gap, completion,
    contact cap); the campaign's max_concurrent_calls and `system_call_cap` (live attempts
    counted under an advisory lock, so two instances cannot both take the last slot); then
    the INSERT, where the database refuses DNC, a live attempt for the number and attempts
    above max.

    On a refusal the lease is released, except for TRANSIENT_REFUSALS (caps, contact
    busy) where the caller keeps it and may retry. A rules/DNC/exhausted refusal stores
    the target's unavailable reason.
    """
    if conn.info.transaction_status != TransactionStatus.IDLE:
        # Inside a caller's transaction the attempt would not be committed before the
        # originate, and a crash could lose it: the write-ahead guarantee needs its own commit.
        raise RuntimeError("write_ahead_attempt must run outside a transaction (autocommit connection)")
    async with conn.transaction():
        now = await db_now(conn, now)
        row = await fetch_one(conn, _WRITE_AHEAD_SQL, {"target_id": target_id, "now": now})
        if row is None:
            return AttemptRefusal(RefusalReason.NOT_FOUND, f"no target {target_id}")
        if require_lease and (
            row["lease_owner"] != owner or row["lease_expires_at"] is None or row["lease_expires_at"] <= now
        ):
            # Not ours (any more): touch nothing, another owner may hold it now.
            return AttemptRefusal(RefusalReason.LEASE_LOST, "the lease expired or belongs to another owner")
        if campaign is None or campaign.id != row["campaign_id"]:
            campaign = await get_campaign(conn, int(row["campaign_id"]))
            policy = None
        status_row = await fetch_one(conn, "SELECT status FROM campaigns WHERE id = %s FOR SHARE", (campaign.id,))
        assert status_row is not None
        if status_row["status"] != "running":
            return await _refuse(conn, target_id, RefusalReason.CAMPAIGN_NOT_RUNNING,
                                 f"campaign is {status_row['status']}")
        busy = await fetch_one(
            conn,
            "SELECT id, ended_at FROM attempts WHERE contact_id = %s AND dispositioned_at IS NULL LIMIT 1",
            (row["contact_id"],),
        )
        if busy is not None:
            return await _refuse(conn, target_id, RefusalReason.CONTACT_BUSY,
                                 f"attempt {busy['id']} is not settled yet", release=False)
        if policy is None:
            policy = await load_dialing_policy(conn, campaign)
        verdict = evaluate(target_facts(row, for_write_ahead=True), policy, now)
        if not verdict.dialable:
            assert verdict.reason is not None
            await _store_verdict(conn, target_id, verdict, now)
            return AttemptRefusal(RefusalReason.RULES, verdict.detail, verdict.reason, verdict.next_dialable_at)

        if campaign.max_concurrent_calls is not None:
            await execute(conn, "SELECT pg_advisory_xact_lock(%s, %s)", (_CAP_LOCK_CLASS, campaign.id))
            live = await count_live_attempts(conn, campaign.id)
            if live >= campaign.max_concurrent_calls:
                return AttemptRefusal(RefusalReason.CAMPAIGN_CALL_CAP,
                                      f"{live} live calls, cap {campaign.max_concurrent_calls}")
        if system_call_cap is not None:
            await execute(conn, "SELECT pg_advisory_xact_lock(%s, %s)", (_CAP_LOCK_CLASS, _SYSTEM_CAP_OBJ))
            live = await count_live_attempts(conn)
            if live >= system_call_cap:
                return AttemptRefusal(RefusalReason.SYSTEM_CALL_CAP, f"{live} live calls, cap {system_call_cap}")

        aid = attempt_id or uuid.uuid4()
        number = await next_attempt_number(conn, row["contact_id"])
        mode = mode or campaign.mode
        try:
            async with conn.transaction():
                await execute(
                    conn,
                    "INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164,"
                    " mode, agent_id, owner, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    (aid, campaign.id, row["contact_id"], target_id, number, row["e164"], mode, agent_id,
                     owner, now),
                )
        except errors.CheckViolation as exc:
            cname = exc.diag.constraint_name
            if cname == "attempts_not_dnc":
                return await _refuse(conn, target_id, RefusalReason.DNC, "number is on a do-not-call list",
                                     mark=UnavailableReason.DNC)
            if cname == "targets_check":
                return await _refuse(conn, target_id, RefusalReason.EXHAUSTED,
                                     f"attempts {row['attempts_made']}/{row['max_attempts']}",
                                     mark=UnavailableReason.EXHAUSTED)
            raise
        except errors.UniqueViolation as exc:
            cname = exc.diag.constraint_name
            if cname == "attempts_one_live_per_number":
                return await _refuse(conn, target_id, RefusalReason.LIVE_ATTEMPT,
                                     "another attempt to this number is live")
            if cname == "attempts_pkey":
                return AttemptRefusal(RefusalReason.DUPLICATE_ID, f"attempt {aid} exists")
            raise
        await execute(
            conn,
            "INSERT INTO attempt_events (attempt_id, at, kind, data) VALUES (%s, %s, 'created', %s)",
            (aid, now, Jsonb({"owner": owner, "agent_id": agent_id, "mode": mode,
                                                  "attempt_number": number})),
        )
        await execute(
            conn,
            "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL, unavailable_reason = NULL"
            " WHERE id = %s",
            (target_id,),
        )
    return AttemptTicket(
        attempt_id=aid, attempt_number=number, campaign_id=campaign.id, contact_id=row["contact_id"],
        target_id=target_id, description=row["description"], e164=row["e164"], mode=mode,
        agent_id=agent_id, owner=owner, created_at=now, caller_id=campaign.caller_id,
        no_answer_timeout_s=campaign.no_answer_timeout_s, amd_policy=campaign.amd_policy,
    )
