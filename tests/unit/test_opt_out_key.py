"""The customer's opt-out key (MISSION F/I): pressed while waiting for an agent or hearing
the information message, the number goes on the DNC list and the call ends; pressed in a
conversation, nothing happens (the keys are the agent's business there)."""

from __future__ import annotations

from orchestrator.core.calls import CallMachine, CallState
from orchestrator.core.commands import CountAbandon, Hangup, OptOutNumber, RequestAgent
from orchestrator.core.events import (
    AgentAssigned,
    CallAnswered,
    CallRinging,
    DigitReceived,
    OriginateAccepted,
)
from tests.unit.test_calls import ATTEMPT, NAILED, Driver, at, of, plan, predictive


def _live(**settings: object) -> Driver:
    d = Driver(CallMachine(plan(), predictive(**settings)))
    d.start()
    d(OriginateAccepted(ATTEMPT), 0.01)
    d(CallRinging(ATTEMPT), 0.5)
    out = d(CallAnswered(ATTEMPT), 3.0)
    assert of(out, RequestAgent)
    return d


def test_the_key_while_waiting_opts_out_and_ends_the_call_without_an_abandon() -> None:
    d = _live()
    out = d(DigitReceived(ATTEMPT, "9"), 3.5)
    assert of(out, OptOutNumber) == [OptOutNumber(ATTEMPT, at(3.5))]
    assert Hangup(ATTEMPT) in out and d.call.state is CallState.HANGING_UP
    assert not of(d.log, CountAbandon)
    assert d.call.detail == "opted out by key press"


def test_the_key_during_the_information_message_opts_out_too() -> None:
    d = _live()
    d.timer("grace", 5.1)  # nobody came: abandoned, the message plays
    assert d.call.state is CallState.ABANDONING
    out = d(DigitReceived(ATTEMPT, "9"), 6.0)
    assert of(out, OptOutNumber) and Hangup(ATTEMPT) in out
    assert len(of(d.log, CountAbandon)) == 1  # counted once, when it was abandoned


def test_other_keys_a_conversation_and_a_campaign_without_a_key_do_nothing() -> None:
    d = _live()
    assert d(DigitReceived(ATTEMPT, "1"), 3.2) == []
    d(AgentAssigned(ATTEMPT, "ag1", "PJSIP/1001", NAILED.channel_id, NAILED.bridge_id), 3.4)
    assert d.call.state is CallState.BRIDGED
    assert d(DigitReceived(ATTEMPT, "9"), 4.0) == []  # a card number, say
    quiet = _live(opt_out_digit=None)
    assert quiet(DigitReceived(ATTEMPT, "9"), 3.5) == []
