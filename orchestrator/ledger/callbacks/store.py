"""Callback rows: create (scheduled, personal, web, queue), read, list, edit, delete.

Every write is one transaction and audited. A callback takes its campaign's number of
attempts (``campaigns.callback_attempts``) when it is created; a queue callback finds its
campaign by the queue's name (``campaigns.callback_queue``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import errors

from orchestrator.core.phones import PhoneError, candidate_time_zones, normalize_e164
from orchestrator.ledger.callbacks.validation import (
    KINDS,
    STATUSES,
    CallbackError,
    CallbackRequest,
    check_name,
    check_notes,
    check_queue,
    check_reason,
    check_time_zone,
    check_window,
    normalize_phone,
    validate_callback,
)
from orchestrator.ledger.pool import AsyncConn, audit, db_now, execute, fetch_all, fetch_one

QUEUE_CALLBACK_WINDOW = timedelta(hours=2)
"""How long a queue (courtesy) callback may wait to be dialed: due at once, missed after."""
WEB_CALLBACK_WINDOW = timedelta(hours=24)
"""How long a web callback may wait (its calling window may open only the next morning)."""


@dataclass(frozen=True)
class Callback:
    """A callbacks row (with its campaign's name and masking when read with it)."""

    id: int
    kind: str
    campaign_id: int | None
    contact_id: int | None
    target_id: int | None
    e164: str
    name: str | None
    window_start: datetime
    window_end: datetime
    time_zone: str
    queue: str | None
    reason: str | None
    notes: str | None
    assigned_agent_id: int | None
    status: str
    created_by: int | None
    created_at: datetime
    attempts_made: int = 0
    max_attempts: int = 3
    waiting_reason: str | None = None
    """Why a due callback is not being dialed right now (the rule, or the agent)."""
    next_try_at: datetime | None = None
    attempt_id: uuid.UUID | None = None
    queue_position: int | None = None
    source_channel: str | None = None
    result: str | None = None
    deleted_at: datetime | None = None
    deleted_by: str | None = None
    updated_at: datetime | None = None
    campaign_name: str | None = None
    masking: bool = False
    """The campaign masks numbers (an API caller is shown the last 4 digits)."""

    @property
    def open(self) -> bool:
        return self.status in ("pending", "offered", "dialing")

    def to_json(self, *, number: str | None = None) -> dict[str, Any]:
        """JSON-ready; ``number``: the number as the caller may see it (masked)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, uuid.UUID):
                v = str(v)
            out[f.name] = v
        out["e164"] = number if number is not None else self.e164
        out["campaign"] = out.pop("campaign_name")
        return out


_SELECT = ("SELECT cb.*, c.name AS campaign_name, coalesce(c.masking, false) AS masking"
           " FROM callbacks cb LEFT JOIN campaigns c ON c.id = cb.campaign_id")


def _row(r: Mapping[str, Any]) -> Callback:
    return Callback(**{k: r[k] for k in Callback.__dataclass_fields__ if k in r})


_FK_FIELDS = {
    "callbacks_campaign_id_fkey": "campaign_id",
    "callbacks_contact_id_fkey": "contact_id",
    "callbacks_target_id_fkey": "target_id",
    "callbacks_assigned_agent_id_fkey": "assigned_agent_id",
    "callbacks_created_by_fkey": "created_by",
}


async def campaign_for_queue(conn: AsyncConn, queue: str) -> int | None:
    """The campaign that dials the courtesy callbacks of an Asterisk queue, if any."""
    row = await fetch_one(conn, "SELECT id FROM campaigns WHERE callback_queue = %s", (queue,))
    return int(row["id"]) if row else None


async def _campaign_of(conn: AsyncConn, campaign_id: int | None, contact_id: int | None,
                       queue: str | None) -> tuple[int | None, int]:
    """(the callback's campaign, its attempts): the given one, else the contact's, else
    the queue's; 3 attempts when there is none."""
    if campaign_id is None and contact_id is not None:
        row = await fetch_one(conn, "SELECT campaign_id FROM contacts WHERE id = %s", (contact_id,))
        campaign_id = int(row["campaign_id"]) if row else None
    if campaign_id is None and queue is not None:
        campaign_id = await campaign_for_queue(conn, queue)
    if campaign_id is None:
        return None, 3
    row = await fetch_one(conn, "SELECT callback_attempts FROM campaigns WHERE id = %s", (campaign_id,))
    if row is None:
        raise CallbackError("does not exist", "campaign_id")
    return campaign_id, int(row["callback_attempts"])


async def _insert(conn: AsyncConn, req: CallbackRequest, *, campaign_id: int | None,
                  contact_id: int | None, target_id: int | None, assigned_agent_id: int | None,
                  created_by: int | None, queue_position: int | None = None,
                  source_channel: str | None = None) -> Callback:
    campaign_id, attempts = await _campaign_of(conn, campaign_id, contact_id, req.queue)
    try:
        async with conn.transaction():
            row = await fetch_one(
                conn,
                "INSERT INTO callbacks (kind, campaign_id, contact_id, target_id, e164, name,"
                " window_start, window_end, time_zone, queue, reason, notes, assigned_agent_id,"
                " created_by, max_attempts, queue_position, source_channel)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (req.kind, campaign_id, contact_id, target_id, req.e164, req.name,
                 req.window_start, req.window_end, req.time_zone, req.queue, req.reason, req.notes,
                 assigned_agent_id, created_by, attempts, queue_position, source_channel),
            )
    except errors.ForeignKeyViolation as exc:
        field = _FK_FIELDS.get(exc.diag.constraint_name or "", "callback")
        raise CallbackError("does not exist", field) from None
    assert row is not None
    return await get_callback(conn, int(row["id"]))


async def create_callback(
    conn: AsyncConn,
    *,
    phone: str,
    window_start: datetime,
    time_zone: str,
    window_end: datetime | None = None,
    kind: str = "scheduled",
    campaign_id: int | None = None,
    contact_id: int | None = None,
    target_id: int | None = None,
    name: str | None = None,
    queue: str | None = None,
    reason: str | None = None,
    notes: str | None = None,
    assigned_agent_id: int | None = None,
    created_by: int | None = None,
    release_owner: str | None = None,
    default_region: str | None = None,
    name_required: bool = False,
    actor: str | None = None,
    now: datetime | None = None,
) -> Callback:
    """Validate and insert a scheduled or personal callback (one transaction, audited).

    With `target_id` and `release_owner`, the target (a previewed one, leased to that
    instance) is released and made unavailable ('Not in cadence') until the window opens.
    A callback with an assigned agent is a personal one.
    """
    async with conn.transaction():
        now = await db_now(conn, now)
        req = validate_callback(kind=kind, phone=phone, window_start=window_start, window_end=window_end,
                                time_zone=time_zone, now=now, name=name, queue=queue, reason=reason,
                                notes=notes, default_region=default_region,
                                name_required=name_required)
        if req.kind == "scheduled" and assigned_agent_id is not None:
            req = dataclasses.replace(req, kind="personal")
        cb = await _insert(conn, req, campaign_id=campaign_id, contact_id=contact_id,
                           target_id=target_id, assigned_agent_id=assigned_agent_id,
                           created_by=created_by)
        if target_id is not None and release_owner is not None:
            await execute(
                conn,
                "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL,"
                " available_from = GREATEST(coalesce(available_from, %s), %s),"
                " unavailable_reason = 'Not in cadence'"
                " WHERE id = %s AND (lease_owner = %s OR lease_owner IS NULL)"
                " AND (unavailable_reason IS NULL OR unavailable_reason IN ('Not in cadence', 'Outside calling window'))",
                (req.window_start, req.window_start, target_id, release_owner),
            )
        await audit(conn, actor=actor or (f"agent:{created_by}" if created_by else "system"),
                    action="callback.create", object_type="callback", object_id=cb.id,
                    details={"kind": req.kind, "target_id": target_id, "time_zone": req.time_zone,
                             "campaign_id": cb.campaign_id})
        return cb


async def create_web_callback(
    conn: AsyncConn, *, campaign_id: int, phone: str, name: str, reason: str | None = None,
    actor: str = "web", window: timedelta = WEB_CALLBACK_WINDOW, now: datetime | None = None,
) -> Callback:
    """A website's "call me back" request: due at once, for `window` (a day by default).
    The calling window in the caller's zone (from the number) still decides when."""
    e164 = normalize_phone(phone)
    req_name = check_name(name, required=True)
    req_reason = check_reason(reason)
    async with conn.transaction():
        now = await db_now(conn, now)
        req = CallbackRequest(kind="web", e164=e164, window_start=now, window_end=now + window,
                              time_zone=_zone_of(e164), name=req_name, queue=None,
                              reason=req_reason, notes=None)
        cb = await _insert(conn, req, campaign_id=campaign_id, contact_id=None, target_id=None,
                           assigned_agent_id=None, created_by=None)
        await audit(conn, actor=actor, action="callback.create", object_type="callback",
                    object_id=cb.id, details={"kind": "web", "campaign_id": campaign_id})
        return cb


async def create_queue_callback(
    conn: AsyncConn, *, queue: str, position: int, e164: str, source_channel: str | None,
    window: timedelta = QUEUE_CALLBACK_WINDOW, now: datetime | None = None,
) -> int:
    """A caller waiting in an Asterisk queue asked to be called back (FastAGI
    ``callback-offer``): a callback of kind 'queue', due at once, that keeps the caller's
    place (`position` in the queue when they asked, 1 = head; callbacks of a queue are
    dialed in the order they were created), with the campaign's attempts
    (``callback_attempts``) for the queue's campaign (``callback_queue``). Returns its id.

    Refused (`CallbackError` naming the field) when the number is not a valid E.164
    number, the position is not a positive whole number, or no campaign dials the queue's
    callbacks: the caller is then told nothing was booked.
    """
    queue_name = check_queue(queue)
    if queue_name is None:
        raise CallbackError("is required", "queue")
    if isinstance(position, bool) or not isinstance(position, int) or position < 1:
        raise CallbackError(f"must be a whole number from 1, got {position!r}", "position")
    number = _e164(e164)
    channel = source_channel.strip()[:200] if isinstance(source_channel, str) and source_channel.strip() else None
    async with conn.transaction():
        now = await db_now(conn, now)
        campaign_id = await campaign_for_queue(conn, queue_name)
        if campaign_id is None:
            raise CallbackError(f"no campaign dials the callbacks of queue {queue_name!r}"
                                " (set a campaign's callback_queue)", "queue")
        req = CallbackRequest(kind="queue", e164=number, window_start=now, window_end=now + window,
                              time_zone=_zone_of(number), name=None, queue=queue_name,
                              reason=None, notes=None)
        cb = await _insert(conn, req, campaign_id=campaign_id, contact_id=None, target_id=None,
                           assigned_agent_id=None, created_by=None, queue_position=position,
                           source_channel=channel)
        await audit(conn, actor="agi", action="callback.create", object_type="callback",
                    object_id=cb.id, details={"kind": "queue", "queue": queue_name,
                                              "position": position, "campaign_id": campaign_id})
        return cb.id


def _e164(value: Any) -> str:
    """A number the dialplan gives (E.164, with its +), checked as every number is."""
    if not isinstance(value, str) or not value.strip():
        raise CallbackError("is required (an E.164 number, e.g. +33612345678)", "e164")
    try:
        return normalize_e164(value.strip())
    except PhoneError as exc:
        raise CallbackError(str(exc), "e164") from None


def _zone_of(e164: str) -> str:
    """The zone a callback without one is shown in: its number's only zone, else UTC
    (the calling window is still checked in every zone the number may be in)."""
    zones = candidate_time_zones(e164)
    return zones[0] if len(zones) == 1 else "UTC"


# ------------------------------------------------------------------ reads


async def get_callback(conn: AsyncConn, callback_id: int) -> Callback:
    row = await fetch_one(conn, _SELECT + " WHERE cb.id = %s", (callback_id,))
    if row is None:
        raise CallbackError(f"no callback {callback_id}", "callback_id")
    return _row(row)


async def list_callbacks(
    conn: AsyncConn, *, campaign_ids: Sequence[int] | None = None,
    statuses: Sequence[str] | None = None, kind: str | None = None, queue: str | None = None,
    assigned_agent_id: int | None = None, limit: int = 200,
) -> list[Callback]:
    """Callbacks, soonest first (open ones before the ended); `campaign_ids` None: all."""
    for s in statuses or ():
        if s not in STATUSES:
            raise CallbackError(f"must be one of {', '.join(STATUSES)}; got {s!r}", "status")
    if kind is not None and kind not in KINDS:
        raise CallbackError(f"must be one of {', '.join(KINDS)}; got {kind!r}", "kind")
    rows = await fetch_all(
        conn,
        _SELECT + """
         WHERE (%(cids)s::bigint[] IS NULL OR cb.campaign_id = ANY(%(cids)s))
           AND (%(st)s::text[] IS NULL OR cb.status = ANY(%(st)s))
           AND (%(kind)s::text IS NULL OR cb.kind = %(kind)s)
           AND (%(queue)s::text IS NULL OR cb.queue = %(queue)s)
           AND (%(agent)s::bigint IS NULL OR cb.assigned_agent_id = %(agent)s)
         ORDER BY cb.status NOT IN ('pending', 'offered', 'dialing'), cb.window_start, cb.id
         LIMIT %(limit)s""",
        {"cids": list(campaign_ids) if campaign_ids is not None else None,
         "st": list(statuses) if statuses else None, "kind": kind, "queue": queue,
         "agent": assigned_agent_id, "limit": max(1, min(limit, 1000))},
    )
    return [_row(r) for r in rows]


@dataclass(frozen=True)
class CallbackAttempt:
    """One attempt made for a callback."""

    attempt_id: uuid.UUID
    attempt_number: int
    created_at: datetime
    state: str
    outcome: str | None
    agent: str | None
    disposition: str | None


async def callback_attempts(conn: AsyncConn, callback_id: int) -> list[CallbackAttempt]:
    """The attempts made for a callback, oldest first."""
    rows = await fetch_all(
        conn,
        "SELECT a.id, a.attempt_number, a.created_at, a.state, a.outcome, g.display_name AS agent,"
        " w.label AS disposition FROM attempts a LEFT JOIN agents g ON g.id = a.agent_id"
        " LEFT JOIN wrapup_codes w ON w.id = a.wrapup_code_id"
        " WHERE a.callback_id = %s ORDER BY a.created_at, a.id", (callback_id,))
    return [CallbackAttempt(r["id"], r["attempt_number"], r["created_at"], r["state"], r["outcome"],
                            r["agent"], r["disposition"]) for r in rows]


# ------------------------------------------------------------------ edit, delete


class CallbackStateError(CallbackError):
    """The callback is not in a state that allows the change (started, dialing, ended)."""


_EDITABLE = ("phone", "name", "window_start", "window_end", "time_zone", "queue", "reason",
             "notes", "assigned_agent_id")


async def update_callback(
    conn: AsyncConn, callback_id: int, changes: Mapping[str, Any], *, actor: str,
    default_region: str | None = None, now: datetime | None = None,
) -> Callback:
    """Edit a pending callback before its start time; every value checked again as at
    creation (refusals name the field). A previewed target waiting for the old start now
    waits for the new one."""
    for key in changes:
        if key not in _EDITABLE:
            raise CallbackError("cannot be changed", key)
    async with conn.transaction():
        now = await db_now(conn, now)
        row = await fetch_one(conn, "SELECT * FROM callbacks WHERE id = %s FOR UPDATE", (callback_id,))
        if row is None:
            raise CallbackError(f"no callback {callback_id}", "callback_id")
        _editable_now(row, now)
        merged = {"phone": row["e164"], "name": row["name"], "window_start": row["window_start"],
                  "window_end": row["window_end"], "time_zone": row["time_zone"],
                  "queue": row["queue"], "reason": row["reason"], "notes": row["notes"]}
        merged.update({k: v for k, v in changes.items() if k != "assigned_agent_id"})
        if "window_start" in changes and "window_end" not in changes:
            merged["window_end"] = changes["window_start"] + (row["window_end"] - row["window_start"])
        agent = changes.get("assigned_agent_id", row["assigned_agent_id"])
        kind = row["kind"]
        if kind in ("scheduled", "personal"):
            kind = "personal" if agent is not None else "scheduled"
        req = validate_callback(kind=kind, now=now, default_region=default_region,
                                name_required=row["name"] is not None, **merged)
        try:
            async with conn.transaction():
                await execute(
                    conn,
                    "UPDATE callbacks SET kind = %s, e164 = %s, name = %s, window_start = %s,"
                    " window_end = %s, time_zone = %s, queue = %s, reason = %s, notes = %s,"
                    " assigned_agent_id = %s, next_try_at = NULL, waiting_reason = NULL,"
                    " updated_at = now() WHERE id = %s",
                    (req.kind, req.e164, req.name, req.window_start, req.window_end, req.time_zone,
                     req.queue, req.reason, req.notes, agent, callback_id),
                )
        except errors.ForeignKeyViolation:
            raise CallbackError("does not exist", "assigned_agent_id") from None
        if row["target_id"] is not None and req.window_start != row["window_start"]:
            await execute(
                conn,
                "UPDATE targets SET available_from = %s WHERE id = %s AND NOT callback_only"
                " AND unavailable_reason = 'Not in cadence' AND available_from = %s",
                (req.window_start, row["target_id"], row["window_start"]),
            )
        await audit(conn, actor=actor, action="callback.update", object_type="callback",
                    object_id=callback_id, details={"changed": sorted(changes)})
        return await get_callback(conn, callback_id)


def _editable_now(row: Mapping[str, Any], now: datetime) -> None:
    if row["status"] != "pending":
        raise CallbackStateError(f"the callback is {row['status']}; only a pending one can be "
                                 "changed", "status")
    if now >= row["window_start"]:
        raise CallbackStateError("the callback's start time has passed; it can no longer be "
                                 "changed", "window_start")


async def delete_callback(
    conn: AsyncConn, callback_id: int, *, actor: str, after_start: bool = False,
    reason: str | None = None, now: datetime | None = None,
) -> Callback:
    """Delete a pending callback (kept, status 'deleted', and logged as deleted: who and
    when). Until its start time; after it too with `after_start` (a supervisor taking a
    waiting callback off the queue). One being offered or dialed is refused."""
    async with conn.transaction():
        now = await db_now(conn, now)
        row = await fetch_one(conn, "SELECT * FROM callbacks WHERE id = %s FOR UPDATE", (callback_id,))
        if row is None:
            raise CallbackError(f"no callback {callback_id}", "callback_id")
        if row["status"] != "pending":
            raise CallbackStateError(f"the callback is {row['status']}; only a pending one can "
                                     "be deleted", "status")
        if not after_start and now >= row["window_start"]:
            raise CallbackStateError("the callback's start time has passed; it can no longer be "
                                     "deleted", "window_start")
        why = check_reason(reason)
        await execute(
            conn,
            "UPDATE callbacks SET status = 'deleted', deleted_at = %s, deleted_by = %s,"
            " result = %s, lease_owner = NULL, lease_expires_at = NULL, next_try_at = NULL,"
            " waiting_reason = NULL, updated_at = now() WHERE id = %s",
            (now, actor[:200], f"deleted by {actor}"[:200], callback_id),
        )
        await audit(conn, actor=actor, action="callback.delete", object_type="callback",
                    object_id=callback_id,
                    details={"kind": row["kind"], "queue": row["queue"],
                             "queue_position": row["queue_position"], "reason": why,
                             "attempts_made": row["attempts_made"]})
        return await get_callback(conn, callback_id)


__all__ = [
    "QUEUE_CALLBACK_WINDOW", "WEB_CALLBACK_WINDOW", "Callback", "CallbackAttempt",
    "CallbackStateError", "callback_attempts",
    "campaign_for_queue", "check_notes", "check_time_zone", "check_window", "create_callback",
    "create_queue_callback", "create_web_callback", "delete_callback", "get_callback",
    "list_callbacks", "update_callback",
]
