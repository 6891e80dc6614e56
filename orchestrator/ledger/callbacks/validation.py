"""Callbacks in the ledger: validation (MISSION F) and creation.

A scheduled or personal callback (from a preview's Reschedule, or an API call) is a
``callbacks`` row: the number to call in E.164, a window in which to call it, the IANA
zone the window was chosen in, who it is assigned to, a reason and notes. When it
replaces a previewed target, the target's lease is released and the target is not
offered again before the window opens.

Rules, each refused with a `CallbackError` naming the field:

* ``phone``: 7 to 15 characters of digits, a leading ``+`` (country code), spaces and
  ``- . ,``; normalized to E.164 (a number without ``+`` needs a default region, e.g.
  the region of the contact's own number).
* ``name``: 3 to 250 characters when given.
* ``window_start`` / ``window_end``: aware instants; the window is at least 30 minutes
  long, starts in the future and ends at most 31 days ahead.
* ``time_zone``: a known IANA zone.
* ``reason``: at most 250 characters; ``notes`` at most 2000; ``queue`` at most 100.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from psycopg import errors

from orchestrator.core.phones import PhoneError, normalize_e164
from orchestrator.ledger.pool import AsyncConn, audit, db_now, execute, fetch_one

KINDS = ("scheduled", "personal", "web", "queue")
MIN_WINDOW = timedelta(minutes=30)
"""A callback window is at least this long."""
MAX_AHEAD = timedelta(days=31)
"""A callback window ends at most this far ahead."""
DEFAULT_WINDOW = MIN_WINDOW
"""The window of a callback given only a start (a preview's Reschedule)."""
PHONE_CHARS = re.compile(r"^\+?[0-9 .,\-]+$")
_SEPARATORS = re.compile(r"[ .,\-]")


class CallbackError(ValueError):
    """A callback was refused; ``field`` names the offending value."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Callback:
    """A callbacks row."""

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


def _row(r: Mapping[str, Any]) -> Callback:
    return Callback(**{k: r[k] for k in Callback.__dataclass_fields__})


# ------------------------------------------------------------------ validation


def normalize_phone(raw: Any, *, default_region: str | None = None, field: str = "phone") -> str:
    """A callback number as typed (7-15 characters: digits, +, spaces, - . ,) -> E.164."""
    if not isinstance(raw, str) or not raw.strip():
        raise CallbackError("is required", field)
    text = raw.strip()
    if not 7 <= len(text) <= 15:
        raise CallbackError(f"must be 7 to 15 characters, got {len(text)}", field)
    if not PHONE_CHARS.match(text):
        raise CallbackError("may hold only digits, a leading + (country code), spaces and - . ,", field)
    try:
        return normalize_e164(_SEPARATORS.sub("", text), default_region)
    except PhoneError as exc:
        raise CallbackError(str(exc), field) from None


def check_time_zone(raw: Any, *, field: str = "time_zone") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise CallbackError("is required (an IANA zone, e.g. Europe/Paris)", field)
    zone: str = raw.strip()
    if zone == "Etc/Unknown":
        raise CallbackError("must be a known IANA time zone", field)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CallbackError(f"unknown IANA time zone {zone!r}", field) from None
    return zone


def check_window(start: Any, end: Any, now: datetime, *, start_field: str = "window_start",
                 end_field: str = "window_end") -> tuple[datetime, datetime]:
    """The window [start, end]: aware, at least 30 minutes long, starting after `now` and
    ending at most 31 days after it. `end` None means start + 30 minutes."""
    if not isinstance(start, datetime) or start.tzinfo is None or start.utcoffset() is None:
        raise CallbackError("must be a date and time with a time zone", start_field)
    if end is None:
        end = start + DEFAULT_WINDOW
    if not isinstance(end, datetime) or end.tzinfo is None or end.utcoffset() is None:
        raise CallbackError("must be a date and time with a time zone", end_field)
    if start <= now:
        raise CallbackError("the callback must start in the future", start_field)
    if end - start < MIN_WINDOW:
        raise CallbackError("the window must be at least 30 minutes long", end_field)
    if end > now + MAX_AHEAD:
        raise CallbackError("the window must end at most 31 days ahead", end_field)
    return start, end


def _text(raw: Any, field: str, *, lo: int = 0, hi: int) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise CallbackError("must be text", field)
    value: str = raw.strip()
    if not value and lo == 0:
        return None
    if not lo <= len(value) <= hi:
        raise CallbackError(f"must be {lo} to {hi} characters, got {len(value)}" if lo
                            else f"must be at most {hi} characters, got {len(value)}", field)
    return value


@dataclass(frozen=True)
class CallbackRequest:
    """Validated values of a new callback."""

    kind: str
    e164: str
    window_start: datetime
    window_end: datetime
    time_zone: str
    name: str | None
    queue: str | None
    reason: str | None
    notes: str | None


def validate_callback(
    *,
    kind: str,
    phone: str,
    window_start: datetime,
    window_end: datetime | None,
    time_zone: str,
    now: datetime,
    name: str | None = None,
    queue: str | None = None,
    reason: str | None = None,
    notes: str | None = None,
    default_region: str | None = None,
) -> CallbackRequest:
    """Check every field (first offence raised, naming its field); no database access."""
    if kind not in KINDS:
        raise CallbackError(f"must be one of {', '.join(KINDS)}; got {kind!r}", "kind")
    e164 = normalize_phone(phone, default_region=default_region)
    zone = check_time_zone(time_zone)
    start, end = check_window(window_start, window_end, now)
    return CallbackRequest(
        kind=kind, e164=e164, window_start=start, window_end=end, time_zone=zone,
        name=_text(name, "name", lo=3, hi=250), queue=_text(queue, "queue", hi=100),
        reason=_text(reason, "reason", hi=250), notes=_text(notes, "notes", hi=2000),
    )


# ------------------------------------------------------------------ writes


_FK_FIELDS = {
    "callbacks_campaign_id_fkey": "campaign_id",
    "callbacks_contact_id_fkey": "contact_id",
    "callbacks_target_id_fkey": "target_id",
    "callbacks_assigned_agent_id_fkey": "assigned_agent_id",
    "callbacks_created_by_fkey": "created_by",
}


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
    now: datetime | None = None,
) -> Callback:
    """Validate and insert a callback (one transaction, audited).

    With `target_id` and `release_owner`, the target (a previewed one, leased to that
    instance) is released and made unavailable ('Not in cadence') until the window opens.
    A personal callback is one with an assigned agent.
    """
    async with conn.transaction():
        now = await db_now(conn, now)
        req = validate_callback(kind=kind, phone=phone, window_start=window_start, window_end=window_end,
                                time_zone=time_zone, now=now, name=name, queue=queue, reason=reason,
                                notes=notes, default_region=default_region)
        if req.kind == "scheduled" and assigned_agent_id is not None:
            req = CallbackRequest(**{**req.__dict__, "kind": "personal"})
        try:
            async with conn.transaction():
                row = await fetch_one(
                    conn,
                    "INSERT INTO callbacks (kind, campaign_id, contact_id, target_id, e164, name, window_start,"
                    " window_end, time_zone, queue, reason, notes, assigned_agent_id, created_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                    (req.kind, campaign_id, contact_id, target_id, req.e164, req.name, req.window_start,
                     req.window_end, req.time_zone, req.queue, req.reason, req.notes, assigned_agent_id,
                     created_by),
                )
        except errors.ForeignKeyViolation as exc:
            field = _FK_FIELDS.get(exc.diag.constraint_name or "", "callback")
            raise CallbackError("does not exist", field) from None
        assert row is not None
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
        await audit(conn, actor=f"agent:{created_by}" if created_by else "system", action="callback.create",
                    object_type="callback", object_id=row["id"],
                    details={"kind": req.kind, "target_id": target_id, "time_zone": req.time_zone})
        return _row(row)


async def get_callback(conn: AsyncConn, callback_id: int) -> Callback:
    row = await fetch_one(conn, "SELECT * FROM callbacks WHERE id = %s", (callback_id,))
    if row is None:
        raise CallbackError(f"no callback {callback_id}", "callback_id")
    return _row(row)


__all__ = [
    "DEFAULT_WINDOW", "KINDS", "MAX_AHEAD", "MIN_WINDOW", "Callback", "CallbackError", "CallbackRequest",
    "check_time_zone", "check_window", "create_callback", "get_callback", "normalize_phone",
    "validate_callback",
]
