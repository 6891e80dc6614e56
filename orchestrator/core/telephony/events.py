"""What Asterisk reports about our channels, as the call and agent machines hear it.

Channel events carry ``channel_id``: the id *we* gave the channel (for a customer
leg it is the attempt id). The shell routes them to the
:class:`~orchestrator.core.calls.CallMachine` or
:class:`~orchestrator.core.agents.AgentMachine` that created the channel.

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
  :class:`~orchestrator.core.telephony.commands.Hangup` on a final dial status
  (surprises 5 and 22); the shell must not wait for Asterisk.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestrator.core.common import Event

__all__ = [
    "BridgeJoined",
    "BridgeLeft",
    "CallAnswered",
    "CallRinging",
    "ChannelGone",
    "DialFailed",
    "DialStatus",
    "OriginateAccepted",
    "OriginateRefused",
    "DigitReceived",
    "PlaybackFinished",
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
    "The playback id we gave in :class:`~orchestrator.core.telephony.commands.Play`."
    failed: bool = False
    "True when Asterisk reported the media as failed (missing file...)."


@dataclass(frozen=True, slots=True)
class DigitReceived(Event):
    """``ChannelDtmfReceived``: a key pressed on one of our channels."""

    channel_id: str
    digit: str
