"""Inputs of the pure core: what the shell tells the state machines.

The shell (ARI/AMI adapters, HTTP API, timer wheel) translates every wire
fact into one of these frozen dataclasses and hands it to the machine that
owns the key it carries:

* channel events carry ``channel_id`` (the id *we* gave the channel; for a
  customer leg it is the attempt id). The shell routes them to the
  :class:`~orchestrator.core.calls.CallMachine` or
  :class:`~orchestrator.core.agents.AgentMachine` that created the channel.
* agent events carry ``agent_id``; call-control requests also name the
  ``attempt_id`` they act on.
* :class:`TimerFired` goes back to the machine that issued the matching
  :class:`~orchestrator.core.commands.StartTimer`.

Translation rules the shell must follow (from ``asterisk-traces/README.md``):

* Feed ``Dial`` events with a final ``dialstatus`` as :class:`DialFailed` (or
  :class:`CallAnswered` for ``ANSWER``). On Local channels busy and congestion
  are only visible there: the ``;1`` half is destroyed with cause 0 (surprise 1).
* Feed ``ChannelDestroyed`` of *our* channel id as :class:`ChannelGone`; it is
  the final word on a channel (surprise 4). Ignore the ``;2`` half of a Local
  channel (surprise 6) and ``ChannelHangupRequest`` (its cause 32 is
  Asterisk's internal flag, surprise 3).
* A no-answer by originate timeout has no final ``Dial``: only
  ``ChannelDestroyed`` cause 19 (surprise 2). The core copes with that.
* For channels made with create + dial the core itself emits a
  :class:`~orchestrator.core.commands.Hangup` on a final dial status
  (surprises 5 and 22); the shell must not wait for Asterisk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum

__all__ = [
    "AgentAssigned",
    "AgentCallEnded",
    "AgentConnected",
    "AgentDisposition",
    "AgentEvent",
    "AgentHangupRequest",
    "AgentLegAnswered",
    "AgentLegLost",
    "AgentLegRinging",
    "AgentLogin",
    "AgentLogout",
    "AgentNotReady",
    "AgentReady",
    "AgentReleased",
    "AgentReserved",
    "AgentRona",
    "AmdFalsePositiveReported",
    "AmdResult",
    "AmdStatus",
    "BeepDetected",
    "BridgeJoined",
    "BridgeLeft",
    "CallAnswered",
    "CallRinging",
    "CampaignComplete",
    "CampaignEvent",
    "CampaignPause",
    "CampaignStart",
    "CampaignStop",
    "CampaignUnstaffed",
    "ChannelGone",
    "ConferenceEnd",
    "ConferenceStart",
    "ConsultEnd",
    "ConsultStart",
    "DialFailed",
    "DialStatus",
    "Event",
    "FaxDetected",
    "HoldRequest",
    "OriginateAccepted",
    "OriginateRefused",
    "PlaybackFinished",
    "PreviewAccept",
    "PreviewActionEvent",
    "PreviewDelay",
    "PreviewDisposition",
    "PreviewRemove",
    "PreviewRequeue",
    "PreviewReschedule",
    "PreviewSkip",
    "CallbackAssignee",
    "TimerFired",
    "UnholdRequest",
]


class DialStatus(StrEnum):
    """Asterisk's ``DIALSTATUS`` values as carried by the ARI ``Dial`` event."""

    ANSWER = "ANSWER"
    BUSY = "BUSY"
    CONGESTION = "CONGESTION"
    CHANUNAVAIL = "CHANUNAVAIL"
    NOANSWER = "NOANSWER"
    CANCEL = "CANCEL"
    DONTCALL = "DONTCALL"
    TORTURE = "TORTURE"
    INVALIDARGS = "INVALIDARGS"
    RINGING = "RINGING"
    PROGRESS = "PROGRESS"
    PROCEEDING = "PROCEEDING"

    @property
    def is_final(self) -> bool:
        """True for a status that ends the dial (everything but progress states)."""
        return self not in (DialStatus.RINGING, DialStatus.PROGRESS, DialStatus.PROCEEDING)

    @classmethod
    def from_wire(cls, value: str) -> DialStatus:
        """Parse a wire ``dialstatus``; an unknown value is a clear error."""
        try:
            return cls(value.strip().upper())
        except ValueError:
            raise ValueError(f"dialstatus: unknown value {value!r}") from None


