"""Property tests for the dialing rules over US, Canadian, UK and Australian numbers and
instants from 2025 to 2030, many of them near DST transitions.

The oracle is deliberately naive and independent of rules.py: it reads the wall clock
with ``datetime.astimezone`` in every zone and compares times of day.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone

from orchestrator.core.phones import PhoneError, _parse_number, analyze_phone, number_type_name
from orchestrator.core.rules import (
    PERMANENT_REASONS,
    CallingWindow,
    DialingPolicy,
    OutcomeClass,
    TargetFacts,
    UnavailableReason,
    evaluate,
    resolve_zones,
    window_intervals,
)

pytestmark = pytest.mark.timeout(60)

PROPS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)

START_2025 = datetime(2025, 1, 1, tzinfo=UTC)
END_2030 = datetime(2031, 1, 1, tzinfo=UTC)

# --- numbers ----------------------------------------------------------------------

US_AREA_CODES = [
    "201", "212", "213", "305", "312", "317", "415", "503", "602", "605", "617",
    "702", "713", "808", "907", "915", "206", "303", "480", "520",
]  # fmt: skip
CA_AREA_CODES = ["416", "514", "604", "403", "306", "709", "867", "902", "204", "613"]
NANP_TOLL_FREE = ["800", "888", "877", "866"]


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


def _nanp(area_codes: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda ac, first, rest: f"+1{ac}{first}{rest}",
        st.sampled_from(area_codes),
        st.sampled_from("23456789"),
        _digits(6),
    )


def _prefixed(country: str, prefixes: list[str], nsn_length: int) -> st.SearchStrategy[str]:
    return st.sampled_from(prefixes).flatmap(
        lambda p: _digits(nsn_length - len(p)).map(lambda rest: f"+{country}{p}{rest}")
    )


def _valid(raw: str) -> bool:
    try:
        analyze_phone(raw)
    except PhoneError:
        return False
    return True


UK_NUMBERS = _prefixed("44", ["203", "207", "208", "121", "161", "131", "113", "117", "74", "75", "77", "78", "79", "800"], 10)
AU_NUMBERS = st.one_of(
    _prefixed("61", ["23", "24", "26", "29", "35", "38", "39", "73", "74", "75", "86", "88", "89", "40", "41", "42", "43", "44", "45", "47"], 9),
    _prefixed("61", ["1800"], 10),
)
EXAMPLES = [
    phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
    for region in ("US", "CA", "GB", "AU")
    for kind in (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.VOIP,
        phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    )
    if (n := phonenumbers.example_number_for_type(region, kind)) is not None
]
NUMBERS = st.one_of(
    _nanp(US_AREA_CODES),
    _nanp(CA_AREA_CODES),
    _nanp(NANP_TOLL_FREE),
    UK_NUMBERS,
    AU_NUMBERS,
    st.sampled_from(EXAMPLES),
).filter(_valid)

# --- instants ---------------------------------------------------------------------

DST_ZONES = [
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Anchorage", "America/Halifax", "America/St_Johns", "Europe/London",
    "Australia/Sydney", "Australia/Adelaide", "Australia/Lord_Howe",
]  # fmt: skip


@cache
def dst_transitions() -> list[datetime]:
    """Offset changes in DST_ZONES in 2025-2030, to the hour (enough to aim near them)."""
    found: list[datetime] = []
    for name in DST_ZONES:
        zone = ZoneInfo(name)
        day = START_2025
        previous = day.astimezone(zone).utcoffset()
        while day < END_2030:
            nxt = day + timedelta(days=1)
            offset = nxt.astimezone(zone).utcoffset()
            if offset != previous:
                hour = day
                while hour.astimezone(zone).utcoffset() == previous:
                    hour += timedelta(hours=1)
                found.append(hour)
                previous = offset
            day = nxt
    return sorted(found)


def _near_transition() -> st.SearchStrategy[datetime]:
    return st.builds(
        lambda t, minutes, micro: t + timedelta(minutes=minutes, microseconds=micro),
        st.sampled_from(dst_transitions()),
        st.integers(min_value=-36 * 60, max_value=36 * 60),
        st.sampled_from([0, 0, 1, 999_999]),
    )


INSTANTS = st.one_of(
    st.datetimes(
        min_value=START_2025.replace(tzinfo=None),
        max_value=(END_2030 - timedelta(days=1)).replace(tzinfo=None),
    ).map(lambda d: d.replace(tzinfo=UTC)),
    _near_transition(),
)

# --- windows and facts ------------------------------------------------------------

QUARTERS = [time(h, m) for h in range(24) for m in (0, 15, 30, 45)]


@st.composite
def windows(draw: st.DrawFn) -> CallingWindow:
    kind = draw(st.sampled_from(["default", "tcpa", "random", "random", "night"]))
    if kind == "default":
        return CallingWindow()
    if kind == "tcpa":
        return CallingWindow(start=time(8), end=time(21))
    if kind == "night":  # windows that cross the usual 01:00-03:00 transition hours
        start = draw(st.sampled_from(QUARTERS[:16]))
        end = draw(st.sampled_from([t for t in QUARTERS if t > start][:12]))
        return CallingWindow(start=start, end=end)
    start = draw(st.sampled_from(QUARTERS))
    end = draw(st.sampled_from([t for t in QUARTERS if t > start] + [time(0)]))
    weekdays = draw(st.frozensets(st.integers(0, 6), min_size=1))
    return CallingWindow(start=start, end=end, weekdays=weekdays)


def oracle_open(window: CallingWindow, names: tuple[str, ...], at: datetime) -> bool:
    """Inside the window in every zone, by reading each zone's wall clock."""
    if not names:
        return False
    for name in names:
        wall = at.astimezone(ZoneInfo(name))
        if wall.weekday() not in window.weekdays:
            return False
        t = wall.time()
        if t < window.start or (window.end != time(0) and t >= window.end):
            return False
    return True


