"""Outputs of a campaign's life cycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orchestrator.core.common import Command

__all__ = ["PublishCampaignState"]


@dataclass(frozen=True, slots=True)
class PublishCampaignState(Command):
    """Tell supervisors a campaign's new state."""

    campaign_id: str
    "Campaign."
    state: str
    "New state value."
    at: datetime
    "When."