class AmdStatus(StrEnum):
    """Asterisk ``AMD()`` verdicts (``AMDSTATUS``)."""

    HUMAN = "HUMAN"
    MACHINE = "MACHINE"
    NOTSURE = "NOTSURE"
    HANGUP = "HANGUP"

    @classmethod
    def from_wire(cls, value: str) -> AmdStatus:
        """Parse a wire ``AMDSTATUS``; an unknown value is a clear error."""
        try:
            return cls(value.strip().upper())
        except ValueError:
            raise ValueError(f"amd status: unknown value {value!r}") from None


class CallbackAssignee(StrEnum):
    """Who a rescheduled preview (a callback) is for."""

    ME = "me"
    ANYONE = "anyone"


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every core input."""


# ---------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class OriginateAccepted(Event):
    """``POST /channels`` (or ``/channels/create``) answered 2xx."""

    channel_id: str
    "The channel id we asked for."


@dataclass(frozen=True, slots=True)
class OriginateRefused(Event):
    """``POST /channels`` failed: no channel exists (except maybe on 409)."""

    channel_id: str
    "The channel id we asked for."
    status: int
    "HTTP status of the refusal (500 'Allocation failed', 400, 409, ...)."
    reason: str
    "The response body's message, for the ledger."


@dataclass(frozen=True, slots=True)
class CallRinging(Event):
    """The far end is alerting (``Dial`` with ``dialstatus=RINGING``)."""

    channel_id: str
    "Our channel id (customer leg or agent leg)."


@dataclass(frozen=True, slots=True)
class CallAnswered(Event):
    """The far end answered (``Dial`` ``ANSWER``, or ``StasisStart`` of an Up channel)."""

    channel_id: str
    "Our channel id (customer leg or agent leg)."


@dataclass(frozen=True, slots=True)
class DialFailed(Event):
    """A ``Dial`` event with a final status other than ``ANSWER``."""

    channel_id: str
    "Our channel id."
    dialstatus: DialStatus
    "BUSY, CONGESTION, CHANUNAVAIL, NOANSWER, CANCEL, ..."


@dataclass(frozen=True, slots=True)
class ChannelGone(Event):
    """``ChannelDestroyed`` of our channel: the final word on it."""

    channel_id: str
    "Our channel id (never the ``;2`` half of a Local channel)."
    cause: int
    "Q.850 cause (0 on the ``;1`` half of a busy Local channel)."
    cause_txt: str = ""
    "Asterisk's text for the cause."
    tech_cause: int | None = None
    "SIP response code on PJSIP channels (486 busy, 480, 404, ...)."
    unseen: bool = False
    "It ended while the dialer could not see events (socket down): what happened is unknown."


@dataclass(frozen=True, slots=True)
class AmdResult(Event):
    """Verdict of ``AMD()`` (passed as Stasis args by the AMD dialplan context)."""

    channel_id: str
    "Our customer channel id."
    status: AmdStatus
    "HUMAN, MACHINE, NOTSURE or HANGUP."
    cause: str = ""
    "``AMDCAUSE``, e.g. ``MAXWORDS-3-2``; kept for the ledger."


@dataclass(frozen=True, slots=True)
class FaxDetected(Event):
    """A fax tone (CNG/CED) was detected on the customer channel."""

    channel_id: str
    "Our customer channel id."


@dataclass(frozen=True, slots=True)
class BeepDetected(Event):
    """The answering machine's beep (or end of greeting) was heard."""

    channel_id: str
    "Our customer channel id."


@dataclass(frozen=True, slots=True)
class BridgeJoined(Event):
    """``ChannelEnteredBridge`` for one of our channels."""

    channel_id: str
    "The channel that entered."
    bridge_id: str
    "The bridge it entered."


@dataclass(frozen=True, slots=True)
class BridgeLeft(Event):
    """``ChannelLeftBridge`` for one of our channels."""

    channel_id: str
    "The channel that left."
    bridge_id: str
    "The bridge it left."


@dataclass(frozen=True, slots=True)
class PlaybackFinished(Event):
    """``PlaybackFinished`` (or ``PlaybackFailed``) of a playback we started."""

    playback_id: str
    "The playback id we gave in :class:`~orchestrator.core.commands.Play`."
    failed: bool = False
    "True when Asterisk reported the media as failed (missing file...)."


