"""Campaign settings: the one validated bag of per-campaign knobs the call, agent and
preview machines read, and the dialing modes and policies they name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

from orchestrator.core.rules import DEFAULT_CADENCE, normalize_outcome

__all__ = [
    "MAX_GRACE_SECONDS",
    "MIN_RING_SECONDS",
    "AmdPolicy",
    "CampaignSettings",
    "DialMode",
    "PreviewAutoAction",
    "ProgressiveFlavour",
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
    recording_resume_s: int = 60
    "A paused recording resumes by itself after this long (an agent forgot it)."
    opt_out_digit: str | None = "9"
    """The key a customer presses to be put on the DNC list while waiting for an agent or
    hearing the information message (the message should say so); None: no key."""
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
