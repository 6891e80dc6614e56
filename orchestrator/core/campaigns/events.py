"""Inputs of a campaign's life cycle (:class:`~orchestrator.core.campaigns.CampaignMachine`)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.common import Event

__all__ = [
    "CampaignComplete",
    "CampaignEvent",
    "CampaignPause",
    "CampaignStart",
    "CampaignStop",
]


@dataclass(frozen=True, slots=True)
class CampaignEvent(Event):
    """Base of events addressed to one campaign."""

    campaign_id: str
    "The campaign concerned."


@dataclass(frozen=True, slots=True)
class CampaignStart(CampaignEvent):
    """Start (from draft) or resume (from paused) dialing."""


@dataclass(frozen=True, slots=True)
class CampaignPause(CampaignEvent):
    """Stop placing new calls; calls in progress finish."""


@dataclass(frozen=True, slots=True)
class CampaignStop(CampaignEvent):
    """Stop for good; calls in progress finish."""


@dataclass(frozen=True, slots=True)
class CampaignComplete(CampaignEvent):
    """No callable target is left and no call is in progress."""
