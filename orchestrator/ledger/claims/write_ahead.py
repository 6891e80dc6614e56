"""The write-ahead attempt: re-check everything in one transaction, then commit the attempt
before anyone originates."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from orchestrator.core.rules import (
    DialingPolicy,
    UnavailableReason,
    evaluate,
)
from orchestrator.ledger.attempts import next_attempt_number
from orchestrator.ledger.campaigns import (
    Campaign,
    get_campaign,
    load_dialing_policy,
)
from orchestrator.ledger.claims.facts import _FACT_COLUMNS, _store_verdict, target_facts
from orchestrator.ledger.claims.leases import count_live_attempts
from orchestrator.ledger.claims.results import (
    _CAP_LOCK_CLASS,
    _SYSTEM_CAP_OBJ,
    AttemptRefusal,
    AttemptTicket,
    RefusalReason,
)
from orchestrator.ledger.pool import AsyncConn, db_now, execute, fetch_one

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
    callback_id: int | None = None,
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

    With `callback_id`, the attempt is that callback's: the callback must still be leased
    to `owner` (pending, or offered in preview), else LEASE_LOST; the attempt row names
    it and the callback turns 'dialing' in the same transaction.
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
        if callback_id is not None and not await _callback_ours(conn, callback_id, owner):
            return AttemptRefusal(RefusalReason.LEASE_LOST, f"callback {callback_id} is not "
                                  "leased to this owner any more")
        if campaign is None or campaign.id != row["campaign_id"]:
            campaign = await get_campaign(conn, int(row["campaign_id"]))
            policy = None
        refusal = await _check_dialable(conn, row, target_id, campaign, policy, now)
        if refusal is None:
            refusal = await _check_call_caps(conn, campaign, system_call_cap)
        if refusal is not None:
            return refusal
        aid = attempt_id or uuid.uuid4()
        number = await next_attempt_number(conn, row["contact_id"])
        mode = mode or campaign.mode
        refusal = await _insert_attempt(
            conn, row, target_id, aid, number, campaign=campaign, mode=mode, agent_id=agent_id,
            owner=owner, now=now, callback_id=callback_id,
        )
        if refusal is not None:
            return refusal
        if callback_id is not None:
            await execute(
                conn,
                "UPDATE callbacks SET status = 'dialing', attempt_id = %s, lease_owner = NULL,"
                " lease_expires_at = NULL, waiting_reason = NULL, next_try_at = NULL,"
                " updated_at = now() WHERE id = %s", (aid, callback_id))
    return AttemptTicket(
        attempt_id=aid, attempt_number=number, campaign_id=campaign.id, contact_id=row["contact_id"],
        target_id=target_id, description=row["description"], e164=row["e164"], mode=mode,
        agent_id=agent_id, owner=owner, created_at=now, caller_id=campaign.caller_id,
        no_answer_timeout_s=campaign.no_answer_timeout_s, amd_policy=campaign.amd_policy,
    )


async def _check_dialable(
    conn: AsyncConn, row: Mapping[str, Any], target_id: int, campaign: Campaign,
    policy: DialingPolicy | None, now: datetime,
) -> AttemptRefusal | None:
    """The campaign is running, the contact has no unsettled attempt, and the rules say
    dialable (a rules refusal stores the target's reason). None when all hold."""
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
    return None


async def _callback_ours(conn: AsyncConn, callback_id: int, owner: str) -> bool:
    """The callback is still this owner's to dial (locked to the end of the transaction)."""
    cb = await fetch_one(conn, "SELECT status, lease_owner FROM callbacks WHERE id = %s FOR UPDATE",
                         (callback_id,))
    return cb is not None and cb["status"] in ("pending", "offered") and cb["lease_owner"] == owner


async def _check_call_caps(
    conn: AsyncConn, campaign: Campaign, system_call_cap: int | None
) -> AttemptRefusal | None:
    """The campaign's and the system's caps on live calls, each counted under its advisory
    lock (held to the end of the transaction) so two instances cannot both take the last slot."""
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
    return None


async def _insert_attempt(
    conn: AsyncConn, row: Mapping[str, Any], target_id: int, aid: uuid.UUID, number: int, *,
    campaign: Campaign,
    mode: str, agent_id: int | None, owner: str, now: datetime, callback_id: int | None = None,
) -> AttemptRefusal | None:
    """INSERT the attempt (in a savepoint: the database's refusals come back typed), its
    'created' event, and clear the target's lease. None on success."""
    try:
        async with conn.transaction():
            await execute(
                conn,
                "INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164,"
                " mode, agent_id, owner, created_at, callback_id)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (aid, campaign.id, row["contact_id"], target_id, number, row["e164"], mode, agent_id,
                 owner, now, callback_id),
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
                          "attempt_number": number,
                          **({"callback_id": callback_id} if callback_id is not None else {})})),
    )
    await execute(
        conn,
        "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL, unavailable_reason = NULL"
        " WHERE id = %s",
        (target_id,),
    )
    return None
