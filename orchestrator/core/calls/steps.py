"""The attempt's state, and the steps of its life every handler takes.

:class:`AttemptSteps` holds what one attempt knows (its phase, outcome, instants,
timers, and its :class:`~orchestrator.core.calls.conversation.Conversation`) and
the transitions shared by the handlers of the customer's leg
(:mod:`~orchestrator.core.calls.customer_leg`) and of the agent side
(:mod:`~orchestrator.core.calls.agent_side`): write-ahead, dial the customer, go
live, connect the agent, abandon, hang up, end. The
:class:`~orchestrator.core.calls.CallMachine` puts them together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator.core.agents.phone import AgentLeg
from orchestrator.core.calls.commands import (
    CallOutcome,
    CountAbandon,
    LockNumber,
    PublishAttempt,
    RecordAttempt,
    RecordOutcome,
    RecordProgress,
    ReleaseTarget,
    RequestAgent,
)
from orchestrator.core.calls.conversation import Conversation
from orchestrator.core.calls.events import AmdStatus
from orchestrator.core.calls.plan import CallFlow, CallPlan
from orchestrator.core.calls.states import (
    GONE_GUARD_S,
    MEDIA_GUARD_S,
    RING_GUARD_S,
    CallControlError,
    CallState,
)
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.core.common import Command, Event, Timers
from orchestrator.core.telephony.commands import CreateAndDial, Hangup, Play

__all__ = ["AttemptSteps"]

#: Timers that a call hanging up no longer needs.
_LIVE_TIMERS = ("grace", "amd", "beep", "media", "ring_guard")


class AttemptSteps:
    """One attempt's state and shared transitions (see the module docstring)."""

    def __init__(
        self,
        plan: CallPlan,
        settings: CampaignSettings,
        agent: AgentLeg | None = None,
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.flow = CallFlow.CUSTOMER_FIRST if settings.customer_first else CallFlow.AGENT_FIRST
        if self.flow is CallFlow.AGENT_FIRST and agent is None:
            raise ValueError(f"agent: required in {settings.dial_flavour} (the agent is dialed first)")
        self.conversation = Conversation(plan.attempt_id, settings, agent)
        "Who is in the call and how they are joined."
        self.state = CallState.CREATED
        self.outcome: CallOutcome | None = None
        self.detail = ""
        self.cause: int | None = None
        self.cause_txt = ""
        self.amd_status: AmdStatus | None = None
        self.machine = False
        self.attempt_recorded = False
        self.outcome_written = False
        "The attempt's RecordOutcome went out (at the end, or when the customer left a conference)."
        self.abandon_counted = False
        self.cancelled_unstaffed = False
        "Hung up before answer because the campaign had no agent left (outcome unknown)."
        self.dialed_at: datetime | None = None
        self.ring_started_at: datetime | None = None
        self.answered_at: datetime | None = None
        self.live_at: datetime | None = None
        self.ended_at: datetime | None = None
        self._voicemail_playing = False
        self._timers = Timers(f"call/{plan.attempt_id}")
        self._ring_seconds = 0.0
        self._dial_cause: tuple[int, str] | None = None

    # ------------------------------------------------------------ identity

    @property
    def attempt_id(self) -> str:
        """The attempt id."""
        return self.plan.attempt_id

    @property
    def customer_channel_id(self) -> str:
        """Channel id of the customer leg (the attempt id)."""
        return self.plan.attempt_id

    @property
    def channel_ids(self) -> tuple[str, ...]:
        """Channel ids this machine wants events for."""
        agent_leg_id = self.conversation.agent_leg_id
        legs = (self.customer_channel_id,) if agent_leg_id is None else (
            self.customer_channel_id, agent_leg_id)
        return legs + self.conversation.party_channel_ids

    @property
    def ended(self) -> bool:
        """True once the attempt is over."""
        return self.state is CallState.ENDED

    # The conversation's state, read through the call: the shell asks the call.

    @property
    def agent(self) -> AgentLeg | None:
        """The agent the call is reserved for, if any."""
        return self.conversation.agent

    @property
    def connected(self) -> bool:
        """True once the customer was bridged with an agent."""
        return self.conversation.connected

    @property
    def connected_at(self) -> datetime | None:
        """When the customer was bridged with an agent."""
        return self.conversation.connected_at

    @property
    def bridge_id(self) -> str | None:
        """The bridge customer and agent meet in, once known."""
        return self.conversation.bridge_id

    @property
    def held(self) -> bool:
        """True while the agent holds the customer."""
        return self.conversation.held

    @property
    def recording(self) -> str | None:
        """The recording's name, once recording."""
        return self.conversation.recording

    def ring_seconds(self, now: datetime) -> float:
        """Ringing so far (from first ringing; from dialing when no ringing was seen)."""
        start = self.ring_started_at or self.dialed_at
        if start is None:
            return 0.0
        end = self.answered_at or now
        return max(0.0, (end - start).total_seconds())

    # ------------------------------------------------------------- dialing

    def _record_attempt(self, now: datetime) -> list[Command]:
        self.attempt_recorded = True
        p = self.plan
        return [
            RecordAttempt(
                attempt_id=p.attempt_id,
                campaign_id=p.campaign_id,
                contact_id=p.contact_id,
                target_id=p.target_id,
                e164=p.e164,
                at=now,
                agent_id=self.conversation.agent_id,
            )
        ]

    @property
    def _originate_timeout_s(self) -> int:
        return self.settings.no_answer_timeout_s + self.settings.ring_setup_allowance_s

    def _after_customer_dialed(self, now: datetime) -> list[Command]:
        self.state = CallState.ORIGINATING
        self.dialed_at = now
        at = now + timedelta(seconds=self._originate_timeout_s + RING_GUARD_S)
        return [self._timers.start("ring_guard", at)]

    def _dial_customer_into_bridge(self, now: datetime) -> list[Command]:
        bridge_id = self.conversation.bridge_id
        assert bridge_id is not None
        out = self._record_attempt(now)
        out.append(
            CreateAndDial(
                channel_id=self.customer_channel_id,
                endpoint=self.plan.endpoint,
                caller_id=self.settings.caller_id,
                timeout_s=self._originate_timeout_s,
                bridge_id=bridge_id,
                attempt_id=self.attempt_id,
                variables={"DIALER_ATTEMPT": self.attempt_id},
            )
        )
        out += self._after_customer_dialed(now)
        out += self._publish(now)
        return out

    # ------------------------------------------------- the customer waits

    def _go_live(self, now: datetime) -> list[Command]:
        self.state = CallState.LIVE
        self.live_at = now
        out: list[Command] = [
            self._timers.start("grace", now + timedelta(seconds=self.settings.grace_s))
        ]
        if self.conversation.agent is not None:
            out += self._connect_agent(now)
        else:
            out += [RequestAgent(self.attempt_id, self.plan.campaign_id), *self._publish(now)]
        return out

    def _connect_agent(self, now: datetime) -> list[Command]:
        if not self.conversation.agent_on_own_leg:
            self.state = CallState.CONNECTING
            return self.conversation.dial_agent_leg() + self._publish(now)
        out = self.conversation.join_agent_bridge()
        self.state = CallState.BRIDGED
        return out + self._on_connected(now)

    def _on_connected(self, now: datetime) -> list[Command]:
        if self.outcome is None or not self.machine:
            self._set_outcome(
                CallOutcome.ANSWERING_MACHINE if self.machine else CallOutcome.HUMAN_ANSWER,
                "connected to agent",
            )
        out: list[Command] = [self._timers.cancel("grace")]
        out += self.conversation.connect(now)
        out += self._publish(now)
        return out

    def _abandon(self, now: datetime) -> list[Command]:
        self._set_outcome(CallOutcome.ABANDONED, f"no agent within {self.settings.grace_s:g}s")
        out = self.conversation.drop_pending_agent_leg()
        out += self.conversation.release("abandoned")
        out += self._count_abandon(now, "not_connected_in_grace")
        if self.settings.info_message:
            self.state = CallState.ABANDONING
            out += [
                Play(
                    playback_id=f"{self.attempt_id}:info",
                    media=self.settings.info_message,
                    channel_id=self.customer_channel_id,
                ),
                self._timers.start("media", now + timedelta(seconds=MEDIA_GUARD_S)),
                *self._publish(now),
            ]
            return out
        return out + [Hangup(self.customer_channel_id)] + self._hanging_up(now)

    def _count_abandon(self, now: datetime, reason: str) -> list[Command]:
        self.abandon_counted = True
        until = now + timedelta(hours=self.settings.abandon_lock_hours)
        return [
            CountAbandon(self.attempt_id, self.plan.campaign_id, now, reason),
            LockNumber(self.plan.e164, until, "abandoned", self.attempt_id),
        ]

    # ------------------------------------------------------------------ end

    def _hanging_up(self, now: datetime) -> list[Command]:
        self.state = CallState.HANGING_UP
        out: list[Command] = [
            self._timers.cancel(purpose) for purpose in _LIVE_TIMERS
            if self._timers.is_armed(purpose)
        ]
        out.append(self._timers.start("gone", now + timedelta(seconds=GONE_GUARD_S)))
        out += self._publish(now)
        return out

    def _end(self, now: datetime) -> list[Command]:
        self.state = CallState.ENDED
        self.ended_at = now
        self._ring_seconds = self.ring_seconds(now)
        out: list[Command] = [*self._timers.cancel_all(), *self.conversation.close(now)]
        if self.attempt_recorded and not self.outcome_written:
            self.outcome_written = True
            out.append(self._outcome_record(now))
        out += self._publish(now)
        return out

    def _outcome_record(self, now: datetime) -> RecordOutcome:
        """The attempt's one RecordOutcome (a failure when nothing settled it)."""
        if self.outcome is None:
            self._set_outcome(CallOutcome.FAILED, self.detail or "unknown")
        assert self.outcome is not None
        connected_at = self.conversation.connected_at
        talk = (now - connected_at).total_seconds() if connected_at else 0.0
        return RecordOutcome(
            attempt_id=self.attempt_id,
            outcome=self.outcome,
            at=now,
            cause=self.cause,
            cause_txt=self.cause_txt,
            detail=self.detail,
            ring_seconds=round(self._ring_seconds, 3),
            talk_seconds=round(max(0.0, talk), 3),
            answered_at=self.answered_at,
            agent_id=self.conversation.talker_id,
            amd_status=self.amd_status,
        )

    def _end_unplaced(self, now: datetime, why: str) -> list[Command]:
        """End a call whose customer was never dialed: give the target back."""
        assert not self.attempt_recorded
        self.detail = why
        out: list[Command] = [ReleaseTarget(self.plan.target_id, self.plan.campaign_id, why)]
        return out + self._end(now)

    def _on_recording_resume_due(self, now: datetime) -> list[Command]:
        """A paused recording's limit passed (call control resumes it)."""
        return []

    # ------------------------------------------------------------- helpers

    def _set_outcome(self, outcome: CallOutcome, detail: str) -> None:
        self.outcome = outcome
        self.detail = detail

    def _check_channel(self, channel_id: str, customer_only: bool = False) -> str:
        """Which leg a channel id is ("customer" or "agent"); another call's is an error."""
        if channel_id == self.customer_channel_id:
            return "customer"
        agent_leg_id = self.conversation.agent_leg_id
        if not customer_only and channel_id == agent_leg_id and channel_id is not None:
            return "agent"
        if not customer_only and any(p.channel_id == channel_id for p in self.conversation.parties):
            return "party"
        raise ValueError(f"channel_id: {channel_id!r} is not a channel of call {self.attempt_id}")

    def _check_agent(self, event: Event, agent_id: str) -> None:
        talk = self.conversation
        if talk.controller is not None and talk.controller == agent_id:
            return
        if not talk.has_agent(agent_id) or talk.primary_left:
            raise CallControlError(
                self.attempt_id, self.state, event, f"agent {agent_id} is not on this call"
            )

    def _publish(self, now: datetime) -> list[Command]:
        """Tell supervisors the attempt's progress and, when there is any to write, the
        ledger too (a ledger write is a command of its own, never a side effect of a
        publish)."""
        out: list[Command] = [PublishAttempt(
            self.attempt_id,
            self.plan.campaign_id,
            self.state.value,
            now,
            self.outcome if self.state is CallState.ENDED else None,
        )]
        ringing = self.state is CallState.RINGING
        answered = self.answered_at is not None
        if ringing or answered or self.amd_status is not None:
            out.append(RecordProgress(self.attempt_id, ringing, answered, self.amd_status))
        return out
