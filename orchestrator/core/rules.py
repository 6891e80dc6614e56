"""Dialing rules: may this target be dialed now, and if not, why and when.

One pure function, :func:`evaluate`, answers for a target at an instant
either "dialable" or exactly one :class:`UnavailableReason`, with the
earliest instant it becomes dialable when that is only a matter of time.
The ledger calls it when a contact is claimed and again just before the
attempt row is committed; the importer and the agent desktop use it to show
a target's unavailable reason.

Priority (the first that applies is the reason; documented because the UI
shows only one):

1. ``Invalid target``   - no number, flagged invalid, or not E.164.
2. ``DNC``              - on the global or campaign DNC list (the caller
   resolves both lists and their expiry into ``on_dnc``), or the last
   outcome was classed do-not-call.
3. ``Complete``         - contact or target marked complete.
4. ``Exhausted``        - target attempts >= its max, contact attempts >= the
   campaign's per-contact max, or the contact has expired.
5. ``Max answering machine detections``.
6. ``Last outcome not valid for calling`` - last outcome is final (success or
   failure), or is a code the policy cannot classify (never guess a retry).
7. ``Offered``          - offered to an agent who rejected it.
8. ``Not in cadence``   - a time lock: retry delay for the last outcome, the
   minimum gap between calls to the number across all campaigns, the lock
   after an abandoned call (72 h by default), or ``available_from``.
9. ``Outside calling window``.

Reasons 1-7 are permanent (``next_dialable_at`` is None): only a change of
the facts (a requeue, a DNC expiry) makes the target dialable again. For 8
and 9, ``next_dialable_at`` is the earliest instant at which every time
constraint holds at once, or None when no such instant exists within
``policy.horizon`` (14 days) of the end of the time locks, when the zone is
unknown, or when the contact expires first.

Calling window semantics. The window is a span of local wall-clock time
(start inclusive, end exclusive) on allowed days. An instant is inside it in
a zone when the wall clock *shown* in that zone at that instant reads a time
in the span, on a local date whose hours allow it. This is the regulator's
reading ("not before 8 a.m. or after 9 p.m. local time at the called
party's location") and it settles DST deterministically:

* A start in a spring-forward gap (nonexistent local time) shifts forward:
  the window opens at the transition instant, the first wall reading after
  the start.
* An ambiguous start (fall-back) opens at its first occurrence (fold=0). A
  span that lies inside a repeated hour is inside twice, as the clock is.

The target's zones are the contact's own IANA zone when known, otherwise
every zone its number may be in (phonenumbers' prefix data); the window must
hold in all of them at once (strictest wins). No zone, or a zone name that
tzdata does not know, means never dialable.

All datetimes in and out are timezone-aware; results are in UTC. A naive
datetime raises ValueError naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.core.phones import candidate_time_zones

__all__ = [
    "DEFAULT_CADENCE",
    "DEFAULT_OUTCOME_CLASSES",
    "PERMANENT_REASONS",
    "CallingWindow",
    "DialingPolicy",
    "OutcomeClass",
    "TargetFacts",
    "UnavailableReason",
    "Verdict",
    "evaluate",
    "next_window_opening",
    "normalize_outcome",
    "resolve_zones",
    "target_zones",
    "window_intervals",
    "window_open",
]


class UnavailableReason(StrEnum):
    """Why a target cannot be dialed; values are the exact product strings."""

    EXHAUSTED = "Exhausted"
    COMPLETE = "Complete"
    DNC = "DNC"
    LAST_OUTCOME_NOT_VALID = "Last outcome not valid for calling"
    INVALID_TARGET = "Invalid target"
    MAX_AMD = "Max answering machine detections"
    NOT_IN_CADENCE = "Not in cadence"
    OFFERED = "Offered"
    OUTSIDE_CALLING_WINDOW = "Outside calling window"


PERMANENT_REASONS: frozenset[UnavailableReason] = frozenset(
    {
        UnavailableReason.INVALID_TARGET,
        UnavailableReason.DNC,
        UnavailableReason.COMPLETE,
        UnavailableReason.EXHAUSTED,
        UnavailableReason.MAX_AMD,
        UnavailableReason.LAST_OUTCOME_NOT_VALID,
        UnavailableReason.OFFERED,
    }
)
"""Reasons that time alone never clears (``next_dialable_at`` is None)."""


class OutcomeClass(StrEnum):
    """What an outcome or wrap-up code means for further dialing."""

    FINAL_SUCCESS = "final_success"
    FINAL_FAILURE = "final_failure"
    RETRY = "retry"
    DNC = "dnc"


_OUTCOME_SEP = re.compile(r"[\s\-/]+")


def normalize_outcome(code: str) -> str:
    """Canonical key of an outcome or wrap-up code: ``"No answer"`` -> ``"no_answer"``."""
    return _OUTCOME_SEP.sub("_", code.strip().lower())


DEFAULT_OUTCOME_CLASSES: Mapping[str, OutcomeClass] = MappingProxyType(
    {
        # Default wrap-up codes (MISSION B), by their normalized labels.
        "answering_machine_detected": OutcomeClass.RETRY,
        "busy": OutcomeClass.RETRY,
        "fax": OutcomeClass.FINAL_FAILURE,
        "no_answer": OutcomeClass.RETRY,
        "sale": OutcomeClass.FINAL_SUCCESS,
        "voicemail": OutcomeClass.RETRY,
        # Dialer outcomes recorded without an agent disposition.
        "human_answer": OutcomeClass.RETRY,
        "answering_machine": OutcomeClass.RETRY,
        "congestion": OutcomeClass.RETRY,
        "failed": OutcomeClass.RETRY,
        "invalid_number": OutcomeClass.FINAL_FAILURE,
        "abandoned": OutcomeClass.RETRY,
        "cancelled_by_agent": OutcomeClass.RETRY,
        "rejected_by_agent": OutcomeClass.RETRY,
        "dnc": OutcomeClass.DNC,
        "do_not_call": OutcomeClass.DNC,
    }
)
"""Outcome class of each default outcome/wrap-up code; campaigns extend it."""

DEFAULT_CADENCE: Mapping[str, timedelta] = MappingProxyType(
    {
        "busy": timedelta(minutes=10),
        "congestion": timedelta(minutes=10),
        "failed": timedelta(minutes=10),
        "no_answer": timedelta(hours=1),
        "answering_machine": timedelta(hours=4),
        "answering_machine_detected": timedelta(hours=4),
        "voicemail": timedelta(days=1),
        "human_answer": timedelta(days=1),
        "cancelled_by_agent": timedelta(minutes=5),
        "rejected_by_agent": timedelta(minutes=5),
    }
)
"""Retry delay after each retry-class outcome; others use the policy default."""

_MIDNIGHT = time(0)
_DAY = timedelta(days=1)


def _span(start: time, end: time, what: str) -> tuple[timedelta, timedelta]:
    """Local hours as offsets from midnight; an end of 00:00 means 24:00."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is not None:
            raise ValueError(f"{what} {name} must be a local (naive) time of day")
    s = timedelta(hours=start.hour, minutes=start.minute, seconds=start.second,
                  microseconds=start.microsecond)
    e = (
        _DAY
        if end == _MIDNIGHT
        else timedelta(hours=end.hour, minutes=end.minute, seconds=end.second,
                       microseconds=end.microsecond)
    )
    if not s < e:
        raise ValueError(f"{what}: start {start} must be before end {end} (00:00 = midnight)")
    return s, e


