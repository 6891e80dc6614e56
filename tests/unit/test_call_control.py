"""Call control of a connected call (MISSION E): consult, switch, transfer, conference,
leaving, post-call, recording pause; the desktop's controls; random interleavings."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from orchestrator.core.calls import AgentLeg, CallControlError, CallMachine, CallState
from orchestrator.core.calls.control_view import control_view
from orchestrator.core.calls.parties import PartyState
from orchestrator.core.calls.room import CallMode
from orchestrator.core.campaigns import CampaignSettings, DialMode
from orchestrator.core.commands import (
    AddToBridge,
    CancelTimer,
    Command,
    CreateBridge,
    DestroyBridge,
    Hangup,
    NoteCall,
    NotifyAgent,
    Originate,
    PauseRecording,
    Record,
    RecordOutcome,
    RemoveFromBridge,
    ResumeRecording,
    StartMoh,
    StartTimer,
    StopMoh,
    StopRecording,
    Unhold,
)
from orchestrator.core.events import (
    AgentAssigned,
    AgentCallEnded,
    AgentConnected,
    AgentHangupRequest,
    AgentLeftCall,
    AgentLegLost,
    AgentReleased,
    AgentRona,
    CallAnswered,
    CallRinging,
    ChannelGone,
    ConferenceEnd,
    ConferenceRequest,
    ConferenceStart,
    ConsultCancelRequest,
    ConsultEnd,
    ConsultRequest,
    ConsultStart,
    DialFailed,
    DialStatus,
    HoldRequest,
    LeaveRequest,
    OriginateRefused,
    RecordingFailed,
    RecordingRequest,
    RemovePartyRequest,
    SwitchRequest,
    TimerFired,
    TransferRequest,
    UnholdRequest,
)

# The same call, clock and helpers as tests/unit/test_calls.py.
from tests.unit.test_calls import ATTEMPT, T0, at, of, plan
from tests.unit.test_calls import Driver as CallDriver

AGENT_LEG = f"agent:{ATTEMPT}"
ROOM = f"{ATTEMPT}:room1"
P1 = f"party1:{ATTEMPT}"

NAILED = AgentLeg("ag1", "PJSIP/1001", "agent/ag1/leg/1", "agent/ag1/bridge")
PER_CALL = AgentLeg("ag1", "PJSIP/1001")
LEGS = pytest.mark.parametrize("leg", [PER_CALL, NAILED], ids=["per_call", "nailed"])
END_EVENTS = (AgentCallEnded, AgentLeftCall, AgentReleased)


def notified(cmds: Sequence[Command], kind: Any, agent: str | None = None) -> list[Any]:
    return [c.event for c in of(cmds, NotifyAgent)
            if isinstance(c.event, kind) and (agent is None or c.agent_id == agent)]


def notes(cmds: Sequence[Command], kind: str) -> list[dict[str, object]]:
    return [dict(c.data) for c in of(cmds, NoteCall) if c.kind == kind]


def predictive(**kw: Any) -> CampaignSettings:
    base: dict[str, Any] = {"mode": DialMode.PREDICTIVE, "caller_id": "+442079460000",
                            "info_message": "sound:dialer/silent-call", "recording": True}
    base.update(kw)
    return CampaignSettings(**base)


class Driver(CallDriver):
    """test_calls' driver, with the call's outcomes and conversation at hand."""

    def outcomes(self) -> list[RecordOutcome]:
        return of(self.log, RecordOutcome)

    @property
    def talk(self) -> Any:
        return self.call.conversation


def connected(leg: AgentLeg, **kw: Any) -> Driver:
    """A predictive call answered by the customer and bridged with agent ag1 (``leg``)."""
    d = Driver(CallMachine(plan(), predictive(**kw)))
    d.start()
    d(CallAnswered(ATTEMPT), 1.0)
    d(AgentAssigned(ATTEMPT, leg.agent_id, leg.endpoint, leg.channel_id, leg.bridge_id), 1.5)
    if leg.channel_id is None:
        d(CallAnswered(AGENT_LEG), 2.0)
    assert d.call.state is CallState.BRIDGED
    return d


def bridge_of(leg: AgentLeg) -> str:
    return leg.bridge_id or f"{ATTEMPT}:bridge"


def number(d: Driver, t: float, num: str = "5551234", *, by: str = "ag1",
           blind: bool = False) -> list[Command]:
    """Agent ``by`` consults (or blindly transfers to) a dialed number."""
    return d(ConsultRequest(by, ATTEMPT, kind="number", label=num, endpoint=f"PJSIP/{num}@trunk",
                            blind=blind), t)


def other_agent(agent: str, nailed: bool = False) -> AgentLeg:
    if nailed:
        return AgentLeg(agent, f"PJSIP/{agent}", f"agent/{agent}/leg/1", f"agent/{agent}/bridge")
    return AgentLeg(agent, f"PJSIP/{agent}")


def agent(d: Driver, t: float, who: str = "ag2", *, nailed: bool = False, by: str = "ag1",
          blind: bool = False) -> list[Command]:
    """Agent ``by`` consults (or blindly transfers to) agent ``who``."""
    leg = other_agent(who, nailed)
    return d(ConsultRequest(by, ATTEMPT, kind="agent", label=f"agent {who}", endpoint=leg.endpoint,
                            party_agent_id=who, party_channel_id=leg.channel_id,
                            party_bridge_id=leg.bridge_id, blind=blind), t)


def party_leg(out: Sequence[Command]) -> str:
    (orig,) = of(out, Originate)
    return orig.channel_id


def conference_with(d: Driver, t: float, *, who: str | None = None) -> str:
    """Consult a number (or agent ``who``), it answers, conference: returns its leg."""
    out = number(d, t) if who is None else agent(d, t, who)
    leg = party_leg(out)
    d(CallAnswered(leg), t + 1)
    d(ConferenceRequest("ag1", ATTEMPT), t + 2)
    assert d.talk.mode == CallMode.CONFERENCE
    return leg


def customer_out(d: Driver) -> bool:
    return bool(d.talk.customer_out)


def held_parties(d: Driver) -> list[str]:
    return [p.party_id for p in d.talk.present_parties() if p.state is PartyState.HELD]


# ------------------------------------------------------------ consultation


@LEGS
def test_consult_a_number_holds_the_customer_and_dials_the_party(leg: AgentLeg) -> None:
    d = connected(leg)
    bridge = bridge_of(leg)
    out = number(d, 5)
    assert RemoveFromBridge(bridge, ATTEMPT) in out
    assert StartMoh(ATTEMPT, "default") in out
    orig = of(out, Originate)
    assert [o.channel_id for o in orig] == [P1]
    assert orig[0].endpoint == "PJSIP/5551234@trunk" and orig[0].attempt_id == ATTEMPT
    assert notified(out, ConsultStart) == [ConsultStart("ag1", ATTEMPT, "5551234")]
    assert d.talk.mode == CallMode.CONSULT and d.talk.participants() == 3
    assert notes(out, "consult")[0]["party_kind"] == "number"
    assert P1 in d.call.channel_ids
    out = d(CallAnswered(P1), 8)
    assert AddToBridge(bridge, P1) in out
    assert notes(out, "party_joined")[0]["party"] == "p1"
    # The customer never hears the consultation: still out of the room.
    assert customer_out(d) and not of(out, StopMoh)


@LEGS
def test_switch_twice_never_holds_both(leg: AgentLeg) -> None:
    d = connected(leg)
    bridge = bridge_of(leg)
    number(d, 5)
    with pytest.raises(CallControlError, match="not answered"):
        d(SwitchRequest("ag1", ATTEMPT), 6)
    d(CallAnswered(P1), 8)
    out = d(SwitchRequest("ag1", ATTEMPT), 10)
    assert out == [RemoveFromBridge(bridge, P1), StartMoh(P1, "default"),
                   StopMoh(ATTEMPT), AddToBridge(bridge, ATTEMPT)]
    assert not customer_out(d) and held_parties(d) == ["p1"]
    out = d(SwitchRequest("ag1", ATTEMPT), 12)
    assert out == [RemoveFromBridge(bridge, ATTEMPT), StartMoh(ATTEMPT, "default"),
                   StopMoh(P1), AddToBridge(bridge, P1)]
    assert customer_out(d) and held_parties(d) == []


@LEGS
@pytest.mark.parametrize("answered", [False, True])
def test_cancel_consult_hangs_the_party_up_and_brings_the_customer_back(
    leg: AgentLeg, answered: bool
) -> None:
    d = connected(leg)
    number(d, 5)
    if answered:
        d(CallAnswered(P1), 8)
    out = d(ConsultCancelRequest("ag1", ATTEMPT), 10)
    assert Hangup(P1) in out
    assert StopMoh(ATTEMPT) in out and AddToBridge(bridge_of(leg), ATTEMPT) in out
    assert notified(out, ConsultEnd) == [ConsultEnd("ag1", ATTEMPT)]
    assert d.talk.mode == CallMode.TALK and not customer_out(d)
    assert d.talk.participants() == 2 and d.call.state is CallState.BRIDGED
    assert P1 not in d.call.channel_ids
    assert d(ChannelGone(P1, 16), 10.1) == []  # our own hang-up, reported
    with pytest.raises(CallControlError, match="no consultation"):
        d(ConsultCancelRequest("ag1", ATTEMPT), 11)


def test_consult_from_hold_keeps_the_music_and_drops_the_hold_flag() -> None:
    d = connected(PER_CALL)
    d(HoldRequest("ag1", ATTEMPT), 4)
    out = number(d, 5)
    # held already (music playing): the hold flag goes, the music stays
    assert Unhold(ATTEMPT) in out and StartMoh(ATTEMPT, "default") not in out
    assert not d.call.held and customer_out(d)
    d(ConsultCancelRequest("ag1", ATTEMPT), 6)
    assert not d.call.held and not customer_out(d)


# ------------------------------------------------------------------- transfer


@LEGS
def test_transfer_after_consult_sends_the_primary_to_wrap_up_and_hands_control(
    leg: AgentLeg,
) -> None:
    d = connected(leg)
    out = agent(d, 5, "ag2")
    d(CallRinging(P1), 5.5)
    out = d(CallAnswered(P1), 8)
    assert notified(out, AgentConnected, "ag2")
    out = d(TransferRequest("ag1", ATTEMPT), 20)
    assert notified(out, AgentCallEnded) == [AgentCallEnded("ag1", ATTEMPT)]
    assert notes(out, "in_control") == [{"agent": "ag2"}]
    assert notes(out, "transfer")[0]["agent"] == "ag2"
    assert d.talk.controller == "ag2" and d.talk.mode == CallMode.TALK
    assert not customer_out(d)
    if leg.channel_id is None:
        assert Hangup(AGENT_LEG) in out  # the primary's per-call leg goes
        assert not of(out, CreateBridge)
        d(ChannelGone(AGENT_LEG, 16), 20.1)
    else:
        # The room was the agent's own bridge: the others move to one of the call's.
        assert CreateBridge(ROOM) in out and not of(out, Hangup)
        assert StopRecording(ATTEMPT) in out
        for cid in (ATTEMPT, P1):
            assert RemoveFromBridge(bridge_of(leg), cid) in out and AddToBridge(ROOM, cid) in out
        assert RemoveFromBridge(bridge_of(leg), leg.channel_id or "") not in out
        (rec,) = of(out, Record)
        assert rec.bridge_id == ROOM and rec.name != ATTEMPT
        assert d.call.bridge_id == ROOM
    with pytest.raises(CallControlError, match="not in control"):
        d(ConsultRequest("ag1", ATTEMPT, kind="number", label="123", endpoint="x"), 21)
    with pytest.raises(CallControlError):
        d(AgentHangupRequest("ag1", ATTEMPT), 21)
    out = d(ChannelGone(ATTEMPT, 16), 60)
    assert d.call.state is CallState.ENDED
    assert Hangup(P1) in out
    assert notified(d.log, AgentCallEnded, "ag2") == [AgentCallEnded("ag2", ATTEMPT)]
    assert notified(d.log, AgentCallEnded, "ag1") == [AgentCallEnded("ag1", ATTEMPT)]
    assert not notified(d.log, AgentLeftCall)
    (outcome,) = d.outcomes()
    assert outcome.agent_id == "ag2"  # the agent who took the call dispositions it
    if leg.channel_id is not None:
        assert DestroyBridge(ROOM) in out


def test_transfer_to_a_number_leaves_nobody_in_control() -> None:
    d = connected(PER_CALL)
    number(d, 5)
    d(CallAnswered(P1), 6)
    out = d(TransferRequest("ag1", ATTEMPT), 10)
    assert d.talk.controller is None and not notes(out, "in_control")
    assert notified(out, AgentCallEnded) == [AgentCallEnded("ag1", ATTEMPT)]
    out = d(ChannelGone(P1, 16), 40)  # the number hangs up: the customer is alone
    assert Hangup(ATTEMPT) in out
    d(ChannelGone(ATTEMPT, 16), 40.1)
    assert d.call.ended and len(d.outcomes()) == 1
    assert d.outcomes()[0].agent_id == "ag1"


def test_transfer_refused_before_the_party_answers() -> None:
    d = connected(PER_CALL)
    number(d, 5)
    with pytest.raises(CallControlError, match="not answered"):
        d(TransferRequest("ag1", ATTEMPT), 6)
    with pytest.raises(CallControlError, match="not answered"):
        d(ConferenceRequest("ag1", ATTEMPT), 6)


@LEGS
def test_blind_transfer_to_a_number_that_fails_hangs_the_customer_up(leg: AgentLeg) -> None:
    d = connected(leg)
    out = number(d, 5, blind=True)
    assert notified(out, AgentCallEnded) == [AgentCallEnded("ag1", ATTEMPT)]
    assert not notified(out, ConsultStart)
    assert StartMoh(ATTEMPT, "default") in out and party_leg(out) == P1
    assert d.talk.controller is None and notes(out, "transfer")[0]["blind"] is True
    if leg.channel_id is None:
        assert Hangup(AGENT_LEG) in out
        d(ChannelGone(AGENT_LEG, 16), 5.1)
    else:
        assert CreateBridge(ROOM) in out
    d(CallRinging(P1), 6)
    out = d(DialFailed(P1, DialStatus.BUSY), 9)
    assert Hangup(P1) in out and Hangup(ATTEMPT) in out
    assert notes(out, "transfer_failed")
    d(ChannelGone(P1, 17), 9.1)
    out = d(ChannelGone(ATTEMPT, 16), 9.2)
    assert d.call.ended
    (rec,) = d.outcomes()
    assert "transfer" in rec.detail and "failed" in rec.detail
    assert len(notified(d.log, AgentCallEnded, "ag1")) == 1
    if leg.channel_id is not None:
        assert DestroyBridge(ROOM) in out


@pytest.mark.parametrize("nailed_party", [False, True], ids=["ringing_agent", "nailed_agent"])
def test_blind_transfer_to_an_agent_lands_when_it_answers(nailed_party: bool) -> None:
    d = connected(PER_CALL)
    out = agent(d, 5, "ag2", nailed=nailed_party, blind=True)
    if not nailed_party:
        assert d.talk.controller is None and customer_out(d)
        out = d(CallAnswered(P1), 7)
    assert d.talk.controller == "ag2" and not customer_out(d)
    assert notes(out, "in_control") == [{"agent": "ag2"}]
    assert AddToBridge(bridge_of(PER_CALL), ATTEMPT) in out
    # the new controller ends the call: wrap-up for them, once
    d(AgentHangupRequest("ag2", ATTEMPT), 30)
    d(ChannelGone(ATTEMPT, 16), 30.1)
    assert d.call.ended
    assert len(notified(d.log, AgentCallEnded, "ag2")) == 1
    assert len(d.outcomes()) == 1 and d.outcomes()[0].agent_id == "ag2"


def test_blind_transfer_only_from_a_plain_call() -> None:
    d = connected(PER_CALL)
    number(d, 5)
    with pytest.raises(CallControlError, match="in progress"):
        number(d, 6, "5559999", blind=True)


# ----------------------------------------------------------------- conference


@LEGS
def test_conference_of_eight_and_a_ninth_refused(leg: AgentLeg) -> None:
    d = connected(leg)
    out = number(d, 5, "5550001")
    d(CallAnswered(party_leg(out)), 6)
    out = d(ConferenceRequest("ag1", ATTEMPT), 7)
    assert notified(out, ConferenceStart) == [ConferenceStart("ag1", ATTEMPT)]
    assert StopMoh(ATTEMPT) in out and AddToBridge(bridge_of(leg), ATTEMPT) in out
    assert notes(out, "conference") == [{"by": "ag1", "participants": 3}]
    for i in range(2, 7):
        out = number(d, 5 + 2 * i, f"555000{i}")
        # straight into the conference: the customer stays in the room
        assert not of(out, RemoveFromBridge) and not notified(out, ConsultStart)
        assert notes(out, "party_added")
        d(CallAnswered(party_leg(out)), 6 + 2 * i)
    assert d.talk.participants() == 8 and d.talk.mode == CallMode.CONFERENCE
    with pytest.raises(CallControlError, match="8"):
        number(d, 30, "5550009")
    assert d.talk.participants() == 8


@LEGS
def test_primary_leaves_a_conference_control_passes_to_the_agent_present_longest(
    leg: AgentLeg,
) -> None:
    d = connected(leg)
    conference_with(d, 5)  # p1, a number
    ag3 = party_leg(agent(d, 10, "ag3"))  # asked first, answers late
    agent(d, 12, "ag2", nailed=True)  # its line is up: in at once
    d(CallAnswered(ag3), 25)
    assert d.talk.participants() == 5
    out = d(LeaveRequest("ag1", ATTEMPT), 30)
    assert notified(out, AgentCallEnded) == [AgentCallEnded("ag1", ATTEMPT)]
    assert notes(out, "control_passed")[0]["to"] == "ag2"
    assert notes(out, "in_control") == [{"agent": "ag2"}]
    assert d.talk.controller == "ag2" and d.talk.mode == CallMode.CONFERENCE
    if leg.channel_id is None:
        assert Hangup(AGENT_LEG) in out
    else:
        assert CreateBridge(ROOM) in out
        moved = {c.channel_id for c in of(out, AddToBridge) if c.bridge_id == ROOM}
        assert moved == {ATTEMPT, P1, ag3, "agent/ag2/leg/1"}
        assert of(out, Record)[0].bridge_id == ROOM
    # ag2 leaves in turn: control to ag3, the one agent left
    out = d(LeaveRequest("ag2", ATTEMPT), 40)
    assert notified(out, AgentCallEnded) == [AgentCallEnded("ag2", ATTEMPT)]
    assert AddToBridge("agent/ag2/bridge", "agent/ag2/leg/1") in out  # its line goes home
    assert d.talk.controller == "ag3"
    d(ChannelGone(ATTEMPT, 16), 50)  # customer, p1 and ag3: a post-call
    assert len(d.outcomes()) == 1 and d.talk.mode == CallMode.POST_CALL
    d(ChannelGone(P1, 16), 55)
    assert d.call.ended and len(d.outcomes()) == 1
    ended = Counter(e.agent_id for e in notified(d.log, AgentCallEnded))
    assert ended == Counter({"ag1": 1, "ag2": 1, "ag3": 1})


@LEGS
def test_customer_leaves_a_conference_the_others_talk_on_until_one_is_left(
    leg: AgentLeg,
) -> None:
    d = connected(leg)
    num = conference_with(d, 5)
    ag2 = party_leg(agent(d, 10, "ag2"))
    d(CallAnswered(ag2), 11)
    out = d(ChannelGone(ATTEMPT, 16), 20)
    (rec,) = of(out, RecordOutcome)  # written at once
    assert rec.agent_id == "ag1" and rec.talk_seconds == pytest.approx(20 - (2.0 if leg.channel_id is None else 1.5))
    assert d.call.state is CallState.BRIDGED and d.talk.mode == CallMode.POST_CALL
    assert notes(out, "customer_left") == [{"participants": 3}]
    with pytest.raises(CallControlError, match="customer has left"):
        number(d, 21, "5559999")
    # ag1 leaves the post-call: control to ag2 (a nailed primary's room moves)
    out = d(LeaveRequest("ag1", ATTEMPT), 25)
    assert d.talk.controller == "ag2" and d.call.state is CallState.BRIDGED
    if leg.channel_id is not None:
        assert CreateBridge(ROOM) in out and d.call.bridge_id == ROOM
    out = d(ChannelGone(num, 16), 30)  # ag2 is left alone: the call is over
    assert d.call.ended
    assert Hangup(ag2) in out
    assert len(d.outcomes()) == 1
    hung = {c.channel_id for c in of(d.log, Hangup)}
    assert ag2 in hung and num not in hung  # the number hung up itself
    assert notified(d.log, AgentCallEnded, "ag2") == [AgentCallEnded("ag2", ATTEMPT)]
    if leg.channel_id is not None:
        assert DestroyBridge(ROOM) in out
    else:
        assert not of(d.log, DestroyBridge)  # the per-call bridge is the shell's to drop


@LEGS
def test_post_call_ends_when_the_parties_leave(leg: AgentLeg) -> None:
    d = connected(leg)
    num = conference_with(d, 5)
    ag2 = party_leg(agent(d, 10, "ag2"))
    d(CallAnswered(ag2), 11)
    d(ChannelGone(ATTEMPT, 16), 20)
    out = d(ChannelGone(num, 16), 25)
    assert d.call.state is CallState.BRIDGED and d.talk.participants() == 2
    out = d(AgentHangupRequest("ag2", ATTEMPT), 30)  # only ag1 is left
    assert d.call.ended
    assert Hangup(ag2) in out
    assert notified(d.log, AgentLeftCall, "ag2") == [AgentLeftCall("ag2", ATTEMPT, "hung up")]
    assert notified(d.log, AgentCallEnded, "ag1") == [AgentCallEnded("ag1", ATTEMPT)]
    if leg.channel_id is None:
        assert Hangup(AGENT_LEG) in out
    assert len(d.outcomes()) == 1


# ------------------------------------------------- the parties' own legs


def test_consulted_agents_rona_ends_the_consultation() -> None:
    d = connected(PER_CALL)
    agent(d, 5, "ag2")
    d(CallRinging(P1), 5.2)
    out = d(AgentRona("ag2", ATTEMPT), 20)
    assert Hangup(P1) in out
    assert notified(out, AgentReleased, "ag2")
    assert notified(out, ConsultEnd) == [ConsultEnd("ag1", ATTEMPT)]
    assert d.talk.mode == CallMode.TALK and not customer_out(d)
    assert d.call.state is CallState.BRIDGED
    # the party's phone answering late is news of a party that left
    assert d(CallAnswered(P1), 21) == []


@pytest.mark.parametrize("who", ["number", "agent"])
def test_primary_leg_hanging_up_in_an_answered_consultation_transfers(who: str) -> None:
    d = connected(PER_CALL)
    if who == "number":
        number(d, 5)
    else:
        agent(d, 5, "ag2")
    d(CallAnswered(P1), 6)
    out = d(ChannelGone(AGENT_LEG, 16), 10)
    assert d.call.state is CallState.BRIDGED and d.talk.mode == CallMode.TALK
    assert notified(out, AgentCallEnded) == [AgentCallEnded("ag1", ATTEMPT)]
    assert Hangup(ATTEMPT) not in out and not customer_out(d)
    assert d.talk.controller == ("ag2" if who == "agent" else None)
    assert not of(out, Hangup)  # the leg is gone already


def test_primary_leg_hanging_up_while_the_party_rings_ends_the_call() -> None:
    d = connected(PER_CALL)
    number(d, 5)
    out = d(ChannelGone(AGENT_LEG, 16), 6)
    assert Hangup(ATTEMPT) in out
    out = d(ChannelGone(ATTEMPT, 16), 6.1)
    assert d.call.ended and Hangup(P1) in out and len(d.outcomes()) == 1


@pytest.mark.parametrize("nailed_party", [False, True], ids=["own_leg", "borrowed_line"])
def test_party_agents_hangup_makes_only_that_party_leave(nailed_party: bool) -> None:
    d = connected(PER_CALL)
    conference_with(d, 5)
    out = agent(d, 10, "ag2", nailed=nailed_party)
    line = "agent/ag2/leg/1" if nailed_party else party_leg(out)
    if not nailed_party:
        d(CallAnswered(line), 11)
    assert d.talk.participants() == 4
    out = d(AgentHangupRequest("ag2", ATTEMPT), 20)
    if nailed_party:
        assert RemoveFromBridge(bridge_of(PER_CALL), line) in out
        assert AddToBridge("agent/ag2/bridge", line) in out and not of(out, Hangup)
    else:
        assert of(out, Hangup) == [Hangup(line)]
    assert notified(out, AgentLeftCall) == [AgentLeftCall("ag2", ATTEMPT, "hung up")]
    assert not notified(out, AgentCallEnded)
    assert d.talk.controller == "ag1" and d.talk.mode == CallMode.CONFERENCE
    assert d.talk.participants() == 3 and d.call.state is CallState.BRIDGED


def test_consulted_agent_hangs_up_the_consultation_ends() -> None:
    d = connected(PER_CALL)
    agent(d, 5, "ag2")
    d(CallAnswered(P1), 6)
    out = d(AgentHangupRequest("ag2", ATTEMPT), 8)
    assert Hangup(P1) in out and notified(out, ConsultEnd) == [ConsultEnd("ag1", ATTEMPT)]
    assert notified(out, AgentLeftCall, "ag2")
    assert not customer_out(d) and d.talk.mode == CallMode.TALK


def test_conference_of_three_back_to_a_plain_call_when_a_party_leaves() -> None:
    d = connected(PER_CALL)
    num = conference_with(d, 5)
    out = d(ChannelGone(num, 16), 10)
    assert d.talk.mode == CallMode.TALK
    assert notified(out, ConferenceEnd) == [ConferenceEnd("ag1", ATTEMPT)]
    with pytest.raises(CallControlError, match="only a conference"):
        d(LeaveRequest("ag1", ATTEMPT), 11)


def test_remove_party_from_a_conference() -> None:
    d = connected(PER_CALL)
    conference_with(d, 5)
    out2 = number(d, 10, "5550002")
    d(CallAnswered(party_leg(out2)), 11)
    with pytest.raises(CallControlError, match="no party p9"):
        d(RemovePartyRequest("ag1", ATTEMPT, "p9"), 12)
    out = d(RemovePartyRequest("ag1", ATTEMPT, "p1"), 12)
    assert of(out, Hangup) == [Hangup(P1)]
    assert notes(out, "party_left")[0]["why"] == "removed by agent ag1"
    assert d.talk.mode == CallMode.CONFERENCE and d.talk.participants() == 3


def test_party_leg_refused_or_failing_ends_the_consultation() -> None:
    d = connected(PER_CALL)
    number(d, 5)
    assert d(OriginateRefused(P1, 409, "exists"), 5.1) == []  # not proof of anything
    out = d(OriginateRefused(P1, 500, "Allocation failed"), 5.2)
    assert not of(out, Hangup) and notified(out, ConsultEnd)
    out = number(d, 6, "5550002")
    p2 = party_leg(out)
    assert p2 == f"party2:{ATTEMPT}"
    out = d(DialFailed(p2, DialStatus.NOANSWER), 30)
    assert Hangup(p2) in out and d.talk.mode == CallMode.TALK


# ------------------------------------------------------------------ recording


def test_recording_pause_resume_rules_and_auto_resume() -> None:
    d = connected(PER_CALL, recording_resume_s=45)
    number(d, 3)
    with pytest.raises(CallControlError, match="consultation or a conference"):
        d(RecordingRequest("ag1", ATTEMPT, pause=True), 4)
    d(CallAnswered(P1), 4)
    d(ConferenceRequest("ag1", ATTEMPT), 5)
    with pytest.raises(CallControlError, match="consultation or a conference"):
        d(RecordingRequest("ag1", ATTEMPT, pause=True), 6)
    d(ChannelGone(P1, 16), 7)
    assert d.talk.mode == CallMode.TALK
    with pytest.raises(CallControlError, match="already running"):
        d(RecordingRequest("ag1", ATTEMPT, pause=False), 8)
    out = d(RecordingRequest("ag1", ATTEMPT, pause=True), 10)
    assert PauseRecording(ATTEMPT) in out
    starts = [c for c in out if isinstance(c, StartTimer)]
    assert starts == [StartTimer(f"call/{ATTEMPT}/recording_resume", at(55))]
    with pytest.raises(CallControlError, match="already paused"):
        d(RecordingRequest("ag1", ATTEMPT, pause=True), 11)
    out = d(RecordingRequest("ag1", ATTEMPT, pause=False), 12)
    assert ResumeRecording(ATTEMPT) in out
    assert CancelTimer(f"call/{ATTEMPT}/recording_resume") in out
    d(RecordingRequest("ag1", ATTEMPT, pause=True), 20)
    out = d.timer("recording_resume", 65)
    assert ResumeRecording(ATTEMPT) in out and notes(out, "recording_resumed") == [{"by": "limit"}]
    assert not d.talk.recording_paused
    assert d.timer("recording_resume", 66) == []  # fired once only


def test_recording_failed_is_noted_and_pause_refused() -> None:
    d = connected(PER_CALL)
    assert d(RecordingFailed("someone-else"), 3) == []
    out = d(RecordingFailed(ATTEMPT, "no space"), 3)
    assert notes(out, "recording_failed") == [{"name": ATTEMPT, "cause": "no space"}]
    with pytest.raises(CallControlError, match="not being recorded"):
        d(RecordingRequest("ag1", ATTEMPT, pause=True), 4)
    view = control_view(d.call, "ag1", at(4))
    assert view["recording"]["failed"] == "no space"
    assert not view["controls"]["pause_recording"]["enabled"]
    d(ChannelGone(ATTEMPT, 16), 10)
    assert not of(d.log, StopRecording)  # nothing to stop


def test_recording_not_on_in_the_campaign_cannot_be_paused() -> None:
    d = connected(PER_CALL, recording=False)
    with pytest.raises(CallControlError, match="not being recorded"):
        d(RecordingRequest("ag1", ATTEMPT, pause=True), 4)


def test_room_move_keeps_a_paused_recording_paused() -> None:
    d = connected(NAILED)
    d(RecordingRequest("ag1", ATTEMPT, pause=True), 3)
    number(d, 4)
    d(CallAnswered(P1), 5)
    out = d(TransferRequest("ag1", ATTEMPT), 6)
    (rec,) = of(out, Record)
    # Either the new recording is paused too, or the call no longer claims it is.
    assert PauseRecording(rec.name) in out or not d.talk.recording_paused


def test_failure_of_an_old_recording_does_not_stop_the_current_one() -> None:
    d = connected(NAILED)
    agent(d, 4, "ag2")
    d(CallAnswered(P1), 5)
    out = d(TransferRequest("ag1", ATTEMPT), 6)
    (rec,) = of(out, Record)
    d(RecordingFailed(ATTEMPT, "late report of the first room's recording"), 7)
    assert d.call.recording == rec.name
    assert PauseRecording(rec.name) in d(RecordingRequest("ag2", ATTEMPT, pause=True), 8)


# ---------------------------------------------------- bugs the state machines found


def test_conference_end_goes_to_the_agent_in_control_after_a_transfer() -> None:
    d = connected(PER_CALL)
    agent(d, 5, "ag2")
    d(CallAnswered(P1), 6)
    d(TransferRequest("ag1", ATTEMPT), 7)
    p2 = party_leg(number(d, 10, by="ag2"))
    d(CallAnswered(p2), 11)
    out = d(ConferenceRequest("ag2", ATTEMPT), 12)
    assert notified(out, ConferenceStart) == [ConferenceStart("ag2", ATTEMPT)]
    out = d(ChannelGone(p2, 16), 20)
    assert d.talk.mode == CallMode.TALK
    assert notified(out, ConferenceEnd) == [ConferenceEnd("ag2", ATTEMPT)]


@pytest.mark.parametrize("consulted", ["number", "agent"])
def test_controller_party_line_lost_during_its_consultation(consulted: str) -> None:
    d = connected(PER_CALL)
    agent(d, 5, "ag2")
    d(CallAnswered(P1), 6)
    d(TransferRequest("ag1", ATTEMPT), 7)
    out = number(d, 10, by="ag2") if consulted == "number" else agent(d, 10, "ag3", by="ag2")
    p2 = party_leg(out)
    d(CallAnswered(p2), 11)
    out = d(ChannelGone(P1, 16), 15)  # ag2's phone hangs up
    # As for the primary's own leg: the customer is put through to the consulted party.
    assert not customer_out(d) and d.talk.mode == CallMode.TALK
    assert AddToBridge(bridge_of(PER_CALL), ATTEMPT) in out
    assert d.talk.controller != "ag3" or not d.talk.consulted()


@LEGS
def test_primary_leg_gone_in_a_post_call_of_two_ends_the_call(leg: AgentLeg) -> None:
    d = connected(leg)
    conference_with(d, 5)
    d(ChannelGone(ATTEMPT, 16), 10)
    assert d.talk.mode == CallMode.POST_CALL and d.talk.participants() == 2
    gone = ChannelGone(AGENT_LEG, 16) if leg.channel_id is None else AgentLegLost("ag1", ATTEMPT)
    out = d(gone, 15)
    assert Hangup(ATTEMPT) not in out
    assert d.call.state is CallState.ENDED and Hangup(P1) in out


# ------------------------------------------------------- the desktop's controls


def _control_request(name: str, agent_id: str) -> Any:
    a = (agent_id, ATTEMPT)
    return {
        "hold": HoldRequest(*a), "unhold": UnholdRequest(*a), "hangup": AgentHangupRequest(*a),
        "consult": ConsultRequest(*a, kind="number", label="5559999", endpoint="PJSIP/5559999"),
        "blind_transfer": ConsultRequest(*a, kind="number", label="5559999",
                                         endpoint="PJSIP/5559999", blind=True),
        "switch": SwitchRequest(*a), "cancel_consult": ConsultCancelRequest(*a),
        "transfer": TransferRequest(*a), "conference": ConferenceRequest(*a),
        "leave": LeaveRequest(*a),
        "pause_recording": RecordingRequest(*a, pause=True),
        "resume_recording": RecordingRequest(*a, pause=False),
    }[name]


def _plain(d: Driver) -> None:
    pass


def _held(d: Driver) -> None:
    d(HoldRequest("ag1", ATTEMPT), 3)


def _paused(d: Driver) -> None:
    d(RecordingRequest("ag1", ATTEMPT, pause=True), 3)


def _consult_ringing(d: Driver) -> None:
    agent(d, 3, "ag2")


def _consult_answered(d: Driver) -> None:
    agent(d, 3, "ag2")
    d(CallAnswered(P1), 4)


def _switched(d: Driver) -> None:
    _consult_answered(d)
    d(SwitchRequest("ag1", ATTEMPT), 5)


def _conference(d: Driver) -> None:
    _consult_answered(d)
    d(ConferenceRequest("ag1", ATTEMPT), 5)


def _full_conference(d: Driver) -> None:
    _conference(d)
    for i in range(5):
        d(CallAnswered(party_leg(number(d, 6 + i, f"555100{i}"))), 6.5 + i)


def _post_call(d: Driver) -> None:
    _conference(d)
    d(CallAnswered(party_leg(number(d, 6))), 7)
    d(ChannelGone(ATTEMPT, 16), 8)


def _transferred(d: Driver) -> None:
    _consult_answered(d)
    d(TransferRequest("ag1", ATTEMPT), 5)


def _rec_failed(d: Driver) -> None:
    d(RecordingFailed(ATTEMPT, "x"), 3)


def _ended(d: Driver) -> None:
    d(ChannelGone(ATTEMPT, 16), 3)


SCENES: dict[str, Callable[[Driver], None]] = {
    "plain": _plain, "held": _held, "paused": _paused, "consult_ringing": _consult_ringing,
    "consult_answered": _consult_answered, "switched": _switched, "conference": _conference,
    "full_conference": _full_conference, "post_call": _post_call, "transferred": _transferred,
    "recording_failed": _rec_failed, "ended": _ended,
}


@pytest.mark.parametrize("scene", list(SCENES))
@pytest.mark.parametrize("leg", [PER_CALL, NAILED], ids=["per_call", "nailed"])
def test_controls_offered_are_exactly_those_the_call_accepts(scene: str, leg: AgentLeg) -> None:
    d = connected(leg)
    SCENES[scene](d)
    checked = 0
    for who in ("ag1", "ag2", "ag9"):
        view = control_view(d.call, who, at(20))
        assert view["you_control"] == (d.talk.controller == who)
        for name, control in view["controls"].items():
            trial = copy.deepcopy(d.call, {id(d.call.settings): d.call.settings})
            request = _control_request(name, who)
            if control["enabled"]:
                trial.handle(request, at(20))  # accepted: no CallControlError
            else:
                with pytest.raises(CallControlError):
                    trial.handle(request, at(20))
            checked += 1
    assert checked == 3 * 12


# ------------------------------------------------------ stateful (hypothesis)

AGENT_POOL = ("ag2", "ag3", "ag4")
CONTROLS = ("hold", "unhold", "hangup", "consult", "blind_transfer", "switch", "cancel_consult",
            "transfer", "conference", "leave", "pause_recording", "resume_recording")
_PHASE_STEPS: dict[type, tuple[frozenset[str], str]] = {
    # the agent machine's consultation steps (agents/machine.py _CONSULT_STEPS)
    ConsultStart: (frozenset({"on_call", "hold"}), "consulting"),
    ConsultEnd: (frozenset({"consulting"}), "on_call"),
    ConferenceStart: (frozenset({"consulting"}), "conferencing"),
    ConferenceEnd: (frozenset({"conferencing"}), "on_call"),
}
ACTORS = st.sampled_from(["controller"] * 5 + ["ag1", "ag2", "ag3"])
"Mostly the agent in control; now and then one whose request must be refused."
BLIND = st.sampled_from([False, False, False, True])


class CallControlWorld(RuleBasedStateMachine):
    """A connected call (per-call agent leg, recording on) under random call control and
    random wire facts. The wire is simulated: a party leg originated is a live channel
    until Asterisk reports it gone; a channel the call hangs up is reported gone at the
    next step. Every request is accepted or refused with CallControlError."""

    PRIMARY = PER_CALL
    "The primary agent's leg: per call (a nailed-up variant below)."

    def __init__(self) -> None:
        super().__init__()
        self.t = 3.0
        self.d = connected(self.PRIMARY)
        self.live: set[str] = set()
        "Channels that exist on the (simulated) Asterisk."
        self.answered: set[str] = {ATTEMPT, AGENT_LEG}
        "Legs past their dialing (the nailed line's is not the call's)."
        self.pending_gone: list[str] = []
        self.originated: set[str] = set()
        self.hung_up: set[str] = set()
        self.reported_gone: set[str] = set()
        self.timers: dict[str, datetime] = {}
        self.unused = list(AGENT_POOL)
        self.phase: dict[str, str] = {}
        self.ends: Counter[str] = Counter()
        self._absorb(self.d.log)

    @property
    def call(self) -> CallMachine:
        return self.d.call

    # ----------------------------------------------------------- the wire

    def _absorb(self, out: Sequence[Command]) -> None:
        for c in out:
            if isinstance(c, Originate):
                assert c.channel_id not in self.originated, f"originated twice: {c.channel_id}"
                self.originated.add(c.channel_id)
                self.live.add(c.channel_id)
            elif isinstance(c, Hangup):
                self.hung_up.add(c.channel_id)
                if c.channel_id in self.live and c.channel_id not in self.pending_gone:
                    self.pending_gone.append(c.channel_id)
            elif isinstance(c, StartTimer):
                self.timers[c.name] = c.at
            elif isinstance(c, CancelTimer):
                self.timers.pop(c.name, None)
            elif isinstance(c, NotifyAgent):
                self._agent_sees(c.agent_id, c.event)

    def _agent_sees(self, agent_id: str, ev: Any) -> None:
        """A small model of each agent's machine: a step it would refuse is a bug."""
        phase = self.phase.get(agent_id, "none")
        assert phase != "ended", f"{agent_id} told {type(ev).__name__} after its part ended"
        if isinstance(ev, END_EVENTS):
            self.ends[agent_id] += 1
            self.phase[agent_id] = "ended"
        elif isinstance(ev, AgentConnected):
            self.phase[agent_id] = "on_call"
        elif type(ev) in _PHASE_STEPS:
            sources, target = _PHASE_STEPS[type(ev)]
            assert phase in sources, f"{agent_id} in {phase} told {type(ev).__name__}"
            self.phase[agent_id] = target

    def _snapshot(self) -> tuple[object, ...]:
        talk = self.call.conversation
        return (self.call.state, talk.mode, talk.controller, talk.customer_out, talk.held,
                talk.recording, talk.recording_paused, talk.transfer_pending,
                [(p.party_id, p.state) for p in talk.parties], dict(self.timers))

    def _feed(self, event: Any) -> bool:
        """Feed one event; False when it was a request the call refused (changing nothing)."""
        before = self._snapshot()
        was_ended = self.call.ended
        try:
            out = self.d(event, self.t)
        except CallControlError:
            assert self._snapshot() == before, f"refused {event} yet changed the call"
            return False
        if was_ended:
            assert all(isinstance(c, NotifyAgent) for c in out), out
        if isinstance(event, HoldRequest):
            self.phase[event.agent_id] = "hold"
        elif isinstance(event, UnholdRequest):
            self.phase[event.agent_id] = "on_call"
        self._absorb(out)
        return True

    def _gone(self, channel: str, cause: int = 16) -> None:
        self.live.discard(channel)
        self.reported_gone.add(channel)
        self._feed(ChannelGone(channel, cause))

    def _step(self, dt: float) -> None:
        """Time passes: Asterisk reports what the call hung up last step; timers due fire."""
        self.t += dt
        for ch in self.pending_gone[:]:
            self.pending_gone.remove(ch)
            if ch in self.live:
                self._gone(ch)
        for name, when in sorted(self.timers.items(), key=lambda kv: kv[1]):
            if when <= at(self.t) and name in self.timers:
                del self.timers[name]
                self._feed(TimerFired(name))

    def _actor(self, actor: str) -> str:
        if actor == "controller":
            return self.call.conversation.controller or "ag1"
        return actor

    def _dialing(self) -> list[str]:
        """Party legs ringing: live, unanswered, not hung up by the call."""
        return sorted(ch for ch in self.live - self.answered
                      if ch.startswith("party") and ch not in self.pending_gone)

    def _party_legs(self) -> list[str]:
        return sorted(ch for ch in self.live if ch.startswith("party"))

    # ------------------------------------------------------------ requests

    def _on(self) -> bool:
        return not self.call.ended

    def _agent_parties(self) -> list[str]:
        return sorted(p.agent_id for p in self.call.conversation.present_parties()
                      if p.agent_id is not None)

    def _may_consult(self) -> bool:
        # In a consultation a new one is refused (the examples check it): spend the
        # steps on what can follow instead.
        return self._on() and self.call.conversation.mode != CallMode.CONSULT

    @initialize(opening=st.sampled_from(["none", "consult", "conference", "transfer"]),
                who=st.sampled_from(["number", "agent", "agent_nailed"]))
    def opening(self, opening: str, who: str) -> None:
        """Most runs start from a plain call; some from further on (a shortcut only: the
        same requests the rules make)."""
        if opening == "none":
            return
        if who == "number":
            self.consult_number(1.0, False, "controller", True)
        else:
            self.consult_agent(1.0, who == "agent_nailed", False, "controller", True)
        if opening != "consult":
            req = ConferenceRequest if opening == "conference" else TransferRequest
            self._step(1.0)
            assert self._feed(req("ag1", ATTEMPT))

    def _answer_new(self, out_from: int, answer: bool) -> None:
        """The party just dialed answers at once (saves a step)."""
        if not answer:
            return
        for c in of(self.d.log[out_from:], Originate):
            if c.channel_id in self.live and c.channel_id not in self.pending_gone:
                self.answered.add(c.channel_id)
                self._feed(CallAnswered(c.channel_id))

    @precondition(_may_consult)
    @rule(dt=st.floats(0.1, 4.0), blind=BLIND, actor=ACTORS, answer=st.booleans())
    def consult_number(self, dt: float, blind: bool, actor: str, answer: bool) -> None:
        self._step(dt)
        mark = len(self.d.log)
        self._feed(ConsultRequest(self._actor(actor), ATTEMPT, kind="number", label="5550100",
                                  endpoint="PJSIP/5550100@trunk", blind=blind))
        self._answer_new(mark, answer)

    @precondition(lambda self: self._may_consult() and bool(self.unused))
    @rule(dt=st.floats(0.1, 4.0), nailed=st.booleans(), blind=BLIND, actor=ACTORS,
          answer=st.booleans())
    def consult_agent(self, dt: float, nailed: bool, blind: bool, actor: str,
                      answer: bool) -> None:
        self._step(dt)
        who = self.unused[0]
        leg = other_agent(who, nailed)
        mark = len(self.d.log)
        if self._feed(ConsultRequest(self._actor(actor), ATTEMPT, kind="agent",
                                     label=f"agent {who}", endpoint=leg.endpoint,
                                     party_agent_id=who, party_channel_id=leg.channel_id,
                                     party_bridge_id=leg.bridge_id, blind=blind)):
            self.unused.remove(who)  # the shell reserved it for this call
            self._answer_new(mark, answer)

    @precondition(_on)
    @rule(dt=st.floats(0.1, 4.0),
          kind=st.sampled_from(["fit", "fit", "fit", "switch", "cancel", "transfer",
                                "conference", "leave", "remove"]),
          which=st.integers(1, 8), actor=ACTORS)
    def control(self, dt: float, kind: str, which: int, actor: str) -> None:
        self._step(dt)
        by = self._actor(actor)
        if kind == "fit":
            # one the call's mode may accept (the others are refused: cheap to draw)
            fits = {CallMode.CONSULT: ["switch", "switch", "cancel", "transfer", "conference",
                                       "conference"],
                    CallMode.CONFERENCE: ["leave", "remove"],
                    CallMode.POST_CALL: ["leave", "remove"]}.get(self.call.conversation.mode,
                                                                 ["switch"])
            kind = fits[which % len(fits)]
        ev: Any = {
            "switch": SwitchRequest(by, ATTEMPT), "cancel": ConsultCancelRequest(by, ATTEMPT),
            "transfer": TransferRequest(by, ATTEMPT), "conference": ConferenceRequest(by, ATTEMPT),
            "leave": LeaveRequest(by, ATTEMPT),
            "remove": RemovePartyRequest(by, ATTEMPT, f"p{which}"),
        }[kind]
        self._feed(ev)

    @precondition(_on)
    @rule(dt=st.floats(0.1, 4.0), kind=st.sampled_from(["hold", "unhold", "pause", "resume"]),
          actor=ACTORS)
    def side_request(self, dt: float, kind: str, actor: str) -> None:
        self._step(dt)
        by = self._actor(actor)
        ev: Any = {
            "hold": HoldRequest(by, ATTEMPT), "unhold": UnholdRequest(by, ATTEMPT),
            "pause": RecordingRequest(by, ATTEMPT, pause=True),
            "resume": RecordingRequest(by, ATTEMPT, pause=False),
        }[kind]
        self._feed(ev)

    @precondition(lambda self: self.call.ended)
    @rule(kind=st.sampled_from(["consult", "switch", "hold", "hangup", "leave"]))
    def late_request(self, kind: str) -> None:
        ev: Any = {"consult": ConsultRequest("ag1", ATTEMPT, kind="number", label="555",
                                             endpoint="PJSIP/555"),
                   "switch": SwitchRequest("ag1", ATTEMPT), "hold": HoldRequest("ag1", ATTEMPT),
                   "hangup": AgentHangupRequest("ag1", ATTEMPT),
                   "leave": LeaveRequest("ag1", ATTEMPT)}[kind]
        with pytest.raises(CallControlError, match="ended"):
            self.d(ev, self.t)

    # ------------------------------------------------------------ the wire

    @precondition(lambda self: self._on() and bool(self._dialing()))
    @rule(dt=st.floats(0.1, 4.0), which=st.integers(0, 7),
          kind=st.sampled_from(["ringing", "busy", "noanswer", "refused"]))
    def party_dial(self, dt: float, which: int, kind: str) -> None:
        self._step(dt)
        dialing = self._dialing()
        if not dialing:
            return
        ch = dialing[which % len(dialing)]
        if kind == "ringing":
            self._feed(CallRinging(ch))
        elif kind == "refused":
            self.live.discard(ch)  # never existed
            self.reported_gone.add(ch)
            self._feed(OriginateRefused(ch, 500, "Allocation failed"))
        else:
            status = DialStatus.BUSY if kind == "busy" else DialStatus.NOANSWER
            self._feed(DialFailed(ch, status))

    @precondition(lambda self: self._on() and bool(self._dialing()))
    @rule(dt=st.floats(0.1, 4.0), which=st.integers(0, 7))
    def party_answers(self, dt: float, which: int) -> None:
        self._step(dt)
        dialing = self._dialing()
        if dialing:  # the step's own reports may have ended it
            ch = dialing[which % len(dialing)]
            self.answered.add(ch)
            self._feed(CallAnswered(ch))

    @precondition(lambda self: self._on() and bool(self._party_legs()))
    @rule(dt=st.floats(0.1, 4.0), which=st.integers(0, 7))
    def party_hangs_up(self, dt: float, which: int) -> None:
        self._step(dt)
        legs = self._party_legs()
        if legs:
            self._gone(legs[which % len(legs)], 16)

    @precondition(lambda self: self._on() and bool(self._agent_parties()))
    @rule(dt=st.floats(0.1, 4.0), which=st.integers(0, 2),
          kind=st.sampled_from(["rona", "lost", "hangup"]))
    def party_agent(self, dt: float, which: int, kind: str) -> None:
        self._step(dt)
        talk = self.call.conversation
        agents = self._agent_parties()
        if not agents:
            return
        who = agents[which % len(agents)]
        party = talk.party_of_agent(who)
        if kind == "rona":
            if party is None or party.state is not PartyState.DIALING:
                return  # an agent machine reports a RONA only while its phone rings
            self._feed(AgentRona(who, ATTEMPT))
        elif kind == "lost":
            if party is not None:
                self._feed(AgentLegLost(who, ATTEMPT))
        else:
            self._feed(AgentHangupRequest(who, ATTEMPT))

    @precondition(_on)
    @rule(dt=st.floats(0.1, 4.0),
          what=st.sampled_from(["customer", "primary_leg", "hangup", "recording_failed",
                                "wait", "wait"]),
          actor=ACTORS)
    def rare(self, dt: float, what: str, actor: str) -> None:
        """What ends a call (or its recording), or a long wait (timers fire): kept to one
        rule so calls last."""
        self._step(dt + (60.0 if what == "wait" else 0.0))
        if what == "customer" and ATTEMPT in self.live:
            self._gone(ATTEMPT, 16)
        elif what == "primary_leg":
            if self.PRIMARY.channel_id is None:
                if AGENT_LEG in self.live:
                    self._gone(AGENT_LEG, 16)
            elif self.call.conversation.primary_present:
                self._feed(AgentLegLost("ag1", ATTEMPT))  # the nailed-up line dropped
        elif what == "hangup":
            self._feed(AgentHangupRequest(self._actor(actor), ATTEMPT))
        elif what == "recording_failed" and self.call.recording is not None:
            self._feed(RecordingFailed(self.call.recording, "disk full"))

    @rule(name=st.sampled_from(CONTROLS), actor=ACTORS)
    def controls_agree(self, name: str, actor: str) -> None:
        """What the desktop offers is what the call accepts, in whatever state it is in."""
        who = self._actor(actor)
        enabled = control_view(self.call, who, at(self.t))["controls"][name]["enabled"]
        trial = copy.deepcopy(self.call, {id(self.call.settings): self.call.settings})
        request = _control_request(name, who)
        if enabled:
            trial.handle(request, at(self.t))
        else:
            with pytest.raises(CallControlError):
                trial.handle(request, at(self.t))


    # ------------------------------------------------------------ invariants

    @invariant()
    def room_rules(self) -> None:
        talk = self.call.conversation
        assert talk.participants() <= 8
        held = [p for p in talk.present_parties() if p.state is PartyState.HELD]
        assert not (talk.customer_out and held), "customer and a party both on hold"
        assert len(held) <= 1
        assert len(self.d.outcomes()) <= 1

    @invariant()
    def control_rules(self) -> None:
        if self.call.state is not CallState.BRIDGED:
            return
        talk = self.call.conversation
        c = talk.controller
        if c is not None:
            if c == talk.agent_id and talk.primary_present:
                pass
            else:
                party = talk.party_of_agent(c)
                assert party is not None and party.state is PartyState.TALKING, c
            assert self.phase.get(c) not in (None, "ended", "none"), (c, self.phase)
        mode = talk.mode
        if mode == CallMode.CONSULT:
            party = talk.consulted()
            assert party is not None and c is not None and party.agent_id != c
            assert talk.customer_out != (party.state is PartyState.HELD)
            assert self.phase[c] == "consulting"
        elif mode == CallMode.POST_CALL:
            assert not talk.customer_present and talk.participants() >= 2
        else:
            assert talk.customer_present
            assert talk.customer_out == (talk.transfer_pending is not None)
            if mode == CallMode.CONFERENCE:
                assert talk.participants() >= 3
                assert c is None or self.phase[c] in ("on_call", "conferencing")
            elif c is not None:
                assert self.phase[c] == ("hold" if talk.held else "on_call"), (c, self.phase)

    @invariant()
    def hanging_up_awaits_a_channel(self) -> None:
        if self.call.state is CallState.HANGING_UP:
            # the ChannelGone the call waits for is still to come
            assert ATTEMPT in self.live

    # ------------------------------------------------------------ the end

    def teardown(self) -> None:
        for _ in range(60):
            if self.call.ended:
                break
            self._step(1.0)
            if self.call.ended:
                break
            if ATTEMPT in self.live:
                self._gone(ATTEMPT, 16)
            elif self.pending_gone:
                continue
            elif self.live - {ATTEMPT}:
                self._gone(sorted(self.live)[0], 16)
            elif self._agent_parties():
                # agents on their own nailed-up lines talk on (post-call): they hang up
                self._feed(AgentHangupRequest(self._agent_parties()[0], ATTEMPT))
            elif self.timers:
                self._step(max((w - T0).total_seconds() for w in self.timers.values()) - self.t)
        assert self.call.ended, (self.call.state, self.live, self.call.conversation.mode)
        self._step(1.0)  # the last hang-ups are reported
        log = self.d.log
        assert len(self.d.outcomes()) == 1  # every call here recorded its attempt
        orphans = self.originated - self.hung_up - self.reported_gone
        assert not orphans, f"party legs never hung up: {orphans}"
        assert all(n <= 1 for n in self.ends.values()), self.ends
        in_control = {"ag1"} | {str(n["agent"]) for n in notes(log, "in_control")}
        wrapped = Counter(e.agent_id for e in notified(log, AgentCallEnded))
        assert wrapped == Counter(dict.fromkeys(in_control, 1)), (wrapped, in_control)
        assert self.call.conversation.last_controller in in_control
        for a, phase in self.phase.items():
            assert phase == "ended", (a, phase)
        rooms = {c.bridge_id for c in of(log, CreateBridge) if ":room" in c.bridge_id}
        assert rooms <= {c.bridge_id for c in of(log, DestroyBridge)}
        assert not self.timers or self.call.ended


class NailedCallControlWorld(CallControlWorld):
    """The same, the primary agent on a nailed-up line: the call starts in the agent's own
    bridge and moves to a room of its own when the agent leaves."""

    PRIMARY = NAILED


_WORLD_SETTINGS = settings(
    max_examples=60, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CallControlWorld.TestCase.settings = _WORLD_SETTINGS
NailedCallControlWorld.TestCase.settings = _WORLD_SETTINGS
TestCallControlWorld = CallControlWorld.TestCase
TestNailedCallControlWorld = NailedCallControlWorld.TestCase
