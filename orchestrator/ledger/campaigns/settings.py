"""Settings validation: each value checked and normalised, the refusal naming the field."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from orchestrator.ledger.campaigns.model import (
    AMD_POLICIES,
    CADENCE_KEYS,
    CALLBACK_FALLBACKS,
    EDITABLE_FIELDS,
    MODES,
    PREVIEW_AUTO_ACTIONS,
    PROGRESSIVE_FLAVOURS,
    CampaignError,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}\Z")  # \Z: "$" admits a final newline
_E164 = re.compile(r"\+[1-9][0-9]{6,14}\Z")



def _fail(field: str, message: str) -> CampaignError:
    return CampaignError(message, field)


def _int(field: str, v: Any, lo: int | None = None, hi: int | None = None, *, nullable: bool = False) -> int | None:
    if v is None:
        if nullable:
            return None
        raise _fail(field, "is required")
    if isinstance(v, bool) or not isinstance(v, int):
        text = str(v).strip()
        # ASCII only: int() also reads '٣٠' (Arabic-Indic) as 30
        if not (text.isascii() and text.lstrip("+-").isdigit()):
            raise _fail(field, f"must be a whole number, got {v!r}")
        v = int(text, 10)
    if lo is not None and v < lo:
        raise _fail(field, f"must be at least {lo}, got {v}")
    if hi is not None and v > hi:
        raise _fail(field, f"must be at most {hi}, got {v}")
    return int(v)


def _num(field: str, v: Any, lo: float, hi: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise _fail(field, f"must be a number, got {v!r}") from None
    if not lo <= f <= hi:
        raise _fail(field, f"must be between {lo:g} and {hi:g}, got {f:g}")
    return f


def _choice(field: str, v: Any, choices: tuple[str, ...]) -> str:
    if v not in choices:
        raise _fail(field, f"must be one of {', '.join(choices)}; got {v!r}")
    return str(v)


def _bool(field: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise _fail(field, f"must be true or false, got {v!r}")


def _duration(field: str, v: Any, *, nullable: bool = False) -> timedelta | None:
    if v is None and nullable:
        return None
    if isinstance(v, timedelta):
        d = v
    elif isinstance(v, int | float) and not isinstance(v, bool):
        d = timedelta(seconds=v)
    elif isinstance(v, str):
        try:
            d = parse_duration(v)
        except ValueError as exc:
            raise _fail(field, str(exc)) from None
    else:
        raise _fail(field, f"must be a duration, got {v!r}")
    if d < timedelta(0):
        raise _fail(field, "must not be negative")
    return d


def _time(field: str, v: Any) -> time:
    if isinstance(v, time):
        return v
    if isinstance(v, str):
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", v.strip())
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
            return time(int(m.group(1)), int(m.group(2)))
    raise _fail(field, f"must be a time of day HH:MM, got {v!r}")


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)")


def parse_duration(text: str) -> timedelta:
    """'72h', '30m', '1d', '90s', '1h30m' or plain seconds ('3600') -> timedelta."""
    s = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return timedelta(seconds=float(s))
    if not s or not re.fullmatch(r"(\d+(\.\d+)?(d|h|m|s))+", s):
        raise ValueError(f"must be a duration like 72h, 30m, 1d, 90s or 1h30m; got {text!r}")
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return timedelta(seconds=sum(float(n) * units[u] for n, u in _DURATION_PART.findall(s)))


def parse_window(text: str) -> tuple[time, time]:
    """'09:00-21:00' -> (time(9), time(21)); raises CampaignError naming `window`."""
    parts = text.split("-")
    if len(parts) != 2:
        raise _fail("window", f"must look like 09:00-21:00, got {text!r}")
    start, end = _time("window", parts[0]), _time("window", parts[1])
    if not start < end:
        raise _fail("window", f"start must be before end, got {text!r}")
    return start, end


_DAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


def parse_days(text: str) -> tuple[int, ...]:
    """'mon-fri', 'mon,wed,fri', '1-5', '1,2,3' -> ISO weekdays."""
    def one(tok: str) -> int:
        tok = tok.strip().lower()[:3]
        if tok in _DAY_NAMES:
            return _DAY_NAMES[tok]
        if tok.isascii() and tok.isdigit() and 1 <= int(tok) <= 7:
            return int(tok)
        raise _fail("window_days", f"unknown day {tok!r} (mon..sun or 1..7)")

    days: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            lo, hi = one(a), one(b)
            if lo > hi:
                raise _fail("window_days", f"range {part!r} runs backwards")
            days.update(range(lo, hi + 1))
        elif part.strip():
            days.add(one(part))
    if not days:
        raise _fail("window_days", "needs at least one day")
    return tuple(sorted(days))


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(
            "name",
            "must be 1-64 characters: letters, digits, space, _ . - (starting with a letter or digit);"
            f" got {name!r}",
        )
    return name


def _window_days(field: str, v: Any) -> list[int]:
    if isinstance(v, str):
        return list(parse_days(v))
    try:
        days = sorted({int(d) for d in v})
    except (TypeError, ValueError):
        raise _fail(field, f"must be ISO weekdays 1..7, got {v!r}") from None
    if not days or days[0] < 1 or days[-1] > 7:
        raise _fail(field, f"must be ISO weekdays 1..7, got {v!r}")
    return days


def _cadence(field: str, v: Any) -> Jsonb:
    if not isinstance(v, Mapping):
        raise _fail(field, "must map telephony outcomes to seconds")
    cad: dict[str, int] = {}
    for k, secs in v.items():
        if k not in CADENCE_KEYS:
            raise _fail(f"cadence.{k}", f"unknown outcome; use one of {', '.join(CADENCE_KEYS)}")
        d = _duration(f"cadence.{k}", secs)
        assert d is not None
        cad[k] = int(d.total_seconds())
    return Jsonb(cad)


def _amd_message(field: str, v: Any) -> Any:
    if v is not None and (not isinstance(v, str) or not v.strip()):
        raise _fail(field, "must be a non-empty media URI (e.g. sound:vm-drop) or null")
    return v


def _silent_call_message(field: str, v: Any) -> Any:
    if not isinstance(v, str) or not v.strip():
        raise _fail(field, "must be a non-empty media URI (e.g. sound:dialer/silent-call)")
    return v


def _caller_id(field: str, v: Any) -> Any:
    if v is not None and (not isinstance(v, str) or not _E164.match(v)):
        raise _fail(field, f"must be an E.164 number like +14155550100, got {v!r}")
    return v


_QUEUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}\Z")


def _callback_queue(field: str, v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, str) or not _QUEUE.match(v):
        raise _fail(field, "must be an Asterisk queue name (letters, digits, _ . -; at most 80) "
                           f"or null, got {v!r}")
    return v


def _ranged_int(lo: int, hi: int | None, *, nullable: bool = False) -> Callable[[str, Any], Any]:
    return lambda field, v: _int(field, v, lo, hi, nullable=nullable)


def _one_of(choices: tuple[str, ...]) -> Callable[[str, Any], Any]:
    return lambda field, v: _choice(field, v, choices)


def _decimal(lo: float, hi: float, places: int) -> Callable[[str, Any], Any]:
    return lambda field, v: Decimal(str(round(_num(field, v, lo, hi), places)))


# One validator per editable setting: (field name, value) -> the value to store.
_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "mode": _one_of(MODES),
    "progressive_flavour": _one_of(PROGRESSIVE_FLAVOURS),
    "amd_policy": _one_of(AMD_POLICIES),
    "preview_auto_action": _one_of(PREVIEW_AUTO_ACTIONS),
    "power_lines_per_agent": _decimal(1, 10, 2),
    "abandon_cap": _decimal(0, 0.2, 4),
    "abandon_grace_seconds": _decimal(0, 10, 1),
    "abandon_lock": _duration,
    "min_gap": _duration,
    "preview_delay": _duration,
    "no_answer_timeout_s": _ranged_int(15, 120),
    "window_start": _time,
    "window_end": _time,
    "window_days": _window_days,
    "max_attempts_per_target": _ranged_int(1, 1000),
    "max_attempts_per_contact": _ranged_int(1, None, nullable=True),
    "max_amd_per_target": _ranged_int(1, 1000),
    "cadence": _cadence,
    "amd_message": _amd_message,
    "silent_call_message": _silent_call_message,
    "caller_id": _caller_id,
    "preview_timeout_s": _ranged_int(5, 3600),
    "preview_allow_skip": _bool,
    "preview_allow_remove": _bool,
    "recording": _bool,
    "masking": _bool,
    "wrapup_seconds": _ranged_int(0, 3600),
    "recording_resume_s": _ranged_int(5, 3600),
    "max_concurrent_calls": _ranged_int(1, None, nullable=True),
    "wrapup_code_set_id": _ranged_int(1, None, nullable=True),
    "default_wrapup_code_id": _ranged_int(1, None, nullable=True),
    "personal_callback_fallback": _one_of(CALLBACK_FALLBACKS),
    "callback_attempts": _ranged_int(1, 10),
    "callback_retry_delay": _duration,
    "callback_queue": _callback_queue,
}


def validate_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise settings (names as in Campaign); raises CampaignError(field).

    Cross-field checks that need the current row (window start < end) are done by
    `create_campaign` / `update_campaign` on the merged values.
    """
    out: dict[str, Any] = {}
    for field, v in changes.items():
        if field not in EDITABLE_FIELDS:
            raise _fail(field, "is not a campaign setting" if field not in ("id", "status", "created_at", "updated_at") else "cannot be set directly")
        validator = _VALIDATORS.get(field)
        if validator is None:  # pragma: no cover - EDITABLE_FIELDS and the table list the same names
            raise _fail(field, "has no validator")
        out[field] = validator(field, v)
    if "amd_policy" in out and out["amd_policy"] == "voicemail_drop" and changes.get("amd_message", "") is None:
        raise _fail("amd_message", "is required when amd_policy is voicemail_drop")
    return out


# Constraint name -> the field to name when the database refuses a value.
_CONSTRAINT_FIELD = {
    "campaigns_check": "window",
    "campaigns_name_key": "name",
    "campaigns_wrapup_code_set_id_fkey": "wrapup_code_set_id",
    "campaigns_default_wrapup_code_id_fkey": "default_wrapup_code_id",
}


def _db_error(exc: psycopg.errors.IntegrityError) -> CampaignError:
    cname = exc.diag.constraint_name or ""
    if cname == "campaigns_name_key":
        return _fail("name", "a campaign with this name already exists")
    if cname == "campaigns_callback_queue":
        return _fail("callback_queue", "another campaign already dials this queue's callbacks")
    field = _CONSTRAINT_FIELD.get(cname)
    if field is None and cname.startswith("campaigns_") and cname.endswith("_check"):
        field = cname[len("campaigns_"):-len("_check")]
    return _fail(field or "campaign", exc.diag.message_primary or str(exc))
