"""One outbound attempt, from dialing to its single final outcome.

:class:`CallMachine` (alias :data:`Call`) follows the customer leg, and the
per-call agent leg when the agent's phone rings per call, through::

    agent_dialing -> originating -> ringing -> amd -> live -> connecting -> bridged
                                            \\-> voicemail / abandoning / hanging_up -> ended

It takes events plus ``now`` and returns commands; it never reads a clock or
does I/O. Who is in the call and how they are joined (legs, bridge, hold,
recording) is its :class:`~orchestrator.core.calls.conversation.Conversation`'s;
this machine decides when each step happens and what the attempt's outcome is.
Its state and shared steps are in :mod:`~orchestrator.core.calls.steps`, its
handlers in :mod:`~orchestrator.core.calls.customer_leg` (the customer's channel,
AMD, timers) and :mod:`~orchestrator.core.calls.agent_side` (the agent, their leg
and requests); this module starts the attempt and routes each event. Two flows:

* **customer first** (power, predictive, progressive customer-first): the
  customer is originated (through AMD when enabled); a live answer must reach
  an agent within the campaign's grace (2 s) or the call is abandoned: the
  information message is played, the abandon counted and the number locked
  for 72 h. A nailed-up agent hears a zip tone only they hear. When the
  campaign's last agent leaves, a call not answered yet is hung up at once
  (:class:`~orchestrator.core.calls.events.CampaignUnstaffed`): answered, it could
  only be abandoned.
* **agent first** (progressive agent-first, preview): the agent's leg comes
  first (or is already up: nailed-up line, preview reservation call); the
  customer is then created and dialed *inside the agent's bridge* so the
  agent hears the progress. Asterisk does not hang such a channel up on a
  final dial status, so the machine does.

Write-ahead: :class:`~orchestrator.core.calls.commands.RecordAttempt` always
precedes the customer's Originate/CreateAndDial in the same command list.
Exactly one :class:`~orchestrator.core.calls.commands.RecordOutcome` follows a
RecordAttempt; a call whose customer was never dialed ends with
:class:`~orchestrator.core.calls.commands.ReleaseTarget` instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from orchestrator.core.agents.events import (
    AgentHangupRequest,
    AgentLegLost,
    AgentRona,
    HoldRequest,
    UnholdRequest,
)
from orchestrator.core.calls.agent_side import AgentSideHandlers
from orchestrator.core.calls.customer_leg import CustomerLegHandlers
from orchestrator.core.calls.events import (
    AgentAssigned,
    AmdFalsePositiveReported,
    AmdResult,
    BeepDetected,
    CampaignUnstaffed,
    ControlRequest,
    FaxDetected,
    RecordingFailed,
)
from orchestrator.core.calls.plan import CallFlow
from orchestrator.core.calls.room import CallMode
from orchestrator.core.calls.states import CallControlError, CallState
from orchestrator.core.campaigns import AmdPolicy
from orchestrator.core.common import Command, Event, TimerFired, check_aware
from orchestrator.core.telephony.commands import Originate
from orchestrator.core.telephony.events import (
    BridgeJoined,
    BridgeLeft,
    CallAnswered,
    CallRinging,
    ChannelGone,
    DialFailed,
    DigitReceived,
    OriginateAccepted,
    OriginateRefused,
    PlaybackFinished,
)

__all__ = ["Call", "CallMachine"]

_LegEvent = (
    OriginateAccepted | OriginateRefused | CallRinging | CallAnswered | DialFailed | ChannelGone
)
"Wire facts about one of the call's legs (the customer's, or the agent's per-call leg)."


class CallMachine(CustomerLegHandlers, AgentSideHandlers):
    """State machine of one outbound attempt; see the module docstring."""

    def start(self, now: datetime) -> list[Command]:
        """Begin the attempt: dial the first leg."""
        check_aware(now)
        if self.state is not CallState.CREATED:
            raise RuntimeError(f"call {self.attempt_id}: already started")
        out: list[Command] = []
        if self.flow is CallFlow.CUSTOMER_FIRST:
            out += self._record_attempt(now)
            out.append(
                Originate(
                    channel_id=self.customer_channel_id,
                    endpoint=self.plan.endpoint,
                    caller_id=self.settings.caller_id,
                    timeout_s=self._originate_timeout_s,
                    attempt_id=self.attempt_id,
                    variables={"DIALER_ATTEMPT": self.attempt_id},
                    app_args=("customer", self.attempt_id),
                    amd=self.settings.amd_policy is not AmdPolicy.OFF,
                )
            )
            out += self._after_customer_dialed(now)
        elif self.conversation.agent_on_own_leg:
            self.conversation.use_agent_bridge()
            out += self._dial_customer_into_bridge(now)
        else:
            self.state = CallState.AGENT_DIALING
            out += self.conversation.dial_agent_leg()
        out += self._publish(now)
        return out

    def handle(self, event: Event, now: datetime) -> list[Command]:
        """Apply one event; return the commands to execute, in order.

        Wire facts that arrive late or twice (Asterisk duplicates some events)
        are ignored; agent requests that the state does not allow raise
        :class:`CallControlError`.
        """
        check_aware(now)
        if self.state is CallState.CREATED:
            raise RuntimeError(f"call {self.attempt_id}: start() it before feeding events")
        if isinstance(event, AmdFalsePositiveReported):
            return self._on_amd_false_positive(event, now)
        if self.state is CallState.ENDED:
            return self._after_end(event)
        match event:
            case (OriginateAccepted() | OriginateRefused() | CallRinging() | CallAnswered()
                  | DialFailed() | ChannelGone()):
                leg = self._check_channel(event.channel_id)
                if leg == "party":
                    return self._on_party_leg_event(event, now)
                if leg == "agent":
                    return self._on_agent_leg_event(event, now)
                return self._on_customer_leg_event(event, now)
            case AmdResult():
                return self._on_amd(event, now)
            case FaxDetected():
                return self._on_fax(event, now)
            case BeepDetected():
                return self._on_beep(event, now)
            case PlaybackFinished():
                return self._on_playback_finished(event, now)
            case DigitReceived():
                return self._on_digit(event, now)
            case BridgeJoined() | BridgeLeft():
                return []
            case TimerFired():
                return self._on_timer(event, now)
            case CampaignUnstaffed():
                return self._on_campaign_unstaffed(event, now)
            case AgentAssigned():
                return self._on_agent_assigned(event, now)
            case ControlRequest():
                return self._on_control(event, now)
            case RecordingFailed():
                return self._on_recording_failed(event, now)
            case AgentRona() | AgentLegLost() if self.conversation.party_of_agent(event.agent_id):
                return self._on_party_agent_event(event, now)
            case AgentRona():
                return self._on_agent_rona(event, now)
            case AgentLegLost():
                self._check_agent(event, event.agent_id)
                if self.conversation.primary_left:
                    return []
                on = self._agent_line_gone(now, event.agent_id)
                return on if on is not None else self._on_agent_leg_gone(
                    now, "agent's phone leg lost")
            case AgentHangupRequest():
                return self._on_agent_hangup(event, now)
            case HoldRequest():
                return self._on_hold(event, now)
            case UnholdRequest():
                return self._on_unhold(event, now)
        raise TypeError(f"call {self.attempt_id}: unexpected event {type(event).__name__}")

    def _on_customer_leg_event(self, ev: _LegEvent, now: datetime) -> list[Command]:
        match ev:
            case OriginateAccepted():
                return []
            case OriginateRefused():
                return self._on_customer_refused(ev, now)
            case CallRinging():
                return self._on_customer_ringing(ev, now)
            case CallAnswered():
                return self._on_customer_answered(ev, now)
            case DialFailed():
                return self._on_customer_dial_failed(ev, now)
            case ChannelGone():
                if self.state is CallState.BRIDGED and self.conversation.mode == CallMode.CONFERENCE \
                        and self.conversation.participants() >= 3:
                    self.cause, self.cause_txt = ev.cause, ev.cause_txt
                    return self._customer_left_conference(now)
                return self._on_customer_gone(ev, now)
            case _:
                assert_never(ev)

    def _on_agent_leg_event(self, ev: _LegEvent, now: datetime) -> list[Command]:
        if self.conversation.primary_left:
            return []  # the leg of an agent who left the call (we hung it up)
        if isinstance(ev, ChannelGone) and self.conversation.agent_id is not None:
            # The agent hung up during an answered consultation (the customer and the
            # consulted party are put through) or a conference (the others talk on).
            self.conversation.agent_leg_ended()
            on = self._agent_line_gone(now, self.conversation.agent_id)
            if on is not None:
                return on
        match ev:
            case OriginateAccepted():
                return []
            case OriginateRefused():
                return self._on_agent_leg_refused(ev, now)
            case CallRinging():
                return self.conversation.agent_leg_ringing()
            case CallAnswered():
                return self._on_agent_leg_answered(now)
            case DialFailed():
                return self._on_agent_leg_dial_failed(ev, now)
            case ChannelGone():
                self.conversation.agent_leg_ended()
                return self._on_agent_leg_gone(now, f"agent leg gone (cause {ev.cause})")
            case _:
                assert_never(ev)

    def _after_end(self, event: Event) -> list[Command]:
        """An ended call turns a late agent away and refuses control; wire facts are late."""
        if isinstance(event, AgentAssigned):
            return [self.conversation.turn_away(event.agent_id, "call already ended")]
        if isinstance(event, AgentHangupRequest | HoldRequest | UnholdRequest | ControlRequest):
            raise CallControlError(self.attempt_id, self.state, event, "the call has ended")
        return []


Call = CallMachine
"Short alias."
