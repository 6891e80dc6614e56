"""What a supervision asks of the shell beyond the core's telephony commands (originate,
bridges, hang-ups): a snoop channel that joins the supervisor's bridge, and its end."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.common import Command

__all__ = ["SnoopIntoBridge", "SupervisionEnded"]


@dataclass(frozen=True, slots=True)
class SnoopIntoBridge(Command):
    """``POST /channels/{id}/snoop/{snoopId}`` into our app, then the snoop channel into
    the supervisor's bridge. Its events reach the supervision that asked (registered before
    the request: its StasisStart can come before the answer)."""

    channel_id: str
    "The channel snooped on (core id): the agent's."
    snoop_id: str
    "Our id for the snoop channel."
    spy: str
    "What the supervisor hears of that channel: ``both`` (what it says and what it hears)."
    whisper: str
    "Where the supervisor's voice goes: ``none``, or ``out`` (to that channel's party only)."
    bridge_id: str
    "The supervisor's own bridge (core id)."
    supervision_id: str
    "The supervision (its id rides in the snoop's Stasis arguments)."
    mode: str
    "The mode the snoop serves (Stasis argument: what a reader of GET /channels sees)."


@dataclass(frozen=True, slots=True)
class SupervisionEnded(Command):
    """The supervision is over and its hang-ups are sent: forget it, tell supervisors, and
    write the audit row when nobody asked for the end (the call ended, the phone hung up)."""

    supervision_id: str
    "The supervision."
    reason: str
    "Why it ended."
    audited: bool
    "Whoever asked for the end wrote its audit row already."
