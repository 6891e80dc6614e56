"""Dialing rules: each reason, their priority, time locks, and calling windows across DST."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.core.rules import (
    PERMANENT_REASONS,
    CallingWindow,
    DialingPolicy,
    OutcomeClass,
    TargetFacts,
    UnavailableReason,
    evaluate,
    next_window_opening,
    resolve_zones,
    window_intervals,
    window_open,
)

NY = "+12125551234"  # America/New_York
TORONTO = "+14165550123"  # America/Toronto
NEWFOUNDLAND = "+17095550123"  # America/Halifax + America/St_Johns
LONDON = "+442079460000"  # Europe/London
SYDNEY = "+61298765432"  # Australia/Sydney
AU_MOBILE = "+61412345678"  # every Australian zone
US_TOLL_FREE = "+18005551234"  # every NANP zone, Guam to Newfoundland

R = UnavailableReason


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def zones(*names: str) -> tuple[ZoneInfo, ...]:
    resolved = resolve_zones(names)
    assert resolved is not None
    return resolved


def brute_force_open(window_start: time, window_end: time, names: tuple[str, ...], at: datetime) -> bool:
    """Independent oracle: read the wall clock in every zone."""
    for name in names:
        wall = at.astimezone(ZoneInfo(name)).time()
        if not (window_start <= wall and (window_end == time(0) or wall < window_end)):
            return False
    return True


# Mid-afternoon in New York on a Wednesday: inside the default 09:00-21:00.
NOON_NY = utc(2026, 6, 17, 17, 0)
POLICY = DialingPolicy()


def test_reason_strings_are_exactly_the_product_strings() -> None:
    assert {r.value for r in UnavailableReason} == {
        "Exhausted",
        "Complete",
        "DNC",
        "Last outcome not valid for calling",
        "Invalid target",
        "Max answering machine detections",
        "Not in cadence",
        "Offered",
        "Outside calling window",
    }
    assert R.NOT_IN_CADENCE not in PERMANENT_REASONS
    assert R.OUTSIDE_CALLING_WINDOW not in PERMANENT_REASONS


def test_fresh_target_inside_window_is_dialable_now() -> None:
    verdict = evaluate(TargetFacts(e164=NY), POLICY, NOON_NY)
    assert verdict.dialable
    assert verdict.reason is None
    assert verdict.next_dialable_at == NOON_NY
    assert verdict.time_zones == ("America/New_York",)


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (TargetFacts(e164=None), R.INVALID_TARGET),
        (TargetFacts(e164="2125551234"), R.INVALID_TARGET),
        (TargetFacts(e164=NY, invalid=True), R.INVALID_TARGET),
        (TargetFacts(e164=NY, on_dnc=True), R.DNC),
        (TargetFacts(e164=NY, last_outcome="Do not call"), R.DNC),
        (TargetFacts(e164=NY, last_outcome_class=OutcomeClass.DNC), R.DNC),
        (TargetFacts(e164=NY, contact_complete=True), R.COMPLETE),
        (TargetFacts(e164=NY, target_complete=True), R.COMPLETE),
        (TargetFacts(e164=NY, attempts_made=10, max_attempts=10), R.EXHAUSTED),
        (TargetFacts(e164=NY, contact_expires_at=NOON_NY), R.EXHAUSTED),
        (TargetFacts(e164=NY, last_outcome="Sale"), R.LAST_OUTCOME_NOT_VALID),
        (TargetFacts(e164=NY, last_outcome="Fax"), R.LAST_OUTCOME_NOT_VALID),
        (TargetFacts(e164=NY, last_outcome="invalid_number"), R.LAST_OUTCOME_NOT_VALID),
        (TargetFacts(e164=NY, last_outcome="made-up code"), R.LAST_OUTCOME_NOT_VALID),
        (
            TargetFacts(e164=NY, last_outcome="x", last_outcome_class=OutcomeClass.FINAL_SUCCESS),
            R.LAST_OUTCOME_NOT_VALID,
        ),
        (TargetFacts(e164=NY, offered_rejected=True), R.OFFERED),
    ],
)
def test_each_permanent_reason(facts: TargetFacts, reason: UnavailableReason) -> None:
    verdict = evaluate(facts, POLICY, NOON_NY)
    assert not verdict.dialable
    assert verdict.reason is reason
    assert verdict.next_dialable_at is None
    assert verdict.detail


def test_exhausted_per_contact_and_max_amd_use_the_campaign_caps() -> None:
    policy = DialingPolicy(max_attempts_per_contact=3, max_amd_detections=2)
    assert evaluate(TargetFacts(e164=NY, contact_attempts_made=2), policy, NOON_NY).dialable
    assert evaluate(TargetFacts(e164=NY, contact_attempts_made=3), policy, NOON_NY).reason is R.EXHAUSTED
    assert evaluate(TargetFacts(e164=NY, amd_count=1), policy, NOON_NY).dialable
    assert evaluate(TargetFacts(e164=NY, amd_count=2), policy, NOON_NY).reason is R.MAX_AMD
    # No cap configured: any count is fine.
    assert evaluate(TargetFacts(e164=NY, amd_count=50, attempts_made=9, max_attempts=10), POLICY, NOON_NY).dialable


def test_priority_order_is_the_documented_one() -> None:
    """Stack every condition, then remove them one by one in priority order."""
    policy = DialingPolicy(max_amd_detections=1, min_gap_between_calls=timedelta(hours=1))
    facts = TargetFacts(
        e164=NY,
        invalid=True,
        on_dnc=True,
        contact_complete=True,
        attempts_made=5,
        max_attempts=5,
        amd_count=1,
        last_outcome="Sale",
        offered_rejected=True,
        last_call_at_any_campaign=utc(2026, 6, 17, 8, 30),  # 30 min before 09:00 New York
    )
    early_morning = utc(2026, 6, 17, 9, 0)  # 05:00 in New York
    steps = [
        (R.INVALID_TARGET, {"invalid": False}),
        (R.DNC, {"on_dnc": False}),
        (R.COMPLETE, {"contact_complete": False}),
        (R.EXHAUSTED, {"attempts_made": 0}),
        (R.MAX_AMD, {"amd_count": 0}),
        (R.LAST_OUTCOME_NOT_VALID, {"last_outcome": None}),
        (R.OFFERED, {"offered_rejected": False}),
        (R.NOT_IN_CADENCE, {"last_call_at_any_campaign": None}),
    ]
    for expected, fix in steps:
        verdict = evaluate(facts, policy, early_morning)
        assert verdict.reason is expected, (expected, verdict)
        facts = replace(facts, **fix)  # type: ignore[arg-type]
    verdict = evaluate(facts, policy, early_morning)
    assert verdict.reason is R.OUTSIDE_CALLING_WINDOW
    assert verdict.next_dialable_at == utc(2026, 6, 17, 13, 0)  # 09:00 EDT
    # 09:00 UTC is 10:00 in London in June: with that zone nothing is left.
    assert evaluate(replace(facts, contact_time_zone="Europe/London"), policy, early_morning).dialable


def test_contact_zone_overrides_the_number_zones() -> None:
    at = utc(2026, 6, 17, 9, 0)  # 05:00 New York, 10:00 London
    assert evaluate(TargetFacts(e164=NY), POLICY, at).reason is R.OUTSIDE_CALLING_WINDOW
    verdict = evaluate(TargetFacts(e164=NY, contact_time_zone="Europe/London"), POLICY, at)
    assert verdict.dialable
    assert verdict.time_zones == ("Europe/London",)


def test_precomputed_number_zones_are_used() -> None:
    at = utc(2026, 6, 17, 9, 0)
    facts = TargetFacts(e164=NY, number_time_zones=("Europe/London",))
    assert evaluate(facts, POLICY, at).dialable


@pytest.mark.parametrize(
    "facts",
    [
        TargetFacts(e164=NY, contact_time_zone="Mars/Olympus_Mons"),
        TargetFacts(e164=NY, number_time_zones=()),
        TargetFacts(e164=NY, number_time_zones=("America/New_York", "Etc/Unknown")),
        TargetFacts(e164="+80012345678"),  # international freephone: no zone at all
    ],
)
def test_unknown_zone_is_never_dialable(facts: TargetFacts) -> None:
    for hour in range(0, 24, 3):
        verdict = evaluate(facts, POLICY, utc(2026, 6, 17, hour, 0))
        assert not verdict.dialable
        assert verdict.reason is R.OUTSIDE_CALLING_WINDOW
        assert verdict.next_dialable_at is None


def test_retry_cadence_per_outcome() -> None:
    policy = DialingPolicy(
        cadence={"Busy": timedelta(minutes=10), "No answer": timedelta(hours=2)},
        default_retry_delay=timedelta(minutes=30),
    )
    last = NOON_NY - timedelta(minutes=5)
    busy = TargetFacts(e164=NY, last_outcome="busy", last_attempt_at=last, attempts_made=1)
    verdict = evaluate(busy, policy, NOON_NY)
    assert verdict.reason is R.NOT_IN_CADENCE
    assert verdict.next_dialable_at == last + timedelta(minutes=10)
    assert evaluate(busy, policy, last + timedelta(minutes=10)).dialable
    no_answer = replace(busy, last_outcome="NO_ANSWER")
    assert evaluate(no_answer, policy, NOON_NY).next_dialable_at == last + timedelta(hours=2)
    # A retry-class outcome the cadence does not list waits the default delay.
    congestion = replace(busy, last_outcome="congestion")
    assert evaluate(congestion, policy, NOON_NY).next_dialable_at == last + timedelta(minutes=30)
    # The class can come from the caller for codes the policy does not know.
    custom = replace(busy, last_outcome="Call me later", last_outcome_class=OutcomeClass.RETRY)
    assert evaluate(custom, policy, NOON_NY).next_dialable_at == last + timedelta(minutes=30)


def test_campaign_outcome_classes_extend_the_defaults() -> None:
    policy = DialingPolicy(
        outcome_classes={"Not interested": OutcomeClass.FINAL_FAILURE, "Call back": OutcomeClass.RETRY}
    )
    last = NOON_NY - timedelta(hours=3)
    assert (
        evaluate(TargetFacts(e164=NY, last_outcome="not interested", last_attempt_at=last), policy, NOON_NY).reason
        is R.LAST_OUTCOME_NOT_VALID
    )
    assert evaluate(TargetFacts(e164=NY, last_outcome="Call back", last_attempt_at=last), policy, NOON_NY).dialable


def test_minimum_gap_across_campaigns() -> None:
    policy = DialingPolicy(min_gap_between_calls=timedelta(minutes=45))
    facts = TargetFacts(e164=NY, last_call_at_any_campaign=NOON_NY - timedelta(minutes=30))
    verdict = evaluate(facts, policy, NOON_NY)
    assert verdict.reason is R.NOT_IN_CADENCE
    assert verdict.next_dialable_at == NOON_NY + timedelta(minutes=15)
    assert "minimum gap" in verdict.detail
    # The default policy has no gap.
    assert evaluate(facts, POLICY, NOON_NY).dialable


def test_abandon_lock_is_72_hours_and_then_waits_for_the_window() -> None:
    abandoned = utc(2026, 6, 15, 0, 30)  # Sunday 20:30 in New York
    facts = TargetFacts(e164=NY, last_abandoned_at=abandoned)
    verdict = evaluate(facts, POLICY, NOON_NY)
    assert verdict.reason is R.NOT_IN_CADENCE
    # 72 h later is 20:30 on the Wednesday, inside the window.
    assert verdict.next_dialable_at == abandoned + timedelta(hours=72)
    late = TargetFacts(e164=NY, last_abandoned_at=utc(2026, 6, 15, 2, 0))  # 22:00 New York
    verdict = evaluate(late, POLICY, NOON_NY)
    # The lock ends at 22:00, after the window closed: next opening is 09:00 the day after.
    assert verdict.reason is R.NOT_IN_CADENCE
    assert verdict.next_dialable_at == utc(2026, 6, 18, 13, 0)
    shorter = DialingPolicy(abandon_lock=timedelta(hours=24))
    assert evaluate(late, shorter, NOON_NY).dialable


def test_available_from_and_the_latest_lock_wins() -> None:
    policy = DialingPolicy(min_gap_between_calls=timedelta(hours=1))
    facts = TargetFacts(
        e164=NY,
        available_from=NOON_NY + timedelta(hours=2),
        last_call_at_any_campaign=NOON_NY,
        last_outcome="busy",
        last_attempt_at=NOON_NY,
    )
    verdict = evaluate(facts, policy, NOON_NY)
    assert verdict.reason is R.NOT_IN_CADENCE
    assert verdict.next_dialable_at == NOON_NY + timedelta(hours=2)
    assert "available from" in verdict.detail


def test_next_opening_after_contact_expiry_is_none() -> None:
    late = utc(2026, 6, 18, 2, 0)  # 22:00 New York
    facts = TargetFacts(e164=NY, contact_expires_at=utc(2026, 6, 18, 12, 0))
    verdict = evaluate(facts, POLICY, late)
    assert verdict.reason is R.OUTSIDE_CALLING_WINDOW
    assert verdict.next_dialable_at is None
    facts = replace(facts, contact_expires_at=utc(2026, 6, 18, 14, 0))
    assert evaluate(facts, POLICY, late).next_dialable_at == utc(2026, 6, 18, 13, 0)


def test_window_never_open_gives_none_within_horizon() -> None:
    policy = DialingPolicy(window=CallingWindow(weekdays=frozenset()))
    verdict = evaluate(TargetFacts(e164=NY), policy, NOON_NY)
    assert verdict.reason is R.OUTSIDE_CALLING_WINDOW
    assert verdict.next_dialable_at is None


def test_weekdays_day_hours_and_closed_dates() -> None:
    window = CallingWindow(
        start=time(9),
        end=time(20),
        weekdays=frozenset(range(5)),  # Monday to Friday
        day_hours={5: (time(10), time(14))},  # Saturday short hours, Sunday closed
        closed_dates=frozenset({date(2026, 7, 3)}),  # Friday holiday
    )
    policy = DialingPolicy(window=window)
    thursday_late = utc(2026, 7, 3, 0, 30)  # Thursday 20:30 New York
    verdict = evaluate(TargetFacts(e164=NY), policy, thursday_late)
    assert verdict.reason is R.OUTSIDE_CALLING_WINDOW
    assert verdict.next_dialable_at == utc(2026, 7, 4, 14, 0)  # Saturday 10:00 EDT
    saturday_afternoon = utc(2026, 7, 4, 18, 30)  # Saturday 14:30
    assert evaluate(TargetFacts(e164=NY), policy, saturday_afternoon).next_dialable_at == utc(
        2026, 7, 6, 13, 0
    )  # Monday 09:00


def test_naive_datetimes_are_refused_with_the_field_name() -> None:
    with pytest.raises(ValueError, match="now"):
        evaluate(TargetFacts(e164=NY), POLICY, datetime(2026, 6, 17, 12))
    with pytest.raises(ValueError, match="last_abandoned_at"):
        TargetFacts(e164=NY, last_abandoned_at=datetime(2026, 6, 17, 12))
    with pytest.raises(ValueError, match="attempts_made"):
        TargetFacts(e164=NY, attempts_made=-1)
    with pytest.raises(ValueError, match="min_gap_between_calls"):
        DialingPolicy(min_gap_between_calls=timedelta(minutes=-1))
    with pytest.raises(ValueError, match="max_amd_detections"):
        DialingPolicy(max_amd_detections=0)
    with pytest.raises(ValueError, match="start"):
        CallingWindow(start=time(21), end=time(9))
    with pytest.raises(ValueError, match="weekdays"):
        CallingWindow(weekdays=frozenset({7}))


def test_non_utc_aware_inputs_are_accepted_and_results_are_utc() -> None:
    eastern = NOON_NY.astimezone(ZoneInfo("America/New_York"))
    verdict = evaluate(TargetFacts(e164=NY), POLICY, eastern)
    assert verdict.dialable
    assert verdict.next_dialable_at is not None
    assert verdict.next_dialable_at.tzinfo is UTC


# --- DST edges --------------------------------------------------------------------

TCPA = CallingWindow(start=time(8), end=time(21))


@pytest.mark.parametrize(
    ("now", "expected_next"),
    [
        # Saturday before spring forward: EST, 08:00 = 13:00 UTC.
        (utc(2026, 3, 7, 5, 0), utc(2026, 3, 7, 13, 0)),
        # Spring-forward Sunday 2026-03-08: EDT from 07:00 UTC, so 08:00 = 12:00 UTC.
        (utc(2026, 3, 8, 2, 30), utc(2026, 3, 8, 12, 0)),
        (utc(2026, 3, 8, 11, 59), utc(2026, 3, 8, 12, 0)),
        # The window closes at 21:00 EDT = 01:00 UTC next day.
        (utc(2026, 3, 9, 1, 0), utc(2026, 3, 9, 12, 0)),
        # Fall back 2026-11-01: 08:00 EST = 13:00 UTC on the Sunday.
        (utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 13, 0)),
        (utc(2026, 10, 31, 5, 0), utc(2026, 10, 31, 12, 0)),
        (utc(2026, 11, 2, 2, 0), utc(2026, 11, 2, 13, 0)),
    ],
)
def test_new_york_tcpa_window_across_2026_transitions(now: datetime, expected_next: datetime) -> None:
    policy = DialingPolicy(window=TCPA)
    verdict = evaluate(TargetFacts(e164=NY), policy, now)
    assert verdict.reason is R.OUTSIDE_CALLING_WINDOW
    assert verdict.next_dialable_at == expected_next
    assert evaluate(TargetFacts(e164=NY), policy, expected_next).dialable
    assert not evaluate(TargetFacts(e164=NY), policy, expected_next - timedelta(microseconds=1)).dialable


def test_window_starting_in_the_spring_forward_gap_opens_at_the_transition() -> None:
    window = CallingWindow(start=time(2, 30), end=time(5))
    ny = zones("America/New_York")
    # 02:30 does not exist on 2026-03-08: the clock jumps 01:59:59 EST -> 03:00 EDT at 07:00 UTC.
    assert next_window_opening(window, ny, utc(2026, 3, 8, 6, 0)) == utc(2026, 3, 8, 7, 0)
    assert not window_open(window, ny, utc(2026, 3, 8, 6, 59, 59))
    assert window_open(window, ny, utc(2026, 3, 8, 7, 0))
    # Closes at 05:00 EDT = 09:00 UTC.
    assert window_intervals(window, ny, utc(2026, 3, 8), utc(2026, 3, 9)) == [
        (utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 9, 0))
    ]


def test_ambiguous_start_opens_at_the_first_occurrence() -> None:
    window = CallingWindow(start=time(1, 30), end=time(4))
    ny = zones("America/New_York")
    # 01:30 happens twice on 2026-11-01: 05:30 UTC (EDT, fold=0) and 06:30 UTC (EST).
    assert next_window_opening(window, ny, utc(2026, 11, 1, 4, 0)) == utc(2026, 11, 1, 5, 30)
    # The wall clock rules: at 06:00 UTC it reads 01:00 again (EST), before the start,
    # so the window shuts until the second 01:30, then stays open to 04:00 EST (09:00 UTC).
    assert window_intervals(window, ny, utc(2026, 11, 1), utc(2026, 11, 2)) == [
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 0)),
        (utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 9, 0)),
    ]


def test_a_span_inside_the_repeated_hour_is_open_twice() -> None:
    window = CallingWindow(start=time(0), end=time(1, 30))
    ny = zones("America/New_York")
    got = window_intervals(window, ny, utc(2026, 11, 1, 3), utc(2026, 11, 1, 12))
    # 00:00-01:30 EDT is 04:00-05:30 UTC, then the clock reads 01:00-01:30 again (EST).
    assert got == [(utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 5, 30)), (utc(2026, 11, 1, 6, 0), utc(2026, 11, 1, 6, 30))]


def test_uk_spring_forward_2027() -> None:
    london = zones("Europe/London")
    default = CallingWindow()
    # Saturday 27 March 2027, GMT: 09:00 = 09:00 UTC; Sunday 28 March, BST: 09:00 = 08:00 UTC.
    assert next_window_opening(default, london, utc(2027, 3, 27, 0)) == utc(2027, 3, 27, 9)
    assert next_window_opening(default, london, utc(2027, 3, 27, 21)) == utc(2027, 3, 28, 8)
    # A window opening at 01:30 on the 28th opens at 01:00 UTC, when the clock jumps to 02:00.
    night = CallingWindow(start=time(1, 30), end=time(3))
    assert next_window_opening(night, london, utc(2027, 3, 28, 0)) == utc(2027, 3, 28, 1)
    verdict = evaluate(TargetFacts(e164=LONDON), DialingPolicy(window=default), utc(2027, 3, 28, 7, 59))
    assert verdict.next_dialable_at == utc(2027, 3, 28, 8)


@pytest.mark.parametrize(
    ("now", "expected_next"),
    [
        # DST ends Sunday 2026-04-05 03:00 AEDT: Saturday 09:00 AEDT = Friday 22:00 UTC,
        # Sunday 09:00 AEST = Saturday 23:00 UTC.
        (utc(2026, 4, 3, 12), utc(2026, 4, 3, 22)),
        (utc(2026, 4, 4, 12), utc(2026, 4, 4, 23)),
        # DST starts Sunday 2026-10-04 02:00 AEST: Saturday 09:00 AEST = 23:00 UTC Friday,
        # Sunday 09:00 AEDT = 22:00 UTC Saturday.
        (utc(2026, 10, 2, 12), utc(2026, 10, 2, 23)),
        (utc(2026, 10, 3, 12), utc(2026, 10, 3, 22)),
    ],
)
def test_sydney_transitions(now: datetime, expected_next: datetime) -> None:
    verdict = evaluate(TargetFacts(e164=SYDNEY), POLICY, now)
    assert verdict.next_dialable_at == expected_next


def test_australian_mobile_strictest_zone_wins() -> None:
    """A mobile may be anywhere from Cocos (UTC+6:30) to Lord Howe (UTC+10:30/+11)."""
    names = ("Australia/Perth", "Australia/Sydney", "Australia/Lord_Howe", "Indian/Cocos")
    start = utc(2026, 6, 16, 12)  # winter: no DST anywhere
    verdict = evaluate(TargetFacts(e164=AU_MOBILE), POLICY, start)
    assert set(names) <= set(verdict.time_zones)
    # Opens at 09:00 in Cocos (02:30 UTC), closes at 21:00 Lord Howe (10:30 UTC).
    assert verdict.next_dialable_at == utc(2026, 6, 17, 2, 30)
    intervals = window_intervals(CallingWindow(), zones(*verdict.time_zones), utc(2026, 6, 17), utc(2026, 6, 18))
    assert intervals == [(utc(2026, 6, 17, 2, 30), utc(2026, 6, 17, 10, 30))]


def test_newfoundland_number_is_bounded_by_halifax_and_st_johns() -> None:
    verdict = evaluate(TargetFacts(e164=NEWFOUNDLAND), POLICY, utc(2026, 6, 17, 6))
    assert set(verdict.time_zones) == {"America/Halifax", "America/St_Johns"}
    # 09:00 ADT (UTC-3) = 12:00 UTC; St John's (UTC-2:30) closes 21:00 = 23:30 UTC.
    assert verdict.next_dialable_at == utc(2026, 6, 17, 12)
    assert evaluate(TargetFacts(e164=NEWFOUNDLAND), POLICY, utc(2026, 6, 17, 23, 29)).dialable
    assert not evaluate(TargetFacts(e164=NEWFOUNDLAND), POLICY, utc(2026, 6, 17, 23, 30)).dialable


def test_canadian_number_uses_toronto() -> None:
    verdict = evaluate(TargetFacts(e164=TORONTO), POLICY, utc(2026, 1, 14, 13, 59))
    assert verdict.time_zones == ("America/Toronto",)
    assert verdict.next_dialable_at == utc(2026, 1, 14, 14)


def test_us_toll_free_strictest_of_all_nanp_zones() -> None:
    """Guam (UTC+10) and Pago Pago (UTC-11) bound a toll-free number's window."""
    at = utc(2026, 6, 17, 12)
    verdict = evaluate(TargetFacts(e164=US_TOLL_FREE), POLICY, at)
    assert len(verdict.time_zones) > 30
    assert {"Pacific/Guam", "Pacific/Pago_Pago", "America/St_Johns"} <= set(verdict.time_zones)
    assert verdict.reason is R.OUTSIDE_CALLING_WINDOW
    opening = verdict.next_dialable_at
    assert opening is not None
    # Opening: 09:00 in Pago Pago (UTC-11) is 20:00 UTC; everything else allows it then?
    # Check against the oracle minute by minute over that day.
    names = verdict.time_zones
    minute = at
    first_open = None
    while minute < at + timedelta(days=1):
        if brute_force_open(time(9), time(21), names, minute):
            first_open = minute
            break
        minute += timedelta(minutes=1)
    assert first_open == opening
    got = window_intervals(CallingWindow(), zones(*names), at, at + timedelta(days=1))
    assert got and got[0][0] == opening
    # The window closes when St John's (UTC-2:30) reaches 21:00 = 23:30 UTC.
    assert got[0][1] == utc(2026, 6, 17, 23, 30)


