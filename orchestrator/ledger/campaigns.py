"""Campaigns in the ledger: typed settings, validation naming the field, status transitions,
wrap-up codes.

Status transitions (each writes an audit_log row):

    draft   --start--> running
    paused  --start--> running
    stopped --start--> running    (a stopped campaign can be restarted; its leases were released)
    running --pause--> paused
    draft | running | paused --stop--> stopped   (releases every target lease of the campaign)

`completed` is set by the runtime when nothing is left to dial; it can be started again
after new contacts are imported.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from orchestrator.core.rules import (
    DEFAULT_CADENCE,
    DEFAULT_OUTCOME_CLASSES,
    CallingWindow,
    DialingPolicy,
    OutcomeClass,
    normalize_outcome,
)
from orchestrator.ledger.pool import AsyncConn, audit, execute, fetch_all, fetch_one

MODES = ("preview", "direct_preview", "progressive", "power", "predictive")
STATUSES = ("draft", "running", "paused", "stopped", "completed")
AMD_POLICIES = ("off", "hangup", "voicemail_drop", "pass_to_agent")
PROGRESSIVE_FLAVOURS = ("agent_first", "customer_first")
PREVIEW_AUTO_ACTIONS = ("skip", "accept", "remove")
OUTCOME_CLASSES = ("final_success", "final_failure", "retry", "dnc")
# Telephony outcomes a campaign's cadence may name (attempts.outcome values that can be retried).
CADENCE_KEYS = (
    "human", "machine", "fax", "busy", "no_answer", "congestion", "failed", "invalid_number",
    "abandoned", "cancelled_by_agent", "rejected_by_agent", "not_dialed", "unknown",
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}\Z")  # \Z: "$" admits a final newline
_E164 = re.compile(r"\+[1-9][0-9]{6,14}\Z")


class CampaignError(Exception):
    """A campaign operation was refused; `field` names the offending setting when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class CampaignNotFound(CampaignError):
    """No campaign by that name or id."""


class CampaignTransitionError(CampaignError):
    """The status change is not allowed from the campaign's current status."""


@dataclass(frozen=True)
class Campaign:
    """Every column of `campaigns`, typed. Durations are timedelta, times of day are time."""

    id: int
    name: str
    status: str
    """draft | running | paused | stopped | completed"""
    mode: str
    """preview | direct_preview | progressive | power | predictive"""
    progressive_flavour: str
    """agent_first (agent hears ringing) | customer_first (merge on live answer, zip tone)"""
    power_lines_per_agent: float
    abandon_cap: float
    """Fraction, e.g. 0.03 for 3 %."""
    abandon_grace_seconds: float
    """A live answer not bridged to an agent within this many seconds is abandoned."""
    abandon_lock: timedelta
    """No repeat call to an abandoned number within this time (72 h by default)."""
    no_answer_timeout_s: int
    window_start: time
    window_end: time
    window_days: tuple[int, ...]
    """ISO weekdays, 1 = Monday."""
    min_gap: timedelta
    """Minimum gap between two calls to the same number, across campaigns."""
    max_attempts_per_target: int
    max_attempts_per_contact: int | None
    max_amd_per_target: int
    cadence: dict[str, int]
    """Telephony outcome (see CADENCE_KEYS) -> seconds before the target may be retried."""
    amd_policy: str
    """off | hangup | voicemail_drop | pass_to_agent"""
    amd_message: str | None
    silent_call_message: str
    caller_id: str | None
    preview_timeout_s: int
    preview_auto_action: str
    preview_allow_skip: bool
    preview_allow_remove: bool
    preview_delay: timedelta
    wrapup_code_set_id: int | None
    wrapup_seconds: int
    default_wrapup_code_id: int | None
    max_concurrent_calls: int | None
    recording: bool
    recording_resume_s: int
    masking: bool
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (durations in seconds, times as HH:MM)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, timedelta):
                v = int(v.total_seconds())
            elif isinstance(v, time):
                v = v.strftime("%H:%M")
            elif isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


