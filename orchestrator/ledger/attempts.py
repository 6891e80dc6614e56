"""What happens to an attempt after its write-ahead: events, end, disposition, reconciliation.

History is append-only (attempt_events); the current state is mirrored on the attempts row.
Every function is idempotent: an event replayed after a reconnect is recorded once and
counted once (a unique index on (attempt_id, kind) for single-occurrence kinds, and on
(attempt_id, kind, data->>'key') for repeatable ones). The attempt row is locked FOR UPDATE
while an event is applied, so events for one attempt apply one at a time. A late event
never moves the state backwards (e.g. 'ringing' after 'answered').

Dispositions. A disposition names a wrap-up code; its outcome class decides the target:

- final_success: target 'Complete', the contact complete (its other targets 'Complete').
- final_failure: 'Last outcome not valid for calling' ('Invalid target' for an invalid number).
- dnc: a GLOBAL do-not-call entry (source 'disposition'). A customer who asks not to be
  called means no campaign may call that number, so the entry is not campaign-scoped;
  every target with the number gets 'DNC'.
- retry: available_from = the explicit retry time, else now + the policy's delay for the
  code (see campaigns.dialing_policy for the precedence), never before the number's abandon
  lock; reason 'Not in cadence'. Then, checked in the rules' order: attempts made reach the
  target's max (or the contact's max) -> 'Exhausted'; answering machines reach the
  campaign's max -> 'Max answering machine detections'.

Telephony outcomes nobody will disposition are dispositioned automatically when the
attempt ends (`end_attempt`): busy -> system code 'Busy', no_answer -> 'No answer',
machine (not passed to an agent) -> 'Answering machine detected', fax -> 'Fax'; the
others without a code (congestion, failed, invalid_number, abandoned, unknown,
not_dialed, cancelled_by_agent, human answered but never bridged) apply their class from
the policy to the target with the outcome's label; rejected_by_agent marks 'Offered'.
A human call bridged to an agent (or a machine passed to one) waits for the agent's
disposition (or the runtime's wrap-up timeout, which calls `record_disposition` with the
campaign's default code, or `auto_disposition`).

An abandoned call locks the number (phone_numbers.abandon_locked_until = time of abandon +
the campaign's abandon_lock) for every campaign.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from psycopg import errors
from psycopg.types.json import Jsonb

from orchestrator.core.rules import OutcomeClass, normalize_outcome
from orchestrator.ledger.campaigns import (
    OUTCOME_LABELS,
    WrapUpCode,
    find_wrapup_code,
    get_campaign,
    load_dialing_policy,
    system_wrapup_code,
)
from orchestrator.ledger.pool import AsyncConn, db_now, execute, fetch_all, fetch_one

OUTCOMES = tuple(OUTCOME_LABELS)
"""Values of attempts.outcome."""
STATES = ("pending", "dialing", "ringing", "answered", "bridged", "ended")
_RANK = {s: i for i, s in enumerate(STATES)}
ONCE_KINDS = frozenset(
    {"created", "originated", "ringing", "answered", "amd", "bridged", "abandoned", "ended", "dispositioned"}
)
"""Event kinds that happen at most once per attempt (see sql/002)."""

# Outcome -> system wrap-up code applied automatically when no agent will disposition.
AUTO_CODES = {
    "busy": "Busy",
    "congestion": "Congestion",
    "no_answer": "No answer",
    "machine": "Answering machine detected",
    "fax": "Fax",
}


class AttemptError(Exception):
    """Bad input for an attempt operation (names the field)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class AttemptNotFound(AttemptError):
    pass


@dataclass(frozen=True)
class Attempt:
    """The attempts row."""

    id: uuid.UUID
    campaign_id: int
    contact_id: int
    target_id: int
    attempt_number: int
    e164: str
    mode: str
    agent_id: int | None
    owner: str
    state: str
    outcome: str | None
    cause: int | None
    cause_txt: str | None
    amd_status: str | None
    wrapup_code_id: int | None
    disposition_note: str | None
    created_at: datetime
    originated_at: datetime | None
    answered_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    dispositioned_at: datetime | None

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class DispositionResult:
    """What a disposition did to the target."""

    attempt_id: uuid.UUID
    label: str
    """The wrap-up code's label, or the outcome's label for an automatic disposition."""
    outcome_class: OutcomeClass
    wrapup_code_id: int | None
    unavailable_reason: str | None
    """The target's reason afterwards (None = dialable now)."""
    available_from: datetime | None
    replayed: bool = False
    """True when the attempt was already dispositioned: nothing was changed."""


