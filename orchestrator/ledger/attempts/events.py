"""An attempt's life events as Asterisk reports them: originated, ringing, answered, AMD, bridged, abandoned."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.ledger.attempts.rows import (
    ONCE_KINDS,
    AttemptError,
    _advance,
    _append,
    _lock,
    _set,
    _uuid,
)
from orchestrator.ledger.pool import AsyncConn, db_now, execute


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


async def hand_over(
    conn: AsyncConn, attempt_id: uuid.UUID | str, agent_id: int, *, at: datetime | None = None
) -> None:
    """Another agent took control of the call (a transfer, or control passed in a
    conference): the attempt is theirs to disposition; the history keeps the hand-over."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        await _lock(conn, aid)
        await _append(conn, aid, "in_control", at, {"agent_id": agent_id})
        await _set(conn, aid, agent_id=agent_id)


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