# Settings a caller may set on create/update (everything but id, name, status, timestamps).
EDITABLE_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(Campaign)
    if f.name not in ("id", "name", "status", "created_at", "updated_at")
)


@dataclass(frozen=True)
class WrapUpCode:
    """A disposition an agent (or the system) can give an attempt."""

    id: int
    label: str
    outcome_class: str
    """final_success | final_failure | retry | dnc"""
    retry_after: timedelta | None
    is_system: bool
    code_set_id: int | None
    """None for the system defaults every campaign has."""


# ---------------------------------------------------------------- validation


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


def validate_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise settings (names as in Campaign); raises CampaignError(field).

    Cross-field checks that need the current row (window start < end) are done by
    `create_campaign` / `update_campaign` on the merged values.
    """
    out: dict[str, Any] = {}
    for field, v in changes.items():
        if field not in EDITABLE_FIELDS:
            raise _fail(field, "is not a campaign setting" if field not in ("id", "status", "created_at", "updated_at") else "cannot be set directly")
        if field == "mode":
            out[field] = _choice(field, v, MODES)
        elif field == "progressive_flavour":
            out[field] = _choice(field, v, PROGRESSIVE_FLAVOURS)
        elif field == "amd_policy":
            out[field] = _choice(field, v, AMD_POLICIES)
        elif field == "preview_auto_action":
            out[field] = _choice(field, v, PREVIEW_AUTO_ACTIONS)
        elif field == "power_lines_per_agent":
            out[field] = Decimal(str(round(_num(field, v, 1, 10), 2)))
        elif field == "abandon_cap":
            f = _num(field, v, 0, 0.2)
            out[field] = Decimal(str(round(f, 4)))
        elif field == "abandon_grace_seconds":
            out[field] = Decimal(str(round(_num(field, v, 0, 10), 1)))
        elif field in ("abandon_lock", "min_gap", "preview_delay"):
            out[field] = _duration(field, v)
        elif field == "no_answer_timeout_s":
            out[field] = _int(field, v, 15, 120)
        elif field in ("window_start", "window_end"):
            out[field] = _time(field, v)
        elif field == "window_days":
            if isinstance(v, str):
                out[field] = list(parse_days(v))
            else:
                try:
                    days = sorted({int(d) for d in v})
                except (TypeError, ValueError):
                    raise _fail(field, f"must be ISO weekdays 1..7, got {v!r}") from None
                if not days or days[0] < 1 or days[-1] > 7:
                    raise _fail(field, f"must be ISO weekdays 1..7, got {v!r}")
                out[field] = days
        elif field == "max_attempts_per_target":
            out[field] = _int(field, v, 1, 1000)
        elif field == "max_attempts_per_contact":
            out[field] = _int(field, v, 1, None, nullable=True)
        elif field == "max_amd_per_target":
            out[field] = _int(field, v, 1, 1000)
        elif field == "cadence":
            if not isinstance(v, Mapping):
                raise _fail(field, "must map telephony outcomes to seconds")
            cad: dict[str, int] = {}
            for k, secs in v.items():
                if k not in CADENCE_KEYS:
                    raise _fail(f"cadence.{k}", f"unknown outcome; use one of {', '.join(CADENCE_KEYS)}")
                d = _duration(f"cadence.{k}", secs)
                assert d is not None
                cad[k] = int(d.total_seconds())
            out[field] = Jsonb(cad)
        elif field in ("amd_message",):
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise _fail(field, "must be a non-empty media URI (e.g. sound:vm-drop) or null")
            out[field] = v
        elif field == "silent_call_message":
            if not isinstance(v, str) or not v.strip():
                raise _fail(field, "must be a non-empty media URI (e.g. sound:dialer/silent-call)")
            out[field] = v
        elif field == "caller_id":
            if v is not None and (not isinstance(v, str) or not _E164.match(v)):
                raise _fail(field, f"must be an E.164 number like +14155550100, got {v!r}")
            out[field] = v
        elif field == "preview_timeout_s":
            out[field] = _int(field, v, 5, 3600)
        elif field in ("preview_allow_skip", "preview_allow_remove", "recording", "masking"):
            out[field] = _bool(field, v)
        elif field == "wrapup_seconds":
            out[field] = _int(field, v, 0, 3600)
        elif field == "recording_resume_s":
            out[field] = _int(field, v, 5, 3600)
        elif field == "max_concurrent_calls":
            out[field] = _int(field, v, 1, None, nullable=True)
        elif field in ("wrapup_code_set_id", "default_wrapup_code_id"):
            out[field] = _int(field, v, 1, None, nullable=True)
        else:  # pragma: no cover - EDITABLE_FIELDS and this chain list the same names
            raise _fail(field, "has no validator")
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
    field = _CONSTRAINT_FIELD.get(cname)
    if field is None and cname.startswith("campaigns_") and cname.endswith("_check"):
        field = cname[len("campaigns_"):-len("_check")]
    return _fail(field or "campaign", exc.diag.message_primary or str(exc))


# ---------------------------------------------------------------- reads


def campaign_from_row(row: Mapping[str, Any]) -> Campaign:
    """A campaigns row (as a mapping) to Campaign."""
    kw = {f.name: row[f.name] for f in dataclasses.fields(Campaign)}
    for k in ("power_lines_per_agent", "abandon_cap", "abandon_grace_seconds"):
        kw[k] = float(kw[k])
    kw["window_days"] = tuple(kw["window_days"])
    kw["cadence"] = {str(k): int(v) for k, v in (kw["cadence"] or {}).items()}
    return Campaign(**kw)


async def get_campaign(conn: AsyncConn, name_or_id: str | int) -> Campaign:
    """The campaign by name (str) or id (int); raises CampaignNotFound."""
    if isinstance(name_or_id, int):
        row = await fetch_one(conn, "SELECT * FROM campaigns WHERE id = %s", (name_or_id,))
    else:
        row = await fetch_one(conn, "SELECT * FROM campaigns WHERE name = %s", (name_or_id,))
    if row is None:
        raise CampaignNotFound(f"no campaign {name_or_id!r}", "name" if isinstance(name_or_id, str) else "id")
    return campaign_from_row(row)


async def list_campaigns(conn: AsyncConn, *, status: str | None = None) -> list[Campaign]:
    """All campaigns (optionally of one status), by name."""
    if status is None:
        rows = await fetch_all(conn, "SELECT * FROM campaigns ORDER BY name")
    else:
        rows = await fetch_all(conn, "SELECT * FROM campaigns WHERE status = %s ORDER BY name", (status,))
    return [campaign_from_row(r) for r in rows]


async def campaign_teams(conn: AsyncConn, campaign_id: int) -> list[str]:
    """Names of the teams linked to a campaign."""
    rows = await fetch_all(
        conn,
        "SELECT t.name FROM campaign_teams ct JOIN teams t ON t.id = ct.team_id"
        " WHERE ct.campaign_id = %s ORDER BY t.name",
        (campaign_id,),
    )
    return [r["name"] for r in rows]


# ---------------------------------------------------------------- writes


async def _check_code_refs(conn: AsyncConn, values: Mapping[str, Any], current: Campaign | None) -> None:
    code_id = values.get("default_wrapup_code_id")
    if code_id is None:
        return
    set_id = values.get("wrapup_code_set_id", current.wrapup_code_set_id if current else None)
    row = await fetch_one(conn, "SELECT code_set_id FROM wrapup_codes WHERE id = %s", (code_id,))
    if row is None or (row["code_set_id"] is not None and row["code_set_id"] != set_id):
        raise _fail("default_wrapup_code_id", f"wrap-up code {code_id} is not in this campaign's set")


async def create_campaign(
    conn: AsyncConn,
    name: str,
    *,
    actor: str = "system",
    teams: Iterable[str] = (),
    **settings: Any,
) -> Campaign:
    """Create a campaign in status draft; unspecified settings take the schema defaults.

    Teams are linked by name and must exist. Raises CampaignError naming the field.
    """
    validate_name(name)
    values = validate_settings(settings)
    if "window_start" in values or "window_end" in values:
        ws = values.get("window_start", time(9, 0))
        we = values.get("window_end", time(21, 0))
        if not ws < we:
            raise _fail("window", "start must be before end")
    team_names = list(teams)
    async with conn.transaction():
        await _check_code_refs(conn, values, None)
        cols = ["name", *values.keys()]
        query = sql.SQL("INSERT INTO campaigns ({}) VALUES ({}) RETURNING *").format(
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)),
        )
        try:
            async with conn.transaction():
                row = await fetch_one(conn, query, [name, *values.values()])
        except psycopg.errors.IntegrityError as exc:
            raise _db_error(exc) from None
        assert row is not None
        campaign = campaign_from_row(row)
        for team in team_names:
            await link_team(conn, campaign.id, team, actor=actor)
        await audit(
            conn, actor=actor, action="campaign.create", object_type="campaign", object_id=campaign.id,
            details={"name": name, "settings": sorted(values.keys()), "teams": team_names},
        )
    return campaign


async def update_campaign(
    conn: AsyncConn, name_or_id: str | int, changes: Mapping[str, Any], *, actor: str = "system"
) -> Campaign:
    """Change settings (names as in Campaign, plus `name` to rename).

    Raises CampaignError naming the field; nothing is changed when any field is bad.
    """
    changes = dict(changes)
    new_name = changes.pop("name", None)
    values = validate_settings(changes)
    if new_name is not None:
        values["name"] = validate_name(new_name)
    async with conn.transaction():
        current = await get_campaign(conn, name_or_id)
        await fetch_one(conn, "SELECT 1 FROM campaigns WHERE id = %s FOR UPDATE", (current.id,))
        ws = values.get("window_start", current.window_start)
        we = values.get("window_end", current.window_end)
        if not ws < we:
            raise _fail("window", f"start {ws:%H:%M} must be before end {we:%H:%M}")
        await _check_code_refs(conn, values, current)
        if not values:
            return current
        query = sql.SQL("UPDATE campaigns SET {}, updated_at = now() WHERE id = %s RETURNING *").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in values
            )
        )
        try:
            async with conn.transaction():
                row = await fetch_one(conn, query, [*values.values(), current.id])
        except psycopg.errors.IntegrityError as exc:
            raise _db_error(exc) from None
        assert row is not None
        await audit(
            conn, actor=actor, action="campaign.update", object_type="campaign", object_id=current.id,
            details={"fields": sorted(values.keys())},
        )
        return campaign_from_row(row)


_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("draft", "paused", "stopped", "completed"), "running"),
    "pause": (("running",), "paused"),
    "stop": (("draft", "running", "paused", "completed"), "stopped"),
}


async def transition_campaign(
    conn: AsyncConn, name_or_id: str | int, action: str, *, actor: str = "system", reason: str | None = None
) -> Campaign:
    """Apply start | pause | stop; raises CampaignTransitionError when not allowed from the status.

    Stopping releases every lease held on the campaign's targets.
    """
    if action not in _TRANSITIONS:
        raise CampaignError(f"unknown action {action!r}", "action")
    allowed_from, to = _TRANSITIONS[action]
    async with conn.transaction():
        current = await get_campaign(conn, name_or_id)
        row = await fetch_one(conn, "SELECT status FROM campaigns WHERE id = %s FOR UPDATE", (current.id,))
        assert row is not None
        status = row["status"]
        if status not in allowed_from:
            raise CampaignTransitionError(
                f"cannot {action} campaign {current.name!r}: it is {status}", "status"
            )
        row2 = await fetch_one(
            conn,
            "UPDATE campaigns SET status = %s, updated_at = now() WHERE id = %s RETURNING *",
            (to, current.id),
        )
        assert row2 is not None
        if to == "stopped":
            await execute(
                conn,
                "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL"
                " WHERE campaign_id = %s AND lease_owner IS NOT NULL",
                (current.id,),
            )
        details: dict[str, Any] = {"from": status, "to": to}
        if reason:
            details["reason"] = reason
        await audit(
            conn, actor=actor, action=f"campaign.{action}", object_type="campaign",
            object_id=current.id, details=details,
        )
        return campaign_from_row(row2)


async def start_campaign(conn: AsyncConn, name_or_id: str | int, *, actor: str = "system") -> Campaign:
    return await transition_campaign(conn, name_or_id, "start", actor=actor)


async def pause_campaign(conn: AsyncConn, name_or_id: str | int, *, actor: str = "system") -> Campaign:
    return await transition_campaign(conn, name_or_id, "pause", actor=actor)


async def stop_campaign(conn: AsyncConn, name_or_id: str | int, *, actor: str = "system") -> Campaign:
    return await transition_campaign(conn, name_or_id, "stop", actor=actor)


async def mark_completed(conn: AsyncConn, campaign_id: int, *, actor: str = "system") -> bool:
    """running -> completed when nothing is left to dial (the runtime decides that). True if changed."""
    async with conn.transaction():
        n = await execute(
            conn,
            "UPDATE campaigns SET status = 'completed', updated_at = now() WHERE id = %s AND status = 'running'",
            (campaign_id,),
        )
        if n:
            await audit(conn, actor=actor, action="campaign.complete", object_type="campaign",
                        object_id=campaign_id, details={"from": "running", "to": "completed"})
    return bool(n)


async def link_team(conn: AsyncConn, campaign_id: int, team: str, *, actor: str = "system") -> None:
    """Link an existing team (by name) to a campaign; idempotent."""
    row = await fetch_one(conn, "SELECT id FROM teams WHERE name = %s", (team,))
    if row is None:
        raise CampaignError(f"no team {team!r} (create it with `orchestrator team create`)", "team")
    n = await execute(
        conn,
        "INSERT INTO campaign_teams (campaign_id, team_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (campaign_id, row["id"]),
    )
    if n:
        await audit(conn, actor=actor, action="campaign.link_team", object_type="campaign",
                    object_id=campaign_id, details={"team": team})


# ---------------------------------------------------------------- wrap-up codes


def wrapup_code_from_row(r: Mapping[str, Any]) -> WrapUpCode:
    """A wrapup_codes row (as a mapping) to WrapUpCode."""
    return WrapUpCode(
        id=r["id"], label=r["label"], outcome_class=r["outcome_class"], retry_after=r["retry_after"],
        is_system=r["is_system"], code_set_id=r["code_set_id"],
    )


async def wrapup_codes(conn: AsyncConn, campaign_id: int) -> list[WrapUpCode]:
    """The campaign's codes: the system defaults, then the campaign set's own codes, by label."""
    rows = await fetch_all(
        conn,
        "SELECT w.* FROM wrapup_codes w WHERE w.code_set_id IS NULL"
        " OR w.code_set_id = (SELECT wrapup_code_set_id FROM campaigns WHERE id = %s)"
        " ORDER BY w.code_set_id NULLS FIRST, lower(w.label)",
        (campaign_id,),
    )
    return [wrapup_code_from_row(r) for r in rows]


async def system_wrapup_code(conn: AsyncConn, label: str) -> WrapUpCode:
    """A system default code by label (e.g. 'Busy')."""
    row = await fetch_one(
        conn, "SELECT * FROM wrapup_codes WHERE code_set_id IS NULL AND lower(label) = lower(%s)", (label,)
    )
    if row is None:
        raise CampaignError(f"no system wrap-up code {label!r}", "label")
    return wrapup_code_from_row(row)


async def find_wrapup_code(conn: AsyncConn, campaign_id: int, code: int | str) -> WrapUpCode:
    """A code valid for this campaign, by id or by label (case-insensitive); campaign codes win
    over system codes of the same label. Raises CampaignError naming `wrapup_code`."""
    for c in reversed(await wrapup_codes(conn, campaign_id)):
        if (isinstance(code, int) and c.id == code) or (isinstance(code, str) and c.label.lower() == code.lower()):
            return c
    raise CampaignError(f"{code!r} is not a wrap-up code of this campaign", "wrapup_code")


async def add_wrapup_code(
    conn: AsyncConn,
    campaign: str | int,
    label: str,
    outcome_class: str,
    *,
    retry_after: timedelta | str | int | None = None,
    actor: str = "system",
) -> WrapUpCode:
    """Add a custom code to the campaign's set (created on first use, named after the campaign)."""
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= 100:
        raise _fail("label", "must be 1-100 characters")
    label = label.strip()
    _choice("outcome_class", outcome_class, OUTCOME_CLASSES)
    ra = _duration("retry_after", retry_after, nullable=True)
    if ra is not None and outcome_class != "retry":
        raise _fail("retry_after", "only codes of class retry take a retry delay")
    async with conn.transaction():
        c = await get_campaign(conn, campaign)
        await fetch_one(conn, "SELECT 1 FROM campaigns WHERE id = %s FOR UPDATE", (c.id,))
        row = await fetch_one(conn, "SELECT wrapup_code_set_id FROM campaigns WHERE id = %s", (c.id,))
        assert row is not None
        set_id = row["wrapup_code_set_id"]
        if set_id is None:
            srow = await fetch_one(
                conn,
                "INSERT INTO wrapup_code_sets (name) VALUES (%s)"
                " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                (f"campaign:{c.name}"[:100],),
            )
            assert srow is not None
            set_id = srow["id"]
            await execute(conn, "UPDATE campaigns SET wrapup_code_set_id = %s, updated_at = now() WHERE id = %s",
                          (set_id, c.id))
        system = await fetch_one(
            conn, "SELECT 1 FROM wrapup_codes WHERE code_set_id IS NULL AND lower(label) = lower(%s)", (label,)
        )
        if system is not None:
            raise _fail("label", f"{label!r} is a system code already")
        try:
            async with conn.transaction():
                r = await fetch_one(
                    conn,
                    "INSERT INTO wrapup_codes (code_set_id, label, outcome_class, retry_after)"
                    " VALUES (%s, %s, %s, %s) RETURNING *",
                    (set_id, label, outcome_class, ra),
                )
        except errors.UniqueViolation:
            raise _fail("label", f"the campaign already has a code {label!r}") from None
        assert r is not None
        await audit(conn, actor=actor, action="campaign.add_wrapup_code", object_type="campaign",
                    object_id=c.id, details={"label": label, "outcome_class": outcome_class})
        return wrapup_code_from_row(r)