HOURS = st.integers(min_value=-100, max_value=100)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[TargetFacts, DialingPolicy, datetime]:
    now = draw(INSTANTS)
    e164 = draw(NUMBERS)

    def around(hours: int) -> datetime:
        return now + timedelta(hours=hours, minutes=draw(st.integers(0, 59)))

    def before(max_hours: int) -> datetime:  # calls and attempts are in the past
        return now - timedelta(minutes=draw(st.integers(0, max_hours * 60)))

    def rarely() -> bool:  # about one in 16 (a middle value: hypothesis favours bounds)
        return draw(st.integers(0, 15)) == 7

    maybe = st.booleans()
    outcome = draw(st.sampled_from([None, "busy", "no_answer", "Answering machine detected", "abandoned"]))
    facts = TargetFacts(
        e164=e164,
        contact_time_zone=draw(st.sampled_from([None, None, None, "America/Chicago", "Europe/London", "Australia/Adelaide"])),
        last_outcome=outcome,
        last_attempt_at=before(6) if outcome else None,
        available_from=around(draw(HOURS)) if draw(maybe) else None,
        last_call_at_any_campaign=before(3) if draw(maybe) else None,
        last_abandoned_at=before(80) if draw(maybe) else None,
        contact_expires_at=around(draw(st.integers(1, 400))) if rarely() else None,
        attempts_made=draw(st.integers(0, 3)),
        max_attempts=draw(st.sampled_from([None, 3, 10])),
        on_dnc=rarely(),
        offered_rejected=rarely(),
    )
    policy = DialingPolicy(
        window=draw(windows()),
        min_gap_between_calls=timedelta(minutes=draw(st.sampled_from([0, 0, 30, 120]))),
    )
    return facts, policy, now


def lock_end(facts: TargetFacts, policy: DialingPolicy, now: datetime) -> datetime:
    """When every time lock is over, recomputed here from the policy's documented rules."""
    ends = [now]
    if facts.available_from:
        ends.append(facts.available_from)
    if facts.last_attempt_at and facts.last_outcome:
        ends.append(facts.last_attempt_at + policy.retry_delay(facts.last_outcome))
    if facts.last_call_at_any_campaign:
        ends.append(facts.last_call_at_any_campaign + policy.min_gap_between_calls)
    if facts.last_abandoned_at:
        ends.append(facts.last_abandoned_at + policy.abandon_lock)
    return max(ends)


def expected_zones(facts: TargetFacts) -> tuple[str, ...]:
    if facts.contact_time_zone:
        return (facts.contact_time_zone,)
    assert facts.e164 is not None
    return analyze_phone(facts.e164).time_zones


@PROPS
@given(scenarios())
def test_verdict_properties(scenario: tuple[TargetFacts, DialingPolicy, datetime]) -> None:
    facts, policy, now = scenario
    verdict = evaluate(facts, policy, now)
    window = policy.window
    # (d) exactly one of: dialable, or one reason.
    assert verdict.dialable == (verdict.reason is None)
    if verdict.reason is not None:
        assert isinstance(verdict.reason, UnavailableReason)
    names = expected_zones(facts)

    if verdict.dialable:
        # (a) inside the window in every candidate zone, and no lock is running.
        assert verdict.time_zones == names
        assert oracle_open(window, names, now)
        assert lock_end(facts, policy, now) == now
        assert verdict.next_dialable_at == now
        return

    if verdict.reason in PERMANENT_REASONS:
        # (f) permanent reasons never come with a time.
        assert verdict.next_dialable_at is None
        return

    earliest = lock_end(facts, policy, now)
    if verdict.reason is UnavailableReason.NOT_IN_CADENCE:
        assert earliest > now
    else:
        assert verdict.reason is UnavailableReason.OUTSIDE_CALLING_WINDOW
        assert earliest == now
        assert not oracle_open(window, names, now)

    nxt = verdict.next_dialable_at
    if nxt is None:
        # Nothing within the horizon (or before expiry): sample the horizon hourly.
        stop = earliest + policy.horizon
        if facts.contact_expires_at is not None:
            stop = min(stop, facts.contact_expires_at)
        t = earliest
        while t < stop:
            assert not oracle_open(window, names, t), t
            t += timedelta(minutes=61)
        return

    # (b), (c): strictly later, after every lock, dialable then, and not dialable before.
    assert nxt > now
    assert nxt >= earliest
    assert oracle_open(window, names, nxt)
    assert evaluate(facts, policy, nxt).dialable
    if facts.contact_expires_at is not None:
        assert nxt < facts.contact_expires_at
    probes = [nxt - timedelta(microseconds=1), nxt - timedelta(seconds=1), nxt - timedelta(minutes=1)]
    span = nxt - now
    probes += [now + span * k / 64 for k in range(64)]
    for probe in probes:
        if probe < now:
            continue
        assert probe < earliest or not oracle_open(window, names, probe), probe
        assert not evaluate(facts, policy, probe).dialable, probe


