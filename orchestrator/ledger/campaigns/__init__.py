"""Campaigns in the ledger: typed settings, validation naming the field, status transitions,
wrap-up codes.

Status transitions (each writes an audit_log row):

    draft   --start--> running
    paused  --start--> running
    stopped --start--> running    (a stopped campaign can be restarted; its leases were released)
    running --pause--> paused
    draft | running | paused --stop--> stopped   (releases every target lease of the campaign)

`completed` is set by the runtime when nothing is left to dial; it can be started again
after new contacts are imported.

Its rooms: `model` (the typed row, allowed values, errors), `settings` (validation),
`store` (reads, writes, transitions, team links), `wrapup_codes`, `policy` (the dialing
policy) and `pacing_state` (the pacer's saved state).
"""

from __future__ import annotations

from orchestrator.ledger.campaigns.model import (
    AMD_POLICIES,
    CADENCE_KEYS,
    EDITABLE_FIELDS,
    MODES,
    OUTCOME_CLASSES,
    PREVIEW_AUTO_ACTIONS,
    PROGRESSIVE_FLAVOURS,
    STATUSES,
    Campaign,
    CampaignError,
    CampaignNotFound,
    CampaignTransitionError,
    WrapUpCode,
)
from orchestrator.ledger.campaigns.pacing_state import load_pacing_state, save_pacing_state
from orchestrator.ledger.campaigns.policy import OUTCOME_LABELS, dialing_policy, load_dialing_policy
from orchestrator.ledger.campaigns.settings import (
    parse_days,
    parse_duration,
    parse_window,
    validate_name,
    validate_settings,
)
from orchestrator.ledger.campaigns.store import (
    agent_campaigns,
    campaign_from_row,
    campaign_teams,
    create_campaign,
    get_campaign,
    link_team,
    list_campaigns,
    mark_completed,
    pause_campaign,
    start_campaign,
    stop_campaign,
    transition_campaign,
    update_campaign,
)
from orchestrator.ledger.campaigns.wrapup_codes import (
    add_wrapup_code,
    find_wrapup_code,
    system_wrapup_code,
    wrapup_code_from_row,
    wrapup_codes,
)

__all__ = [
    "AMD_POLICIES", "CADENCE_KEYS", "Campaign", "CampaignError", "CampaignNotFound",
    "CampaignTransitionError", "EDITABLE_FIELDS", "MODES", "OUTCOME_CLASSES", "OUTCOME_LABELS",
    "PREVIEW_AUTO_ACTIONS", "PROGRESSIVE_FLAVOURS", "STATUSES", "WrapUpCode", "add_wrapup_code",
    "agent_campaigns", "campaign_from_row", "campaign_teams", "create_campaign",
    "dialing_policy", "find_wrapup_code", "get_campaign", "link_team", "list_campaigns",
    "load_dialing_policy", "load_pacing_state", "mark_completed", "parse_days",
    "parse_duration", "parse_window", "pause_campaign", "save_pacing_state", "start_campaign",
    "stop_campaign", "system_wrapup_code", "transition_campaign", "update_campaign",
    "validate_name", "validate_settings", "wrapup_code_from_row", "wrapup_codes",
]