@dataclass(frozen=True, slots=True)
class TimerFired(Event):
    """A timer started with :class:`~orchestrator.core.commands.StartTimer` expired."""

    name: str
    "The timer's name, as given when it was started."


# ----------------------------------------------------------- call <-> agent


@dataclass(frozen=True, slots=True)
class AgentAssigned(Event):
    """An agent was picked for a live customer (answer to ``RequestAgent``)."""

    attempt_id: str
    "The call the agent is for."
    agent_id: str
    "The agent picked."
    endpoint: str
    "The agent's phone endpoint (``PJSIP/1001``), for a per-call leg."
    channel_id: str | None = None
    "The agent's leg if it is already up (nailed-up or reservation call), else None."
    bridge_id: str | None = None
    "The bridge holding that leg, when ``channel_id`` is set."


@dataclass(frozen=True, slots=True)
class AgentRona(Event):
    """Redirection on no answer: the agent's phone was offered a call and not answered."""

    agent_id: str
    "The agent who did not answer."
    attempt_id: str
    "The call (or preview) that was offered."
    phone_failed: bool = False
    "The phone never rang (unreachable, refused, congested): not a RONA but a phone fault."


@dataclass(frozen=True, slots=True)
class AgentLegLost(Event):
    """The agent's persistent leg went away while it served a call."""

    agent_id: str
    "The agent whose phone leg dropped."
    attempt_id: str
    "The call it was serving."


@dataclass(frozen=True, slots=True)
class CampaignUnstaffed(Event):
    """The campaign's last staffed agent left: every session of the campaign is logged
    out or Not ready (nobody Available, reserved, on a call or in wrap-up).

    Posted to each of the campaign's calls. A customer-first call still dialing or
    ringing with no agent of its own is cancelled: answered, it could only be abandoned.
    """

    campaign_id: str
    "The campaign left without agents."


@dataclass(frozen=True, slots=True)
class AmdFalsePositiveReported(Event):
    """An agent reports that a call classified as a machine was a live person."""

    attempt_id: str
    "The call concerned."
    agent_id: str
    "The reporting agent."


# ------------------------------------------------------------------ agents


@dataclass(frozen=True, slots=True)
class AgentEvent(Event):
    """Base of events addressed to one agent."""

    agent_id: str
    "The agent concerned."


@dataclass(frozen=True, slots=True)
class AgentLogin(AgentEvent):
    """The agent logs in with a phone."""

    endpoint: str
    "Any Asterisk endpoint: ``PJSIP/1001``, a WebRTC endpoint, ``Local/...``."
    nailed_up: bool = False
    "Keep one leg to the phone open between calls instead of ringing per call."


@dataclass(frozen=True, slots=True)
class AgentLogout(AgentEvent):
    """The agent logs out (deferred to the end of a call in progress)."""


@dataclass(frozen=True, slots=True)
class AgentReady(AgentEvent):
    """The agent makes themself available."""


@dataclass(frozen=True, slots=True)
class AgentNotReady(AgentEvent):
    """The agent goes not ready (deferred to the end of a call in progress)."""

    reason: str
    "Reason code (``break``, ``lunch``, ...)."


@dataclass(frozen=True, slots=True)
class AgentDisposition(AgentEvent):
    """The agent's wrap-up code for the call just ended (or in progress)."""

    attempt_id: str
    "The call the code is for."
    code: str
    "Wrap-up code (``sale``, ``answering_machine``, ...)."
    notes: str = ""
    "Free text kept with the disposition."


@dataclass(frozen=True, slots=True)
class AgentReserved(AgentEvent):
    """The dialer reserved this Available agent for a call or a preview."""

    attempt_id: str
    "The attempt (or preview) the agent is reserved for."
    campaign_id: str
    "Its campaign (wrap-up settings come from it)."
    reservation_call: bool = False
    "Preview: ring the agent's phone now and keep the leg up for the customer."


@dataclass(frozen=True, slots=True)
class AgentLegRinging(AgentEvent):
    """The agent's phone rings for an offered call (starts the RONA countdown)."""

    attempt_id: str
    "The call offered."