@dataclass(frozen=True)
class ReconcileResult:
    still_live: list[Attempt]
    """Attempts whose channel Asterisk still has (adopted by the caller when orphaned)."""
    finished: list[Attempt]
    """Attempts ended by reconciliation (outcome from the channel's fate, else 'unknown')."""
    presumed_abandoned: list[uuid.UUID] = field(default_factory=list)
    """Of those, the ones counted as abandons: they may have been answered unseen."""


def _attempt(row: Mapping[str, Any]) -> Attempt:
    return Attempt(**{k: row[k] for k in Attempt.__dataclass_fields__})


async def get_attempt(conn: AsyncConn, attempt_id: uuid.UUID | str) -> Attempt:
    row = await fetch_one(conn, "SELECT * FROM attempts WHERE id = %s", (_uuid(attempt_id),))
    if row is None:
        raise AttemptNotFound(f"no attempt {attempt_id}", "attempt_id")
    return _attempt(row)


def _uuid(v: uuid.UUID | str) -> uuid.UUID:
    if isinstance(v, uuid.UUID):
        return v
    try:
        return uuid.UUID(v)
    except (ValueError, TypeError):
        raise AttemptError(f"not an attempt id: {v!r}", "attempt_id") from None


async def _lock(conn: AsyncConn, attempt_id: uuid.UUID) -> dict[str, Any]:
    row = await fetch_one(conn, "SELECT * FROM attempts WHERE id = %s FOR UPDATE", (attempt_id,))
    if row is None:
        raise AttemptNotFound(f"no attempt {attempt_id}", "attempt_id")
    return row


async def _append(
    conn: AsyncConn, attempt_id: uuid.UUID, kind: str, at: datetime | None, data: Mapping[str, Any] | None
) -> bool:
    """Insert an event unless it is a replay. True if inserted."""
    row = await fetch_one(
        conn,
        "INSERT INTO attempt_events (attempt_id, at, kind, data)"
        " VALUES (%s, coalesce(%s::timestamptz, now()), %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING id",
        (attempt_id, at, kind, Jsonb(dict(data or {}))),
    )
    return row is not None


def _advance(current: str, to: str) -> str:
    return to if _RANK[to] > _RANK[current] else current