@pytest.mark.parametrize(
    ("names", "day", "window"),
    [
        (("America/New_York",), date(2026, 3, 8), CallingWindow(start=time(1, 15), end=time(3, 45))),
        (("America/New_York",), date(2026, 11, 1), CallingWindow(start=time(0, 45), end=time(1, 15))),
        (("America/New_York", "America/Chicago"), date(2026, 11, 1), CallingWindow(start=time(1), end=time(0))),
        (("Europe/London",), date(2027, 3, 28), CallingWindow(start=time(0, 30), end=time(2, 30))),
        (("Europe/London",), date(2027, 10, 31), CallingWindow(start=time(1), end=time(1, 59))),
        (("Australia/Sydney", "Australia/Lord_Howe"), date(2026, 4, 5), CallingWindow(start=time(1, 45), end=time(2, 45))),
        (("Australia/Sydney", "Australia/Lord_Howe"), date(2026, 10, 4), CallingWindow(start=time(1, 45), end=time(2, 45))),
        (("Australia/Lord_Howe",), date(2026, 10, 4), CallingWindow(start=time(2), end=time(2, 31))),
    ],
)
def test_intervals_match_a_minute_by_minute_wall_clock_scan(
    names: tuple[str, ...], day: date, window: CallingWindow
) -> None:
    start = datetime.combine(day, time(0), UTC) - timedelta(hours=18)
    end = start + timedelta(hours=48)
    intervals = window_intervals(window, zones(*names), start, end)
    minute = start
    while minute < end:
        expected = brute_force_open(window.start, window.end, names, minute)
        inside = any(a <= minute < b for a, b in intervals)
        assert inside == expected, minute
        assert window_open(window, zones(*names), minute) == expected, minute
        minute += timedelta(minutes=1)


def test_a_window_across_utc_midnight_is_one_interval() -> None:
    # 09:00-21:00 in Sydney (AEST, UTC+10) is 23:00-11:00 UTC.
    got = window_intervals(CallingWindow(), zones("Australia/Sydney"), utc(2026, 6, 16, 12), utc(2026, 6, 17, 12))
    assert got == [(utc(2026, 6, 16, 23), utc(2026, 6, 17, 11))]
