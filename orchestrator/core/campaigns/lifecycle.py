"""A campaign's life cycle: draft, running, paused, stopped, completed.

Calls in progress finish on pause and stop; only new dialing stops.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from orchestrator.core.campaigns.commands import PublishCampaignState
from orchestrator.core.campaigns.events import (
    CampaignComplete,
    CampaignEvent,
    CampaignPause,
    CampaignStart,
    CampaignStop,
)
from orchestrator.core.campaigns.settings import CampaignSettings
from orchestrator.core.common import Command

__all__ = ["CampaignMachine", "CampaignState", "CampaignStateError"]


class CampaignState(StrEnum):
    """Campaign life cycle."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class CampaignStateError(Exception):
    """An event that the campaign's current state does not allow."""

    def __init__(self, campaign_id: str, state: CampaignState, event: CampaignEvent) -> None:
        super().__init__(
            f"campaign {campaign_id}: {type(event).__name__} is not allowed in state {state.value}"
        )
        self.state = state
        self.event = event


_TRANSITIONS: dict[type[CampaignEvent], tuple[frozenset[CampaignState], CampaignState]] = {
    CampaignStart: (frozenset({CampaignState.DRAFT, CampaignState.PAUSED}), CampaignState.RUNNING),
    CampaignPause: (frozenset({CampaignState.RUNNING}), CampaignState.PAUSED),
    CampaignStop: (
        frozenset({CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED}),
        CampaignState.STOPPED,
    ),
    CampaignComplete: (
        frozenset({CampaignState.RUNNING, CampaignState.PAUSED}),
        CampaignState.COMPLETED,
    ),
}


class CampaignMachine:
    """One campaign's life cycle. Calls in progress finish on pause and stop."""

    def __init__(
        self,
        campaign_id: str,
        settings: CampaignSettings,
        state: CampaignState = CampaignState.DRAFT,
    ) -> None:
        self.campaign_id = campaign_id
        self.settings = settings
        self.state = state

    @property
    def dialing(self) -> bool:
        """True when new calls may be placed."""
        return self.state is CampaignState.RUNNING

    def handle(self, event: CampaignEvent, now: datetime) -> list[Command]:
        """Apply a life-cycle event; raise :class:`CampaignStateError` if not allowed."""
        if event.campaign_id != self.campaign_id:
            raise ValueError(
                f"campaign_id: event for {event.campaign_id!r} sent to {self.campaign_id!r}"
            )
        try:
            allowed, target = _TRANSITIONS[type(event)]
        except KeyError:
            raise CampaignStateError(self.campaign_id, self.state, event) from None
        if self.state not in allowed:
            raise CampaignStateError(self.campaign_id, self.state, event)
        self.state = target
        return [PublishCampaignState(self.campaign_id, target.value, now)]

    def update_settings(self, settings: CampaignSettings) -> None:
        """Replace the settings (not once the campaign is stopped or completed)."""
        if self.state in (CampaignState.STOPPED, CampaignState.COMPLETED):
            raise ValueError(
                f"campaign {self.campaign_id}: settings cannot change in state {self.state.value}"
            )
        self.settings = settings