async def record_event(
    conn: AsyncConn,
    attempt_id: uuid.UUID | str,
    kind: str,
    *,
    at: datetime | None = None,
    data: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> bool:
    """Append a free-form event (hold, unhold, recording_paused, ...) to the history.

    Repeatable kinds are deduplicated by `key` when given (e.g. the ARI event timestamp);
    single-occurrence kinds (ONCE_KINDS) must go through their own functions. True if new.
    """
    if kind in ONCE_KINDS:
        raise AttemptError(f"{kind!r} has its own function", "kind")
    payload = dict(data or {})
    if key is not None:
        payload["key"] = key
    aid = _uuid(attempt_id)
    async with conn.transaction():
        await _lock(conn, aid)
        return await _append(conn, aid, kind, at, payload)


async def _set(conn: AsyncConn, attempt_id: uuid.UUID, **values: Any) -> None:
    cols = ", ".join(f"{k} = %({k})s" for k in values)  # names are ours, values parameterized
    await execute(conn, f"UPDATE attempts SET {cols} WHERE id = %(id)s", {**values, "id": attempt_id})


async def mark_originated(conn: AsyncConn, attempt_id: uuid.UUID | str, *, at: datetime | None = None) -> bool:
    """ARI accepted the originate (state dialing). True if new."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        if not await _append(conn, aid, "originated", at, None):
            return False
        at = await db_now(conn, at)
        await _set(conn, aid, state=_advance(row["state"], "dialing"), originated_at=row["originated_at"] or at)
        return True


async def mark_ringing(conn: AsyncConn, attempt_id: uuid.UUID | str, *, at: datetime | None = None) -> bool:
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        if not await _append(conn, aid, "ringing", at, None):
            return False
        await _set(conn, aid, state=_advance(row["state"], "ringing"))
        return True


async def mark_answered(conn: AsyncConn, attempt_id: uuid.UUID | str, *, at: datetime | None = None) -> bool:
    """The called party answered (before AMD says who)."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        if not await _append(conn, aid, "answered", at, None):
            return False
        at = await db_now(conn, at)
        await _set(conn, aid, state=_advance(row["state"], "answered"), answered_at=row["answered_at"] or at)
        return True


async def record_amd(
    conn: AsyncConn,
    attempt_id: uuid.UUID | str,
    status: str,
    *,
    cause: str | None = None,
    at: datetime | None = None,
) -> bool:
    """AMD result (AMDSTATUS: HUMAN, MACHINE, NOTSURE, HANGUP). MACHINE sets outcome 'machine'
    and counts one answering machine on the target (once, however often it is replayed)."""
    status = status.upper()
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        if not await _append(conn, aid, "amd", at, {"status": status, "cause": cause}):
            return False
        values: dict[str, Any] = {"amd_status": status}
        if status == "MACHINE":
            values["outcome"] = row["outcome"] or "machine"
            await execute(conn, "UPDATE targets SET amd_count = amd_count + 1 WHERE id = %s", (row["target_id"],))
        await _set(conn, aid, **values)
        return True


async def mark_bridged(
    conn: AsyncConn, attempt_id: uuid.UUID | str, agent_id: int, *, at: datetime | None = None
) -> bool:
    """The customer was connected to an agent: outcome 'human' unless already known (machine)."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        if not await _append(conn, aid, "bridged", at, {"agent_id": agent_id}):
            return False
        at = await db_now(conn, at)
        await _set(
            conn, aid, state=_advance(row["state"], "bridged"), connected_at=row["connected_at"] or at,
            agent_id=agent_id, outcome=row["outcome"] or "human", answered_at=row["answered_at"] or at,
        )
        return True


async def mark_abandoned(conn: AsyncConn, attempt_id: uuid.UUID | str, *, at: datetime | None = None) -> bool:
    """A live answer not connected to an agent in time: outcome 'abandoned', and the number is
    locked for the campaign's abandon_lock (72 h by default) in every campaign."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        if not await _append(conn, aid, "abandoned", at, None):
            return False
        at = await db_now(conn, at)
        await _set(conn, aid, outcome="abandoned", answered_at=row["answered_at"] or at)
        await execute(
            conn,
            """INSERT INTO phone_numbers (e164, abandon_locked_until)
               SELECT %(e164)s, %(at)s::timestamptz + c.abandon_lock FROM campaigns c WHERE c.id = %(cid)s
               ON CONFLICT (e164) DO UPDATE SET abandon_locked_until =
                   GREATEST(phone_numbers.abandon_locked_until, EXCLUDED.abandon_locked_until)""",
            {"e164": row["e164"], "at": at, "cid": row["campaign_id"]},
        )
        return True


def _needs_agent(outcome: str, agent_id: int | None) -> bool:
    """Whether an ended attempt waits for an agent's disposition."""
    return agent_id is not None and outcome in ("human", "machine")


async def end_attempt(
    conn: AsyncConn,
    attempt_id: uuid.UUID | str,
    *,
    outcome: str | None = None,
    cause: int | None = None,
    cause_txt: str | None = None,
    at: datetime | None = None,
    auto_disposition: bool | None = None,
) -> Attempt:
    """The call is over. The outcome already recorded (machine, abandoned, human when bridged)
    wins over `outcome`; with neither, 'human' if it was answered, else 'unknown'.

    `auto_disposition` None: disposition automatically unless an agent will (see module doc).
    A replay returns the attempt unchanged.
    """
    if outcome is not None and outcome not in OUTCOMES:
        raise AttemptError(f"must be one of {', '.join(OUTCOMES)}; got {outcome!r}", "outcome")
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        final = row["outcome"] or outcome or ("human" if row["answered_at"] else "unknown")
        if await _append(conn, aid, "ended", at, {"outcome": final, "cause": cause, "cause_txt": cause_txt}):
            at = await db_now(conn, at)
            # An answered outcome reported only at the end still counts as an answer in reports.
            answered = row["answered_at"] or (at if final in ("human", "machine", "fax", "abandoned") else None)
            await _set(conn, aid, state="ended", ended_at=row["ended_at"] or at, outcome=final,
                       cause=cause, cause_txt=cause_txt, answered_at=answered)
            auto = auto_disposition if auto_disposition is not None else not _needs_agent(final, row["agent_id"])
            if auto and row["dispositioned_at"] is None:
                await _auto(conn, aid, final, at)
        return await get_attempt(conn, aid)


async def _auto(conn: AsyncConn, aid: uuid.UUID, outcome: str, at: datetime) -> DispositionResult:
    if outcome in AUTO_CODES:
        code = await system_wrapup_code(conn, AUTO_CODES[outcome])
        return await _dispose(conn, aid, code=code, label=code.label, agent_id=None, note=None,
                              retry_at=None, now=at)
    return await _dispose(conn, aid, code=None, label=OUTCOME_LABELS[outcome], agent_id=None, note=None,
                          retry_at=None, now=at, telephony_outcome=outcome)


async def auto_disposition(
    conn: AsyncConn, attempt_id: uuid.UUID | str, *, now: datetime | None = None
) -> DispositionResult:
    """Disposition an ended attempt from its outcome alone (wrap-up expired with no default code,
    or reconciliation after a crash). Replays return the existing disposition."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        if row["dispositioned_at"] is not None:
            return await _existing(conn, row)
        now = await db_now(conn, now)
        return await _auto(conn, aid, row["outcome"] or "unknown", now)


async def record_disposition(
    conn: AsyncConn,
    attempt_id: uuid.UUID | str,
    code: int | str,
    *,
    agent_id: int | None = None,
    note: str | None = None,
    retry_at: datetime | None = None,
    now: datetime | None = None,
) -> DispositionResult:
    """An agent's (or the wrap-up timeout's) disposition: a wrap-up code of the campaign, by id
    or label. `retry_at` overrides the cadence for a retry code (e.g. "call back at 5 pm").
    The first disposition wins: a second call returns it with replayed=True, changing nothing.
    """
    if note is not None and len(note) > 2000:
        raise AttemptError("must be at most 2000 characters", "note")
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        wcode = await find_wrapup_code(conn, row["campaign_id"], code)
        if row["dispositioned_at"] is not None:
            return await _existing(conn, row)
        now = await db_now(conn, now)
        return await _dispose(conn, aid, code=wcode, label=wcode.label, agent_id=agent_id, note=note,
                              retry_at=retry_at, now=now)


async def _existing(conn: AsyncConn, row: Mapping[str, Any]) -> DispositionResult:
    t = await fetch_one(
        conn,
        "SELECT last_outcome, last_outcome_class, unavailable_reason, available_from FROM targets WHERE id = %s",
        (row["target_id"],),
    )
    assert t is not None
    ev = await fetch_one(
        conn, "SELECT data FROM attempt_events WHERE attempt_id = %s AND kind = 'dispositioned'", (row["id"],)
    )
    data = ev["data"] if ev else {}
    return DispositionResult(
        attempt_id=row["id"], label=data.get("label") or t["last_outcome"] or "",
        outcome_class=OutcomeClass(data.get("outcome_class") or t["last_outcome_class"] or "retry"),
        wrapup_code_id=row["wrapup_code_id"], unavailable_reason=t["unavailable_reason"],
        available_from=t["available_from"], replayed=True,
    )


async def _dispose(
    conn: AsyncConn,
    aid: uuid.UUID,
    *,
    code: WrapUpCode | None,
    label: str,
    agent_id: int | None,
    note: str | None,
    retry_at: datetime | None,
    now: datetime,
    telephony_outcome: str | None = None,
) -> DispositionResult:
    """Apply a disposition's effects; the attempt row is locked by the caller."""
    att = await fetch_one(conn, "SELECT * FROM attempts WHERE id = %s", (aid,))
    assert att is not None
    campaign = await get_campaign(conn, int(att["campaign_id"]))
    policy = await load_dialing_policy(conn, campaign)
    if code is not None:
        cls = OutcomeClass(code.outcome_class)
    else:
        cls = policy.classify(label) or OutcomeClass.RETRY
    t = await fetch_one(
        conn,
        """SELECT t.*, k.attempts_made AS contact_attempts_made, p.abandon_locked_until
             FROM targets t JOIN contacts k ON k.id = t.contact_id
             LEFT JOIN phone_numbers p ON p.e164 = t.e164
            WHERE t.id = %s FOR UPDATE OF t, k""",
        (att["target_id"],),
    )
    assert t is not None
    reason: str | None
    available_from: datetime | None = t["available_from"]
    contact_scope_reason: str | None = None
    if cls is OutcomeClass.FINAL_SUCCESS:
        reason = "Complete"
        await execute(conn, "UPDATE contacts SET complete = true WHERE id = %s", (t["contact_id"],))
        contact_scope_reason = "Complete"
    elif cls is OutcomeClass.FINAL_FAILURE:
        reason = "Invalid target" if telephony_outcome == "invalid_number" else "Last outcome not valid for calling"
    elif cls is OutcomeClass.DNC:
        reason = "DNC"
        await execute(
            conn,
            "INSERT INTO dnc_entries (e164, campaign_id, source, reason) VALUES (%s, NULL, 'disposition', %s)"
            " ON CONFLICT (e164, coalesce(campaign_id, 0)) DO NOTHING",
            (att["e164"], f"wrap-up {label!r} on attempt {aid}"[:250]),
        )
        await execute(
            conn,
            "UPDATE targets SET unavailable_reason = 'DNC', lease_owner = NULL, lease_expires_at = NULL"
            " WHERE e164 = %s AND id <> %s AND (unavailable_reason IS NULL"
            "   OR unavailable_reason IN ('Not in cadence', 'Outside calling window'))",
            (att["e164"], t["id"]),
        )
    elif telephony_outcome == "rejected_by_agent":
        reason = "Offered"
    else:
        delay_from = retry_at if retry_at is not None else now + policy.retry_delay(label)
        lock = t["abandon_locked_until"]
        available_from = max(delay_from, lock) if lock is not None else delay_from
        reason = "Not in cadence"
        cap = campaign.max_attempts_per_contact
        if t["attempts_made"] >= t["max_attempts"]:
            reason = "Exhausted"
        elif cap is not None and t["contact_attempts_made"] >= cap:
            reason = "Exhausted"
            contact_scope_reason = "Exhausted"
        elif t["amd_count"] >= campaign.max_amd_per_target:
            reason = "Max answering machine detections"
    await execute(
        conn,
        "UPDATE targets SET last_outcome = %s, last_outcome_class = %s, unavailable_reason = %s,"
        " available_from = %s, lease_owner = NULL, lease_expires_at = NULL WHERE id = %s",
        (label, cls.value, reason, available_from, t["id"]),
    )
    if contact_scope_reason is not None:
        await execute(
            conn,
            "UPDATE targets SET unavailable_reason = %s WHERE contact_id = %s AND id <> %s"
            " AND (unavailable_reason IS NULL OR unavailable_reason IN ('Not in cadence', 'Outside calling window'))",
            (contact_scope_reason, t["contact_id"], t["id"]),
        )
    await _set(
        conn, aid, wrapup_code_id=code.id if code else None, disposition_note=note, dispositioned_at=now,
        agent_id=att["agent_id"] or agent_id,
    )
    await _append(conn, aid, "dispositioned", now, {
        "label": label, "outcome_class": cls.value, "wrapup_code_id": code.id if code else None,
        "agent_id": agent_id, "automatic": code is None or agent_id is None,
    })
    return DispositionResult(
        attempt_id=aid, label=label, outcome_class=cls, wrapup_code_id=code.id if code else None,
        unavailable_reason=reason, available_from=available_from,
    )


