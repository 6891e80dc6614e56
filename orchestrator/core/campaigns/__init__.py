"""Campaigns: settings, the campaign life cycle and the dial planner.

:class:`CampaignSettings` (``settings``) is the one validated bag of per-campaign
knobs the call, agent and preview machines read. :class:`CampaignMachine`
(``lifecycle``) is the draft/running/paused/stopped/completed life cycle.
:func:`plan_dials` (``planner``) decides how many customers to originate *now* and
which agent each one is reserved for; the predictive number itself comes from
``core.pacing``. The life cycle's inputs and outputs are in ``events`` and ``commands``.
"""

from orchestrator.core.campaigns.lifecycle import (
    CampaignMachine,
    CampaignState,
    CampaignStateError,
)
from orchestrator.core.campaigns.planner import (
    DialDecision,
    DialLimit,
    DialSituation,
    plan_dials,
)
from orchestrator.core.campaigns.settings import (
    MAX_GRACE_SECONDS,
    MIN_RING_SECONDS,
    AmdPolicy,
    CampaignSettings,
    DialMode,
    PreviewAutoAction,
    ProgressiveFlavour,
)

__all__ = [
    "AmdPolicy",
    "CampaignMachine",
    "CampaignSettings",
    "CampaignState",
    "CampaignStateError",
    "DialDecision",
    "DialLimit",
    "DialMode",
    "DialSituation",
    "MAX_GRACE_SECONDS",
    "MIN_RING_SECONDS",
    "plan_dials",
    "PreviewAutoAction",
    "ProgressiveFlavour",
]
