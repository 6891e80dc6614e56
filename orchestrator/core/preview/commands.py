"""Outputs of a preview session: what becomes of the previewed target.

Besides these, a session emits the agent's
:class:`~orchestrator.core.agents.commands.RecordDisposition` (a disposition
without dialing) and notifies the agent's machine when it releases them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.core.common import Command

__all__ = [
    "CreateCallback",
    "DialTarget",
    "PublishPreview",
    "RejectTarget",
    "RemoveTarget",
    "RequeueTarget",
]


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


@dataclass(frozen=True, slots=True)
class DialTarget(Command):
    """Start an attempt (a new :class:`~oldorch.core.calls.CallMachine`) for a target."""

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
