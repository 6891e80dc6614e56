"""The calling window and time zones: when a contact may be called in its local wall-clock time.

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

All datetimes in and out are timezone-aware; results are in UTC. A naive
datetime raises ValueError naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
