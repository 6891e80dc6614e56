"""The pacing simulator against first principles, and our pacer inside it."""

from __future__ import annotations

import pytest

from bench.pacing.model import Scenario, progressive_analytic
from bench.pacing.sim import run_day, summarize


@pytest.mark.timeout(60)
def test_progressive_matches_its_analytic_occupancy() -> None:
    # progressive agents never interact: 300 agents x 8 h is ~37 000 cycles,
    # so the simulated occupancy's standard error is ~0.2 point
    sc = Scenario(agents=300, answer_rate=0.3, timeout=26.0, seed=7)
    day = run_day(sc, "progressive")
    assert day.abandons == 0
    assert day.occupancy == pytest.approx(progressive_analytic(sc), abs=0.005)


def test_analytic_occupancy_moves_the_right_way() -> None:
    base = progressive_analytic(Scenario(answer_rate=0.3, timeout=26.0))
    assert progressive_analytic(Scenario(answer_rate=0.2, timeout=26.0)) < base
    assert progressive_analytic(Scenario(answer_rate=0.3, timeout=15.0)) > base - 0.05
    assert 0.7 < base < 0.85


@pytest.mark.timeout(60)
def test_our_pacer_beats_progressive_within_the_cap() -> None:
    sc = Scenario(agents=20, answer_rate=0.3, timeout=26.0, seed=3)
    ours = run_day(sc, "ours")
    prog = run_day(sc, "progressive")
    assert ours.abandon_rate <= 0.03
    assert ours.occupancy > prog.occupancy + 0.08
    # every policy met the same leads in the same order
    assert ours.connects > prog.connects


@pytest.mark.timeout(60)
def test_same_leads_for_every_policy() -> None:
    sc = Scenario(agents=5, answer_rate=0.3, timeout=26.0, seed=11, hours=1.0)
    a = summarize([run_day(sc, "progressive")])
    b = summarize([run_day(sc, "progressive")])
    assert a == b


@pytest.mark.timeout(60)
def test_amd_day_counts_false_positives_as_abandons() -> None:
    sc = Scenario(agents=20, answer_rate=0.3, timeout=26.0, stress="amd", seed=5, hours=4.0)
    prog = run_day(sc, "progressive")
    # progressive never drops a call itself: all its abandons are AMD errors
    assert prog.abandons == prog.false_positives > 0
    assert 0.02 < prog.abandon_rate < 0.04
