"""One outbound attempt, from dialing to its single final outcome.

:class:`CallMachine` (alias :data:`Call`) follows the customer leg, and the
per-call agent leg when the agent's phone rings per call, through::

    agent_dialing -> originating -> ringing -> amd -> live -> connecting -> bridged
                                            \\-> voicemail / abandoning / hanging_up -> ended

It takes events plus ``now`` and returns commands; it never reads a clock or
does I/O. Two flows:

* **customer first** (power, predictive, progressive customer-first): the
  customer is originated (through AMD when enabled); a live answer must reach
  an agent within the campaign's grace (2 s) or the call is abandoned: the
  information message is played, the abandon counted and the number locked
  for 72 h. A nailed-up agent hears a zip tone only they hear. When the
  campaign's last agent leaves, a call not answered yet is hung up at once
  (:class:`~orchestrator.core.events.CampaignUnstaffed`): answered, it could
  only be abandoned.
* **agent first** (progressive agent-first, preview): the agent's leg comes
  first (or is already up: nailed-up line, preview reservation call); the
  customer is then created and dialed *inside the agent's bridge* so the
  agent hears the progress. Asterisk does not hang such a channel up on a
  final dial status, so the machine does.

Write-ahead: :class:`~orchestrator.core.commands.RecordAttempt` always
precedes the customer's Originate/CreateAndDial in the same command list.
Exactly one :class:`~orchestrator.core.commands.RecordOutcome` follows a
RecordAttempt; a call whose customer was never dialed ends with
:class:`~orchestrator.core.commands.ReleaseTarget` instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from orchestrator.core.campaigns import MIN_RING_SECONDS, AmdPolicy, CampaignSettings
from orchestrator.core.commands import (
    AddToBridge,
    CallOutcome,
    CancelTimer,
    Command,
    CountAbandon,
    CreateAndDial,
    CreateBridge,
    DetectBeep,
    Hangup,
    HangupReason,
    Hold,
    LockNumber,
    NotifyAgent,
    Originate,
    Play,
    PublishAttempt,
    Record,
    RecordAttempt,
    RecordOutcome,
    ReleaseTarget,
    RequestAgent,
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
    AgentLegAnswered,
    AgentLegLost,
    AgentLegRinging,
    AgentReleased,
    AgentRona,
    AmdFalsePositiveReported,
    AmdResult,
    AmdStatus,
    BeepDetected,
    BridgeJoined,
    BridgeLeft,
    CallAnswered,
    CallRinging,
    CampaignUnstaffed,
    ChannelGone,
    DialFailed,
    DialStatus,
    Event,
    FaxDetected,
    HoldRequest,
    OriginateAccepted,
    OriginateRefused,
    PlaybackFinished,
    TimerFired,
    UnholdRequest,
)

__all__ = [
    "AgentLeg",
    "Call",
    "CallControlError",
    "CallFlow",
    "CallMachine",
    "CallOutcome",
    "CallPlan",
    "CallState",
    "classify_cause",
    "classify_dialstatus",
    "prefix_clash",
]

#: The per-call agent leg's channel id is this plus the attempt id.
AGENT_LEG_PREFIX = "agent:"
#: Extra wait after the originate timeout before we stop trusting Asterisk to report.
RING_GUARD_S = 15.0
#: Longest wait for ChannelDestroyed after we hung up.
GONE_GUARD_S = 10.0
#: Longest information / voicemail message we wait for.
MEDIA_GUARD_S = 90.0
#: Detail of a call hung up before answer because its campaign has no agent left.
UNSTAFFED_DETAIL = "cancelled by the dialer: no agent staffed"


class CallFlow(StrEnum):
    """Which leg is dialed first."""

    CUSTOMER_FIRST = "customer_first"
    AGENT_FIRST = "agent_first"


class CallState(StrEnum):
    """Life-cycle phase of one attempt (the outcome is kept apart)."""

    CREATED = "created"
    AGENT_DIALING = "agent_dialing"
    "Agent first: the agent's per-call leg is ringing; the customer is not dialed yet."
    ORIGINATING = "originating"
    RINGING = "ringing"
    AMD = "amd"
    "Answered; waiting for the AMD verdict."
    LIVE = "live"
    "Answered by a person (or a machine passed to agents); waiting for an agent."
    CONNECTING = "connecting"
    "An agent was assigned; their per-call leg is ringing."
    BRIDGED = "bridged"
    VOICEMAIL = "voicemail"
    "Leaving the campaign's message on an answering machine."
    ABANDONING = "abandoning"
    "Playing the information message to an abandoned customer."
    HANGING_UP = "hanging_up"
    "Outcome known; waiting for the customer channel to be destroyed."
    ENDED = "ended"


class CallControlError(Exception):
    """A request (from an agent) that the call's state does not allow."""

    def __init__(self, attempt_id: str, state: CallState, event: Event, why: str) -> None:
        super().__init__(
            f"call {attempt_id}: {type(event).__name__} refused in state {state.value}: {why}"
        )
        self.state = state
        self.event = event