async def disposition_without_dialing(
    conn: AsyncConn,
    target_id: int,
    code: int | str,
    *,
    owner: str,
    agent_id: int | None = None,
    note: str | None = None,
    retry_at: datetime | None = None,
    now: datetime | None = None,
) -> DispositionResult:
    """Preview "Disposition without dialing": the agent settles a target it was shown.

    The target must be leased to `owner`. It is recorded as an attempt with outcome
    'not_dialed' (ended at once, so the contact's history shows it) carrying the code's
    effects. The database still refuses a DNC number or attempts above max
    (AttemptError naming `target_id`); no calling-window check applies since nothing is dialed.
    """
    if note is not None and len(note) > 2000:
        raise AttemptError("must be at most 2000 characters", "note")
    async with conn.transaction():
        now = await db_now(conn, now)
        t = await fetch_one(
            conn,
            "SELECT t.*, k.attempts_made AS contact_attempts_made FROM targets t"
            " JOIN contacts k ON k.id = t.contact_id WHERE t.id = %s FOR UPDATE OF t, k",
            (target_id,),
        )
        if t is None:
            raise AttemptNotFound(f"no target {target_id}", "target_id")
        if t["lease_owner"] != owner or t["lease_expires_at"] is None or t["lease_expires_at"] <= now:
            raise AttemptError("the target is not leased to this instance (lease lost)", "target_id")
        wcode = await find_wrapup_code(conn, t["campaign_id"], code)
        aid = uuid.uuid4()
        try:
            async with conn.transaction():
                await execute(
                    conn,
                    "INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164, mode,"
                    " agent_id, owner, state, outcome, created_at, ended_at)"
                    " SELECT %s, t.campaign_id, t.contact_id, t.id, %s, t.e164, c.mode, %s, %s, 'ended',"
                    " 'not_dialed', %s, %s FROM targets t JOIN campaigns c ON c.id = t.campaign_id WHERE t.id = %s",
                    (aid, await next_attempt_number(conn, t["contact_id"]), agent_id, owner, now, now,
                     target_id),
                )
        except errors.CheckViolation as exc:
            what = "on a do-not-call list" if exc.diag.constraint_name == "attempts_not_dnc" else "out of attempts"
            raise AttemptError(f"the number is {what}", "target_id") from None
        except errors.UniqueViolation:
            raise AttemptError("a call to this number is live", "target_id") from None
        await _append(conn, aid, "created", now, {"owner": owner, "agent_id": agent_id, "not_dialed": True})
        await _append(conn, aid, "ended", now, {"outcome": "not_dialed"})
        return await _dispose(conn, aid, code=wcode, label=wcode.label, agent_id=agent_id, note=note,
                              retry_at=retry_at, now=now)


