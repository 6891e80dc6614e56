"""What the customer's side tells an attempt: its channel rings, answers, fails or ends;
the answered customer is a machine, a fax or a person; the attempt's timers run out.

Wire facts that arrive late or twice are ignored (each handler checks the phase).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator.core.calls.commands import CallOutcome, DetectBeep, OptOutNumber
from orchestrator.core.calls.events import (
    AmdFalsePositiveReported,
    AmdResult,
    AmdStatus,
    BeepDetected,
    CampaignUnstaffed,
    FaxDetected,
)
from orchestrator.core.calls.outcomes import (
    cause_of_dialstatus,
    classify_cause,
    classify_dialstatus,
    hangup_reason,
    no_answer_detail,
    no_answer_or_failed,
)
from orchestrator.core.calls.plan import CallFlow
from orchestrator.core.calls.states import (
    BEFORE_ANSWER,
    MEDIA_GUARD_S,
    UNSTAFFED_DETAIL,
    WAITING_AGENT,
    CallControlError,
    CallState,
)
from orchestrator.core.calls.steps import AttemptSteps
from orchestrator.core.campaigns import AmdPolicy
from orchestrator.core.common import Command, TimerFired
from orchestrator.core.telephony.commands import Hangup, HangupReason, Play
from orchestrator.core.telephony.events import (
    CallAnswered,
    CallRinging,
    ChannelGone,
    DialFailed,
    DialStatus,
    DigitReceived,
    OriginateRefused,
    PlaybackFinished,
)

__all__ = ["CustomerLegHandlers"]


class CustomerLegHandlers(AttemptSteps):
    """Handlers of the customer's channel, of the answered customer, and of the timers."""

    # ------------------------------------------------------- the channel

    def _on_customer_refused(self, ev: OriginateRefused, now: datetime) -> list[Command]:
        if ev.status == 409:
            # Not proof of a duplicate (traces 15): the channel may exist; its
            # events or the ring guard settle it.
            return []
        if self.state not in BEFORE_ANSWER:
            return []
        # Refused before a channel existed (500 "Allocation failed" while Asterisk shuts
        # down, surprise 32; a bad endpoint; the socket down): the number never left, so
        # the attempt is not_dialed and costs the target nothing (sql/005 refunds it).
        self._set_outcome(CallOutcome.NOT_DIALED, f"originate refused: {ev.status} {ev.reason}")
        return self._end(now)

    def _on_customer_ringing(self, ev: CallRinging, now: datetime) -> list[Command]:
        if self.state is not CallState.ORIGINATING:
            return []
        self.state = CallState.RINGING
        self.ring_started_at = now
        at = now + timedelta(seconds=self.settings.no_answer_timeout_s)
        return [self._timers.start("no_answer", at), *self._publish(now)]

    def _on_customer_answered(self, ev: CallAnswered, now: datetime) -> list[Command]:
        if self.state not in BEFORE_ANSWER:
            return []  # Dial ANSWER and StasisStart both say it; keep the first
        self.answered_at = now
        out: list[Command] = [self._timers.cancel("no_answer"), self._timers.cancel("ring_guard")]
        if self.flow is CallFlow.AGENT_FIRST:
            # The customer was dialed inside the agent's bridge: connected now.
            self.state = CallState.BRIDGED
            out += self._on_connected(now)
        elif self.settings.amd_policy is not AmdPolicy.OFF:
            self.state = CallState.AMD
            at = now + timedelta(seconds=self.settings.amd_max_s)
            out += [self._timers.start("amd", at), *self._publish(now)]
        else:
            out += self._go_live(now)
        return out

    def _on_customer_dial_failed(self, ev: DialFailed, now: datetime) -> list[Command]:
        if not ev.dialstatus.is_final or ev.dialstatus is DialStatus.ANSWER:
            return []
        if self.state not in BEFORE_ANSWER:
            return []
        status = ev.dialstatus
        self._dial_cause = cause_of_dialstatus(status)
        outcome = classify_dialstatus(status)
        detail = f"dialstatus={status.value}"
        if outcome is CallOutcome.NO_ANSWER:
            ring = self.ring_seconds(now)
            outcome, detail = no_answer_or_failed(ring), no_answer_detail(ring, detail)
        self._set_outcome(outcome, detail)
        out: list[Command] = []
        if self.flow is CallFlow.AGENT_FIRST:
            # create + dial: the channel would otherwise sit in the agent's bridge
            # (busy tone for 20 s) and end with cause 19, hiding the busy.
            out.append(Hangup(self.customer_channel_id, hangup_reason(outcome)))
        out += self.conversation.release("customer " + outcome.value)
        out += self._hanging_up(now)
        return out

    def _on_customer_gone(self, ev: ChannelGone, now: datetime) -> list[Command]:
        if self.state is CallState.AGENT_DIALING:
            return []  # the customer is not dialed yet: not about our channel
        self.cause, self.cause_txt = ev.cause, ev.cause_txt
        if ev.unseen and self._may_have_been_abandoned():
            # Asterisk drops an answered call whose app is away (cause 0, narrow surprise
            # 33) and nothing proves this one was not answered: count it as the
            # regulator would, never lower the abandon rate by not knowing.
            self._set_outcome(CallOutcome.ABANDONED, f"{ev.cause_txt or 'ended unseen'}: "
                              "may have been answered while the dialer could not see it; "
                              "counted as an abandon")
            return self._count_abandon(now, "presumed_unseen") + self._end(now)
        if ev.cause == 0 and self._dial_cause is not None:
            self.cause, txt = self._dial_cause
            self.cause_txt = f"{txt} (from the dial status)"
        self._settle_on_channel_end(ev, now)
        return self._end(now)

    def _settle_on_channel_end(self, ev: ChannelGone, now: datetime) -> None:
        """The outcome the customer channel's end implies, given how far the call got."""
        state = self.state
        assert self.cause is not None
        implied = classify_cause(self.cause, ev.tech_cause)
        if state in BEFORE_ANSWER:
            if implied is CallOutcome.NO_ANSWER:
                ring = self.ring_seconds(now)
                self._set_outcome(no_answer_or_failed(ring),
                                  no_answer_detail(ring, f"cause={ev.cause}"))
            elif implied is not None:
                # 34/42 are congestion, kept apart from other failures in the ledger.
                congested = " CONGESTION" if self.cause in (34, 42) else ""
                self._set_outcome(implied, f"cause={self.cause}{congested}")
            else:
                self._set_outcome(
                    CallOutcome.FAILED, f"ended before answer, cause={ev.cause} {ev.cause_txt}"
                )
        elif state is CallState.AMD:
            self._set_outcome(CallOutcome.HUMAN_ANSWER, "customer hung up during AMD")
        elif state in WAITING_AGENT:
            self._set_outcome(
                CallOutcome.ANSWERING_MACHINE if self.machine else CallOutcome.HUMAN_ANSWER,
                "customer hung up before an agent took the call",
            )
        elif state is CallState.HANGING_UP:
            # Refine a vague failure with a precise cause (CHANUNAVAIL + cause 1).
            if self.outcome is CallOutcome.FAILED and implied is CallOutcome.INVALID_NUMBER:
                self._set_outcome(implied, f"{self.detail}, cause={ev.cause}")

    def _may_have_been_abandoned(self) -> bool:
        """A customer-first call not yet connected nor settled may have been a live answer
        no agent took (agent-first customers are dialed into the agent's bridge)."""
        return (self.flow is CallFlow.CUSTOMER_FIRST and not self.conversation.connected
                and self.outcome is None
                and self.state in (*BEFORE_ANSWER, CallState.AMD, *WAITING_AGENT))

    def _on_campaign_unstaffed(self, ev: CampaignUnstaffed, now: datetime) -> list[Command]:
        """No agent of the campaign is staffed: cancel a customer-first dial not answered yet.

        Answered, it would find nobody and become an abandon (message, count, lock)
        that no agent could ever have prevented. A call already answered keeps the
        abandon rule; a call with its own agent (reserved, agent first) is not ours.
        """
        if ev.campaign_id != self.plan.campaign_id:
            raise ValueError(f"campaign_id: {ev.campaign_id!r} sent to call {self.attempt_id!r}")
        if (
            self.flow is not CallFlow.CUSTOMER_FIRST
            or self.conversation.agent is not None
            or self.state not in BEFORE_ANSWER
        ):
            return []
        self.cancelled_unstaffed = True
        # Not answered, so not an abandon: a failure whose real outcome is unknown.
        self._set_outcome(CallOutcome.FAILED, UNSTAFFED_DETAIL)
        out: list[Command] = [self._timers.cancel("no_answer"), Hangup(self.customer_channel_id)]
        return out + self._hanging_up(now)

    # ------------------------------------------ machines, fax, messages

    def _on_amd(self, ev: AmdResult, now: datetime) -> list[Command]:
        self._check_channel(ev.channel_id, customer_only=True)
        if self.state is not CallState.AMD:
            return []
        self.amd_status = ev.status
        out = [self._timers.cancel("amd")]
        if ev.status in (AmdStatus.HUMAN, AmdStatus.NOTSURE):
            return out + self._go_live(now)
        if ev.status is AmdStatus.HANGUP:
            self._set_outcome(CallOutcome.HUMAN_ANSWER, "customer hung up during AMD")
            return out + self.conversation.release("customer hung up") + self._hanging_up(now)
        return out + self._on_machine(now, ev.cause)

    def _on_machine(self, now: datetime, cause: str) -> list[Command]:
        self.machine = True
        self._set_outcome(CallOutcome.ANSWERING_MACHINE, f"AMD MACHINE {cause}".strip())
        policy = self.settings.amd_policy
        if policy is AmdPolicy.PASS_TO_AGENT:
            return self._go_live(now)
        out = self.conversation.release("answering machine")
        if policy is AmdPolicy.VOICEMAIL_DROP:
            self.state = CallState.VOICEMAIL
            at = now + timedelta(seconds=self.settings.beep_wait_s)
            out += [
                DetectBeep(self.customer_channel_id),
                self._timers.start("beep", at),
                *self._publish(now),
            ]
            return out
        out.append(Hangup(self.customer_channel_id))
        return out + self._hanging_up(now)

    def _on_beep(self, ev: BeepDetected, now: datetime) -> list[Command]:
        self._check_channel(ev.channel_id)
        if self.state is CallState.VOICEMAIL and not self._voicemail_playing:
            return self._play_voicemail(now)
        return []

    def _play_voicemail(self, now: datetime) -> list[Command]:
        assert self.settings.voicemail_message is not None
        self._voicemail_playing = True
        at = now + timedelta(seconds=MEDIA_GUARD_S)
        return [
            self._timers.cancel("beep"),
            Play(
                playback_id=f"{self.attempt_id}:voicemail",
                media=self.settings.voicemail_message,
                channel_id=self.customer_channel_id,
            ),
            self._timers.start("media", at),
        ]

    def _on_fax(self, ev: FaxDetected, now: datetime) -> list[Command]:
        self._check_channel(ev.channel_id, customer_only=True)
        if self.state not in (CallState.AMD, CallState.LIVE, CallState.CONNECTING):
            return []  # once bridged the agent dispositions it as a fax
        self._set_outcome(CallOutcome.FAX, "fax tone")
        out: list[Command] = [self._timers.cancel("amd"), self._timers.cancel("grace")]
        out += self.conversation.drop_pending_agent_leg()
        out += self.conversation.release("fax")
        out.append(Hangup(self.customer_channel_id))
        return out + self._hanging_up(now)

    def _on_playback_finished(self, ev: PlaybackFinished, now: datetime) -> list[Command]:
        if ev.playback_id == f"{self.attempt_id}:info" and self.state is CallState.ABANDONING:
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if ev.playback_id == f"{self.attempt_id}:voicemail" and self.state is CallState.VOICEMAIL:
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        return []  # zip tone, or the duplicate events of bridge playbacks

    def _on_amd_false_positive(
        self, ev: AmdFalsePositiveReported, now: datetime
    ) -> list[Command]:
        if ev.attempt_id != self.attempt_id:
            raise ValueError(f"attempt_id: {ev.attempt_id!r} sent to call {self.attempt_id!r}")
        if self.amd_status is not AmdStatus.MACHINE:
            raise CallControlError(
                self.attempt_id, self.state, ev, "the call was not classified as a machine"
            )
        if self.abandon_counted:
            return []  # reported twice: count once
        # Ofcom: a live person hung up on (or left waiting) by AMD is an abandon.
        return self._count_abandon(now, "amd_false_positive")

    # ------------------------------------------------------------ timers

    def _on_digit(self, ev: DigitReceived, now: datetime) -> list[Command]:
        """The customer pressed the campaign's opt-out key while no agent talks to them
        (waiting in the grace, or hearing the information message): their number goes on
        the DNC list at once and the call ends. Never during a conversation, where keys
        belong to the agent's business (a card number)."""
        digit = self.settings.opt_out_digit
        if (digit is None or ev.digit != digit or ev.channel_id != self.customer_channel_id
                or self.state not in (*WAITING_AGENT, CallState.ABANDONING)):
            return []
        out: list[Command] = [OptOutNumber(self.attempt_id, now)]
        if self.state is not CallState.ABANDONING:
            # the customer's choice, inside the grace: not an abandon
            self._set_outcome(CallOutcome.HUMAN_ANSWER, "opted out by key press")
            out += self.conversation.drop_pending_agent_leg()
            out += self.conversation.release("customer opted out")
        return out + [Hangup(self.customer_channel_id)] + self._hanging_up(now)

    def _on_timer(self, ev: TimerFired, now: datetime) -> list[Command]:
        purpose = self._timers.fired(ev.name)
        if purpose is None:
            return []  # stale: cancelled after it fired
        if purpose == "recording_resume":
            return self._on_recording_resume_due(now)
        state = self.state
        if purpose == "no_answer" and state is CallState.RINGING:
            self._set_outcome(
                CallOutcome.NO_ANSWER, f"no answer after {self.ring_seconds(now):.0f}s"
            )
            hang: list[Command] = [Hangup(self.customer_channel_id, HangupReason.NO_ANSWER)]
            return hang + self.conversation.release("no answer") + self._hanging_up(now)
        if purpose == "ring_guard" and state in BEFORE_ANSWER:
            ring = self.ring_seconds(now)
            self._set_outcome(
                no_answer_or_failed(ring),
                no_answer_detail(ring, "Asterisk never reported the dial's end"),
            )
            out: list[Command] = [
                self._timers.cancel("no_answer"),
                Hangup(self.customer_channel_id),
            ]
            return out + self.conversation.release("no answer") + self._hanging_up(now)
        if purpose == "amd" and state is CallState.AMD:
            self.detail = "no AMD verdict in time"
            return self._go_live(now)
        if purpose == "grace" and state in WAITING_AGENT:
            return self._on_grace_expired(now)
        if purpose == "beep" and state is CallState.VOICEMAIL and not self._voicemail_playing:
            return self._play_voicemail(now)
        if purpose == "media" and state in (CallState.ABANDONING, CallState.VOICEMAIL):
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if purpose == "gone" and state is CallState.HANGING_UP:
            self.detail = (self.detail + "; channel end never reported").lstrip("; ")
            return self._end(now)
        return []

    def _on_grace_expired(self, now: datetime) -> list[Command]:
        """No agent reached the answered customer in time: a machine is just hung up,
        a person is abandoned."""
        if not self.machine:
            return self._abandon(now)
        self._set_outcome(CallOutcome.ANSWERING_MACHINE, "no agent for the machine")
        drop = self.conversation.drop_pending_agent_leg()
        drop += self.conversation.release("grace expired")
        drop.append(Hangup(self.customer_channel_id))
        return drop + self._hanging_up(now)
