"""What the agent side tells an attempt: an agent was assigned, their per-call leg rings,
answers, fails or drops, their machine reports a RONA, and their requests (end call,
hold, resume).

The leg and bridge mechanics are the
:class:`~orchestrator.core.calls.conversation.Conversation`'s; these handlers decide
what each fact means for the attempt (connect, find another agent, give the target
back, hang the customer up). Requests the phase does not allow raise
:class:`~orchestrator.core.calls.states.CallControlError`.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.core.agents.events import (
    AgentHangupRequest,
    AgentRona,
    HoldRequest,
    UnholdRequest,
)
from orchestrator.core.agents.phone import AgentLeg
from orchestrator.core.calls.commands import CallOutcome, RequestAgent
from orchestrator.core.calls.control import CallControlHandlers
from orchestrator.core.calls.events import AgentAssigned
from orchestrator.core.calls.plan import CallFlow
from orchestrator.core.calls.room import CallMode
from orchestrator.core.calls.states import (
    AGENT_LEG_RINGING,
    BEFORE_ANSWER,
    PHONE_REACHED,
    CallControlError,
    CallState,
)
from orchestrator.core.common import Command
from orchestrator.core.telephony.commands import Hangup
from orchestrator.core.telephony.events import DialFailed, DialStatus, OriginateRefused

__all__ = ["AgentSideHandlers"]


class AgentSideHandlers(CallControlHandlers):
    """Handlers of the agent's assignment, per-call leg and requests."""

    # ------------------------------------------------------- the agent

    def _on_agent_assigned(self, ev: AgentAssigned, now: datetime) -> list[Command]:
        if ev.attempt_id != self.attempt_id:
            raise ValueError(f"attempt_id: {ev.attempt_id!r} sent to call {self.attempt_id!r}")
        if self.state is not CallState.LIVE or self.conversation.agent is not None:
            return [self.conversation.turn_away(ev.agent_id, "call no longer waiting for an agent")]
        self.conversation.reserve(AgentLeg(ev.agent_id, ev.endpoint, ev.channel_id, ev.bridge_id))
        return self._connect_agent(now)

    def _on_agent_rona(self, ev: AgentRona, now: datetime) -> list[Command]:
        self._check_agent(ev, ev.agent_id)
        if self.conversation.agent_leg_up or self.state not in AGENT_LEG_RINGING:
            return []
        self.conversation.agent_rona_reported()
        out = self.conversation.hang_up_agent_leg()
        return out + self._agent_unreachable(now, "rona")

    def _on_agent_hangup(self, ev: AgentHangupRequest, now: datetime) -> list[Command]:
        talk = self.conversation
        party = talk.party_of_agent(ev.agent_id)
        if party is not None and talk.controller != ev.agent_id:
            # A consulted or conferenced agent hangs up: they leave, the call goes on.
            return self._party_gone(party, now, "hung up", gone=False)
        self._check_agent(ev, ev.agent_id)
        if talk.mode == CallMode.CONSULT:
            raise CallControlError(self.attempt_id, self.state, ev, "a held call cannot be ended: "
                                   "switch back, transfer, or end the consultation")
        if talk.mode in (CallMode.CONFERENCE, CallMode.POST_CALL):
            return self._controller_leaves(now, by=ev.agent_id)
        if self.conversation.held:
            raise CallControlError(self.attempt_id, self.state, ev, "a held call cannot be ended")
        state = self.state
        if state is CallState.BRIDGED:
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if state in BEFORE_ANSWER and self.flow is CallFlow.AGENT_FIRST:
            self._set_outcome(CallOutcome.CANCELLED_BY_AGENT, "agent cancelled while ringing")
            out: list[Command] = [
                self._timers.cancel("no_answer"),
                Hangup(self.customer_channel_id),
            ]
            return out + self.conversation.release("cancelled") + self._hanging_up(now)
        if state is CallState.AGENT_DIALING:
            out = self.conversation.cancel_agent_leg(ev.agent_id, "cancelled")
            return out + self._end_unplaced(now, "cancelled by agent before dialing")
        raise CallControlError(self.attempt_id, state, ev, "nothing to end")

    def _on_hold(self, ev: HoldRequest, now: datetime) -> list[Command]:
        self._check_agent(ev, ev.agent_id)
        if self.state is not CallState.BRIDGED:
            raise CallControlError(self.attempt_id, self.state, ev, "only a connected call")
        if self.conversation.mode != CallMode.TALK:
            raise CallControlError(self.attempt_id, self.state, ev, "hold is for a plain call: "
                                   "during a consultation switch between the parties")
        if self.conversation.held:
            raise CallControlError(self.attempt_id, self.state, ev, "already on hold")
        return self.conversation.hold()

    def _on_unhold(self, ev: UnholdRequest, now: datetime) -> list[Command]:
        self._check_agent(ev, ev.agent_id)
        if not self.conversation.held or self.state is not CallState.BRIDGED:
            raise CallControlError(self.attempt_id, self.state, ev, "the call is not on hold")
        return self.conversation.unhold()

    # ----------------------------------------------- the agent's phone leg

    def _on_agent_leg_refused(self, ev: OriginateRefused, now: datetime) -> list[Command]:
        if ev.status == 409:
            # Not proof of a duplicate (traces 15): the leg may exist; its events settle it.
            return []
        self.conversation.agent_leg_ended()
        return self._on_agent_leg_failed(now, f"agent leg refused: {ev.status} {ev.reason}",
                                         phone_failed=True)

    def _on_agent_leg_answered(self, now: datetime) -> list[Command]:
        if self.conversation.agent is None:
            return []  # late answer of a leg the call already let go (leg lost, RONA)
        if self.conversation.agent_leg_up or self.state not in AGENT_LEG_RINGING:
            return []
        out = self.conversation.agent_leg_answered()
        if self.state is CallState.AGENT_DIALING:
            return out + self._dial_customer_into_bridge(now)
        out += self.conversation.bring_customer()
        self.state = CallState.BRIDGED
        return out + self._on_connected(now)

    def _on_agent_leg_dial_failed(self, ev: DialFailed, now: datetime) -> list[Command]:
        if not ev.dialstatus.is_final or ev.dialstatus is DialStatus.ANSWER:
            return []
        if self.conversation.agent_leg_up:
            return []
        rang = self.conversation.agent_phone_rang or ev.dialstatus in PHONE_REACHED
        return self._on_agent_leg_failed(now, f"agent leg dialstatus={ev.dialstatus.value}",
                                         phone_failed=not rang)

    def _on_agent_leg_failed(self, now: datetime, why: str, *,
                             phone_failed: bool | None = None) -> list[Command]:
        """The per-call agent leg could not be answered (busy, unreachable, refused).

        ``phone_failed``: the phone never rang (None: it did not if no ringing was seen),
        which the agent's machine treats as a phone fault, not as a RONA.
        """
        if phone_failed is None:
            phone_failed = not self.conversation.agent_phone_rang
        if self.state not in AGENT_LEG_RINGING:
            return []
        out = self.conversation.hang_up_agent_leg()
        out += self.conversation.tell_rona(phone_failed)
        return out + self._agent_unreachable(now, why)

    def _agent_unreachable(self, now: datetime, why: str) -> list[Command]:
        if self.state is CallState.AGENT_DIALING:
            return self._end_unplaced(now, why)
        # Customer first: the customer is still live and the grace still runs.
        self.conversation.forget_agent()
        self.state = CallState.LIVE
        return [RequestAgent(self.attempt_id, self.plan.campaign_id), *self._publish(now)]

    def _on_agent_leg_gone(self, now: datetime, why: str) -> list[Command]:
        state = self.state
        talk = self.conversation
        if state in AGENT_LEG_RINGING and not talk.agent_leg_up:
            return self._on_agent_leg_failed(now, why)
        if state in BEFORE_ANSWER and self.flow is CallFlow.AGENT_FIRST:
            self._set_outcome(CallOutcome.CANCELLED_BY_AGENT, why)
            out: list[Command] = [
                self._timers.cancel("no_answer"),
                Hangup(self.customer_channel_id),
            ]
            return out + talk.release(why) + self._hanging_up(now)
        if state is CallState.BRIDGED:
            talk.forget_hold()
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if (
            self.flow is CallFlow.CUSTOMER_FIRST
            and talk.agent is not None
            and not talk.connected
            and state not in (CallState.HANGING_UP, CallState.ENDED)
        ):
            # The reserved agent's line died before the customer reached them:
            # let them go and find another agent when the customer is live.
            out = talk.let_agent_go(why)
            if state is CallState.LIVE:
                out += [RequestAgent(self.attempt_id, self.plan.campaign_id)]
            return out
        return []
