"""Outputs of an agent's machine (besides channel commands and timers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.core.common import Command

__all__ = ["PublishAgentState", "RecordDisposition", "ReservationReady"]


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