# ---------------------------------------------------------------- dialing policy

# attempts.outcome -> the label stored as targets.last_outcome when no wrap-up code applies.
# rules.normalize_outcome() of these labels gives the keys of rules.DEFAULT_CADENCE.
OUTCOME_LABELS: dict[str, str] = {
    "human": "Human answer",
    "machine": "Answering machine",
    "fax": "Fax",
    "busy": "Busy",
    "no_answer": "No answer",
    "congestion": "Congestion",
    "failed": "Failed",
    "invalid_number": "Invalid number",
    "abandoned": "Abandoned",
    "cancelled_by_agent": "Cancelled by agent",
    "rejected_by_agent": "Rejected by agent",
    "not_dialed": "Not dialed",
    "unknown": "Unknown",
}


def dialing_policy(campaign: Campaign, codes: Iterable[WrapUpCode]) -> DialingPolicy:
    """The rules.DialingPolicy of a campaign.

    Cadence precedence (later wins): rules.DEFAULT_CADENCE < system codes' retry_after <
    the campaign's own codes' retry_after < the campaign's `cadence` column (keyed by
    telephony outcome; `machine` also sets the 'Answering machine detected' code's delay).
    Outcome classes: rules.DEFAULT_OUTCOME_CLASSES plus every code of the campaign, plus
    'unknown' and 'not_dialed' as retry.
    """
    cadence: dict[str, timedelta] = dict(DEFAULT_CADENCE)
    classes: dict[str, OutcomeClass] = dict(DEFAULT_OUTCOME_CLASSES)
    for key in ("unknown", "not_dialed"):
        classes[key] = OutcomeClass.RETRY
    ordered = sorted(codes, key=lambda c: c.code_set_id is not None)  # system codes first
    for code in ordered:
        key = normalize_outcome(code.label)
        classes[key] = OutcomeClass(code.outcome_class)
        if code.retry_after is not None:
            cadence[key] = code.retry_after
    for outcome, seconds in campaign.cadence.items():
        delay = timedelta(seconds=seconds)
        cadence[normalize_outcome(OUTCOME_LABELS.get(outcome, outcome))] = delay
        if outcome == "machine":
            cadence["answering_machine_detected"] = delay
    return DialingPolicy(
        window=CallingWindow(
            start=campaign.window_start,
            end=campaign.window_end,
            weekdays=frozenset(d - 1 for d in campaign.window_days),
        ),
        max_attempts_per_contact=campaign.max_attempts_per_contact,
        min_gap_between_calls=campaign.min_gap,
        abandon_lock=campaign.abandon_lock,
        max_amd_detections=campaign.max_amd_per_target,
        cadence=cadence,
        outcome_classes=classes,
    )