# ------------------------------------------------------------------ reconciliation


async def heartbeat(conn: AsyncConn, owner: str, *, now: datetime | None = None) -> None:
    """Say this instance is alive (call every few seconds); reconcile treats owners silent
    for longer than `stale_after` as dead."""
    await execute(
        conn,
        "INSERT INTO orchestrator_instances (instance_id, heartbeat_at) VALUES (%s, coalesce(%s::timestamptz, now()))"
        " ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
        (owner, now),
    )


async def live_attempts(conn: AsyncConn, owner: str) -> list[Attempt]:
    """This owner's attempts that have not ended, oldest first."""
    rows = await fetch_all(
        conn, "SELECT * FROM attempts WHERE owner = %s AND ended_at IS NULL ORDER BY created_at, id", (owner,)
    )
    return [_attempt(r) for r in rows]


async def orphaned_attempts(
    conn: AsyncConn, *, stale_after: timedelta, now: datetime | None = None, exclude_owner: str | None = None
) -> list[Attempt]:
    """Live attempts whose owner's heartbeat is older than `stale_after` (or that never sent
    one and whose attempt is that old)."""
    rows = await fetch_all(
        conn,
        """SELECT a.* FROM attempts a LEFT JOIN orchestrator_instances i ON i.instance_id = a.owner
            WHERE a.ended_at IS NULL AND a.owner IS DISTINCT FROM %(me)s
              AND coalesce(i.heartbeat_at, a.created_at) < coalesce(%(now)s::timestamptz, now()) - %(stale)s
            ORDER BY a.created_at, a.id""",
        {"me": exclude_owner, "now": now, "stale": stale_after},
    )
    return [_attempt(r) for r in rows]


