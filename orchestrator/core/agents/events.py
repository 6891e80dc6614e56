"""Inputs of an agent's machine (:class:`~orchestrator.core.agents.AgentMachine`).

Agent events carry ``agent_id``; those about a call also name its ``attempt_id``.
They come from the agent's desktop (login, ready, disposition, call control) or
from the call that reserved the agent (ringing, connected, released, ended). The
call-control requests (hold, unhold, end call) are checked here first, then
handed on to the call (:class:`~orchestrator.core.common.NotifyCall`).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.common import Event

__all__ = [
    "AgentCallEnded",
    "AgentConnected",
    "AgentDisposition",
    "AgentEvent",
    "AgentHangupRequest",
    "AgentLeftCall",
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
    "ConferenceEnd",
    "ConferenceStart",
    "ConsultEnd",
    "ConsultStart",
    "HoldRequest",
    "UnholdRequest",
]


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


# ------------------------------------------------------ the offered call


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
class AgentLeftCall(AgentEvent):
    """The agent's part in a call ended while others talk on, and the agent was never in
    control of it (a consulted or conferenced agent): back to Available, no wrap-up."""

    attempt_id: str
    "The call."
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AgentReleased(AgentEvent):
    """A reservation ends without a connected call (busy, no answer, preview skipped...)."""

    attempt_id: str
    "The call or preview the agent was reserved for."
    reason: str = ""
    "Why, for logs and the agent desktop."


# ------------------------------------------------------------- the phone


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


# ---------------------------------------------------------- call control


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
