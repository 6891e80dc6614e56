"""Campaign settings, life cycle and the dial planner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.core.campaigns import (
    AmdPolicy,
    CampaignMachine,
    CampaignSettings,
    CampaignState,
    CampaignStateError,
    DialLimit,
    DialMode,
    DialSituation,
    ProgressiveFlavour,
    plan_dials,
)
from orchestrator.core.commands import PublishCampaignState
from orchestrator.core.events import (
    CampaignComplete,
    CampaignPause,
    CampaignStart,
    CampaignStop,
)

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
INFO = "sound:dialer/silent-call"


def mk(mode: DialMode, **kw: Any) -> CampaignSettings:
    if mode in (DialMode.POWER, DialMode.PREDICTIVE):
        kw.setdefault("info_message", INFO)
    return CampaignSettings(mode=mode, **kw)


def test_defaults_match_the_mission() -> None:
    s = CampaignSettings()
    assert s.abandon_cap == 0.03 and s.grace_s == 2.0 and s.abandon_lock_hours == 72
    assert s.no_answer_timeout_s >= 15
    assert s.cadence["busy"] == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"no_answer_timeout_s": 14}, "no_answer_timeout_s"),
        ({"grace_s": 2.5}, "grace_s"),
        ({"grace_s": 0}, "grace_s"),
        ({"abandon_cap": 1.5}, "abandon_cap"),
        ({"power_lines_per_agent": 0}, "power_lines_per_agent"),
        ({"abandon_lock_hours": 0}, "abandon_lock_hours"),
        ({"wrapup_s": -1}, "wrapup_s"),
        ({"preview_timeout_s": 0}, "preview_timeout_s"),
        ({"mode": "turbo"}, "mode"),
        ({"amd_policy": AmdPolicy.VOICEMAIL_DROP}, "voicemail_message"),
        ({"mode": DialMode.PREDICTIVE}, "info_message"),
        ({"mode": DialMode.PROGRESSIVE,
          "progressive_flavour": ProgressiveFlavour.CUSTOMER_FIRST}, "info_message"),
        ({"cadence": {"busy": timedelta(seconds=-1)}}, "cadence"),
        ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
        ({"default_wrapup_code": " "}, "default_wrapup_code"),
    ],
)
def test_bad_settings_name_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CampaignSettings(**kw)


def test_string_enums_are_accepted_and_cadence_keys_normalized() -> None:
    s = CampaignSettings(mode="progressive", amd_policy="hangup",  # type: ignore[arg-type]
                         cadence={"No answer": timedelta(hours=2)})
    assert s.mode is DialMode.PROGRESSIVE and s.amd_policy is AmdPolicy.HANGUP
    assert s.cadence == {"no_answer": timedelta(hours=2)}


def test_flow_properties() -> None:
    assert mk(DialMode.PREDICTIVE).customer_first
    assert mk(DialMode.POWER).can_abandon
    assert not mk(DialMode.PROGRESSIVE).customer_first  # agent first by default
    assert mk(DialMode.DIRECT_PREVIEW, reservation_call=False).wants_reservation_call
    assert not mk(DialMode.PREVIEW, reservation_call=False).wants_reservation_call


def test_life_cycle() -> None:
    c = CampaignMachine("c1", CampaignSettings())
    assert c.state is CampaignState.DRAFT and not c.dialing
    assert c.handle(CampaignStart("c1"), NOW) == [PublishCampaignState("c1", "running", NOW)]
    c.handle(CampaignPause("c1"), NOW)
    assert c.state is CampaignState.PAUSED
    with pytest.raises(CampaignStateError, match="CampaignPause is not allowed in state paused"):
        c.handle(CampaignPause("c1"), NOW)
    c.handle(CampaignStart("c1"), NOW)
    c.handle(CampaignComplete("c1"), NOW)
    assert c.state is CampaignState.COMPLETED
    with pytest.raises(CampaignStateError):
        c.handle(CampaignStart("c1"), NOW)
    with pytest.raises(ValueError, match="settings cannot change"):
        c.update_settings(CampaignSettings())
    d = CampaignMachine("c2", CampaignSettings())
    d.handle(CampaignStop("c2"), NOW)
    assert d.state is CampaignState.STOPPED
    with pytest.raises(ValueError, match="campaign_id"):
        d.handle(CampaignStart("c1"), NOW)


RUN = CampaignState.RUNNING


def test_progressive_one_per_available_agent_reserved() -> None:
    d = plan_dials(RUN, mk(DialMode.PROGRESSIVE), DialSituation(["a", "b"], 3))
    assert d.agents == ("a", "b") and d.count == 2 and d.limit is None


def test_power_lines_per_agent_minus_in_flight() -> None:
    s = mk(DialMode.POWER, power_lines_per_agent=3)
    d = plan_dials(RUN, s, DialSituation(["a", "b"], 2, lines_in_flight=4))
    assert d.agents == (None, None)
    assert plan_dials(RUN, s, DialSituation(["a"], 2, lines_in_flight=5)).count == 0


def test_predictive_uses_pacer_and_stops_without_agents() -> None:
    s = mk(DialMode.PREDICTIVE)
    assert plan_dials(RUN, s, DialSituation([], 4, predictive_lines=5)).count == 5
    d = plan_dials(RUN, s, DialSituation([], 0, predictive_lines=5))
    assert d.count == 0 and d.limit is DialLimit.NO_AGENT_LOGGED_IN
    assert plan_dials(RUN, s, DialSituation([], 3, predictive_lines=0)).limit is DialLimit.PACER
    with pytest.raises(ValueError, match="predictive_lines"):
        plan_dials(RUN, s, DialSituation([], 3))


def test_preview_and_not_running_dial_nothing() -> None:
    sit = DialSituation(["a"], 1)
    assert plan_dials(RUN, mk(DialMode.PREVIEW), sit).limit is DialLimit.PREVIEW_MODE
    paused = plan_dials(CampaignState.PAUSED, mk(DialMode.PROGRESSIVE), sit)
    assert paused.count == 0 and paused.limit is DialLimit.CAMPAIGN_NOT_RUNNING
    idle = plan_dials(RUN, mk(DialMode.PROGRESSIVE), DialSituation([], 2))
    assert idle.limit is DialLimit.NO_AGENT_AVAILABLE


def test_caps_clip_and_name_themselves() -> None:
    s = mk(DialMode.POWER, power_lines_per_agent=4, max_concurrent_calls=10)
    d = plan_dials(RUN, s, DialSituation(["a", "b"], 2, campaign_active_calls=7))
    assert d.count == 3 and d.limit is DialLimit.CAMPAIGN_CALL_CAP
    d = plan_dials(RUN, s, DialSituation(["a", "b"], 2, system_active_calls=99,
                                         system_call_cap=100))
    assert d.count == 1 and d.limit is DialLimit.SYSTEM_CALL_CAP


def test_situation_validation() -> None:
    with pytest.raises(ValueError, match="lines_in_flight"):
        DialSituation([], 1, lines_in_flight=-1)
    with pytest.raises(ValueError, match="listed twice"):
        DialSituation(["a", "a"], 2)
    with pytest.raises(ValueError, match="more than logged_in_agents"):
        DialSituation(["a", "b"], 1)


@settings(max_examples=200, deadline=None)
@given(
    mode=st.sampled_from([DialMode.PROGRESSIVE, DialMode.POWER, DialMode.PREDICTIVE]),
    n_avail=st.integers(0, 20), extra=st.integers(0, 20), in_flight=st.integers(0, 50),
    camp_active=st.integers(0, 80), sys_active=st.integers(0, 200),
    camp_cap=st.none() | st.integers(1, 60), sys_cap=st.none() | st.integers(1, 150),
    lines=st.integers(0, 40), per_agent=st.integers(1, 5),
)
def test_planner_never_exceeds_caps(
    mode: DialMode, n_avail: int, extra: int, in_flight: int, camp_active: int,
    sys_active: int, camp_cap: int | None, sys_cap: int | None, lines: int, per_agent: int,
) -> None:
    s = mk(mode, max_concurrent_calls=camp_cap, power_lines_per_agent=per_agent)
    agents = [f"a{i}" for i in range(n_avail)]
    sit = DialSituation(agents, n_avail + extra, in_flight, camp_active, sys_active, sys_cap,
                        lines)
    d = plan_dials(RUN, s, sit)
    if camp_cap is not None:
        assert camp_active + d.count <= max(camp_cap, camp_active)
    if sys_cap is not None:
        assert sys_active + d.count <= max(sys_cap, sys_active)
    if mode is DialMode.PROGRESSIVE:
        assert all(a is not None for a in d.agents)
        assert len(set(d.agents)) == d.count <= n_avail
    else:
        assert all(a is None for a in d.agents)
    if n_avail + extra == 0:
        assert d.count == 0
