"""The campaigns domain: one dialing loop per running campaign, and its pacer."""

from orchestrator.dialer.campaigns.host import CampaignsHost
from orchestrator.dialer.campaigns.manager import (
    CANCELLED_UNSTAFFED,
    NOT_CONVERSATIONS,
    CampaignManager,
)
from orchestrator.dialer.campaigns.runner import PLACED_WITHOUT_AMD, CampaignRunner, note_attempt

__all__ = ["CANCELLED_UNSTAFFED", "NOT_CONVERSATIONS", "PLACED_WITHOUT_AMD", "CampaignManager",
           "CampaignRunner", "CampaignsHost", "note_attempt"]