async def live_attempts_elsewhere(
    conn: AsyncConn, attempt_ids: Iterable[uuid.UUID | str], *, me: str, stale_after: timedelta
) -> set[str]:
    """Of `attempt_ids`, those still live under another instance that is alive (fresh
    heartbeat): their calls are that instance's business."""
    ids = [_uuid(a) for a in attempt_ids]
    if not ids:
        return set()
    rows = await fetch_all(
        conn,
        """SELECT a.id FROM attempts a LEFT JOIN orchestrator_instances i ON i.instance_id = a.owner
            WHERE a.id = ANY(%(ids)s) AND a.ended_at IS NULL AND a.owner <> %(me)s
              AND coalesce(i.heartbeat_at, a.created_at) >= now() - %(stale)s""",
        {"ids": ids, "me": me, "stale": stale_after},
    )
    return {str(r["id"]) for r in rows}


async def adopt_attempt(conn: AsyncConn, attempt_id: uuid.UUID | str, *, new_owner: str, expected_owner: str) -> bool:
    """Take over a live attempt of a dead owner (its channel is still up). False if it ended or
    someone else adopted it first."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        n = await execute(
            conn, "UPDATE attempts SET owner = %s WHERE id = %s AND owner = %s AND ended_at IS NULL",
            (new_owner, aid, expected_owner),
        )
        if n:
            await _append(conn, aid, "adopted", None, {"from": expected_owner, "key": f"{expected_owner}>{new_owner}"})
        return n == 1


async def reconcile(
    conn: AsyncConn,
    owner: str,
    live_channel_ids: Iterable[str],
    *,
    stale_after: timedelta | None = None,
    fates: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> ReconcileResult:
    """Compare the ledger with the channels Asterisk still has (ids, as ARI reports them).

    Looks at this owner's live attempts and, when `stale_after` is given, at those of dead
    owners. An attempt whose channel is live is kept (adopted by `owner` if orphaned); the
    others are ended with their fate from `fates` (attempt id -> outcome, e.g. from a
    ChannelDestroyed cause seen before the crash) or the outcome already recorded, else
    'unknown', and auto-dispositioned unless an agent had it. Never redials anything.
    """
    live = set(live_channel_ids)
    fates = dict(fates or {})
    presumed: list[uuid.UUID] = []
    mine = await live_attempts(conn, owner)
    orphans = await orphaned_attempts(conn, stale_after=stale_after, now=now, exclude_owner=owner) if stale_after else []
    still: list[Attempt] = []
    finished: list[Attempt] = []
    for att in [*mine, *orphans]:
        if str(att.id) in live:
            if att.owner != owner and not await adopt_attempt(conn, att.id, new_owner=owner, expected_owner=att.owner):
                continue
            still.append(await get_attempt(conn, att.id))
            continue
        fate = fates.get(str(att.id))
        if fate is not None and fate not in OUTCOMES:
            raise AttemptError(f"unknown outcome {fate!r} for {att.id}", "fates")
        if fate is None and await _may_have_been_abandoned(conn, att):
            presumed.append(att.id)
            await presume_abandoned(conn, att.id, PRESUMED_ABANDON_CRASH, at=now)
        finished.append(await end_attempt(conn, att.id, outcome=fate or "unknown", at=now, cause_txt="reconciled"))
    return ReconcileResult(still, finished, presumed)


PRESUMED_ABANDON_CRASH = (
    "ended while no dialer watched it: it may have been answered and reached no agent, "
    "so it is counted as an abandon, as the regulator would"
)
PRESUMED_ABANDON_UNSEEN = (
    "ended while the dialer could not see Asterisk's events: it may have been answered "
    "and reached no agent, so it is counted as an abandon, as the regulator would"
)


async def end_unseen(
    conn: AsyncConn, attempt_id: uuid.UUID | str, *, owner: str, reason: str
) -> tuple[Attempt, bool] | None:
    """End a live attempt of ``owner`` whose channel Asterisk no longer has and whose end
    nobody recorded (its outcome write was lost, its events never came): the outcome known
    so far, else 'unknown', counted as an abandon when it may have been one (as
    `reconcile` does). None when it has ended meanwhile or belongs to someone else.
    Returns the ended attempt and whether an abandon was presumed. Idempotent."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        row = await _lock(conn, aid)
        if row["ended_at"] is not None or row["owner"] != owner:
            return None
        att = _attempt(row)
        presumed = False
        if await _may_have_been_abandoned(conn, att):
            presumed = await presume_abandoned(conn, aid, PRESUMED_ABANDON_UNSEEN)
        return await end_attempt(conn, aid, outcome="unknown", cause_txt=reason[:200]), presumed


