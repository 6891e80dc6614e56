"""Campaigns: settings, the campaign life cycle and the dial planner.

:class:`CampaignSettings` is the one validated bag of per-campaign knobs the
call, agent and preview machines read. :class:`CampaignMachine` is the
draft/running/paused/stopped/completed life cycle. :func:`plan_dials` decides
how many customers to originate *now* and which agent each one is reserved
for; the predictive number itself comes from ``core.pacing``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from orchestrator.core.commands import Command, PublishCampaignState
from orchestrator.core.events import (
    CampaignComplete,
    CampaignEvent,
    CampaignPause,
    CampaignStart,
    CampaignStop,
)
from orchestrator.core.rules import DEFAULT_CADENCE, normalize_outcome

__all__ = [
    "MIN_RING_SECONDS",
    "AmdPolicy",
    "CampaignMachine",
    "CampaignSettings",
    "CampaignState",
    "CampaignStateError",
    "DialDecision",
    "DialLimit",
    "DialMode",
    "DialSituation",
    "PreviewAutoAction",
    "ProgressiveFlavour",
    "plan_dials",
]

MIN_RING_SECONDS = 15
"A no-answer needs at least this much ringing (MISSION B); shorter is a failure."

MAX_GRACE_SECONDS = 2.0
"A live answer must reach an agent within this time or it is an abandon."


class DialMode(StrEnum):
    """How a campaign dials (MISSION A)."""

    PREVIEW = "preview"
    DIRECT_PREVIEW = "direct_preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"

    @property
    def is_preview(self) -> bool:
        """Preview modes dial only when an agent accepts."""
        return self in (DialMode.PREVIEW, DialMode.DIRECT_PREVIEW)


class ProgressiveFlavour(StrEnum):
    """Progressive mode: which leg is dialed first."""

    AGENT_FIRST = "agent_first"
    CUSTOMER_FIRST = "customer_first"


class AmdPolicy(StrEnum):
    """What to do with answering-machine detection."""

    OFF = "off"
    HANGUP = "hangup"
    VOICEMAIL_DROP = "voicemail_drop"
    PASS_TO_AGENT = "pass_to_agent"


class PreviewAutoAction(StrEnum):
    """What happens when the preview countdown reaches zero."""

    SKIP = "skip"
    ACCEPT = "accept"
    REMOVE = "remove"


@dataclass(frozen=True)
class CampaignSettings:
    """Per-campaign settings; every field is validated on construction."""

    mode: DialMode = DialMode.PREVIEW
    "Dialing mode."
    progressive_flavour: ProgressiveFlavour = ProgressiveFlavour.AGENT_FIRST
    "Progressive mode: agent leg first, or customer first with a zip tone."
    power_lines_per_agent: int = 2
    "Power mode: lines dialed per available agent."
    abandon_cap: float = 0.03
    "Maximum abandon rate (fraction) over the regulator's window."
    amd_policy: AmdPolicy = AmdPolicy.OFF
    "Answering-machine detection policy."
    caller_id: str = ""
    "Caller id presented to customers."
    no_answer_timeout_s: int = 25
    "Ringing time before the dialer gives up (at least 15 s)."
    ring_setup_allowance_s: int = 10
    "Added to the originate timeout so call set-up does not eat the ringing time."
    grace_s: float = MAX_GRACE_SECONDS
    "A live answer not connected to an agent within this is abandoned (at most 2 s)."
    abandon_lock_hours: float = 72.0
    "No repeat call to an abandoned number for this long."
    info_message: str | None = None
    "Information (silent-call) message played to an abandoned customer."
    voicemail_message: str | None = None
    "Message left after the beep with the voicemail-drop AMD policy."
    zip_tone: str | None = "tone:1000/150"
    "Tone only the agent hears when a customer lands on a nailed-up line."
    moh_class: str = "default"
    "Music on hold class."
    amd_max_s: float = 6.0
    "Longest wait for an AMD verdict before treating the answer as live."
    beep_wait_s: float = 20.0
    "Longest wait for the beep before leaving the voicemail message anyway."
    preview_timeout_s: int | None = 30
    "Preview countdown; None means no countdown."
    preview_auto_action: PreviewAutoAction = PreviewAutoAction.SKIP
    "Action run when the preview countdown reaches zero."
    preview_hide_skip: bool = False
    "Hide the Skip action from agents."
    preview_hide_remove: bool = False
    "Hide the Remove action from agents."
    preview_delay_s: int = 15 * 60
    "How long the Delay action snoozes a target."
    reservation_call: bool = True
    "Preview: call the agent's phone before showing the preview (always in direct preview)."
    rona_s: int = 15
    "An offered call not answered by the agent within this is RONA."
    wrapup_s: int = 60
    "Wrap-up countdown; 0 dispositions at once with the default code."
    default_wrapup_code: str = "human_answer"
    "Code applied when the wrap-up countdown expires."
    recording: bool = False
    "Record connected calls automatically."
    max_concurrent_calls: int | None = None
    "Campaign's cap on calls in progress."
    cadence: Mapping[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_CADENCE))
    "Retry delay per outcome or wrap-up code (normalized keys); feeds ``rules.DialingPolicy``."

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"campaign setting {name}: {why}")

        for name, enum in (
            ("mode", DialMode),
            ("progressive_flavour", ProgressiveFlavour),
            ("amd_policy", AmdPolicy),
            ("preview_auto_action", PreviewAutoAction),
        ):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                choices = ", ".join(m.value for m in enum)
                raise bad(name, f"{value!r} is not one of {choices}") from None
        if self.power_lines_per_agent < 1:
            raise bad("power_lines_per_agent", "must be at least 1")
        if not 0.0 <= self.abandon_cap <= 1.0:
            raise bad("abandon_cap", "must be a fraction between 0 and 1")
        if self.no_answer_timeout_s < MIN_RING_SECONDS:
            raise bad("no_answer_timeout_s", f"must be at least {MIN_RING_SECONDS} s")
        if self.ring_setup_allowance_s < 0:
            raise bad("ring_setup_allowance_s", "must not be negative")
        if not 0.0 < self.grace_s <= MAX_GRACE_SECONDS:
            raise bad("grace_s", f"must be more than 0 and at most {MAX_GRACE_SECONDS} s")
        if self.abandon_lock_hours <= 0:
            raise bad("abandon_lock_hours", "must be positive")
        if self.amd_max_s <= 0:
            raise bad("amd_max_s", "must be positive")
        if self.beep_wait_s <= 0:
            raise bad("beep_wait_s", "must be positive")
        if self.preview_timeout_s is not None and self.preview_timeout_s <= 0:
            raise bad("preview_timeout_s", "must be positive (or None for no countdown)")
        if self.preview_delay_s <= 0:
            raise bad("preview_delay_s", "must be positive")
        if self.rona_s <= 0:
            raise bad("rona_s", "must be positive")
        if self.wrapup_s < 0:
            raise bad("wrapup_s", "must not be negative")
        if not self.default_wrapup_code.strip():
            raise bad("default_wrapup_code", "must not be empty")
        if self.max_concurrent_calls is not None and self.max_concurrent_calls < 1:
            raise bad("max_concurrent_calls", "must be at least 1 (or None)")
        if self.amd_policy is AmdPolicy.VOICEMAIL_DROP and not self.voicemail_message:
            raise bad("voicemail_message", "required with the voicemail_drop AMD policy")
        if self.can_abandon and not self.info_message:
            raise bad("info_message", f"required in {self.dial_flavour} (calls can be abandoned)")
        cadence: dict[str, timedelta] = {}
        for key, delay in self.cadence.items():
            code = normalize_outcome(str(key))
            if not code:
                raise bad("cadence", "empty outcome code")
            if not isinstance(delay, timedelta) or delay < timedelta(0):
                raise bad("cadence", f"{code}: delay must be a non-negative timedelta")
            cadence[code] = delay
        object.__setattr__(self, "cadence", MappingProxyType(cadence))

    @property
    def customer_first(self) -> bool:
        """True when the customer is dialed before an agent is on the line."""
        if self.mode is DialMode.PROGRESSIVE:
            return self.progressive_flavour is ProgressiveFlavour.CUSTOMER_FIRST
        return self.mode in (DialMode.POWER, DialMode.PREDICTIVE)

    @property
    def can_abandon(self) -> bool:
        """Customer-first dialing can answer a customer with no agent to take them."""
        return self.customer_first

    @property
    def dial_flavour(self) -> str:
        """Mode name with the progressive flavour, for messages."""
        if self.mode is DialMode.PROGRESSIVE:
            return f"progressive {self.progressive_flavour.value} mode"
        return f"{self.mode.value} mode"

    @property
    def wants_reservation_call(self) -> bool:
        """Preview: reserve the agent with a call to their phone before the preview."""
        return self.mode is DialMode.DIRECT_PREVIEW or (
            self.mode is DialMode.PREVIEW and self.reservation_call
        )


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


# ------------------------------------------------------------------ planner


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
