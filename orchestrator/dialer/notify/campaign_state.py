"""A campaign's state change, pushed to the supervisors' WebSockets."""

from __future__ import annotations

from orchestrator.core.commands import PublishCampaignState
from orchestrator.dialer.kernel.ids import ascii_int
from orchestrator.hub import EventHub


def publish_campaign_state(hub: EventHub, cmd: PublishCampaignState) -> None:
    hub.publish("campaign.state", {"campaign_id": cmd.campaign_id, "state": cmd.state},
                campaign_id=ascii_int(cmd.campaign_id), audience="supervisors")