async def _may_have_been_abandoned(conn: AsyncConn, att: Attempt) -> bool:
    """Whether an attempt that ended unseen may have been a live answer no agent took.

    Only customer-first calls (power, predictive, progressive customer-first) can be
    abandoned: an agent-first customer is dialed into the agent's own bridge. A call
    connected to an agent was not abandoned; one that left (originated) and whose end
    nobody saw cannot be proven unanswered (Asterisk drops an answered call whose app is
    away with cause 0, narrow surprise 33). One still 'pending' was never sent.
    """
    if att.connected_at is not None or att.outcome is not None or att.state == "pending":
        return False
    row = await fetch_one(
        conn,
        "SELECT mode, progressive_flavour FROM campaigns WHERE id = %s", (att.campaign_id,))
    if row is None:
        return False
    mode = str(row["mode"])
    return mode in ("power", "predictive") or (
        mode == "progressive" and row["progressive_flavour"] == "customer_first")


async def presume_abandoned(
    conn: AsyncConn, attempt_id: uuid.UUID | str, reason: str, *, at: datetime | None = None
) -> bool:
    """Count an attempt that ended unseen as an abandon (`mark_abandoned`: outcome,
    72 h lock) and say why in its history. True if it was not counted before."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        if not await mark_abandoned(conn, aid, at=at):
            return False
        await _append(conn, aid, "abandon_presumed", at, {"reason": reason})
        return True


async def undispositioned_attempts(
    conn: AsyncConn, *, ended_before: datetime | None = None, campaign_id: int | None = None
) -> list[Attempt]:
    """Ended attempts still waiting for a disposition (e.g. wrap-up lost in a crash)."""
    rows = await fetch_all(
        conn,
        """SELECT * FROM attempts WHERE dispositioned_at IS NULL AND ended_at IS NOT NULL
              AND ended_at < coalesce(%(before)s::timestamptz, now())
              AND (%(cid)s::bigint IS NULL OR campaign_id = %(cid)s)
            ORDER BY ended_at""",
        {"before": ended_before, "cid": campaign_id},
    )
    return [_attempt(r) for r in rows]


async def undispositioned_of_dead_owners(
    conn: AsyncConn, *, stale_after: timedelta, exclude_owner: str | None = None, now: datetime | None = None
) -> list[Attempt]:
    """Ended attempts still waiting for a disposition whose owner is dead: its heartbeat is
    older than `stale_after` (or it never sent one and the attempt ended that long ago).
    Their agent's wrap-up died with that process; nobody will ever disposition them, and
    an undispositioned attempt keeps its contact from being dialed again."""
    rows = await fetch_all(
        conn,
        """SELECT a.* FROM attempts a LEFT JOIN orchestrator_instances i ON i.instance_id = a.owner
            WHERE a.dispositioned_at IS NULL AND a.ended_at IS NOT NULL
              AND a.owner IS DISTINCT FROM %(me)s
              AND coalesce(i.heartbeat_at, a.ended_at) < coalesce(%(now)s::timestamptz, now()) - %(stale)s
            ORDER BY a.ended_at, a.id""",
        {"me": exclude_owner, "now": now, "stale": stale_after},
    )
    return [_attempt(r) for r in rows]


# ------------------------------------------------------------------ history


async def next_attempt_number(conn: AsyncConn, contact_id: int) -> int:
    """The number of a contact's next attempt ("Attempt N"): one more than its last row.

    Not the contact's attempts_made: a call that was never placed ('not_dialed') gives
    its count back (sql/005) but keeps its row and number in the history. The caller
    holds the contact's row lock (claims and previews lock it), so two attempts of one
    contact never race for a number.
    """
    row = await fetch_one(
        conn, "SELECT COALESCE(max(attempt_number), 0) + 1 AS n FROM attempts WHERE contact_id = %s",
        (contact_id,),
    )
    assert row is not None
    return int(row["n"])


def attempt_title(attempt_number: int, description: str, position: int) -> str:
    """ "Attempt N (Mobile)": the one title of an attempt, in `contacts show` and the screen pop.
    A target without a description is named by its position ("Phone 2")."""
    return f"Attempt {attempt_number} ({description or f'Phone {position}'})"


@dataclass(frozen=True)
class AttemptHistoryEntry:
    """One line of a contact's attempt report: "Attempt N (TargetDescription)"."""

    attempt_id: uuid.UUID
    attempt_number: int
    target_description: str
    e164: str
    created_at: datetime
    outcome: str | None
    agent: str | None
    """The agent's display name."""
    disposition: str | None
    note: str | None
    target_position: int = 1

    @property
    def title(self) -> str:
        return attempt_title(self.attempt_number, self.target_description, self.target_position)