@dataclass(frozen=True)
class CallingWindow:
    """When a contact may be called, in the contact's local wall-clock time."""

    start: time = time(9)
    """Opening time of day, inclusive."""
    end: time = time(21)
    """Closing time of day, exclusive; ``time(0)`` means midnight at the end of the day."""
    weekdays: frozenset[int] = frozenset(range(7))
    """Allowed local weekdays, Monday=0 ... Sunday=6."""
    day_hours: Mapping[int, tuple[time, time] | None] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Per-weekday override of (start, end); None closes that weekday."""
    closed_dates: frozenset[date] = frozenset()
    """Local dates with no calling at all (holidays)."""
    _hours: tuple[tuple[timedelta, timedelta] | None, ...] = field(
        init=False, repr=False, compare=False, default=()
    )
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __hash__(self) -> int:
        # Explicit (dataclass keeps it): day_hours is a mapping, and windows key
        # the per-day interval cache, so the hash is computed once.
        return self._hash

    def __post_init__(self) -> None:
        _span(self.start, self.end, "calling window")
        bad = [d for d in self.weekdays if not (isinstance(d, int) and 0 <= d <= 6)]
        if bad:
            raise ValueError(f"calling window weekdays must be 0 (Monday) to 6, got {bad}")
        hours: dict[int, tuple[timedelta, timedelta] | None] = {}
        for day in range(7):
            if day in self.day_hours:
                override = self.day_hours[day]
                hours[day] = (
                    None if override is None
                    else _span(override[0], override[1], f"calling window day {day}")
                )
            elif day in self.weekdays:
                hours[day] = _span(self.start, self.end, "calling window")
            else:
                hours[day] = None
        bad_days = [d for d in self.day_hours if d not in range(7)]
        if bad_days:
            raise ValueError(f"calling window day_hours keys must be 0 to 6, got {bad_days}")
        object.__setattr__(self, "day_hours", MappingProxyType(dict(self.day_hours)))
        object.__setattr__(self, "_hours", tuple(hours[d] for d in range(7)))
        object.__setattr__(self, "_hash", hash((self._hours, self.closed_dates)))

    def hours_on(self, local_date: date) -> tuple[timedelta, timedelta] | None:
        """Open span of ``local_date`` as offsets from local midnight, or None if closed."""
        if local_date in self.closed_dates:
            return None
        return self._hours[local_date.weekday()]

    def contains_local(self, wall: datetime) -> bool:
        """Whether a local wall-clock reading is inside the window."""
        span = self.hours_on(wall.date())
        if span is None:
            return False
        since_midnight = timedelta(
            hours=wall.hour, minutes=wall.minute, seconds=wall.second,
            microseconds=wall.microsecond,
        )
        return span[0] <= since_midnight < span[1]


def _check_aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got a naive datetime")
    return value.astimezone(UTC)


def _check_delay(value: timedelta, name: str) -> None:
    if value < timedelta(0):
        raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True)
class DialingPolicy:
    """A campaign's dialing rules (everything :func:`evaluate` needs from it)."""

    window: CallingWindow = field(default_factory=CallingWindow)
    """Calling window in the contact's local time."""
    max_attempts_per_contact: int | None = None
    """Attempts across all of a contact's targets; None = no contact-level cap."""
    min_gap_between_calls: timedelta = timedelta(0)
    """Minimum time between two calls to the same number, across all campaigns."""
    abandon_lock: timedelta = timedelta(hours=72)
    """No call to a number within this long after an abandoned call to it."""
    max_amd_detections: int | None = None
    """A target whose answering-machine count reaches this is not dialed again."""
    cadence: Mapping[str, timedelta] = field(default_factory=lambda: DEFAULT_CADENCE)
    """Retry delay after each retry-class outcome (keys are outcome codes)."""
    default_retry_delay: timedelta = timedelta(hours=1)
    """Retry delay for retry-class outcomes missing from ``cadence``."""
    outcome_classes: Mapping[str, OutcomeClass] = field(
        default_factory=lambda: DEFAULT_OUTCOME_CLASSES
    )
    """Class of each outcome/wrap-up code (keys are outcome codes)."""
    horizon: timedelta = timedelta(days=14)
    """How far past the time locks to look for a window opening before giving up."""

    def __post_init__(self) -> None:
        for name in ("max_attempts_per_contact", "max_amd_detections"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        _check_delay(self.min_gap_between_calls, "min_gap_between_calls")
        _check_delay(self.abandon_lock, "abandon_lock")
        _check_delay(self.default_retry_delay, "default_retry_delay")
        if self.horizon <= timedelta(0):
            raise ValueError(f"horizon must be positive, got {self.horizon}")
        cadence: dict[str, timedelta] = {}
        for code, delay in self.cadence.items():
            _check_delay(delay, f"cadence[{code!r}]")
            cadence[normalize_outcome(code)] = delay
        classes = {normalize_outcome(c): OutcomeClass(k) for c, k in self.outcome_classes.items()}
        object.__setattr__(self, "cadence", MappingProxyType(cadence))
        object.__setattr__(self, "outcome_classes", MappingProxyType(classes))

    def classify(self, outcome: str) -> OutcomeClass | None:
        """Class of an outcome or wrap-up code, None when the policy does not know it."""
        return self.outcome_classes.get(normalize_outcome(outcome))

    def retry_delay(self, outcome: str) -> timedelta:
        """Cadence delay after a retry-class ``outcome``."""
        return self.cadence.get(normalize_outcome(outcome), self.default_retry_delay)


_DATETIME_FIELDS = (
    "last_attempt_at",
    "available_from",
    "last_call_at_any_campaign",
    "last_abandoned_at",
    "contact_expires_at",
)
_COUNT_FIELDS = ("attempts_made", "contact_attempts_made", "amd_count")


@dataclass(frozen=True)
class TargetFacts:
    """What the ledger knows about one target (phone number of a contact)."""

    e164: str | None
    """The number in E.164 form; None when the contact row had no usable number."""
    contact_time_zone: str | None = None
    """The contact's own IANA zone when known; it then overrides the number's zones."""
    number_time_zones: tuple[str, ...] | None = None
    """Zones the number may be in, as stored at import; None = derive from ``e164``."""
    invalid: bool = False
    """Flagged invalid (e.g. the network said the number does not exist)."""
    attempts_made: int = 0
    """Attempts made on this target."""
    max_attempts: int | None = None
    """Maximum attempts on this target ("5/10"); None = no per-target cap."""
    contact_attempts_made: int = 0
    """Attempts made on all targets of the contact."""
    contact_complete: bool = False
    """The contact was completed (e.g. final disposition on another target)."""
    target_complete: bool = False
    """This target was completed."""
    last_outcome: str | None = None
    """Last outcome or wrap-up code on this target."""
    last_outcome_class: OutcomeClass | None = None
    """Its class if the caller knows it; None = classify ``last_outcome`` by the policy."""
    last_attempt_at: datetime | None = None
    """When the last attempt on this target ended (cadence counts from here)."""
    amd_count: int = 0
    """Answering machines detected on this target."""
    available_from: datetime | None = None
    """Not before this instant (a reschedule or a snooze)."""
    offered_rejected: bool = False
    """Offered to an agent in preview who rejected it."""
    on_dnc: bool = False
    """On the global or this campaign's DNC list, expiry already applied by the caller."""
    last_call_at_any_campaign: datetime | None = None
    """Last call to this number in any campaign (for the minimum gap)."""
    last_abandoned_at: datetime | None = None
    """Last abandoned call to this number in any campaign."""
    contact_expires_at: datetime | None = None
    """The contact is not dialed at or after this instant."""

    def __post_init__(self) -> None:
        for name in _DATETIME_FIELDS:
            object.__setattr__(self, name, _check_aware(getattr(self, name), name))
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.max_attempts is not None and (
            not isinstance(self.max_attempts, int) or self.max_attempts < 0
        ):
            raise ValueError(f"max_attempts must be a non-negative integer, got {self.max_attempts!r}")
        if self.last_outcome_class is not None:
            object.__setattr__(self, "last_outcome_class", OutcomeClass(self.last_outcome_class))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of :func:`evaluate`."""

    dialable: bool
    """True when the target may be dialed at ``now``."""
    reason: UnavailableReason | None
    """None when dialable, else the one reason (see the priority in the module doc)."""
    next_dialable_at: datetime | None
    """``now`` when dialable; for time reasons the earliest instant every time rule
    holds; None for permanent reasons or when nothing opens within the horizon."""
    detail: str = ""
    """Human-readable explanation for logs and the agent desktop (no phone number)."""
    time_zones: tuple[str, ...] = ()
    """The zones the calling window was checked in."""


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@lru_cache(maxsize=1024)
def _zone(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def resolve_zones(keys: Iterable[str]) -> tuple[ZoneInfo, ...] | None:
    """ZoneInfo objects for zone names (deduplicated, in order); None when the list is
    empty or any name is unknown to tzdata: an unknown zone is never dialable."""
    zones: list[ZoneInfo] = []
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            continue
        zone = _zone(key)
        if zone is None:
            return None
        seen.add(key)
        zones.append(zone)
    return tuple(zones) if zones else None


def target_zones(target: TargetFacts) -> tuple[str, ...]:
    """Zone names whose calling window applies to ``target`` (may be empty: unknown)."""
    if target.contact_time_zone:
        return (target.contact_time_zone,)
    if target.number_time_zones is not None:
        return target.number_time_zones
    if target.e164 is None:
        return ()
    return candidate_time_zones(target.e164)


def window_open(window: CallingWindow, zones: Sequence[ZoneInfo], at: datetime) -> bool:
    """Whether ``at`` is inside ``window`` in every one of ``zones`` (False if none)."""
    at = _require_aware(at, "at")
    if not zones:
        return False
    return all(window.contains_local(at.astimezone(zone)) for zone in zones)


# --- interval arithmetic over UTC ------------------------------------------------

Interval = tuple[datetime, datetime]
"""A half-open UTC interval [start, end)."""

_PROBE = timedelta(hours=3)
"""Offset changes are found by probing every 3 h: no zone changes twice that fast."""


def _offset(zone: ZoneInfo, at: datetime) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None  # ZoneInfo always has one
    return offset


@lru_cache(maxsize=16384)
def _day_segments(zone: ZoneInfo, day_ordinal: int) -> tuple[tuple[datetime, datetime, timedelta], ...]:
    """The UTC day as [start, end, utc offset) pieces of constant offset in ``zone``."""
    day_start = datetime.combine(date.fromordinal(day_ordinal), _MIDNIGHT, UTC)
    day_end = day_start + _DAY
    segments: list[tuple[datetime, datetime, timedelta]] = []
    seg_start = day_start
    current = _offset(zone, day_start)
    probe = day_start
    while probe < day_end:
        nxt = probe + _PROBE
        after = _offset(zone, nxt)
        if after != current:
            # Transitions fall on whole seconds: bisect to the first second
            # with the new offset.
            lo, hi = probe, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
                if _offset(zone, mid) == current:
                    lo = mid
                else:
                    hi = mid
            if hi > seg_start:
                segments.append((seg_start, min(hi, day_end), current))
            seg_start, current = hi, after
        probe = nxt
    if seg_start < day_end:
        segments.append((seg_start, day_end, current))
    return tuple(segments)


@lru_cache(maxsize=65536)
def _zone_day_intervals(
    window: CallingWindow, zone: ZoneInfo, day_ordinal: int
) -> tuple[Interval, ...]:
    """UTC intervals within one UTC day when ``zone`` is in ``window``, sorted, merged.
    Cached: the dialer asks the same few zones about the same days all day long."""
    out: list[Interval] = []
    for lo, hi, offset in _day_segments(zone, day_ordinal):
        # Constant offset: wall = utc + offset, so "wall in [D+s, D+e)" is
        # "utc in [D+s-offset, D+e-offset)" for each local date D touched.
        day = (lo + offset).date()
        last = (hi - timedelta(microseconds=1) + offset).date()
        while day <= last:
            span = window.hours_on(day)
            if span is not None:
                midnight_utc = datetime.combine(day, _MIDNIGHT, UTC) - offset
                a, b = max(lo, midnight_utc + span[0]), min(hi, midnight_utc + span[1])
                if a < b:
                    if out and a <= out[-1][1]:
                        out[-1] = (out[-1][0], max(out[-1][1], b))
                    else:
                        out.append((a, b))
            day += _DAY
    return tuple(out)


@lru_cache(maxsize=16384)
def _day_intervals(
    window: CallingWindow, zones: tuple[ZoneInfo, ...], day_ordinal: int
) -> tuple[Interval, ...]:
    """UTC intervals within one UTC day when ``window`` holds in all ``zones``.

    Intersecting then clipping to a day equals clipping each zone to the day
    then intersecting, so whole-range answers are stitched from these cached
    days: a toll-free number's 42 zones are intersected once per day, not once
    per evaluation."""
    result = list(_zone_day_intervals(window, zones[0], day_ordinal))
    for zone in zones[1:]:
        if not result:
            break
        result = _intersect(result, list(_zone_day_intervals(window, zone, day_ordinal)))
    return tuple(result)


def _intersect(left: list[Interval], right: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        a = max(left[i][0], right[j][0])
        b = min(left[i][1], right[j][1])
        if a < b:
            out.append((a, b))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def window_intervals(
    window: CallingWindow, zones: Sequence[ZoneInfo], start: datetime, end: datetime
) -> list[Interval]:
    """UTC intervals within [start, end) when ``window`` holds in all ``zones``."""
    start = _require_aware(start, "start")
    end = _require_aware(end, "end")
    if not zones or start >= end:
        return []
    key = tuple(zones)
    out: list[Interval] = []
    for ordinal in range(start.toordinal(), (end - timedelta(microseconds=1)).toordinal() + 1):
        for a, b in _day_intervals(window, key, ordinal):
            a, b = max(a, start), min(b, end)
            if a >= b:
                continue
            if out and a <= out[-1][1]:  # a window running over UTC midnight
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
    return out


def next_window_opening(
    window: CallingWindow,
    zones: Sequence[ZoneInfo],
    after: datetime,
    horizon: timedelta = timedelta(days=14),
) -> datetime | None:
    """Earliest instant >= ``after`` inside ``window`` in all ``zones``, or None if
    there is none before ``after + horizon`` (or no zones)."""
    after = _require_aware(after, "after")
    if window_open(window, zones, after):
        return after
    return _search_opening(window, zones, after, horizon)


def _search_opening(
    window: CallingWindow, zones: Sequence[ZoneInfo], after: datetime, horizon: timedelta
) -> datetime | None:
    # Two days at a time: the common answer is "this evening" or "tomorrow morning".
    step_start = after
    limit = after + horizon
    while step_start < limit:
        step_end = min(step_start + _DAY * 2, limit)
        found = window_intervals(window, zones, step_start, step_end)
        if found:
            return found[0][0]
        step_start = step_end
    return None


def _require_aware(value: datetime, name: str) -> datetime:
    checked = _check_aware(value, name)
    assert checked is not None
    return checked


# --- the rule -------------------------------------------------------------------


def _permanent(target: TargetFacts, policy: DialingPolicy, now: datetime) -> Verdict | None:
    def no(reason: UnavailableReason, detail: str) -> Verdict:
        return Verdict(False, reason, None, detail)

    if target.invalid:
        return no(UnavailableReason.INVALID_TARGET, "target flagged invalid")
    if target.e164 is None or not _E164.fullmatch(target.e164):
        return no(UnavailableReason.INVALID_TARGET, "no E.164 number")
    outcome_class = target.last_outcome_class
    if outcome_class is None and target.last_outcome is not None:
        outcome_class = policy.classify(target.last_outcome)
    if target.on_dnc:
        return no(UnavailableReason.DNC, "number on a do-not-call list")
    if outcome_class is OutcomeClass.DNC:
        return no(UnavailableReason.DNC, f"last outcome {target.last_outcome!r} is do-not-call")
    if target.contact_complete:
        return no(UnavailableReason.COMPLETE, "contact complete")
    if target.target_complete:
        return no(UnavailableReason.COMPLETE, "target complete")
    if target.max_attempts is not None and target.attempts_made >= target.max_attempts:
        return no(
            UnavailableReason.EXHAUSTED,
            f"attempts {target.attempts_made}/{target.max_attempts}",
        )
    cap = policy.max_attempts_per_contact
    if cap is not None and target.contact_attempts_made >= cap:
        return no(
            UnavailableReason.EXHAUSTED,
            f"contact attempts {target.contact_attempts_made}/{cap}",
        )
    if target.contact_expires_at is not None and now >= target.contact_expires_at:
        return no(UnavailableReason.EXHAUSTED, "contact expired")
    if policy.max_amd_detections is not None and target.amd_count >= policy.max_amd_detections:
        return no(
            UnavailableReason.MAX_AMD,
            f"answering machines {target.amd_count}/{policy.max_amd_detections}",
        )
    if target.last_outcome is not None or outcome_class is not None:
        if outcome_class is None:
            return no(
                UnavailableReason.LAST_OUTCOME_NOT_VALID,
                f"last outcome {target.last_outcome!r} has no outcome class",
            )
        if outcome_class in (OutcomeClass.FINAL_SUCCESS, OutcomeClass.FINAL_FAILURE):
            return no(
                UnavailableReason.LAST_OUTCOME_NOT_VALID,
                f"last outcome {target.last_outcome!r} is {outcome_class.value}",
            )
    if target.offered_rejected:
        return no(UnavailableReason.OFFERED, "rejected by an agent")
    return None


def _time_locks(target: TargetFacts, policy: DialingPolicy) -> list[tuple[datetime, str]]:
    """(end, name) of every time lock on the target, in no particular order."""
    locks: list[tuple[datetime, str]] = []
    if target.available_from is not None:
        locks.append((target.available_from, "available from"))
    if target.last_attempt_at is not None and target.last_outcome is not None:
        locks.append(
            (target.last_attempt_at + policy.retry_delay(target.last_outcome), "retry cadence")
        )
    elif target.last_attempt_at is not None:
        locks.append((target.last_attempt_at + policy.default_retry_delay, "retry cadence"))
    if target.last_call_at_any_campaign is not None and policy.min_gap_between_calls:
        locks.append(
            (target.last_call_at_any_campaign + policy.min_gap_between_calls, "minimum gap")
        )
    if target.last_abandoned_at is not None and policy.abandon_lock:
        locks.append((target.last_abandoned_at + policy.abandon_lock, "abandon lock"))
    return locks


def evaluate(target: TargetFacts, policy: DialingPolicy, now: datetime) -> Verdict:
    """Whether ``target`` may be dialed at ``now`` under ``policy``; see the module doc
    for the reasons, their priority and the calling-window semantics."""
    now = _require_aware(now, "now")
    permanent = _permanent(target, policy, now)
    if permanent is not None:
        return permanent

    earliest, lock_name = now, ""
    for end, name in _time_locks(target, policy):
        if end > earliest:
            earliest, lock_name = end, name
    time_reason = (
        UnavailableReason.NOT_IN_CADENCE if earliest > now
        else UnavailableReason.OUTSIDE_CALLING_WINDOW
    )
    names = target_zones(target)
    zones = resolve_zones(names)
    if zones is None:
        return Verdict(
            False, time_reason, None,
            "time zone unknown: never dialable" if not names
            else f"time zone not in tzdata: {', '.join(names)}",
            names,
        )
    if earliest == now and window_open(policy.window, zones, now):
        return Verdict(True, None, now, "", names)

    if earliest == now:  # the window is what is closed: already checked at now
        opening = _search_opening(policy.window, zones, now, policy.horizon)
    else:
        opening = next_window_opening(policy.window, zones, earliest, policy.horizon)
    if opening is not None and target.contact_expires_at is not None:
        if opening >= target.contact_expires_at:
            opening = None
    if time_reason is UnavailableReason.NOT_IN_CADENCE:
        detail = f"{lock_name} until {earliest.isoformat()}"
    else:
        detail = "outside the calling window"
    if opening is None:
        detail += "; no calling window opens within the horizon"
    return Verdict(False, time_reason, opening, detail, names)
