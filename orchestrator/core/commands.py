"""Outputs of the pure core: what the shell must do.

State machines return lists of these frozen dataclasses; the shell executes
them **in order** (a command list is a small script). Two ordering rules
matter:

* :class:`RecordAttempt` is a write-ahead: the shell commits it to the ledger
  before executing any later command of the same list (in particular the
  :class:`Originate` / :class:`CreateAndDial` that follows it). If the commit
  fails, the later commands are dropped and the call is reported failed.
* :class:`NotifyAgent` / :class:`NotifyCall` carry an event for another
  machine; the shell feeds it to that machine (after the commands before it)
  and executes what that machine returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from orchestrator.core.events import AmdStatus, Event

__all__ = [
    "AddToBridge",
    "CallOutcome",
    "CancelTimer",
    "Command",
    "CountAbandon",
    "CreateAndDial",
    "CreateBridge",
    "CreateCallback",
    "DestroyBridge",
    "DetectBeep",
    "DialTarget",
    "Hangup",
    "HangupReason",
    "Hold",
    "LockNumber",
    "NotifyAgent",
    "NotifyCall",
    "Originate",
    "PauseRecording",
    "Play",
    "PublishAgentState",
    "PublishAttempt",
    "PublishCampaignState",
    "PublishPreview",
    "Record",
    "RecordAttempt",
    "RecordDisposition",
    "RecordOutcome",
    "RejectTarget",
    "ReleaseTarget",
    "RemoveFromBridge",
    "RemoveTarget",
    "RequestAgent",
    "ReservationReady",
    "RequeueTarget",
    "ResumeRecording",
    "SetVariable",
    "Snoop",
    "StartMoh",
    "StartTimer",
    "StopMoh",
    "StopPlayback",
    "StopRecording",
    "Unhold",
]


class CallOutcome(StrEnum):
    """Telephony outcome of one attempt (MISSION B), one per attempt.

    Not the same thing as a wrap-up code's outcome *class* (final success,
    retry, ...): the rules map outcomes and codes to classes.
    """

    HUMAN_ANSWER = "human_answer"
    ANSWERING_MACHINE = "answering_machine"
    FAX = "fax"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    "Congestion or any other failure (including a no-answer shorter than the minimum ring)."
    INVALID_NUMBER = "invalid_number"
    ABANDONED = "abandoned"
    CANCELLED_BY_AGENT = "cancelled_by_agent"
    REJECTED_BY_AGENT = "rejected_by_agent"
    NOT_DIALED = "not_dialed"
    "Asterisk refused the originate before any channel existed: the number never left."


class HangupReason(StrEnum):
    """``reason`` values of ARI ``DELETE /channels/{id}``."""

    NORMAL = "normal"
    BUSY = "busy"
    CONGESTION = "congestion"
    NO_ANSWER = "no_answer"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Command:
    """Base class of every core output."""


# --------------------------------------------------------------- telephony


@dataclass(frozen=True, slots=True)
class Originate(Command):
    """``POST /channels`` into our Stasis app (or through the AMD dialplan context)."""

    channel_id: str
    "Our id for the channel; for a customer leg it is the attempt id, so a retry is refused."
    endpoint: str
    "Dial string (``PJSIP/+4420...@trunk``, ``Local/1001@customers``)."
    caller_id: str
    "Caller id presented."
    timeout_s: int
    "Originate timeout in seconds (Asterisk hangs up with cause 19 when it runs out)."
    attempt_id: str | None = None
    "The attempt this leg belongs to, for logs (None for an agent's own leg)."
    variables: Mapping[str, str] = field(default_factory=dict)
    "Channel variables to set."
    app_args: tuple[str, ...] = ()
    "Stasis arguments."
    amd: bool = False
    "Route through the dialplan context that runs ``AMD()`` before entering Stasis."


@dataclass(frozen=True, slots=True)
class CreateAndDial(Command):
    """``POST /channels/create``, add it to ``bridge_id`` (early media), then ``/dial``.

    Asterisk does not hang up such a channel on a final dial status (it would
    sit in the bridge playing busy tone); the core emits :class:`Hangup` itself.
    """

    channel_id: str
    "Our id for the channel (the attempt id for a customer leg)."
    endpoint: str
    "Dial string."
    caller_id: str
    "Caller id presented."
    timeout_s: int
    "Dial timeout in seconds."
    bridge_id: str
    "Bridge to put the channel in before dialing, so the agent hears the progress."
    attempt_id: str | None = None
    "The attempt this leg belongs to."
    variables: Mapping[str, str] = field(default_factory=dict)
    "Channel variables to set."


@dataclass(frozen=True, slots=True)
class CreateBridge(Command):
    """``POST /bridges`` with our id."""

    bridge_id: str
    "Our id for the bridge."
    kind: str = "mixing"
    "Bridge type (``mixing``, ``holding``)."


@dataclass(frozen=True, slots=True)
class DestroyBridge(Command):
    """``DELETE /bridges/{id}`` (an empty bridge is never destroyed by Asterisk)."""

    bridge_id: str
    "The bridge."


@dataclass(frozen=True, slots=True)
class AddToBridge(Command):
    """``POST /bridges/{id}/addChannel``."""

    bridge_id: str
    "The bridge."
    channel_id: str
    "The channel to add."
    role: str | None = None
    "Bridge role (``holding_participant`` for MOH in a holding bridge)."


@dataclass(frozen=True, slots=True)
class RemoveFromBridge(Command):
    """``POST /bridges/{id}/removeChannel``."""

    bridge_id: str
    "The bridge."
    channel_id: str
    "The channel to remove."


@dataclass(frozen=True, slots=True)
class Hangup(Command):
    """``DELETE /channels/{id}``; a 404 (already gone) is fine."""

    channel_id: str
    "The channel."
    reason: HangupReason = HangupReason.NORMAL
    "Hangup reason sent to Asterisk."


@dataclass(frozen=True, slots=True)
class Play(Command):
    """``POST /channels/{id}/play`` or ``/bridges/{id}/play`` with our playback id."""

    playback_id: str
    "Our id; comes back in :class:`~orchestrator.core.events.PlaybackFinished`."
    media: str
    "Media URI (``sound:...``, ``tone:...``)."
    channel_id: str | None = None
    "Play to this channel only (what the zip tone needs: only the agent hears it)."
    bridge_id: str | None = None
    "Play to everyone in this bridge."

    def __post_init__(self) -> None:
        if (self.channel_id is None) == (self.bridge_id is None):
            raise ValueError("Play: give exactly one of channel_id and bridge_id")


@dataclass(frozen=True, slots=True)
class StopPlayback(Command):
    """``DELETE /playbacks/{id}``."""

    playback_id: str
    "The playback."


@dataclass(frozen=True, slots=True)
class StartMoh(Command):
    """``POST /channels/{id}/moh`` (AMI-only events; no ARI event comes back)."""

    channel_id: str
    "The channel."
    moh_class: str = "default"
    "Music class (an unknown class falls back to default)."


@dataclass(frozen=True, slots=True)
class StopMoh(Command):
    """``DELETE /channels/{id}/moh``."""

    channel_id: str
    "The channel."


@dataclass(frozen=True, slots=True)
class Hold(Command):
    """``POST /channels/{id}/hold`` (mutes the channel towards the bridge)."""

    channel_id: str
    "The channel."


@dataclass(frozen=True, slots=True)
class Unhold(Command):
    """``DELETE /channels/{id}/hold``."""

    channel_id: str
    "The channel."


@dataclass(frozen=True, slots=True)
class Record(Command):
    """``POST /bridges/{id}/record`` (or a channel's)."""

    name: str
    "Recording name (our id)."
    bridge_id: str | None = None
    "Record this bridge."
    channel_id: str | None = None
    "Record this channel (fails for a bridged channel: record the bridge)."
    format: str = "wav"
    "File format."

    def __post_init__(self) -> None:
        if (self.channel_id is None) == (self.bridge_id is None):
            raise ValueError("Record: give exactly one of channel_id and bridge_id")


@dataclass(frozen=True, slots=True)
class StopRecording(Command):
    """``POST /recordings/live/{name}/stop``."""

    name: str
    "Recording name."


@dataclass(frozen=True, slots=True)
class PauseRecording(Command):
    """``POST /recordings/live/{name}/pause``."""

    name: str
    "Recording name."


@dataclass(frozen=True, slots=True)
class ResumeRecording(Command):
    """``DELETE /recordings/live/{name}/pause``."""

    name: str
    "Recording name."


@dataclass(frozen=True, slots=True)
class Snoop(Command):
    """``POST /channels/{id}/snoop`` for listen / whisper / barge."""

    channel_id: str
    "Channel snooped on."
    snoop_id: str
    "Our id for the snoop channel."
    spy: str = "none"
    "Direction heard: none, in, out, both."
    whisper: str = "none"
    "Direction spoken into: none, in, out, both."


@dataclass(frozen=True, slots=True)
class SetVariable(Command):
    """``POST /channels/{id}/variable``."""

    channel_id: str
    "The channel."
    name: str
    "Variable name."
    value: str
    "Value."


@dataclass(frozen=True, slots=True)
class DetectBeep(Command):
    """Start answering-machine beep / end-of-greeting detection on a channel.

    The shell answers with :class:`~orchestrator.core.events.BeepDetected`
    (e.g. from ``TALK_DETECT`` + ``ChannelTalkingFinished``).
    """

    channel_id: str
    "The customer channel."


# ------------------------------------------------------------------ timers


@dataclass(frozen=True, slots=True)
class StartTimer(Command):
    """Arm (or re-arm) a timer; at ``at`` feed ``TimerFired(name)`` to the issuer."""

    name: str
    "Timer name, unique per machine (also globally: it embeds the machine's id)."
    at: datetime
    "Expiry instant (timezone-aware)."


@dataclass(frozen=True, slots=True)
class CancelTimer(Command):
    """Disarm a timer; cancelling an unknown or expired timer is a no-op."""

    name: str
    "Timer name."


# ------------------------------------------------------------------ ledger


@dataclass(frozen=True, slots=True)
class RecordAttempt(Command):
    """Write-ahead: commit the attempt row before the customer is dialed."""

    attempt_id: str
    "Attempt id (= customer channel id)."
    campaign_id: str
    "Campaign."
    contact_id: str
    "Contact."
    target_id: str
    "Target (phone number row)."
    e164: str
    "Number dialed."
    at: datetime
    "When the attempt was started."
    agent_id: str | None = None
    "Agent reserved for it, if any (progressive, preview)."


@dataclass(frozen=True, slots=True)
class RecordOutcome(Command):
    """The attempt's one final telephony outcome."""

    attempt_id: str
    "Attempt id."
    outcome: CallOutcome
    "Telephony outcome."
    at: datetime
    "When the call ended."
    cause: int | None = None
    "Q.850 cause of the customer channel's end, when known."
    cause_txt: str = ""
    "Asterisk's cause text."
    detail: str = ""
    "Why this outcome (``dialstatus=BUSY``, ``rang 12s < 15s``...)."
    ring_seconds: float = 0.0
    "Ringing time (from first ringing, or from dialing when no ringing was seen)."
    talk_seconds: float = 0.0
    "Time connected to an agent."
    answered_at: datetime | None = None
    "Answer instant, if answered."
    agent_id: str | None = None
    "Agent who talked to the customer, if any."
    amd_status: AmdStatus | None = None
    "AMD verdict, if AMD ran."


@dataclass(frozen=True, slots=True)
class RecordDisposition(Command):
    """An agent's wrap-up code (manual, or the campaign's default on expiry)."""

    agent_id: str
    "Agent."
    code: str
    "Wrap-up code."
    at: datetime
    "When."
    attempt_id: str | None = None
    "The call dispositioned (None for a disposition without dialing)."
    target_id: str | None = None
    "The target, for a disposition without dialing."
    automatic: bool = False
    "True when the wrap-up timer ran out and the default code was applied."
    notes: str = ""
    "Free text."


@dataclass(frozen=True, slots=True)
class CountAbandon(Command):
    """Count one abandoned call in the campaign's abandon-rate windows."""

    attempt_id: str
    "The call."
    campaign_id: str
    "Campaign."
    at: datetime
    "When the abandon happened."
    reason: str
    "``not_connected_in_grace`` or ``amd_false_positive``."


@dataclass(frozen=True, slots=True)
class LockNumber(Command):
    """No call to this number from any campaign before ``until`` (after an abandon)."""

    e164: str
    "The number."
    until: datetime
    "Lock expiry."
    reason: str = "abandoned"
    "Why."
    attempt_id: str | None = None
    "The attempt that caused the lock."


@dataclass(frozen=True, slots=True)
class ReleaseTarget(Command):
    """Give a claimed target back without an attempt (the customer was never dialed)."""

    target_id: str
    "Target."
    campaign_id: str
    "Campaign."
    reason: str
    "Why (``rona``, ``agent_unreachable``...)."


@dataclass(frozen=True, slots=True)
class RequeueTarget(Command):
    """Put a previewed target back into the queue, callable from ``available_from``."""

    target_id: str
    "Target."
    campaign_id: str
    "Campaign."
    available_from: datetime
    "Earliest next offer."
    reason: str
    "``requeue``, ``delay``, ``auto``."


@dataclass(frozen=True, slots=True)
class RejectTarget(Command):
    """The agent rejected (skipped) an offered target: outcome "rejected by agent"."""

    target_id: str
    "Target."
    campaign_id: str
    "Campaign."
    agent_id: str
    "The agent."
    at: datetime
    "When."
    automatic: bool = False
    "True when the preview countdown ran out."


@dataclass(frozen=True, slots=True)
class RemoveTarget(Command):
    """Remove a target from the campaign."""

    target_id: str
    "Target."
    campaign_id: str
    "Campaign."
    agent_id: str
    "The agent."
    at: datetime
    "When."
    automatic: bool = False
    "True when the preview countdown ran out."


@dataclass(frozen=True, slots=True)
class CreateCallback(Command):
    """Schedule a callback (from a preview's Reschedule)."""

    contact_id: str
    "Contact."
    target_id: str
    "Target previewed."
    campaign_id: str
    "Campaign."
    start_at: datetime
    "When to call, timezone-aware (in ``time_zone``)."
    time_zone: str
    "IANA zone the agent chose."
    e164: str
    "Number to call (the other number when one was given)."
    assigned_agent_id: str | None
    "The agent (assign to me) or None (anyone in the campaign's skill)."
    created_by: str
    "Agent who rescheduled."
    notes: str = ""
    "Notes."


# ------------------------------------------------------------ coordination


@dataclass(frozen=True, slots=True)
class RequestAgent(Command):
    """A live customer needs an agent now; answer with ``AgentAssigned`` (or nothing)."""

    attempt_id: str
    "The call."
    campaign_id: str
    "Its campaign."


@dataclass(frozen=True, slots=True)
class DialTarget(Command):
    """Start an attempt (a new :class:`~orchestrator.core.calls.CallMachine`) for a target."""

    campaign_id: str
    "Campaign."
    contact_id: str
    "Contact."
    target_id: str
    "Target."
    e164: str
    "Number."
    agent_id: str | None
    "Agent reserved for it (preview accept: the previewing agent)."
    offer_id: str
    "The preview or reservation the call comes from."


@dataclass(frozen=True, slots=True)
class ReservationReady(Command):
    """The agent answered the reservation call: show the preview now (start its countdown)."""

    agent_id: str
    "Agent."
    offer_id: str
    "The preview the agent was reserved for."
    channel_id: str
    "The agent's leg, kept up to dial the customer on it."
    bridge_id: str
    "The bridge holding that leg."


@dataclass(frozen=True, slots=True)
class NotifyAgent(Command):
    """Feed ``event`` to agent ``agent_id``'s machine."""

    agent_id: str
    "The agent."
    event: Event
    "The event to deliver."


@dataclass(frozen=True, slots=True)
class NotifyCall(Command):
    """Feed ``event`` to the call machine (or preview session) whose id is ``attempt_id``."""

    attempt_id: str
    "The call."
    event: Event
    "The event to deliver."


# ----------------------------------------------------------------- publish


@dataclass(frozen=True, slots=True)
class PublishAgentState(Command):
    """Tell desktops, supervisors and AMI wallboards an agent's new state."""

    agent_id: str
    "Agent."
    state: str
    "New state value."
    at: datetime
    "When."
    reason: str = ""
    "Not-ready reason code, when not ready."
    attempt_id: str | None = None
    "Call or preview concerned, if any."


@dataclass(frozen=True, slots=True)
class PublishAttempt(Command):
    """Tell supervisors an attempt's progress."""

    attempt_id: str
    "Attempt."
    campaign_id: str
    "Campaign."
    state: str
    "Call state value."
    at: datetime
    "When."
    outcome: CallOutcome | None = None
    "Final outcome, once known."


@dataclass(frozen=True, slots=True)
class PublishCampaignState(Command):
    """Tell supervisors a campaign's new state."""

    campaign_id: str
    "Campaign."
    state: str
    "New state value."
    at: datetime
    "When."


@dataclass(frozen=True, slots=True)
class PublishPreview(Command):
    """Show (or refresh) the preview window on the agent's desktop."""

    preview_id: str
    "Preview session."
    agent_id: str
    "Agent."
    target_id: str
    "Target shown."
    expires_at: datetime | None
    "When the countdown reaches zero (None: no countdown)."
    allowed_actions: tuple[str, ...]
    "Actions the desktop may offer."