async def contact_history(conn: AsyncConn, contact_id: int) -> list[AttemptHistoryEntry]:
    """Every attempt of a contact, newest first."""
    rows = await fetch_all(
        conn,
        """SELECT a.id, a.attempt_number, t.description, t.position, a.e164, a.created_at, a.outcome,
                  ag.display_name AS agent, w.label AS disposition, a.disposition_note
             FROM attempts a JOIN targets t ON t.id = a.target_id
             LEFT JOIN agents ag ON ag.id = a.agent_id
             LEFT JOIN wrapup_codes w ON w.id = a.wrapup_code_id
            WHERE a.contact_id = %s ORDER BY a.attempt_number DESC""",
        (contact_id,),
    )
    return [
        AttemptHistoryEntry(r["id"], r["attempt_number"], r["description"], r["e164"], r["created_at"],
                            r["outcome"], r["agent"], r["disposition"], r["disposition_note"],
                            r["position"])
        for r in rows
    ]


__all__ = [
    "AUTO_CODES", "ONCE_KINDS", "OUTCOMES", "Attempt", "AttemptError", "AttemptHistoryEntry",
    "attempt_title",
    "AttemptNotFound", "DispositionResult", "ReconcileResult", "adopt_attempt", "auto_disposition",
    "end_unseen",
    "contact_history", "disposition_without_dialing", "end_attempt", "get_attempt", "heartbeat", "live_attempts", "mark_abandoned",
    "mark_answered", "mark_bridged", "mark_originated", "mark_ringing", "orphaned_attempts",
    "reconcile", "record_amd", "record_disposition", "record_event", "undispositioned_attempts",
    "undispositioned_of_dead_owners", "live_attempts_elsewhere",
    "normalize_outcome",
]