async def load_dialing_policy(conn: AsyncConn, campaign: Campaign) -> DialingPolicy:
    """dialing_policy() with the campaign's wrap-up codes read from the ledger."""
    return dialing_policy(campaign, await wrapup_codes(conn, campaign.id))


# ---------------------------------------------------------------- pacer state


async def save_pacing_state(conn: AsyncConn, campaign_id: int, snapshot: Mapping[str, Any], *,
                            instance_id: str = "") -> None:
    """Store the predictive pacer's snapshot (`CampaignPacer.snapshot()`): what it learned and,
    above all, the abandon counts of the regulatory 24 h / 30-day windows, which must not reset
    when the service restarts. One row per campaign and instance, replaced on every save: each
    instance paces its own calls (sql/006). `instance_id` '' is a snapshot of no particular
    instance, which an instance without a row of its own starts from."""
    if not isinstance(snapshot, Mapping):
        raise CampaignError("must be a JSON object", "snapshot")
    if len(instance_id) > 200:
        raise CampaignError("must be at most 200 characters", "instance_id")
    try:
        await execute(
            conn,
            "INSERT INTO campaign_pacing_state (campaign_id, instance_id, snapshot, updated_at)"
            " VALUES (%s, %s, %s, now())"
            " ON CONFLICT (campaign_id, instance_id) DO UPDATE SET snapshot = EXCLUDED.snapshot,"
            " updated_at = now()",
            (campaign_id, instance_id, Jsonb(dict(snapshot))),
        )
    except errors.ForeignKeyViolation:
        raise CampaignNotFound(f"no campaign with id {campaign_id}", "campaign_id") from None


