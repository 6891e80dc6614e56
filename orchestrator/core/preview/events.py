"""Inputs of a preview session: the agent's actions in the preview window.

The session also hears the countdown's :class:`~orchestrator.core.common.TimerFired`
and, for a reservation call, the agent's
:class:`~orchestrator.core.agents.events.AgentRona` and
:class:`~orchestrator.core.agents.events.AgentLegLost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum

from orchestrator.core.common import Event

__all__ = [
    "CallbackAssignee",
    "PreviewAccept",
    "PreviewActionEvent",
    "PreviewDelay",
    "PreviewDisposition",
    "PreviewRemove",
    "PreviewRequeue",
    "PreviewReschedule",
    "PreviewSkip",
]


class CallbackAssignee(StrEnum):
    """Who a rescheduled preview (a callback) is for."""

    ME = "me"
    ANYONE = "anyone"


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