@dataclass(frozen=True, slots=True)
class AgentLeg:
    """The agent a call is reserved for, and their phone leg if it is already up."""

    agent_id: str
    "Agent."
    endpoint: str
    "Agent's phone endpoint, dialed per call when ``channel_id`` is None."
    channel_id: str | None = None
    "Leg already up (nailed-up line or preview reservation call)."
    bridge_id: str | None = None
    "Bridge holding that leg."

    def __post_init__(self) -> None:
        if (self.channel_id is None) != (self.bridge_id is None):
            raise ValueError("AgentLeg: channel_id and bridge_id go together")

    @property
    def up(self) -> bool:
        """True when the leg is already answered and sits in its bridge."""
        return self.channel_id is not None


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What to dial: one claimed target of a campaign."""

    attempt_id: str
    "Attempt id, also the customer channel id."
    campaign_id: str
    "Campaign."
    contact_id: str
    "Contact."
    target_id: str
    "Target."
    e164: str
    "Number, E.164."
    endpoint: str
    "Dial string the shell built for the number (trunk, prefix)."

    def __post_init__(self) -> None:
        for name in ("attempt_id", "campaign_id", "contact_id", "target_id", "endpoint"):
            if not getattr(self, name):
                raise ValueError(f"CallPlan.{name}: must not be empty")
        if not (self.e164.startswith("+") and self.e164[1:].isdigit() and len(self.e164) <= 16):
            raise ValueError("CallPlan.e164: not an E.164 number")


_CAUSE_OUTCOME: dict[int, CallOutcome] = {
    1: CallOutcome.INVALID_NUMBER,  # unallocated number
    3: CallOutcome.INVALID_NUMBER,  # no route to destination
    22: CallOutcome.INVALID_NUMBER,  # number changed
    28: CallOutcome.INVALID_NUMBER,  # invalid number format
    17: CallOutcome.BUSY,
    18: CallOutcome.NO_ANSWER,  # no user responding
    19: CallOutcome.NO_ANSWER,  # user alerting, no answer
    21: CallOutcome.FAILED,  # call rejected
    27: CallOutcome.FAILED,  # destination out of order
    34: CallOutcome.FAILED,  # circuit congestion
    38: CallOutcome.FAILED,  # network out of order
    41: CallOutcome.FAILED,  # temporary failure
    42: CallOutcome.FAILED,  # switching equipment congestion
    44: CallOutcome.FAILED,
    47: CallOutcome.FAILED,
}
_SIP_OUTCOME: dict[int, CallOutcome] = {
    404: CallOutcome.INVALID_NUMBER,
    410: CallOutcome.INVALID_NUMBER,
    484: CallOutcome.INVALID_NUMBER,
    486: CallOutcome.BUSY,
    600: CallOutcome.BUSY,
    408: CallOutcome.NO_ANSWER,
    480: CallOutcome.NO_ANSWER,
    503: CallOutcome.FAILED,
    603: CallOutcome.FAILED,
}
_DIAL_OUTCOME: dict[DialStatus, CallOutcome] = {
    DialStatus.BUSY: CallOutcome.BUSY,
    DialStatus.CONGESTION: CallOutcome.FAILED,
    DialStatus.CHANUNAVAIL: CallOutcome.FAILED,
    DialStatus.NOANSWER: CallOutcome.NO_ANSWER,
    DialStatus.DONTCALL: CallOutcome.FAILED,
    DialStatus.TORTURE: CallOutcome.FAILED,
    DialStatus.INVALIDARGS: CallOutcome.INVALID_NUMBER,
    DialStatus.CANCEL: CallOutcome.FAILED,
}
#: The Q.850 cause a final dial status stands for: a busy or congested Local channel's
#: ``;1`` half ends with cause 0 "Unknown" (surprises 1, 26, 29); the real cause is only
#: on the ``;2`` half, which a narrowly subscribed app may never see.
_DIAL_CAUSE: dict[DialStatus, tuple[int, str]] = {
    DialStatus.BUSY: (17, "User busy"),
    DialStatus.CONGESTION: (34, "Circuit/channel congestion"),
    DialStatus.CHANUNAVAIL: (34, "Circuit/channel congestion"),
    DialStatus.NOANSWER: (19, "User alerting, no answer"),
}


def classify_cause(cause: int, tech_cause: int | None = None) -> CallOutcome | None:
    """Outcome implied by an unanswered channel's end cause, or None if it says nothing.

    Cause 0 (the ``;1`` half of a busy Local channel) and 16 (normal clearing)
    say nothing on their own: the Dial status is the reliable signal there.
    """
    if tech_cause is not None and tech_cause in _SIP_OUTCOME:
        return _SIP_OUTCOME[tech_cause]
    return _CAUSE_OUTCOME.get(cause)


def classify_dialstatus(status: DialStatus) -> CallOutcome:
    """Outcome implied by a final ``dialstatus`` other than ANSWER."""
    if status is DialStatus.ANSWER or not status.is_final:
        raise ValueError(f"dialstatus: {status.value} is not a failure")
    return _DIAL_OUTCOME[status]


_BEFORE_ANSWER = frozenset({CallState.ORIGINATING, CallState.RINGING})
#: Dial statuses that prove the agent's phone was reached (it rang, or is busy on a call).
_PHONE_REACHED = frozenset({DialStatus.NOANSWER, DialStatus.BUSY, DialStatus.CANCEL})
_WAITING_AGENT = frozenset({CallState.LIVE, CallState.CONNECTING})


class CallMachine:
    """State machine of one outbound attempt; see the module docstring."""

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
        self.agent: AgentLeg | None = agent
        self.state = CallState.CREATED
        self.outcome: CallOutcome | None = None
        self.detail = ""
        self.cause: int | None = None
        self.cause_txt = ""
        self.amd_status: AmdStatus | None = None
        self.machine = False
        self.held = False
        self.attempt_recorded = False
        self.abandon_counted = False
        self.cancelled_unstaffed = False
        "Hung up before answer because the campaign had no agent left (outcome unknown)."
        self.connected = False
        self.dialed_at: datetime | None = None
        self.ring_started_at: datetime | None = None
        self.answered_at: datetime | None = None
        self.live_at: datetime | None = None
        self.connected_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.bridge_id: str | None = None
        self.recording: str | None = None
        # Per-call agent leg, when this machine dials the agent's phone itself.
        self.agent_leg_id: str | None = None
        self.agent_leg_up = False
        self.agent_leg_alive = False
        self._agent_done = False
        self._agent_ringing_told = False
        self._voicemail_playing = False
        self._timers: set[str] = set()
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
        if self.agent_leg_id is None:
            return (self.customer_channel_id,)
        return (self.customer_channel_id, self.agent_leg_id)

    @property
    def ended(self) -> bool:
        """True once the attempt is over."""
        return self.state is CallState.ENDED

    def ring_seconds(self, now: datetime) -> float:
        """Ringing so far (from first ringing; from dialing when no ringing was seen)."""
        start = self.ring_started_at or self.dialed_at
        if start is None:
            return 0.0
        end = self.answered_at or now
        return max(0.0, (end - start).total_seconds())

    # --------------------------------------------------------------- start

    def start(self, now: datetime) -> list[Command]:
        """Begin the attempt: dial the first leg."""
        _check_aware(now)
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
        else:
            assert self.agent is not None
            if self.agent.up:
                self.bridge_id = self.agent.bridge_id
                out += self._dial_customer_into_bridge(now)
            else:
                self.state = CallState.AGENT_DIALING
                out += self._originate_agent_leg(self.agent)
        out.append(self._publish(now))
        return out

    # -------------------------------------------------------------- events

    def handle(self, event: Event, now: datetime) -> list[Command]:
        """Apply one event; return the commands to execute, in order.

        Wire facts that arrive late or twice (Asterisk duplicates some events)
        are ignored; agent requests that the state does not allow raise
        :class:`CallControlError`.
        """
        _check_aware(now)
        if self.state is CallState.CREATED:
            raise RuntimeError(f"call {self.attempt_id}: start() it before feeding events")
        if isinstance(event, AmdFalsePositiveReported):
            return self._on_amd_false_positive(event, now)
        if self.state is CallState.ENDED:
            if isinstance(event, AgentAssigned):
                return [self._release_msg(event.agent_id, "call already ended")]
            if isinstance(event, AgentHangupRequest | HoldRequest | UnholdRequest):
                raise CallControlError(self.attempt_id, self.state, event, "the call has ended")
            return []
        match event:
            case OriginateAccepted():
                self._check_channel(event.channel_id)
                return []
            case OriginateRefused():
                return self._on_originate_refused(event, now)
            case CallRinging():
                return self._on_ringing(event, now)
            case CallAnswered():
                return self._on_answered(event, now)
            case DialFailed():
                return self._on_dial_failed(event, now)
            case ChannelGone():
                return self._on_channel_gone(event, now)
            case AmdResult():
                return self._on_amd(event, now)
            case FaxDetected():
                return self._on_fax(event, now)
            case BeepDetected():
                self._check_channel(event.channel_id)
                if self.state is CallState.VOICEMAIL and not self._voicemail_playing:
                    return self._play_voicemail(now)
                return []
            case PlaybackFinished():
                return self._on_playback_finished(event, now)
            case BridgeJoined() | BridgeLeft():
                return []
            case TimerFired():
                return self._on_timer(event, now)
            case AgentAssigned():
                return self._on_agent_assigned(event, now)
            case AgentRona():
                return self._on_agent_rona(event, now)
            case AgentLegLost():
                self._check_agent(event, event.agent_id)
                return self._on_agent_leg_gone(now, "agent's phone leg lost")
            case AgentHangupRequest():
                return self._on_agent_hangup(event, now)
            case CampaignUnstaffed():
                return self._on_campaign_unstaffed(event, now)
            case HoldRequest():
                return self._on_hold(event, now)
            case UnholdRequest():
                return self._on_unhold(event, now)
        raise TypeError(f"call {self.attempt_id}: unexpected event {type(event).__name__}")

    # ----------------------------------------------------------- handlers

    def _on_originate_refused(self, ev: OriginateRefused, now: datetime) -> list[Command]:
        leg = self._check_channel(ev.channel_id)
        if ev.status == 409:
            # Not proof of a duplicate (traces 15): the channel may exist; its
            # events or the ring guard settle it.
            return []
        if leg == "agent":
            self.agent_leg_alive = False
            return self._on_agent_leg_failed(now, f"agent leg refused: {ev.status} {ev.reason}",
                                             phone_failed=True)
        if self.state not in _BEFORE_ANSWER:
            return []
        # Refused before a channel existed (500 "Allocation failed" while Asterisk shuts
        # down, surprise 32; a bad endpoint; the socket down): the number never left, so
        # the attempt is not_dialed and costs the target nothing (sql/005 refunds it).
        self._set_outcome(CallOutcome.NOT_DIALED, f"originate refused: {ev.status} {ev.reason}")
        return self._end(now)

    def _on_ringing(self, ev: CallRinging, now: datetime) -> list[Command]:
        leg = self._check_channel(ev.channel_id)
        if leg == "agent":
            if self._agent_ringing_told or self.agent is None:
                return []
            self._agent_ringing_told = True
            return [
                NotifyAgent(
                    self.agent.agent_id, AgentLegRinging(self.agent.agent_id, self.attempt_id)
                )
            ]
        if self.state is not CallState.ORIGINATING:
            return []
        self.state = CallState.RINGING
        self.ring_started_at = now
        at = now + timedelta(seconds=self.settings.no_answer_timeout_s)
        return [self._start_timer("no_answer", at), self._publish(now)]

    def _on_answered(self, ev: CallAnswered, now: datetime) -> list[Command]:
        leg = self._check_channel(ev.channel_id)
        if leg == "agent":
            return self._on_agent_leg_answered(now)
        if self.state not in _BEFORE_ANSWER:
            return []  # Dial ANSWER and StasisStart both say it; keep the first
        self.answered_at = now
        out: list[Command] = [self._cancel_timer("no_answer"), self._cancel_timer("ring_guard")]
        if self.flow is CallFlow.AGENT_FIRST:
            # The customer was dialed inside the agent's bridge: connected now.
            self.state = CallState.BRIDGED
            out += self._on_connected(now)
        elif self.settings.amd_policy is not AmdPolicy.OFF:
            self.state = CallState.AMD
            at = now + timedelta(seconds=self.settings.amd_max_s)
            out += [self._start_timer("amd", at), self._publish(now)]
        else:
            out += self._go_live(now)
        return out

    def _on_dial_failed(self, ev: DialFailed, now: datetime) -> list[Command]:
        leg = self._check_channel(ev.channel_id)
        if not ev.dialstatus.is_final or ev.dialstatus is DialStatus.ANSWER:
            return []
        if leg == "agent":
            if self.agent_leg_up:
                return []
            rang = self._agent_ringing_told or ev.dialstatus in _PHONE_REACHED
            return self._on_agent_leg_failed(now, f"agent leg dialstatus={ev.dialstatus.value}",
                                             phone_failed=not rang)
        if self.state not in _BEFORE_ANSWER:
            return []
        status = ev.dialstatus
        self._dial_cause = _DIAL_CAUSE.get(status)
        outcome = classify_dialstatus(status)
        detail = f"dialstatus={status.value}"
        if outcome is CallOutcome.NO_ANSWER:
            outcome = self._no_answer_or_failed(now)
            detail = self._no_answer_detail(now, detail)
        self._set_outcome(outcome, detail)
        out: list[Command] = []
        if self.flow is CallFlow.AGENT_FIRST:
            # create + dial: the channel would otherwise sit in the agent's bridge
            # (busy tone for 20 s) and end with cause 19, hiding the busy.
            out.append(Hangup(self.customer_channel_id, _hangup_reason(outcome)))
        out += self._release_agent("customer " + outcome.value)
        out += self._hanging_up(now)
        return out

    def _on_channel_gone(self, ev: ChannelGone, now: datetime) -> list[Command]:
        leg = self._check_channel(ev.channel_id)
        if leg == "agent":
            self.agent_leg_alive = False
            return self._on_agent_leg_gone(now, f"agent leg gone (cause {ev.cause})")
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
        state = self.state
        implied = classify_cause(self.cause, ev.tech_cause)
        if state in _BEFORE_ANSWER:
            if implied is CallOutcome.NO_ANSWER:
                self._set_outcome(
                    self._no_answer_or_failed(now),
                    self._no_answer_detail(now, f"cause={ev.cause}"),
                )
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
        elif state in _WAITING_AGENT:
            self._set_outcome(
                CallOutcome.ANSWERING_MACHINE if self.machine else CallOutcome.HUMAN_ANSWER,
                "customer hung up before an agent took the call",
            )
        elif state is CallState.HANGING_UP:
            # Refine a vague failure with a precise cause (CHANUNAVAIL + cause 1).
            if self.outcome is CallOutcome.FAILED and implied is CallOutcome.INVALID_NUMBER:
                self._set_outcome(implied, f"{self.detail}, cause={ev.cause}")
        return self._end(now)

    def _may_have_been_abandoned(self) -> bool:
        """A customer-first call not yet connected nor settled may have been a live answer
        no agent took (agent-first customers are dialed into the agent's bridge)."""
        return (self.flow is CallFlow.CUSTOMER_FIRST and not self.connected
                and self.outcome is None
                and self.state in (*_BEFORE_ANSWER, CallState.AMD, *_WAITING_AGENT))

    def _on_amd(self, ev: AmdResult, now: datetime) -> list[Command]:
        self._check_channel(ev.channel_id, customer_only=True)
        if self.state is not CallState.AMD:
            return []
        self.amd_status = ev.status
        out = [self._cancel_timer("amd")]
        if ev.status in (AmdStatus.HUMAN, AmdStatus.NOTSURE):
            return out + self._go_live(now)
        if ev.status is AmdStatus.HANGUP:
            self._set_outcome(CallOutcome.HUMAN_ANSWER, "customer hung up during AMD")
            return out + self._release_agent("customer hung up") + self._hanging_up(now)
        return out + self._on_machine(now, ev.cause)

    def _on_machine(self, now: datetime, cause: str) -> list[Command]:
        self.machine = True
        self._set_outcome(CallOutcome.ANSWERING_MACHINE, f"AMD MACHINE {cause}".strip())
        policy = self.settings.amd_policy
        if policy is AmdPolicy.PASS_TO_AGENT:
            return self._go_live(now)
        out = self._release_agent("answering machine")
        if policy is AmdPolicy.VOICEMAIL_DROP:
            self.state = CallState.VOICEMAIL
            at = now + timedelta(seconds=self.settings.beep_wait_s)
            out += [
                DetectBeep(self.customer_channel_id),
                self._start_timer("beep", at),
                self._publish(now),
            ]
            return out
        out.append(Hangup(self.customer_channel_id))
        return out + self._hanging_up(now)

    def _play_voicemail(self, now: datetime) -> list[Command]:
        assert self.settings.voicemail_message is not None
        self._voicemail_playing = True
        at = now + timedelta(seconds=MEDIA_GUARD_S)
        return [
            self._cancel_timer("beep"),
            Play(
                playback_id=f"{self.attempt_id}:voicemail",
                media=self.settings.voicemail_message,
                channel_id=self.customer_channel_id,
            ),
            self._start_timer("media", at),
        ]

    def _on_fax(self, ev: FaxDetected, now: datetime) -> list[Command]:
        self._check_channel(ev.channel_id, customer_only=True)
        if self.state not in (CallState.AMD, CallState.LIVE, CallState.CONNECTING):
            return []  # once bridged the agent dispositions it as a fax
        self._set_outcome(CallOutcome.FAX, "fax tone")
        out: list[Command] = [self._cancel_timer("amd"), self._cancel_timer("grace")]
        out += self._drop_pending_agent_leg()
        out += self._release_agent("fax")
        out.append(Hangup(self.customer_channel_id))
        return out + self._hanging_up(now)

    def _on_playback_finished(self, ev: PlaybackFinished, now: datetime) -> list[Command]:
        if ev.playback_id == f"{self.attempt_id}:info" and self.state is CallState.ABANDONING:
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if ev.playback_id == f"{self.attempt_id}:voicemail" and self.state is CallState.VOICEMAIL:
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        return []  # zip tone, or the duplicate events of bridge playbacks

    def _on_timer(self, ev: TimerFired, now: datetime) -> list[Command]:
        purpose = self._timer_purpose(ev.name)
        if purpose is None or ev.name not in self._timers:
            return []  # stale: cancelled after it fired
        self._timers.discard(ev.name)
        state = self.state
        if purpose == "no_answer" and state is CallState.RINGING:
            self._set_outcome(
                CallOutcome.NO_ANSWER, f"no answer after {self.ring_seconds(now):.0f}s"
            )
            hang: list[Command] = [Hangup(self.customer_channel_id, HangupReason.NO_ANSWER)]
            return hang + self._release_agent("no answer") + self._hanging_up(now)
        if purpose == "ring_guard" and state in _BEFORE_ANSWER:
            self._set_outcome(
                self._no_answer_or_failed(now),
                self._no_answer_detail(now, "Asterisk never reported the dial's end"),
            )
            out: list[Command] = [
                self._cancel_timer("no_answer"),
                Hangup(self.customer_channel_id),
            ]
            return out + self._release_agent("no answer") + self._hanging_up(now)
        if purpose == "amd" and state is CallState.AMD:
            self.detail = "no AMD verdict in time"
            return self._go_live(now)
        if purpose == "grace" and state in _WAITING_AGENT:
            if self.machine:
                self._set_outcome(CallOutcome.ANSWERING_MACHINE, "no agent for the machine")
                drop = self._drop_pending_agent_leg() + self._release_agent("grace expired")
                drop.append(Hangup(self.customer_channel_id))
                return drop + self._hanging_up(now)
            return self._abandon(now)
        if purpose == "beep" and state is CallState.VOICEMAIL and not self._voicemail_playing:
            return self._play_voicemail(now)
        if purpose == "media" and state in (CallState.ABANDONING, CallState.VOICEMAIL):
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if purpose == "gone" and state is CallState.HANGING_UP:
            self.detail = (self.detail + "; channel end never reported").lstrip("; ")
            return self._end(now)
        return []

    def _on_agent_assigned(self, ev: AgentAssigned, now: datetime) -> list[Command]:
        if ev.attempt_id != self.attempt_id:
            raise ValueError(f"attempt_id: {ev.attempt_id!r} sent to call {self.attempt_id!r}")
        if self.state is not CallState.LIVE or self.agent is not None:
            return [self._release_msg(ev.agent_id, "call no longer waiting for an agent")]
        self.agent = AgentLeg(ev.agent_id, ev.endpoint, ev.channel_id, ev.bridge_id)
        self._agent_done = False
        return self._connect_agent(now)

    def _on_agent_rona(self, ev: AgentRona, now: datetime) -> list[Command]:
        self._check_agent(ev, ev.agent_id)
        if self.agent_leg_up or self.state not in (CallState.AGENT_DIALING, CallState.CONNECTING):
            return []
        # The agent machine already went Not ready (RONA): do not tell it again.
        self._agent_done = True
        out: list[Command] = []
        if self.agent_leg_alive and self.agent_leg_id is not None:
            out.append(Hangup(self.agent_leg_id))
        return out + self._agent_unreachable(now, "rona")

    def _on_agent_hangup(self, ev: AgentHangupRequest, now: datetime) -> list[Command]:
        self._check_agent(ev, ev.agent_id)
        if self.held:
            raise CallControlError(self.attempt_id, self.state, ev, "a held call cannot be ended")
        state = self.state
        if state is CallState.BRIDGED:
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if state in _BEFORE_ANSWER and self.flow is CallFlow.AGENT_FIRST:
            self._set_outcome(CallOutcome.CANCELLED_BY_AGENT, "agent cancelled while ringing")
            out: list[Command] = [
                self._cancel_timer("no_answer"),
                Hangup(self.customer_channel_id),
            ]
            return out + self._release_agent("cancelled") + self._hanging_up(now)
        if state is CallState.AGENT_DIALING:
            self._agent_done = True
            out = [Hangup(self.agent_leg_id)] if self.agent_leg_id else []
            return out + [self._release_msg(ev.agent_id, "cancelled")] + self._end_unplaced(
                now, "cancelled by agent before dialing"
            )
        raise CallControlError(self.attempt_id, state, ev, "nothing to end")

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
            or self.agent is not None
            or self.state not in _BEFORE_ANSWER
        ):
            return []
        self.cancelled_unstaffed = True
        # Not answered, so not an abandon: a failure whose real outcome is unknown.
        self._set_outcome(CallOutcome.FAILED, UNSTAFFED_DETAIL)
        out: list[Command] = [self._cancel_timer("no_answer"), Hangup(self.customer_channel_id)]
        return out + self._hanging_up(now)

    def _on_hold(self, ev: HoldRequest, now: datetime) -> list[Command]:
        self._check_agent(ev, ev.agent_id)
        if self.state is not CallState.BRIDGED:
            raise CallControlError(self.attempt_id, self.state, ev, "only a connected call")
        if self.held:
            raise CallControlError(self.attempt_id, self.state, ev, "already on hold")
        self.held = True
        return [
            Hold(self.customer_channel_id),
            StartMoh(self.customer_channel_id, self.settings.moh_class),
        ]

    def _on_unhold(self, ev: UnholdRequest, now: datetime) -> list[Command]:
        self._check_agent(ev, ev.agent_id)
        if not self.held or self.state is not CallState.BRIDGED:
            raise CallControlError(self.attempt_id, self.state, ev, "the call is not on hold")
        self.held = False
        return [StopMoh(self.customer_channel_id), Unhold(self.customer_channel_id)]

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

    # ------------------------------------------------------- agent legs

    def _originate_agent_leg(self, agent: AgentLeg) -> list[Command]:
        # The distinguishing part first: Asterisk refuses a new channel id that is a prefix
        # of an existing one, ignoring case ("<attempt>:agent" made the customer's
        # "<attempt>" a 409, narrow surprise 31). See prefix_clash().
        self.agent_leg_id = f"{AGENT_LEG_PREFIX}{self.attempt_id}"
        self.agent_leg_alive = True
        self.agent_leg_up = False
        self._agent_ringing_told = False
        return [
            Originate(
                channel_id=self.agent_leg_id,
                endpoint=agent.endpoint,
                caller_id=self.settings.caller_id,
                # The agent machine's RONA timer decides; this is a backstop.
                timeout_s=self.settings.rona_s + self.settings.ring_setup_allowance_s,
                attempt_id=self.attempt_id,
                variables={"DIALER_ATTEMPT": self.attempt_id, "DIALER_AGENT": agent.agent_id},
                app_args=("agent", self.attempt_id, agent.agent_id),
            )
        ]

    def _on_agent_leg_answered(self, now: datetime) -> list[Command]:
        if self.agent is None:
            return []  # late answer of a leg the call already let go (leg lost, RONA)
        if self.agent_leg_up or self.state not in (CallState.AGENT_DIALING, CallState.CONNECTING):
            return []
        self.agent_leg_up = True
        agent_id = self.agent.agent_id
        assert self.agent_leg_id is not None
        self.bridge_id = f"{self.attempt_id}:bridge"
        out: list[Command] = [
            NotifyAgent(agent_id, AgentLegAnswered(agent_id, self.attempt_id)),
            CreateBridge(self.bridge_id),
            AddToBridge(self.bridge_id, self.agent_leg_id),
        ]
        if self.state is CallState.AGENT_DIALING:
            return out + self._dial_customer_into_bridge(now)
        out.append(AddToBridge(self.bridge_id, self.customer_channel_id))
        self.state = CallState.BRIDGED
        return out + self._on_connected(now)

    def _on_agent_leg_failed(self, now: datetime, why: str, *,
                             phone_failed: bool | None = None) -> list[Command]:
        """The per-call agent leg could not be answered (busy, unreachable, refused).

        ``phone_failed``: the phone never rang (None: it did not if no ringing was seen),
        which the agent's machine treats as a phone fault, not as a RONA.
        """
        if phone_failed is None:
            phone_failed = not self._agent_ringing_told
        if self.state not in (CallState.AGENT_DIALING, CallState.CONNECTING):
            return []
        assert self.agent is not None
        out: list[Command] = []
        if self.agent_leg_alive and self.agent_leg_id is not None:
            out.append(Hangup(self.agent_leg_id))
        if not self._agent_done:
            self._agent_done = True
            out.append(
                NotifyAgent(self.agent.agent_id, AgentRona(self.agent.agent_id, self.attempt_id,
                                                           phone_failed=phone_failed))
            )
        return out + self._agent_unreachable(now, why)

    def _agent_unreachable(self, now: datetime, why: str) -> list[Command]:
        if self.state is CallState.AGENT_DIALING:
            return self._end_unplaced(now, why)
        # Customer first: the customer is still live and the grace still runs.
        self.agent = None
        self.agent_leg_id = None
        self.agent_leg_alive = False
        self.state = CallState.LIVE
        return [RequestAgent(self.attempt_id, self.plan.campaign_id), self._publish(now)]

    def _on_agent_leg_gone(self, now: datetime, why: str) -> list[Command]:
        state = self.state
        if state in (CallState.AGENT_DIALING, CallState.CONNECTING) and not self.agent_leg_up:
            return self._on_agent_leg_failed(now, why)
        if state in _BEFORE_ANSWER and self.flow is CallFlow.AGENT_FIRST:
            self._set_outcome(CallOutcome.CANCELLED_BY_AGENT, why)
            out: list[Command] = [self._cancel_timer("no_answer"), Hangup(self.customer_channel_id)]
            return out + self._release_agent(why) + self._hanging_up(now)
        if state is CallState.BRIDGED:
            self.held = False
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if (
            self.flow is CallFlow.CUSTOMER_FIRST
            and self.agent is not None
            and not self.connected
            and state not in (CallState.HANGING_UP, CallState.ENDED)
        ):
            # The reserved agent's line died before the customer reached them:
            # let them go and find another agent when the customer is live.
            out = [] if self._agent_done else [self._release_msg(self.agent.agent_id, why)]
            self.agent = None
            self._agent_done = False
            if state is CallState.LIVE:
                out += [RequestAgent(self.attempt_id, self.plan.campaign_id)]
            return out
        return []

    def _drop_pending_agent_leg(self) -> list[Command]:
        """Hang up a per-call agent leg still ringing (the customer no longer waits)."""
        if self.agent_leg_id is None or self.agent_leg_up or not self.agent_leg_alive:
            return []
        self.agent_leg_alive = False
        return [Hangup(self.agent_leg_id)]

    # --------------------------------------------------------- transitions

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
                agent_id=self.agent.agent_id if self.agent else None,
            )
        ]

    @property
    def _originate_timeout_s(self) -> int:
        return self.settings.no_answer_timeout_s + self.settings.ring_setup_allowance_s

    def _after_customer_dialed(self, now: datetime) -> list[Command]:
        self.state = CallState.ORIGINATING
        self.dialed_at = now
        at = now + timedelta(seconds=self._originate_timeout_s + RING_GUARD_S)
        return [self._start_timer("ring_guard", at)]

    def _dial_customer_into_bridge(self, now: datetime) -> list[Command]:
        assert self.bridge_id is not None
        out = self._record_attempt(now)
        out.append(
            CreateAndDial(
                channel_id=self.customer_channel_id,
                endpoint=self.plan.endpoint,
                caller_id=self.settings.caller_id,
                timeout_s=self._originate_timeout_s,
                bridge_id=self.bridge_id,
                attempt_id=self.attempt_id,
                variables={"DIALER_ATTEMPT": self.attempt_id},
            )
        )
        out += self._after_customer_dialed(now)
        out.append(self._publish(now))
        return out

    def _go_live(self, now: datetime) -> list[Command]:
        self.state = CallState.LIVE
        self.live_at = now
        out: list[Command] = [
            self._start_timer("grace", now + timedelta(seconds=self.settings.grace_s))
        ]
        if self.agent is not None:
            out += self._connect_agent(now)
        else:
            out += [RequestAgent(self.attempt_id, self.plan.campaign_id), self._publish(now)]
        return out

    def _connect_agent(self, now: datetime) -> list[Command]:
        agent = self.agent
        assert agent is not None
        if not agent.up:
            self.state = CallState.CONNECTING
            return self._originate_agent_leg(agent) + [self._publish(now)]
        assert agent.bridge_id is not None and agent.channel_id is not None
        self.bridge_id = agent.bridge_id
        out: list[Command] = [AddToBridge(agent.bridge_id, self.customer_channel_id)]
        if self.settings.zip_tone:
            # Played on the agent's channel only: the customer never hears it.
            out.append(
                Play(
                    playback_id=f"{self.attempt_id}:zip",
                    media=self.settings.zip_tone,
                    channel_id=agent.channel_id,
                )
            )
        self.state = CallState.BRIDGED
        return out + self._on_connected(now)

    def _on_connected(self, now: datetime) -> list[Command]:
        assert self.agent is not None
        self.connected = True
        self.connected_at = now
        if self.outcome is None or not self.machine:
            self._set_outcome(
                CallOutcome.ANSWERING_MACHINE if self.machine else CallOutcome.HUMAN_ANSWER,
                "connected to agent",
            )
        agent_id = self.agent.agent_id
        out: list[Command] = [
            self._cancel_timer("grace"),
            NotifyAgent(agent_id, AgentConnected(agent_id, self.attempt_id)),
        ]
        if self.settings.recording and self.bridge_id is not None:
            self.recording = f"{self.attempt_id}"
            out.append(Record(name=self.recording, bridge_id=self.bridge_id))
        out.append(self._publish(now))
        return out

    def _abandon(self, now: datetime) -> list[Command]:
        self._set_outcome(CallOutcome.ABANDONED, f"no agent within {self.settings.grace_s:g}s")
        out = self._drop_pending_agent_leg()
        out += self._release_agent("abandoned")
        out += self._count_abandon(now, "not_connected_in_grace")
        if self.settings.info_message:
            self.state = CallState.ABANDONING
            out += [
                Play(
                    playback_id=f"{self.attempt_id}:info",
                    media=self.settings.info_message,
                    channel_id=self.customer_channel_id,
                ),
                self._start_timer("media", now + timedelta(seconds=MEDIA_GUARD_S)),
                self._publish(now),
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

    def _hanging_up(self, now: datetime) -> list[Command]:
        self.state = CallState.HANGING_UP
        out: list[Command] = []
        for purpose in ("grace", "amd", "beep", "media", "ring_guard"):
            name = self._timer_name(purpose)
            if name in self._timers:
                out.append(self._cancel_timer(purpose))
        out.append(self._start_timer("gone", now + timedelta(seconds=GONE_GUARD_S)))
        out.append(self._publish(now))
        return out

    def _end(self, now: datetime) -> list[Command]:
        self.state = CallState.ENDED
        self.ended_at = now
        self._ring_seconds = self.ring_seconds(now)
        out: list[Command] = [CancelTimer(name) for name in sorted(self._timers)]
        self._timers.clear()
        if self.agent is not None and not self._agent_done:
            self._agent_done = True
            agent_id = self.agent.agent_id
            if self.connected:
                out.append(NotifyAgent(agent_id, AgentCallEnded(agent_id, self.attempt_id)))
            else:
                out.append(self._release_msg(agent_id, "call ended"))
        if self.agent_leg_id is not None and self.agent_leg_alive:
            self.agent_leg_alive = False
            out.append(Hangup(self.agent_leg_id))
        if self.recording is not None:
            out.append(StopRecording(self.recording))
        self.held = False
        if self.attempt_recorded:
            if self.outcome is None:
                self._set_outcome(CallOutcome.FAILED, self.detail or "unknown")
            assert self.outcome is not None
            talk = (now - self.connected_at).total_seconds() if self.connected_at else 0.0
            out.append(
                RecordOutcome(
                    attempt_id=self.attempt_id,
                    outcome=self.outcome,
                    at=now,
                    cause=self.cause,
                    cause_txt=self.cause_txt,
                    detail=self.detail,
                    ring_seconds=round(self._ring_seconds, 3),
                    talk_seconds=round(max(0.0, talk), 3),
                    answered_at=self.answered_at,
                    agent_id=self.agent.agent_id if self.agent and self.connected else None,
                    amd_status=self.amd_status,
                )
            )
        out.append(self._publish(now))
        return out

    def _end_unplaced(self, now: datetime, why: str) -> list[Command]:
        """End a call whose customer was never dialed: give the target back."""
        assert not self.attempt_recorded
        self.detail = why
        out = [
            ReleaseTarget(self.plan.target_id, self.plan.campaign_id, why),
        ]
        return out + self._end(now)

    def _release_agent(self, why: str) -> list[Command]:
        """Free a reserved agent who will not talk to this customer."""
        if self.agent is None or self._agent_done or self.connected:
            return []
        self._agent_done = True
        return [self._release_msg(self.agent.agent_id, why)]

    def _release_msg(self, agent_id: str, why: str) -> NotifyAgent:
        return NotifyAgent(agent_id, AgentReleased(agent_id, self.attempt_id, why))

    # ------------------------------------------------------------- helpers

    def _no_answer_or_failed(self, now: datetime) -> CallOutcome:
        """A no-answer needs the minimum ringing; shorter is a failure (unknown)."""
        if self.ring_seconds(now) >= MIN_RING_SECONDS:
            return CallOutcome.NO_ANSWER
        return CallOutcome.FAILED

    def _no_answer_detail(self, now: datetime, base: str) -> str:
        ring = self.ring_seconds(now)
        if ring >= MIN_RING_SECONDS:
            return f"{base}, rang {ring:.0f}s"
        return f"{base}, unknown failure: rang {ring:.1f}s < {MIN_RING_SECONDS}s"

    def _set_outcome(self, outcome: CallOutcome, detail: str) -> None:
        self.outcome = outcome
        self.detail = detail

    def _check_channel(self, channel_id: str, customer_only: bool = False) -> str:
        if channel_id == self.customer_channel_id:
            return "customer"
        if not customer_only and channel_id == self.agent_leg_id and channel_id is not None:
            return "agent"
        raise ValueError(f"channel_id: {channel_id!r} is not a channel of call {self.attempt_id}")

    def _check_agent(self, event: Event, agent_id: str) -> None:
        if self.agent is None or self.agent.agent_id != agent_id:
            raise CallControlError(
                self.attempt_id, self.state, event, f"agent {agent_id} is not on this call"
            )

    def _timer_name(self, purpose: str) -> str:
        return f"call/{self.attempt_id}/{purpose}"

    def _timer_purpose(self, name: str) -> str | None:
        prefix = f"call/{self.attempt_id}/"
        return name[len(prefix) :] if name.startswith(prefix) else None

    def _start_timer(self, purpose: str, at: datetime) -> StartTimer:
        name = self._timer_name(purpose)
        self._timers.add(name)
        return StartTimer(name, at)

    def _cancel_timer(self, purpose: str) -> CancelTimer:
        name = self._timer_name(purpose)
        self._timers.discard(name)
        return CancelTimer(name)

    def _publish(self, now: datetime) -> PublishAttempt:
        return PublishAttempt(
            self.attempt_id,
            self.plan.campaign_id,
            self.state.value,
            now,
            self.outcome if self.state is CallState.ENDED else None,
        )


def prefix_clash(new_id: str, existing: Iterable[str]) -> str | None:
    """The existing channel id that makes Asterisk refuse ``new_id``, if any.

    Asterisk 22's channel storage finds a "duplicate" when an existing id *starts with*
    the new one, ignoring case (narrow surprise 31): with "X:agent" up, "X" is a 409.
    """
    new = new_id.casefold()
    for other in existing:
        if other.casefold().startswith(new):
            return other
    return None


def _hangup_reason(outcome: CallOutcome) -> HangupReason:
    if outcome is CallOutcome.BUSY:
        return HangupReason.BUSY
    if outcome is CallOutcome.NO_ANSWER:
        return HangupReason.NO_ANSWER
    if outcome is CallOutcome.FAILED:
        return HangupReason.CONGESTION
    return HangupReason.NORMAL


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now: must be a timezone-aware datetime")


Call = CallMachine
"Short alias."
