"""The dial planner: how many customers to originate now, and for which agents.

The predictive number itself comes from ``core.pacing``; the planner applies the
mode's rule and the concurrent-call caps around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.core.campaigns.lifecycle import CampaignState
from orchestrator.core.campaigns.settings import CampaignSettings, DialMode

__all__ = ["DialDecision", "DialLimit", "DialSituation", "plan_dials"]


class DialLimit(StrEnum):
    """Why the planner dialed fewer lines than the mode would (or none)."""

    CAMPAIGN_NOT_RUNNING = "campaign_not_running"
    PREVIEW_MODE = "preview_waits_for_agent"
    NO_AGENT_LOGGED_IN = "no_agent_logged_in"
    NO_AGENT_AVAILABLE = "no_agent_available"
    PACER = "pacer"
    CAMPAIGN_CALL_CAP = "campaign_call_cap"
    SYSTEM_CALL_CAP = "system_call_cap"


@dataclass(frozen=True, slots=True)
class DialSituation:
    """What the planner needs to know right now."""

    available_agents: Sequence[str]
    "Agents Available and not reserved, longest idle first."
    logged_in_agents: int
    "Agents logged in to the campaign, whatever their state."
    lines_in_flight: int = 0
    "This campaign's calls dialing or ringing and not yet given to an agent."
    campaign_active_calls: int = 0
    "All of this campaign's calls in progress (including connected ones)."
    system_active_calls: int = 0
    "All calls in progress on this system."
    system_call_cap: int | None = None
    "System-wide cap on calls in progress."
    predictive_lines: int | None = None
    "Predictive mode: lines the pacer wants dialed now."

    def __post_init__(self) -> None:
        for name in (
            "logged_in_agents",
            "lines_in_flight",
            "campaign_active_calls",
            "system_active_calls",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        if len(set(self.available_agents)) != len(self.available_agents):
            raise ValueError("available_agents: an agent is listed twice")
        if len(self.available_agents) > self.logged_in_agents:
            raise ValueError("available_agents: more than logged_in_agents")


@dataclass(frozen=True, slots=True)
class DialDecision:
    """How many customers to originate now, and for whom."""

    agents: tuple[str | None, ...]
    "One entry per originate: the agent reserved for it, or None (picked on answer)."
    limit: DialLimit | None = None
    "Set when something held dialing back."

    @property
    def count(self) -> int:
        """Number of originates to issue."""
        return len(self.agents)


def plan_dials(
    state: CampaignState, settings: CampaignSettings, situation: DialSituation
) -> DialDecision:
    """Decide the originates to issue now.

    Progressive: one per available agent, reserved for that agent. Power:
    ``power_lines_per_agent`` per available agent, minus lines already
    ringing. Predictive: the pacer's number, nothing when no agent is logged
    in. Preview: nothing (the agent's Accept dials). Per-campaign and
    system-wide concurrent-call caps clip the result and name themselves.
    """
    if state is not CampaignState.RUNNING:
        return DialDecision((), DialLimit.CAMPAIGN_NOT_RUNNING)
    if settings.mode.is_preview:
        return DialDecision((), DialLimit.PREVIEW_MODE)
    if situation.logged_in_agents == 0:
        return DialDecision((), DialLimit.NO_AGENT_LOGGED_IN)

    agents: list[str | None]
    limit: DialLimit | None = None
    if settings.mode is DialMode.PROGRESSIVE:
        agents = list(situation.available_agents)
    elif settings.mode is DialMode.POWER:
        wanted = (
            settings.power_lines_per_agent * len(situation.available_agents)
            - situation.lines_in_flight
        )
        agents = [None] * max(0, wanted)
    else:
        if situation.predictive_lines is None:
            raise ValueError("predictive_lines: required in predictive mode (ask the pacer)")
        agents = [None] * max(0, situation.predictive_lines)
        if not agents:
            limit = DialLimit.PACER
    if not agents and limit is None:
        limit = DialLimit.NO_AGENT_AVAILABLE

    if settings.max_concurrent_calls is not None:
        room = max(0, settings.max_concurrent_calls - situation.campaign_active_calls)
        if room < len(agents):
            agents, limit = agents[:room], DialLimit.CAMPAIGN_CALL_CAP
    if situation.system_call_cap is not None:
        room = max(0, situation.system_call_cap - situation.system_active_calls)
        if room < len(agents):
            agents, limit = agents[:room], DialLimit.SYSTEM_CALL_CAP
    return DialDecision(tuple(agents), limit)
