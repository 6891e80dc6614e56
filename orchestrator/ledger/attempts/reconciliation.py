"""Reconciliation: the ledger against the channels Asterisk still has, heartbeats, orphans and presumed abandons."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from orchestrator.ledger.attempts.disposition import end_attempt
from orchestrator.ledger.attempts.events import mark_abandoned
from orchestrator.ledger.attempts.rows import (
    OUTCOMES,
    Attempt,
    AttemptError,
    ReconcileResult,
    _append,
    _attempt,
    _lock,
    _uuid,
    get_attempt,
)
from orchestrator.ledger.pool import AsyncConn, execute, fetch_all, fetch_one


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
    if att.mode == "callback":  # a callback is placed agent first, whatever the campaign
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