@dataclass(frozen=True, slots=True)
class AgentLegAnswered(AgentEvent):
    """The agent picked up the per-call leg."""

    attempt_id: str
    "The call offered."


@dataclass(frozen=True, slots=True)
class AgentConnected(AgentEvent):
    """The customer is now bridged with the agent."""

    attempt_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class AgentCallEnded(AgentEvent):
    """The connected call ended: the agent goes to wrap-up."""

    attempt_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class AgentReleased(AgentEvent):
    """A reservation ends without a connected call (busy, no answer, preview skipped...)."""

    attempt_id: str
    "The call or preview the agent was reserved for."
    reason: str = ""
    "Why, for logs and the agent desktop."


@dataclass(frozen=True, slots=True)
class AgentHangupRequest(AgentEvent):
    """The agent clicks End call (or cancels a call still ringing)."""

    attempt_id: str
    "The call to end."


@dataclass(frozen=True, slots=True)
class HoldRequest(AgentEvent):
    """The agent puts the customer on hold."""

    attempt_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class UnholdRequest(AgentEvent):
    """The agent resumes the customer."""

    attempt_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class ConsultStart(AgentEvent):
    """The agent starts a consultation (the customer is held by call control)."""

    attempt_id: str
    "The call."
    destination: str
    "Agent, queue, dialed number or entry point consulted."


@dataclass(frozen=True, slots=True)
class ConsultEnd(AgentEvent):
    """The consultation ended; the agent is back with the customer."""

    attempt_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class ConferenceStart(AgentEvent):
    """The consultation was merged into a conference with the customer."""

    attempt_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class ConferenceEnd(AgentEvent):
    """The conference shrank back to agent and customer."""

    attempt_id: str
    "The call."


# ----------------------------------------------------------------- preview


@dataclass(frozen=True, slots=True)
class PreviewActionEvent(Event):
    """Base of the agent's actions in a preview window."""

    preview_id: str
    "The preview session."
    agent_id: str
    "The agent acting (must be the session's agent)."


@dataclass(frozen=True, slots=True)
class PreviewAccept(PreviewActionEvent):
    """Dial the previewed target now."""


@dataclass(frozen=True, slots=True)
class PreviewSkip(PreviewActionEvent):
    """Do not call this one now (recorded as rejected by agent)."""


@dataclass(frozen=True, slots=True)
class PreviewRequeue(PreviewActionEvent):
    """Put the target back into the queue at once."""


@dataclass(frozen=True, slots=True)
class PreviewDelay(PreviewActionEvent):
    """Snooze the target for the campaign's delay."""


@dataclass(frozen=True, slots=True)
class PreviewReschedule(PreviewActionEvent):
    """Turn the preview into a callback at a local date and time."""

    local_date: date
    "Date in ``time_zone``."
    local_time: time
    "Time of day in ``time_zone`` (naive)."
    time_zone: str
    "IANA zone name, e.g. ``Europe/Paris``."
    assignee: CallbackAssignee = CallbackAssignee.ANYONE
    "Me (this agent) or anyone in the campaign's skill."
    other_number: str | None = None
    "Call another number than the previewed one (normalized to E.164)."
    notes: str = ""
    "Notes shown with the callback."


@dataclass(frozen=True, slots=True)
class PreviewDisposition(PreviewActionEvent):
    """Close the preview with a wrap-up code, without dialing."""

    code: str
    "Wrap-up code."
    notes: str = ""
    "Free text."


@dataclass(frozen=True, slots=True)
class PreviewRemove(PreviewActionEvent):
    """Remove the target from the campaign."""


# --------------------------------------------------------------- campaigns


@dataclass(frozen=True, slots=True)
class CampaignEvent(Event):
    """Base of events addressed to one campaign."""

    campaign_id: str
    "The campaign concerned."


@dataclass(frozen=True, slots=True)
class CampaignStart(CampaignEvent):
    """Start (from draft) or resume (from paused) dialing."""


@dataclass(frozen=True, slots=True)
class CampaignPause(CampaignEvent):
    """Stop placing new calls; calls in progress finish."""


@dataclass(frozen=True, slots=True)
class CampaignStop(CampaignEvent):
    """Stop for good; calls in progress finish."""


@dataclass(frozen=True, slots=True)
class CampaignComplete(CampaignEvent):
    """No callable target is left and no call is in progress."""

