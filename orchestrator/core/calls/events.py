"""Inputs of a call's machine (:class:`~orchestrator.core.calls.CallMachine`) besides
the channel events of :mod:`~orchestrator.core.telephony.events` and the agent's
notifications and call-control requests of :mod:`~orchestrator.core.agents.events`.

Customer-channel facts of an answered call (AMD verdict, fax, beep), the answer to
:class:`~orchestrator.core.calls.commands.RequestAgent`, and the campaign-wide
facts a call must hear.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestrator.core.common import Event

__all__ = [
    "AgentAssigned",
    "ConferenceRequest",
    "ConsultCancelRequest",
    "ConsultRequest",
    "ControlRequest",
    "LeaveRequest",
    "RecordingFailed",
    "RecordingRequest",
    "RemovePartyRequest",
    "SwitchRequest",
    "TransferRequest",
    "AmdFalsePositiveReported",
    "AmdResult",
    "AmdStatus",
    "BeepDetected",
    "CampaignUnstaffed",
    "FaxDetected",
]


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


# --------------------------------------------------------- customer media


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


# ---------------------------------------------------------------- agents


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


# ------------------------------------------------------------ call control
# Requests of the agent in control of a call (MISSION E). The shell resolves whom a
# consultation reaches (an agent it reserved, a queue's agent, a number past the dial
# gate) and the call decides whether its state allows it (CallControlError if not).


@dataclass(frozen=True, slots=True)
class ControlRequest(Event):
    """A call-control request of agent ``agent_id`` on call ``attempt_id``."""

    agent_id: str
    attempt_id: str


@dataclass(frozen=True, slots=True)
class ConsultRequest(ControlRequest):
    """Reach another party: privately (the customer held), or, in a conference, straight
    into it; ``blind``: transfer the customer to it and leave at once."""

    kind: str
    "A :class:`~orchestrator.core.calls.parties.PartyKind` value."
    label: str
    "What the desktops show of the party (a number already masked if the campaign masks)."
    endpoint: str
    "Dial string (checked by the gate), or the consulted agent's phone."
    party_agent_id: str | None = None
    party_channel_id: str | None = None
    "The consulted agent's nailed-up line, if up."
    party_bridge_id: str | None = None
    "The bridge that line waits in."
    blind: bool = False


@dataclass(frozen=True, slots=True)
class SwitchRequest(ControlRequest):
    """Talk to the other side of a consultation (customer or consulted party)."""


@dataclass(frozen=True, slots=True)
class ConsultCancelRequest(ControlRequest):
    """End the consultation: the consulted party leaves, the agent is back with the customer."""


@dataclass(frozen=True, slots=True)
class TransferRequest(ControlRequest):
    """Complete a consultation as a transfer: customer and consulted party talk on, the
    agent leaves (to wrap-up)."""


@dataclass(frozen=True, slots=True)
class ConferenceRequest(ControlRequest):
    """Bring the customer and the consulted party together with the agent."""


@dataclass(frozen=True, slots=True)
class LeaveRequest(ControlRequest):
    """The agent leaves the call; the others talk on (control passes on)."""


@dataclass(frozen=True, slots=True)
class RemovePartyRequest(ControlRequest):
    """Drop one party from a conference."""

    party_id: str


@dataclass(frozen=True, slots=True)
class RecordingRequest(ControlRequest):
    """Pause (``pause``) or resume the call's recording."""

    pause: bool


@dataclass(frozen=True, slots=True)
class RecordingFailed(Event):
    """Asterisk accepted a recording and then could not make it (RecordingFailed)."""

    name: str
    cause: str = ""
