"""The end of an attempt and its disposition: what the outcome's class does to the target and contact."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import errors

from orchestrator.core.rules import DialingPolicy, OutcomeClass
from orchestrator.ledger.attempts.history import next_attempt_number
from orchestrator.ledger.attempts.rows import (
    AUTO_CODES,
    OUTCOMES,
    Attempt,
    AttemptError,
    AttemptNotFound,
    DispositionResult,
    _append,
    _lock,
    _set,
    _uuid,
    get_attempt,
)
from orchestrator.ledger.campaigns import (
    OUTCOME_LABELS,
    Campaign,
    WrapUpCode,
    find_wrapup_code,
    get_campaign,
    load_dialing_policy,
    system_wrapup_code,
)
from orchestrator.ledger.pool import AsyncConn, db_now, execute, fetch_one


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


@dataclass(frozen=True)
class _TargetEffect:
    """What a disposition's outcome class does to the target (and, when set, its contact's
    other targets)."""

    reason: str | None
    available_from: datetime | None
    contact_scope_reason: str | None = None


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
    if cls is OutcomeClass.RETRY and telephony_outcome != "rejected_by_agent":
        effect = _retry_effect(t, campaign, policy, label, retry_at, now)
    else:
        effect = await _settle_effect(conn, cls, att, t, aid, label, telephony_outcome)
    await _apply_to_targets(conn, t, label, cls, effect)
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
        unavailable_reason=effect.reason, available_from=effect.available_from,
    )


async def _settle_effect(
    conn: AsyncConn,
    cls: OutcomeClass,
    att: Mapping[str, Any],
    t: Mapping[str, Any],
    aid: uuid.UUID,
    label: str,
    telephony_outcome: str | None,
) -> _TargetEffect:
    """The effect of a class that is not a retry (final success or failure, DNC), or of an
    offer the agent rejected: the target's availability time is left as it was."""
    available_from: datetime | None = t["available_from"]
    if cls is OutcomeClass.FINAL_SUCCESS:
        await execute(conn, "UPDATE contacts SET complete = true WHERE id = %s", (t["contact_id"],))
        return _TargetEffect("Complete", available_from, contact_scope_reason="Complete")
    if cls is OutcomeClass.FINAL_FAILURE:
        reason = "Invalid target" if telephony_outcome == "invalid_number" else "Last outcome not valid for calling"
        return _TargetEffect(reason, available_from)
    if cls is OutcomeClass.DNC:
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
        return _TargetEffect("DNC", available_from)
    # a retry class whose telephony outcome is rejected_by_agent: the offer was turned down
    return _TargetEffect("Offered", available_from)


def _retry_effect(
    t: Mapping[str, Any],
    campaign: Campaign,
    policy: DialingPolicy,
    label: str,
    retry_at: datetime | None,
    now: datetime,
) -> _TargetEffect:
    """A retry: available after the explicit time or the policy's delay, never before the
    number's abandon lock; then the caps, in the rules' order, may retire the target."""
    delay_from = retry_at if retry_at is not None else now + policy.retry_delay(label)
    lock = t["abandon_locked_until"]
    available_from = max(delay_from, lock) if lock is not None else delay_from
    cap = campaign.max_attempts_per_contact
    if t["attempts_made"] >= t["max_attempts"]:
        return _TargetEffect("Exhausted", available_from)
    if cap is not None and t["contact_attempts_made"] >= cap:
        return _TargetEffect("Exhausted", available_from, contact_scope_reason="Exhausted")
    if t["amd_count"] >= campaign.max_amd_per_target:
        return _TargetEffect("Max answering machine detections", available_from)
    return _TargetEffect("Not in cadence", available_from)


async def _apply_to_targets(
    conn: AsyncConn, t: Mapping[str, Any], label: str, cls: OutcomeClass, effect: _TargetEffect
) -> None:
    """Write the effect on the target (releasing its lease) and, for a contact-wide reason,
    on the contact's other targets that are only waiting for time."""
    await execute(
        conn,
        "UPDATE targets SET last_outcome = %s, last_outcome_class = %s, unavailable_reason = %s,"
        " available_from = %s, lease_owner = NULL, lease_expires_at = NULL WHERE id = %s",
        (label, cls.value, effect.reason, effect.available_from, t["id"]),
    )
    if effect.contact_scope_reason is not None:
        await execute(
            conn,
            "UPDATE targets SET unavailable_reason = %s WHERE contact_id = %s AND id <> %s"
            " AND (unavailable_reason IS NULL OR unavailable_reason IN ('Not in cadence', 'Outside calling window'))",
            (effect.contact_scope_reason, t["contact_id"], t["id"]),
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