BAD_ZONES = st.sampled_from(["Mars/Olympus_Mons", "Etc/Unknown", "", "America/Not_A_City"])


@PROPS
@given(NUMBERS, INSTANTS, BAD_ZONES, st.booleans())
def test_unknown_zone_is_never_dialable(e164: str, now: datetime, bad: str, as_contact: bool) -> None:
    # (e) an unknown zone, as the contact's own or among the number's, is never dialable.
    if as_contact and bad:
        facts = TargetFacts(e164=e164, contact_time_zone=bad)
    else:
        facts = TargetFacts(e164=e164, number_time_zones=(*analyze_phone(e164).time_zones, bad) if bad else ())
    verdict = evaluate(facts, DialingPolicy(window=CallingWindow(start=time(0), end=time(0))), now)
    assert not verdict.dialable
    assert verdict.reason is UnavailableReason.OUTSIDE_CALLING_WINDOW
    assert verdict.next_dialable_at is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(DST_ZONES + ["America/Phoenix", "Australia/Brisbane", "Indian/Cocos"]), min_size=1, max_size=3, unique=True),
    _near_transition(),
    windows(),
)
def test_intervals_match_wall_clock_scan_near_transitions(
    names: list[str], around: datetime, window: CallingWindow
) -> None:
    zones = resolve_zones(names)
    assert zones is not None
    start = around.replace(second=0, microsecond=0) - timedelta(hours=4)
    end = start + timedelta(hours=8)
    intervals = window_intervals(window, zones, start, end)
    for a, b in intervals:
        assert start <= a < b <= end
    t = start
    while t < end:
        expected = oracle_open(window, tuple(names), t)
        assert any(a <= t < b for a, b in intervals) == expected, t
        t += timedelta(minutes=5)


# --- phones agree with phonenumbers ------------------------------------------------

ANY_NUMBERS = st.one_of(
    _nanp(US_AREA_CODES + CA_AREA_CODES + NANP_TOLL_FREE + ["900", "242", "876", "555"]),
    st.builds(lambda d: f"+1{d}", _digits(10)),
    st.builds(lambda d: f"+44{d}", _digits(10)),
    st.builds(lambda d: f"+61{d}", _digits(9)),
    UK_NUMBERS,
    AU_NUMBERS,
)


@PROPS
@given(ANY_NUMBERS)
def test_analyze_phone_agrees_with_phonenumbers(raw: str) -> None:
    parsed = phonenumbers.parse(raw, None)
    valid = phonenumbers.is_valid_number(parsed)
    kind = phonenumbers.number_type(parsed)
    try:
        info = analyze_phone(raw)
    except PhoneError:
        assert not valid or kind in (
            phonenumbers.PhoneNumberType.PREMIUM_RATE,
            phonenumbers.PhoneNumberType.SHARED_COST,
        )
        return
    assert valid
    assert info.e164 == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    assert info.region == phonenumbers.region_code_for_number(parsed)
    assert info.number_type == number_type_name(kind)
    library_zones = tuple(z for z in pn_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")
    assert info.time_zones == library_zones


RAW_PLUS_DIGITS = st.one_of(
    NUMBERS,
    st.builds(lambda d: f"+{d}", st.text(alphabet="0123456789", min_size=1, max_size=18)),
    st.builds(lambda cc, d: f"+{cc}{d}", st.sampled_from(["1", "44", "61", "39", "7", "800", "49", "52", "54"]), st.text(alphabet="0123456789", min_size=0, max_size=14)),
)


@PROPS
@given(RAW_PLUS_DIGITS)
def test_e164_shortcut_parses_like_phonenumbers(raw: str) -> None:
    try:
        expected = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException as exc:
        with pytest.raises(phonenumbers.NumberParseException) as caught:
            _parse_number(raw, None)
        assert caught.value.error_type == exc.error_type
        return
    assert _parse_number(raw, None) == expected


def test_outcome_class_strings() -> None:
    assert {c.value for c in OutcomeClass} == {"final_success", "final_failure", "retry", "dnc"}
