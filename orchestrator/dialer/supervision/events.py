"""What a supervision hears besides its channels' wire events (`CallAnswered`,
`DialFailed`, `ChannelGone`... of the supervisor's leg and of its snoop channels, routed
by the channel directory like any leg's): the supervisor's requests, the end of the call
it listens to, and a snoop Asterisk would not make."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from orchestrator.core.common import Event

__all__ = ["CallLeft", "ModeRequested", "SnoopRefused", "StopRequested", "SupervisedCall",
           "SupervisionMode"]


class SupervisionMode(StrEnum):
    """How the supervisor takes part in the call."""

    LISTEN = "listen"
    "Hears the agent and the customer; nobody hears the supervisor."
    WHISPER = "whisper"
    "Hears both; only the agent hears the supervisor."
    BARGE = "barge"
    "A third party of the call: everybody hears everybody."


@dataclass(frozen=True, slots=True)
class SupervisedCall:
    """Where a supervision reaches a call, as the call stands now."""

    attempt_id: str
    "The call (its customer channel id)."
    agent_id: str | None
    "The agent talking to the customer."
    agent_channel_id: str | None
    "The agent's channel (core id): what listen and whisper snoop on."
    bridge_id: str | None
    "The call's bridge (core id): where barge puts the supervisor."


@dataclass(frozen=True, slots=True)
class ModeRequested(Event):
    """The supervisor switches to another mode (on the same phone leg, no new ring)."""

    mode: SupervisionMode
    "The new mode."
    call: SupervisedCall
    "The call as it stands at the request (its agent's leg or bridge may have changed)."


@dataclass(frozen=True, slots=True)
class StopRequested(Event):
    """The supervisor (or an admin, or the service stopping) ends the supervision."""

    reason: str
    "Why, for the audit log and the dashboard."
    audited: bool = True
    "Whoever asked wrote the audit row (False: the service stopping, audited at the end)."


@dataclass(frozen=True, slots=True)
class CallLeft(Event):
    """The supervised call is over (hanging up, ended: its agent goes to wrap-up)."""

    reason: str
    "What happened to the call."


@dataclass(frozen=True, slots=True)
class SnoopRefused(Event):
    """Asterisk would not make a snoop channel, or it could not join the supervisor's
    bridge."""

    snoop_id: str
    "Our id for the snoop channel."
    reason: str
    "Asterisk's answer."
