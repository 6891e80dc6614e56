"""AgentMachine: states, wrap-up, RONA, nailed-up lines, and random-walk invariants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orchestrator.core.agents import (
    AgentMachine,
    AgentState,
    AgentStateError,
    LegState,
    longest_idle,
)
from orchestrator.core.campaigns import CampaignSettings, DialMode
from orchestrator.core.commands import (
    AddToBridge,
    CancelTimer,
    Command,
    CreateBridge,
    DestroyBridge,
    Hangup,
    NotifyCall,
    Originate,
    PublishAgentState,
    RecordDisposition,
    ReservationReady,
    StartTimer,
)
from orchestrator.core.events import (
    AgentCallEnded,
    AgentConnected,
    AgentDisposition,
    AgentHangupRequest,
    AgentLegAnswered,
    AgentLegLost,
    AgentLegRinging,
    AgentLogin,
    AgentLogout,
    AgentNotReady,
    AgentReady,
    AgentReleased,
    AgentReserved,
    AgentRona,
    CallAnswered,
    ChannelGone,
    ConferenceEnd,
    ConferenceStart,
    ConsultEnd,
    ConsultStart,
    HoldRequest,
    TimerFired,
    UnholdRequest,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
IN_CALL = {AgentState.ON_CALL, AgentState.HOLD, AgentState.CONSULTING, AgentState.CONFERENCING}
C = TypeVar("C", bound=Command)
CAMPAIGNS = {
    "camp": CampaignSettings(mode=DialMode.PROGRESSIVE, wrapup_s=30, rona_s=12,
                             default_wrapup_code="no_disposition"),
    "quick": CampaignSettings(mode=DialMode.PROGRESSIVE, wrapup_s=0),
    "prev": CampaignSettings(mode=DialMode.DIRECT_PREVIEW),
}


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def of(cmds: Sequence[Command], kind: type[C]) -> list[C]:
    return [c for c in cmds if isinstance(c, kind)]


def ready_agent(nailed: bool = False) -> AgentMachine:
    a = AgentMachine("ag1", CAMPAIGNS)
    out = a.handle(AgentLogin("ag1", "PJSIP/1001", nailed_up=nailed), at(0))
    if nailed:
        leg = of(out, Originate)[0].channel_id
        a.handle(CallAnswered(leg), at(1))
    a.handle(AgentReady("ag1"), at(2))
    return a


def on_call(a: AgentMachine, attempt: str = "call-1", campaign: str = "camp") -> None:
    a.handle(AgentReserved("ag1", attempt, campaign), at(10))
    a.handle(AgentConnected("ag1", attempt), at(15))


def test_login_ready_and_not_ready_with_reason() -> None:
    a = AgentMachine("ag1", CAMPAIGNS)
    out = a.handle(AgentLogin("ag1", "PJSIP/1001"), at(0))
    assert a.state is AgentState.NOT_READY and a.reason == "login"
    assert of(out, PublishAgentState)[0].state == "not_ready"
    a.handle(AgentReady("ag1"), at(1))
    assert a.state is AgentState.AVAILABLE and a.can_take_call
    a.handle(AgentNotReady("ag1", "lunch"), at(2))
    assert a.state is AgentState.NOT_READY and a.reason == "lunch"
    a.handle(AgentLogout("ag1"), at(3))
    assert a.state is AgentState.LOGGED_OUT


def test_invalid_transition_names_state_and_event() -> None:
    a = AgentMachine("ag1", CAMPAIGNS)
    with pytest.raises(AgentStateError, match="AgentReady not allowed in state logged_out"):
        a.handle(AgentReady("ag1"), at(0))
    a = ready_agent()
    with pytest.raises(AgentStateError, match="AgentLogin not allowed in state available"):
        a.handle(AgentLogin("ag1", "PJSIP/1"), at(3))
    with pytest.raises(ValueError, match="reason"):
        a.handle(AgentNotReady("ag1", "  "), at(3))
    with pytest.raises(ValueError, match="agent_id"):
        a.handle(AgentReady("someone"), at(3))


def test_call_then_wrapup_with_manual_disposition() -> None:
    a = ready_agent()
    out = a.handle(AgentReserved("ag1", "call-1", "camp"), at(10))
    assert a.state is AgentState.RESERVED and a.attempt_id == "call-1"
    a.handle(AgentLegRinging("ag1", "call-1"), at(10.5))
    assert a.state is AgentState.RINGING
    out = a.handle(AgentLegAnswered("ag1", "call-1"), at(12))
    assert a.state is AgentState.ON_CALL and CancelTimer("agent/ag1/rona") in out
    a.handle(AgentConnected("ag1", "call-1"), at(16))
    out = a.handle(AgentCallEnded("ag1", "call-1"), at(100))
    assert a.state is AgentState.WRAP_UP
    assert StartTimer("agent/ag1/wrapup", at(130)) in out
    with pytest.raises(AgentStateError, match="only an Available agent"):
        a.handle(AgentReserved("ag1", "call-2", "camp"), at(101))
    out = a.handle(AgentDisposition("ag1", "call-1", "sale", "nice"), at(110))
    rec = of(out, RecordDisposition)[0]
    assert (rec.code, rec.attempt_id, rec.automatic, rec.notes) == ("sale", "call-1", False, "nice")
    assert a.state is AgentState.AVAILABLE and a.attempt_id is None
    assert a.handle(TimerFired("agent/ag1/wrapup"), at(130)) == []  # cancelled


def test_wrapup_expiry_auto_dispositions_with_campaign_default() -> None:
    a = ready_agent()
    on_call(a)
    a.handle(AgentCallEnded("ag1", "call-1"), at(60))
    out = a.handle(TimerFired("agent/ag1/wrapup"), at(90))
    rec = of(out, RecordDisposition)[0]
    assert rec.code == "no_disposition" and rec.automatic
    assert a.state is AgentState.AVAILABLE


def test_zero_wrapup_dispositions_at_once() -> None:
    a = ready_agent()
    on_call(a, campaign="quick")
    out = a.handle(AgentCallEnded("ag1", "call-1"), at(60))
    assert of(out, RecordDisposition)[0].automatic and a.state is AgentState.AVAILABLE


def test_one_click_answering_machine_during_call_skips_wrapup() -> None:
    a = ready_agent()
    on_call(a)
    assert a.handle(AgentDisposition("ag1", "call-1", "answering_machine"), at(20)) == []
    out = a.handle(AgentCallEnded("ag1", "call-1"), at(21))
    assert of(out, RecordDisposition)[0].code == "answering_machine"
    assert a.state is AgentState.AVAILABLE


def test_rona_goes_not_ready_and_tells_the_call() -> None:
    a = ready_agent()
    a.handle(AgentReserved("ag1", "call-1", "camp"), at(10))
    out = a.handle(AgentLegRinging("ag1", "call-1"), at(10))
    assert StartTimer("agent/ag1/rona", at(22)) in out
    out = a.handle(TimerFired("agent/ag1/rona"), at(22))
    assert a.state is AgentState.NOT_READY and a.reason == "RONA"
    assert NotifyCall("call-1", AgentRona("ag1", "call-1")) in out
    # The call's own report of the failed leg changes nothing more.
    assert a.handle(AgentRona("ag1", "call-1"), at(22.1)) == []


def test_release_without_connection_returns_to_available() -> None:
    a = ready_agent()
    a.handle(AgentReserved("ag1", "call-1", "camp"), at(10))
    a.handle(AgentReleased("ag1", "call-1", "busy"), at(11))
    assert a.state is AgentState.AVAILABLE
    # Late notifications about a call the agent no longer holds are ignored.
    assert a.handle(AgentCallEnded("ag1", "call-1"), at(12)) == []
    assert a.handle(AgentConnected("ag1", "call-1"), at(12)) == []


def test_not_ready_and_logout_during_a_call_are_deferred() -> None:
    a = ready_agent()
    on_call(a)
    assert a.handle(AgentNotReady("ag1", "break"), at(20)) == []
    assert a.state is AgentState.ON_CALL
    a.handle(AgentCallEnded("ag1", "call-1"), at(30))
    a.handle(AgentDisposition("ag1", "call-1", "sale"), at(31))
    assert a.state is AgentState.NOT_READY and a.reason == "break"
    b = ready_agent()
    on_call(b)
    b.handle(AgentLogout("ag1"), at(20))
    b.handle(AgentCallEnded("ag1", "call-1"), at(30))
    b.handle(TimerFired("agent/ag1/wrapup"), at(60))
    assert b.state is AgentState.LOGGED_OUT


def test_hold_consult_conference_and_held_call_cannot_be_ended() -> None:
    a = ready_agent()
    on_call(a)
    out = a.handle(HoldRequest("ag1", "call-1"), at(20))
    assert a.state is AgentState.HOLD
    assert NotifyCall("call-1", HoldRequest("ag1", "call-1")) in out
    with pytest.raises(AgentStateError, match="held call cannot be ended"):
        a.handle(AgentHangupRequest("ag1", "call-1"), at(21))
    a.handle(ConsultStart("ag1", "call-1", "agent:ag2"), at(22))
    assert a.state is AgentState.CONSULTING
    a.handle(ConferenceStart("ag1", "call-1"), at(30))
    assert a.state is AgentState.CONFERENCING
    a.handle(ConferenceEnd("ag1", "call-1"), at(40))
    assert a.state is AgentState.ON_CALL
    a.handle(ConsultStart("ag1", "call-1", "+4420"), at(41))
    a.handle(ConsultEnd("ag1", "call-1"), at(42))
    a.handle(HoldRequest("ag1", "call-1"), at(43))
    a.handle(UnholdRequest("ag1", "call-1"), at(44))
    assert a.handle(AgentHangupRequest("ag1", "call-1"), at(45)) == [
        NotifyCall("call-1", AgentHangupRequest("ag1", "call-1"))
    ]
    with pytest.raises(AgentStateError, match="not handling call call-9"):
        a.handle(HoldRequest("ag1", "call-9"), at(46))


def test_nailed_up_line_is_dialed_at_login_and_kept_between_calls() -> None:
    a = AgentMachine("ag1", CAMPAIGNS)
    out = a.handle(AgentLogin("ag1", "PJSIP/1001", nailed_up=True), at(0))
    leg = of(out, Originate)[0].channel_id
    # Ready before the line is up: available once it answers.
    assert a.handle(AgentReady("ag1"), at(0.5)) == []
    assert a.state is AgentState.NOT_READY
    out = a.handle(CallAnswered(leg), at(1))
    assert CreateBridge(a.bridge_id) in out and AddToBridge(a.bridge_id, leg) in out
    assert a.state is AgentState.AVAILABLE
    assert a.phone_leg().channel_id == leg and a.phone_leg().bridge_id == a.bridge_id
    on_call(a)
    out = a.handle(AgentCallEnded("ag1", "call-1"), at(40))
    assert not of(out, Hangup) and a.leg_state is LegState.UP
    a.handle(AgentDisposition("ag1", "call-1", "sale"), at(41))
    assert a.phone_leg().up
    out = a.handle(AgentLogout("ag1"), at(50))
    assert Hangup(leg) in out and DestroyBridge(a.bridge_id) in out


def test_nailed_line_lost_while_idle_and_during_a_call() -> None:
    a = ready_agent(nailed=True)
    leg = a.leg_id
    assert leg is not None
    a.handle(ChannelGone(leg, 16), at(5))
    assert a.state is AgentState.NOT_READY and a.reason == "phone_lost"
    out = a.handle(AgentReady("ag1"), at(6))
    leg2 = of(out, Originate)[0].channel_id
    assert leg2 != leg
    assert a.handle(ChannelGone(leg, 16), at(6.1)) == []  # the old leg: ignored
    a.handle(CallAnswered(leg2), at(7))
    assert a.state is AgentState.AVAILABLE
    on_call(a)
    out = a.handle(ChannelGone(leg2, 16), at(20))
    assert NotifyCall("call-1", AgentLegLost("ag1", "call-1")) in out
    a.handle(AgentCallEnded("ag1", "call-1"), at(20.1))
    a.handle(AgentDisposition("ag1", "call-1", "sale"), at(21))
    assert a.state is AgentState.NOT_READY and a.reason == "phone_lost"


def test_preview_reservation_call_then_release_hangs_it_up() -> None:
    a = ready_agent()
    out = a.handle(AgentReserved("ag1", "prev-1", "prev", reservation_call=True), at(10))
    leg = of(out, Originate)[0].channel_id
    assert a.state is AgentState.RINGING
    out = a.handle(CallAnswered(leg), at(12))
    ready = of(out, ReservationReady)
    assert ready == [ReservationReady("ag1", "prev-1", leg, a.bridge_id)]
    assert a.state is AgentState.RESERVED and a.phone_leg().up
    out = a.handle(AgentReleased("ag1", "prev-1", "skip"), at(20))
    assert Hangup(leg) in out and a.state is AgentState.AVAILABLE and not a.phone_leg().up


def test_preview_reservation_call_not_answered_is_rona() -> None:
    a = ready_agent()
    out = a.handle(AgentReserved("ag1", "prev-1", "prev", reservation_call=True), at(10))
    leg = of(out, Originate)[0].channel_id
    out = a.handle(TimerFired("agent/ag1/rona"), at(25))
    assert Hangup(leg) in out and NotifyCall("prev-1", AgentRona("ag1", "prev-1")) in out
    assert a.state is AgentState.NOT_READY and a.reason == "RONA"


def test_longest_idle_first() -> None:
    agents = []
    for i, t in enumerate([5.0, 1.0, 3.0]):
        a = AgentMachine(f"a{i}", CAMPAIGNS)
        a.handle(AgentLogin(f"a{i}", "PJSIP/x"), at(0))
        a.handle(AgentReady(f"a{i}"), at(t))
        agents.append(a)
    agents[2].handle(AgentNotReady("a2", "break"), at(6))
    assert [a.agent_id for a in longest_idle(agents)] == ["a1", "a0"]


# ------------------------------------------------------ stateful (hypothesis)


class AgentWorld(RuleBasedStateMachine):
    """Random sequences of desktop actions, dialer offers, phone facts and timers."""

    def __init__(self) -> None:
        super().__init__()
        self.a = AgentMachine("ag1", CAMPAIGNS)
        self.t = 0.0
        self.log: list[Command] = []
        self.timers: dict[str, datetime] = {}
        self.calls = 0
        self.ended_connected: list[str] = []
        self.published: str | None = None

    def feed(self, event: Any) -> bool:
        state_before = self.a.state
        try:
            out = self.a.handle(event, at(self.t))
        except AgentStateError:
            assert self.a.state is state_before
            return False
        self.log += out
        for c in out:
            if isinstance(c, StartTimer):
                self.timers[c.name] = c.at
            elif isinstance(c, CancelTimer):
                self.timers.pop(c.name, None)
            elif isinstance(c, PublishAgentState):
                self.published = c.state
        return True

    @precondition(lambda self: self.a.state is AgentState.LOGGED_OUT)
    @rule(dt=st.floats(0, 30), nailed=st.booleans())
    def login(self, dt: float, nailed: bool) -> None:
        self.t += dt
        self.feed(AgentLogin("ag1", "PJSIP/1001", nailed))

    @precondition(lambda self: self.a.state is not AgentState.LOGGED_OUT)
    @rule(dt=st.floats(0, 30),
          kind=st.sampled_from(["ready", "ready", "ready", "ready", "not_ready", "logout"]))
    def desktop(self, dt: float, kind: str) -> None:
        self.t += dt
        ev: Any = {"ready": AgentReady("ag1"), "not_ready": AgentNotReady("ag1", "break"),
                   "logout": AgentLogout("ag1")}[kind]
        self.feed(ev)

    @precondition(lambda self: self.a.state is not AgentState.LOGGED_OUT)
    @rule(dt=st.floats(0, 10), campaign=st.sampled_from(["camp", "quick", "prev"]),
          reservation=st.booleans())
    def offer(self, dt: float, campaign: str, reservation: bool) -> None:
        self.t += dt
        was = self.a.state
        self.calls += 1
        ok = self.feed(AgentReserved("ag1", f"call-{self.calls}", campaign, reservation))
        # Only an Available agent is ever offered a call (never one in wrap-up).
        assert ok == (was is AgentState.AVAILABLE)

    @precondition(lambda self: self.a.attempt_id is not None)
    @rule(dt=st.floats(0, 10), kind=st.sampled_from(
        ["ringing", "answered", "connected", "connected", "released", "ended", "ended", "rona",
         "disposition", "disposition", "hold", "unhold", "hangup", "consult", "consult_end",
         "conf", "conf_end"]))
    def call_fact(self, dt: float, kind: str) -> None:
        self.t += dt
        att = self.a.attempt_id
        assert att is not None
        ev: Any = {
            "ringing": AgentLegRinging("ag1", att),
            "answered": AgentLegAnswered("ag1", att),
            "connected": AgentConnected("ag1", att),
            "released": AgentReleased("ag1", att),
            "ended": AgentCallEnded("ag1", att),
            "rona": AgentRona("ag1", att),
            "disposition": AgentDisposition("ag1", att, "sale"),
            "hold": HoldRequest("ag1", att),
            "unhold": UnholdRequest("ag1", att),
            "hangup": AgentHangupRequest("ag1", att),
            "consult": ConsultStart("ag1", att, "agent:ag2"),
            "consult_end": ConsultEnd("ag1", att),
            "conf": ConferenceStart("ag1", att),
            "conf_end": ConferenceEnd("ag1", att),
        }[kind]
        if kind == "ended" and self.a.state in IN_CALL and self.a.connected:
            self.ended_connected.append(att)
        self.feed(ev)

    @precondition(lambda self: self.a.attempt_id is not None)
    @rule(dt=st.floats(0, 120))
    def talk_then_hang_up(self, dt: float) -> None:
        # The common path (connected, then the customer leaves), so wrap-up is reached often.
        att = self.a.attempt_id
        assert att is not None
        self.feed(AgentConnected("ag1", att))
        self.t += dt
        if self.a.state in IN_CALL and self.a.connected:
            self.ended_connected.append(att)
        self.feed(AgentCallEnded("ag1", att))

    @precondition(lambda self: self.a.leg_id is not None)
    @rule(dt=st.floats(0, 10), up=st.booleans())
    def phone(self, dt: float, up: bool) -> None:
        self.t += dt
        leg = self.a.leg_id
        assert leg is not None
        self.feed(CallAnswered(leg) if up else ChannelGone(leg, 16))

    @precondition(lambda self: bool(self.timers))
    @rule()
    def fire_timer(self) -> None:
        name, when = min(self.timers.items(), key=lambda kv: kv[1])
        del self.timers[name]
        self.t = max(self.t, (when - T0).total_seconds())
        self.feed(TimerFired(name))

    @invariant()
    def consistent(self) -> None:
        a = self.a
        idle = {AgentState.LOGGED_OUT, AgentState.NOT_READY, AgentState.AVAILABLE}
        assert (a.attempt_id is None) == (a.state in idle), (a.state, a.attempt_id)
        if a.state is AgentState.WRAP_UP:
            assert "agent/ag1/wrapup" in self.timers
        if a.state is AgentState.RINGING:
            assert "agent/ag1/rona" in self.timers
        if a.state is AgentState.LOGGED_OUT:
            assert not self.timers and a.leg_state is LegState.DOWN
        if a.state is AgentState.NOT_READY:
            assert a.reason
        if a.state in (AgentState.HOLD, AgentState.CONSULTING, AgentState.CONFERENCING):
            assert a.connected
        if self.published is not None:
            assert self.published == a.state.value

    @invariant()
    def one_disposition_per_connected_call(self) -> None:
        dispositions = [d.attempt_id for d in of(self.log, RecordDisposition)]
        assert len(dispositions) == len(set(dispositions))
        assert set(dispositions) <= set(self.ended_connected)
        done = [c for c in self.ended_connected if c != self.a.attempt_id]
        assert set(done) <= set(dispositions)


AgentWorld.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_agent_world = AgentWorld.TestCase


def test_station_leg_ids_never_prefix_one_another_across_logins() -> None:
    # After a restart the leg sequence starts again while a leg of the previous life may
    # still be up; Asterisk refuses a new id that prefixes an existing one (surprise 31).
    from orchestrator.core.calls import prefix_clash

    made: list[str] = []
    for login_at in (0, 3600):
        a = AgentMachine("ag1", CAMPAIGNS)
        out = a.handle(AgentLogin("ag1", "PJSIP/1001", nailed_up=True), at(login_at))
        made += [c.channel_id for c in out if isinstance(c, Originate)]
    assert len(made) == 2
    assert prefix_clash(made[1], made[:1]) is None and prefix_clash(made[0], made[1:]) is None


def test_a_phone_that_never_rings_puts_the_agent_not_ready_with_back_off() -> None:
    # On a stock Asterisk the simulated agents' phone rang nothing: every offer failed at
    # once and was re-offered at once (~70 agent-leg originates per customer call).
    from orchestrator.core.agents import PHONE_FAULTS_MAX, PHONE_UNREACHABLE_REASON

    a = ready_agent()
    t = 10.0
    for fault in range(1, PHONE_FAULTS_MAX + 1):
        attempt = f"call-{fault}"
        a.handle(AgentReserved("ag1", attempt, "camp"), at(t))
        out = a.handle(AgentRona("ag1", attempt, phone_failed=True), at(t + 0.1))
        assert a.state is AgentState.NOT_READY and a.reason == PHONE_UNREACHABLE_REASON
        assert of(out, PublishAgentState)[-1].reason == PHONE_UNREACHABLE_REASON
        wait = 5.0 * 2 ** (fault - 1)
        timer = of(out, StartTimer)[-1]
        assert timer.at == at(t + 0.1 + wait)
        with pytest.raises(AgentStateError, match="phone unreachable: try again in"):
            a.handle(AgentReady("ag1"), at(t + 0.2))
        a.handle(TimerFired(timer.name), at(t + 0.1 + wait))
        if fault < PHONE_FAULTS_MAX:
            assert a.state is AgentState.AVAILABLE  # a passing fault: offered again
        else:
            assert a.state is AgentState.NOT_READY  # stays until the agent says Ready
            a.handle(AgentReady("ag1"), at(t + 0.2 + wait))
            assert a.state is AgentState.AVAILABLE
        t += wait + 1
    # A phone that rings and is not answered is a RONA, and an answer resets the faults.
    a.handle(AgentReserved("ag1", "call-r", "camp"), at(t))
    a.handle(AgentRona("ag1", "call-r"), at(t + 12))
    assert a.reason == "RONA"
    a.handle(AgentReady("ag1"), at(t + 13))
    a.handle(AgentReserved("ag1", "call-ok", "camp"), at(t + 14))
    a.handle(AgentLegAnswered("ag1", "call-ok"), at(t + 15))
    assert a.phone_faults == 0
