"""Unit tests of the pacing policies in orchestrator.core.pacing (pure, no clock)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.pacing.vicidial import VicidialAdaptTapered
from orchestrator.core.pacing import (
    CampaignPacer,
    FloorView,
    PowerPolicy,
    ProgressivePolicy,
)

DAY = 86_400.0


def floor(
    ready: int = 0,
    talking: tuple[float, ...] = (),
    wrapping: tuple[float, ...] = (),
    in_flight: tuple[float, ...] = (),
    waiting: int = 0,
    staffed: int | None = None,
) -> FloorView:
    if staffed is None:
        staffed = ready + len(talking) + len(wrapping)
    return FloorView(
        ready=ready,
        staffed=staffed,
        talking_since=talking,
        wrapping_since=wrapping,
        dials_in_flight=in_flight,
        waiting_calls=waiting,
    )


def warm(pacer: CampaignPacer, t0: float = 0.0, calls: int = 60, seed: int = 1) -> float:
    """Feed a realistic stream of observations (answer rate 0.3, talk ~180 s).

    No abandons: the budget is intact. Returns the time reached.
    """
    rng = random.Random(seed)
    t = t0
    for _ in range(calls):
        for _ in range(3):
            pacer.observe_dial(t)
            t += 1.0
            pacer.observe_outcome(t, "no_answer", 17.0 + rng.random())
        pacer.observe_dial(t)
        t += 1.0
        pacer.observe_outcome(t, "human", 8.0 + 3 * rng.random())
        pacer.observe_connect(t, 0.0)
        talk = rng.lognormvariate(5.0, 0.6)
        pacer.observe_call_end(t, talk)
        pacer.observe_wrap_end(t, 10.0 + 10 * rng.random())
    return t


def test_fresh_pacer_ramps_from_progressive() -> None:
    p = CampaignPacer()
    assert p.stats(0.0).warming_up
    assert p.lines_to_dial(0.0, floor(ready=5)) == 5
    assert p.lines_to_dial(1.0, floor(ready=5, in_flight=(0.0, 0.0, 0.0))) == 2
    # agents about to free up do not count while warming up
    assert p.lines_to_dial(2.0, floor(ready=0, wrapping=(0.0,) * 10)) == 0


def test_after_warm_up_dials_ahead_of_agents_about_to_free() -> None:
    p = CampaignPacer()
    t = warm(p)
    assert not p.stats(t).warming_up
    # nobody ready, ten agents deep in wrap-up: predictive dials ahead
    n = p.lines_to_dial(t, floor(ready=0, wrapping=(t - 12.0,) * 10, talking=(t - 100.0,) * 30))
    assert n > 0
    # many ready agents and no call on the way: at least one line each
    assert p.lines_to_dial(t, floor(ready=8, talking=(t - 5.0,) * 30)) >= 8
    assert 0.25 < p.stats(t).answer_rate < 0.35


def test_stops_with_no_agent_logged_in_or_about_to_be() -> None:
    p = CampaignPacer()
    t = warm(p)
    assert p.lines_to_dial(t, floor(ready=0, staffed=0)) == 0
    assert p.lines_to_dial(t, floor(ready=3, staffed=0)) == 0
    # everybody just started a call: nobody will be free within a ring time
    assert p.lines_to_dial(t, floor(ready=0, talking=(t,) * 20)) == 0


def test_never_dials_past_a_spent_budget() -> None:
    p = CampaignPacer()
    t = warm(p, calls=60)
    # 60 live answers so far; now 40 abandons in a row: far over 3 %
    for _ in range(40):
        p.observe_abandon(t)
    s = p.stats(t)
    assert s.abandon_rate_24h > 0.03
    assert s.drop_budget_24h == 0.0
    # nobody ready but ten agents nearly done: a predictive dialer would dial,
    # a spent budget means progressive only (which is nothing here)
    assert p.lines_to_dial(t, floor(ready=0, wrapping=(t - 12.0,) * 10)) == 0
    assert p.lines_to_dial(t, floor(ready=2, wrapping=(t - 12.0,) * 10)) == 2


def test_budget_recovers_as_good_answers_accumulate() -> None:
    p = CampaignPacer()
    t = warm(p, calls=40)
    for _ in range(5):
        p.observe_abandon(t)  # 5 / 45 = 11 %
    f = floor(ready=0, wrapping=(t - 12.0,) * 10, talking=(t - 150.0,) * 20)
    assert p.lines_to_dial(t, f) == 0
    t = warm(p, t0=t, calls=400)  # 5 / 445 = 1.1 %: budget left again
    f = floor(ready=0, wrapping=(t - 12.0,) * 10, talking=(t - 150.0,) * 20)
    assert p.stats(t).abandon_rate_24h < 0.02
    assert p.lines_to_dial(t, f) > 0


def test_24h_window_rolls_but_30_day_window_keeps() -> None:
    p = CampaignPacer()
    p.observe_connect(0.0, 0.0)
    p.observe_abandon(10.0)
    s = p.stats(100.0)
    assert s.answered_24h == 2 and s.abandoned_24h == 1 and s.abandon_rate_24h == 0.5
    later = p.stats(DAY + 120.0)
    assert later.answered_24h == 0 and later.abandon_rate_24h == 0.0
    assert later.abandon_rate_30d == 0.5
    gone = p.stats(31 * DAY)
    assert gone.abandon_rate_30d == 0.0


def test_snapshot_restore_round_trip_keeps_budget_and_decisions() -> None:
    p = CampaignPacer()
    t = warm(p)
    p.observe_abandon(t)
    p.observe_abandon(t + 1)
    state = json.loads(json.dumps(p.snapshot()))
    q = CampaignPacer()
    q.restore(state)
    assert q.stats(t + 2) == p.stats(t + 2)
    f = floor(ready=1, wrapping=(t - 10.0,) * 6, talking=(t - 90.0,) * 25, in_flight=(t - 3.0,))
    assert q.lines_to_dial(t + 2, f) == p.lines_to_dial(t + 2, f)
    # the restored window still rolls from the original timestamps
    assert q.stats(t + DAY + 120).answered_24h == 0


def test_restore_rejects_a_malformed_snapshot() -> None:
    p = CampaignPacer()
    state = p.snapshot()
    del state["theta"]
    with pytest.raises(ValueError, match="theta"):
        CampaignPacer().restore(state)
    with pytest.raises(ValueError, match="version"):
        CampaignPacer().restore({"version": 99})
    bad = p.snapshot()
    bad["live_delay"] = [1.0, 2.0]
    with pytest.raises(ValueError, match="live_delay"):
        CampaignPacer().restore(bad)


def test_bad_parameters_and_outcomes_are_named() -> None:
    with pytest.raises(ValueError, match="abandon_cap"):
        CampaignPacer(abandon_cap=0.0)
    with pytest.raises(ValueError, match="mode"):
        CampaignPacer(mode="turbo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outcome"):
        CampaignPacer().observe_outcome(0.0, "voicemail", 3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lines_per_agent"):
        PowerPolicy(0.5)


def test_progressive_mode_never_dials_ahead() -> None:
    p = CampaignPacer(mode="progressive")
    t = warm(p)
    assert p.lines_to_dial(t, floor(ready=0, wrapping=(t - 14.0,) * 10)) == 0
    assert p.lines_to_dial(t, floor(ready=3, in_flight=(t,))) == 2


def test_amd_false_positive_estimate_is_booked_as_abandons() -> None:
    p = CampaignPacer(amd=True, amd_false_positive_rate=0.05)
    t = 0.0
    for _ in range(95):
        p.observe_outcome(t, "human", 9.0)
        p.observe_connect(t, 0.0)
    for _ in range(100):
        p.observe_outcome(t, "machine", 11.0)
    s = p.stats(t)
    # 95 humans let through -> 5 estimated false positives among the machines
    assert s.answered_24h == pytest.approx(195)
    assert s.abandoned_24h == pytest.approx(5.0)


@settings(max_examples=60, deadline=None)
@given(
    ready=st.integers(0, 30),
    talking=st.lists(st.floats(0, 900), max_size=60),
    wrapping=st.lists(st.floats(0, 60), max_size=20),
    in_flight=st.lists(st.floats(0, 40), max_size=60),
    waiting=st.integers(0, 3),
)
def test_decision_bounds(
    ready: int, talking: list[float], wrapping: list[float], in_flight: list[float], waiting: int
) -> None:
    p = CampaignPacer()
    t = warm(p, calls=30)
    f = floor(
        ready=ready,
        talking=tuple(t - x for x in talking),
        wrapping=tuple(t - x for x in wrapping),
        in_flight=tuple(t - x for x in in_flight),
        waiting=waiting,
    )
    n = p.lines_to_dial(t, f)
    assert n >= ProgressivePolicy().lines_to_dial(t, f)
    assert n <= 8 * max(f.staffed, 1)


def test_power_keeps_lines_per_ready_agent() -> None:
    pol = PowerPolicy(2.0)
    assert pol.lines_to_dial(0.0, floor(ready=3)) == 6
    assert pol.lines_to_dial(0.0, floor(ready=3, in_flight=(0.0,) * 4)) == 2
    assert pol.lines_to_dial(0.0, floor(ready=0, talking=(0.0,))) == 0


def test_vicidial_emulation_raises_level_when_agents_wait_and_cuts_on_drops() -> None:
    v = VicidialAdaptTapered(shift_seconds=8 * 3600)
    assert v.dial_level == 1.0
    # agents idle for a minute: the level climbs
    for t in range(60):
        v.lines_to_dial(float(t), floor(ready=5, talking=(0.0,) * 15))
    assert v.dial_level > 1.3
    high = v.dial_level
    # its goal: level x (ready + in call) minus calls it already has
    assert v.lines_to_dial(60.0, floor(ready=5, talking=(0.0,) * 15)) == round(high * 20) - 15
    # drops over 3 % of answers today: the tapered rule cuts the level
    for _ in range(60):
        v.observe_dial(61.0)
        v.observe_outcome(61.0, "human", 9.0)
    for _ in range(10):
        v.observe_abandon(61.0)
    for t in range(61, 200):
        v.lines_to_dial(float(t), floor(ready=0, talking=(0.0,) * 20, waiting=1))
    assert v.dial_level < high
    assert v.dial_level >= 1.0


def _amd_traffic(p: CampaignPacer, t: float, n: int) -> None:
    for i in range(n):
        p.observe_outcome(t + i, "human", 9.0)
        p.observe_connect(t + i, 0.0)
        p.observe_outcome(t + i, "machine", 11.0)


def test_amd_live_share_counts_only_the_24h_window_across_days() -> None:
    # A campaign that ran long ago (out of both windows) must not change today's
    # per-live-answer target: it depends on today's humans only. Counting humans
    # since the start made the live share read 1.0 from the second day on, so the
    # booked false-positive estimate stopped using up the abandon budget.
    old = CampaignPacer(amd=True, amd_false_positive_rate=0.01)
    _amd_traffic(old, 0.0, 300)
    restored = CampaignPacer(amd=True, amd_false_positive_rate=0.01)
    restored.restore(json.loads(json.dumps(old.snapshot())))
    fresh = CampaignPacer(amd=True, amd_false_positive_rate=0.01)
    today = 31 * DAY
    for p in (restored, fresh):
        _amd_traffic(p, today, 500)
    a, b = restored.stats(today + 60.0), fresh.stats(today + 60.0)
    assert a.answered_24h == b.answered_24h == pytest.approx(1000)
    assert 0.03 < a.target_rate < 0.5  # per live answer: above the per-call cap
    assert restored._live_share() == pytest.approx(fresh._live_share()) == pytest.approx(0.5)
    # (the answer pace differs a little: the restored pacer saw a long gap since yesterday)
    assert a.target_rate == pytest.approx(b.target_rate, rel=0.05)
    # an older snapshot without the humans window still loads
    state = old.snapshot()
    del state["h24"]
    CampaignPacer(amd=True).restore(state)


def _answers(
    p: CampaignPacer, t0: float, t1: float, n: int, abandoned: Iterable[int] = ()
) -> None:
    """``n`` live answers spread evenly over [t0, t1); those numbered in ``abandoned``
    found no agent."""
    lost = set(abandoned)
    for i in range(n):
        t = t0 + (t1 - t0) * i / n
        p.observe_outcome(t, "human", 9.0)
        if i in lost:
            p.observe_abandon(t)
        else:
            p.observe_connect(t, 0.0)


def test_room_left_by_yesterday_is_not_spent_today() -> None:
    # Yesterday: 1,000 answers and 5 abandons (0.5 %). At today's shift start the 24 h
    # window still holds them and shows plenty of room, but they leave the window
    # during today's shift: spending that room would put today alone over the cap.
    carried = CampaignPacer()
    _answers(carried, 0.0, 8 * 3600.0, 1000, range(5))
    today = DAY + 60.0
    stats = carried.stats(today)
    assert stats.answered_24h > 990  # yesterday is still in the window
    fresh = CampaignPacer()
    # no more than a campaign with no history at all (their pace estimates differ a little)
    assert stats.target_rate <= fresh.stats(today).target_rate + 0.001
    assert stats.target_rate < 0.02


def test_a_dense_tail_yesterday_lowers_todays_target() -> None:
    # Same totals yesterday (1,200 answers, 15 abandons = 1.25 %), but one pacer had all
    # its abandons in the last hour. A few hours from now the rolling window will hold
    # that hour and little else of yesterday: that pacer must aim lower now.
    even, tail = CampaignPacer(), CampaignPacer()
    _answers(even, 0.0, 8 * 3600.0, 1200, [320 + 58 * k for k in range(15)])  # all still in the window
    _answers(tail, 0.0, 8 * 3600.0, 1200, range(1185, 1200))
    for p in (even, tail):
        _answers(p, DAY, DAY + 7200.0, 300)  # today's first two hours, clean
    now = DAY + 7201.0
    e, t = even.stats(now), tail.stats(now)
    assert e.abandoned_24h == t.abandoned_24h and e.answered_24h == t.answered_24h
    assert t.target_rate < 0.8 * e.target_rate


def test_target_never_exceeds_the_cap_even_with_banked_room() -> None:
    p = CampaignPacer()
    _answers(p, 0.0, 6 * 3600.0, 3000)  # a long clean morning: lots of room
    assert p.stats(6 * 3600.0).target_rate <= 0.03


def test_dial_with_amd_gives_amd_a_budgeted_share_of_dials() -> None:
    assert not any(CampaignPacer(amd=False).dial_with_amd(float(t)) for t in range(50))
    p = CampaignPacer(amd=True)
    t = 0.0
    # a campaign under way: half the answered calls are humans, no abandons yet
    for _ in range(600):
        t += 6.0
        p.observe_outcome(t, "human", 9.0)
        p.observe_connect(t, 0.0)
        p.observe_outcome(t, "machine", 9.0)
    budget = p._window_budget()
    fp_full = p._live_share() * p._fp_per_human()
    expected = min(1.0, 0.5 * budget / fp_full)
    uses = [p.dial_with_amd(t + i) for i in range(1000)]
    assert 0.0 < expected < 1.0
    assert sum(uses) / len(uses) == pytest.approx(expected, abs=0.03)
    # error diffusion: AMD dials are spread out, never long runs of one kind
    longest = max(len(run) for run in "".join("a" if u else "n" for u in uses).split("a"))
    assert longest <= int(1 / expected) + 1
    # the share survives a restart; a malformed one is named
    state = json.loads(json.dumps(p.snapshot(), allow_nan=False))
    q = CampaignPacer(amd=True)
    q.restore(state)
    assert q._amd_share == pytest.approx(p._amd_share)
    state["amd_dials"] = [5.0, 2.0]
    with pytest.raises(ValueError, match="amd_dials"):
        CampaignPacer(amd=True).restore(state)


def test_amd_false_positives_are_booked_only_for_dials_through_amd() -> None:
    def booked(share_amd: bool) -> float:
        p = CampaignPacer(amd=True, amd_false_positive_rate=0.05)
        for i in range(200):
            if share_amd:
                p.dial_with_amd(float(i))  # whatever it decides, it is counted
            p.observe_outcome(float(i), "human", 9.0)
            p.observe_connect(float(i), 0.0)
        return p.stats(300.0).abandoned_24h

    all_amd, budgeted = booked(False), booked(True)
    assert all_amd == pytest.approx(200 * 0.05 / 0.95, rel=0.02)
    assert budgeted < 0.7 * all_amd


def test_snapshot_is_strict_json_before_any_call() -> None:
    # PostgreSQL's jsonb refuses Infinity: a pacer that has booked nothing must still save
    json.dumps(CampaignPacer().snapshot(), allow_nan=False)


def test_small_sample_margin_is_that_of_the_window_the_shift_will_fill() -> None:
    # At shift start nothing is answered yet, but the budget is for the answers to come:
    # the margin under the cap is the standard error of that window (about 200 answers
    # ahead: 1.2 points), not of an empty one (60 answers: 2.2 points, 0.8 % left).
    p = CampaignPacer()
    target = p.stats(60.0).target_rate
    assert 0.03 - math.sqrt(0.03 * 0.97 / 200) - 0.001 < target < 0.03
