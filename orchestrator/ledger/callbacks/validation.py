"""The rules of a callback's fields (MISSION F), each refused with a `CallbackError`
naming the field. No database access.

* ``phone``: 7 to 15 characters of digits, a leading ``+`` (country code), spaces and
  ``- . ,``; normalized to E.164 (a number without ``+`` needs a default region, e.g.
  the region of the contact's own number).
* ``name``: 3 to 250 Unicode characters (NFC) when given, or when required.
* ``window_start`` / ``window_end``: aware instants; the window is at least 30 minutes
  long, starts in the future and ends at most 31 days ahead. An API caller gives a
  ``date`` with a ``start_time`` and an ``end_time`` (and an ``end_date`` for a window
  over several days) in ``time_zone``: `local_window` makes the instants.
* ``time_zone``: a known IANA zone.
* ``reason``: at most 250 characters; ``notes`` at most 2000; ``queue`` an Asterisk
  queue name (letters, digits, ``_ . -``, at most 80).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.core.phones import PhoneError, normalize_e164
from orchestrator.core.preview import local_callback_time

KINDS = ("scheduled", "personal", "web", "queue")
STATUSES = ("pending", "offered", "dialing", "done", "failed", "missed", "deleted")
OPEN_STATUSES = ("pending", "offered", "dialing")
"""A callback in one of these may still be dialed."""
MIN_WINDOW = timedelta(minutes=30)
"""A callback window is at least this long."""
MAX_AHEAD = timedelta(days=31)
"""A callback window ends at most this far ahead."""
DEFAULT_WINDOW = MIN_WINDOW
"""The window of a callback given only a start (a preview's Reschedule)."""
PHONE_CHARS = re.compile(r"^\+?[0-9 .,\-]+$")
_SEPARATORS = re.compile(r"[ .,\-]")
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}\Z")
"""An Asterisk queue's name as campaigns.callback_queue stores it."""


class CallbackError(ValueError):
    """A callback was refused; ``field`` names the offending value."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.message = message
        self.field = field


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
                 end_field: str = "window_end", ahead_field: str | None = None,
                 ) -> tuple[datetime, datetime]:
    """The window [start, end]: aware, at least 30 minutes long, starting after `now` and
    ending at most 31 days after it. `end` None means start + 30 minutes. The fields
    named are the caller's (an API caller's window is a date with start and end times:
    `ahead_field` names what is too far ahead, the end by default)."""
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
        raise CallbackError("the window must end at most 31 days ahead", ahead_field or end_field)
    return start, end


def local_window(day: Any, start_time: Any, end_time: Any, time_zone: Any, *,
                 end_date: Any = None) -> tuple[datetime, datetime, str]:
    """A date with a start-end window as wall-clock times in an IANA zone -> the aware
    instants and the zone. A time the zone skips (daylight saving) is refused naming its
    field; one it repeats means its first occurrence."""
    zone = check_time_zone(time_zone)
    if not isinstance(day, date) or isinstance(day, datetime):
        raise CallbackError("must be a date (YYYY-MM-DD)", "date")
    if end_date is None:
        end_date = day
    if not isinstance(end_date, date) or isinstance(end_date, datetime):
        raise CallbackError("must be a date (YYYY-MM-DD)", "end_date")
    instants = []
    for d, t, field in ((day, start_time, "start_time"), (end_date, end_time, "end_time")):
        if not isinstance(t, time) or t.tzinfo is not None:
            raise CallbackError("must be a time of day (HH:MM) without a zone", field)
        try:
            instants.append(local_callback_time(d, t, zone))
        except ValueError as exc:
            raise CallbackError(str(exc).partition(": ")[2] or str(exc), field) from None
    if instants[1] <= instants[0]:
        raise CallbackError("must be after start_time (give end_date for a window past "
                            "midnight)", "end_time")
    return instants[0], instants[1], zone


def _text(raw: Any, field: str, *, lo: int = 0, hi: int, required: bool = False) -> str | None:
    if raw is None:
        if required:
            raise CallbackError("is required", field)
        return None
    if not isinstance(raw, str):
        raise CallbackError("must be text", field)
    # NFC: "é" typed as e + combining accent is one character, as the customer sees it.
    value: str = unicodedata.normalize("NFC", raw.strip())
    if not value and lo == 0 and not required:
        return None
    if not lo <= len(value) <= hi:
        raise CallbackError(f"must be {lo} to {hi} characters, got {len(value)}" if lo
                            else f"must be at most {hi} characters, got {len(value)}", field)
    return value


def check_queue(raw: Any, *, field: str = "queue") -> str | None:
    """An Asterisk queue name, or None."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str) or not QUEUE_NAME.match(raw.strip()):
        raise CallbackError("must be an Asterisk queue name: letters, digits and _ . -, "
                            "at most 80", field)
    return raw.strip()


def check_name(raw: Any, *, required: bool = False) -> str | None:
    return _text(raw, "name", lo=3, hi=250, required=required)


def check_reason(raw: Any) -> str | None:
    return _text(raw, "reason", hi=250)


def check_notes(raw: Any) -> str | None:
    return _text(raw, "notes", hi=2000)


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
    name_required: bool = False,
) -> CallbackRequest:
    """Check every field (first offence raised, naming its field); no database access."""
    if kind not in KINDS:
        raise CallbackError(f"must be one of {', '.join(KINDS)}; got {kind!r}", "kind")
    e164 = normalize_phone(phone, default_region=default_region)
    zone = check_time_zone(time_zone)
    start, end = check_window(window_start, window_end, now)
    return CallbackRequest(
        kind=kind, e164=e164, window_start=start, window_end=end, time_zone=zone,
        name=check_name(name, required=name_required), queue=check_queue(queue),
        reason=check_reason(reason), notes=check_notes(notes),
    )