async def load_pacing_state(conn: AsyncConn, campaign_id: int, *,
                            instance_id: str = "") -> dict[str, Any] | None:
    """The instance's last saved pacer snapshot of the campaign, else the one of no
    particular instance (''), else None. Never another instance's: its abandon counts are
    of its own calls, and taking them up would forget this instance's."""
    row = await fetch_one(
        conn,
        "SELECT snapshot FROM campaign_pacing_state WHERE campaign_id = %s AND instance_id IN (%s, '')"
        " ORDER BY instance_id = %s DESC LIMIT 1",
        (campaign_id, instance_id, instance_id),
    )
    if row is None:
        return None
    snap = row["snapshot"]
    return dict(snap) if isinstance(snap, Mapping) else None


async def agent_campaigns(conn: AsyncConn, agent_id: int) -> list[Campaign]:
    """Campaigns an agent may log in to: those linked to one of its teams, and those linked
    to no team at all (open to every agent), by name."""
    rows = await fetch_all(
        conn,
        """SELECT c.* FROM campaigns c
            WHERE EXISTS (SELECT 1 FROM campaign_teams ct JOIN agent_teams at ON at.team_id = ct.team_id
                           WHERE ct.campaign_id = c.id AND at.agent_id = %(agent)s)
               OR NOT EXISTS (SELECT 1 FROM campaign_teams ct WHERE ct.campaign_id = c.id)
            ORDER BY c.name""",
        {"agent": agent_id},
    )
    return [campaign_from_row(r) for r in rows]
