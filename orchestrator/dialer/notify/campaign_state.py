"""A campaign's state change, pushed to the supervisors' WebSockets."""

from __future__ import annotations

from orchestrator.core.commands import PublishCampaignState
from orchestrator.hub import EventHub


def _int(v: str | None) -> int | None:
    return int(v) if v is not None and v.isascii() and v.isdigit() else None


def publish_campaign_state(hub: EventHub, cmd: PublishCampaignState) -> None:
    hub.publish("campaign.state", {"campaign_id": cmd.campaign_id, "state": cmd.state},
                campaign_id=_int(cmd.campaign_id), audience="supervisors")
