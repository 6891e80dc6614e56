"""A campaign's typed row and wrap-up code, the values its settings may take, and its errors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

MODES = ("preview", "direct_preview", "progressive", "power", "predictive")
STATUSES = ("draft", "running", "paused", "stopped", "completed")
AMD_POLICIES = ("off", "hangup", "voicemail_drop", "pass_to_agent")
PROGRESSIVE_FLAVOURS = ("agent_first", "customer_first")
PREVIEW_AUTO_ACTIONS = ("skip", "accept", "remove")
CALLBACK_FALLBACKS = ("wait", "anyone")
OUTCOME_CLASSES = ("final_success", "final_failure", "retry", "dnc")
# Telephony outcomes a campaign's cadence may name (attempts.outcome values that can be retried).
CADENCE_KEYS = (
    "human", "machine", "fax", "busy", "no_answer", "congestion", "failed", "invalid_number",
    "abandoned", "cancelled_by_agent", "rejected_by_agent", "not_dialed", "unknown",
)



class CampaignError(Exception):
    """A campaign operation was refused; `field` names the offending setting when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class CampaignNotFound(CampaignError):
    """No campaign by that name or id."""


class CampaignTransitionError(CampaignError):
    """The status change is not allowed from the campaign's current status."""


@dataclass(frozen=True)
class Campaign:
    """Every column of `campaigns`, typed. Durations are timedelta, times of day are time."""

    id: int
    name: str
    status: str
    """draft | running | paused | stopped | completed"""
    mode: str
    """preview | direct_preview | progressive | power | predictive"""
    progressive_flavour: str
    """agent_first (agent hears ringing) | customer_first (merge on live answer, zip tone)"""
    power_lines_per_agent: float
    abandon_cap: float
    """Fraction, e.g. 0.03 for 3 %."""
    abandon_grace_seconds: float
    """A live answer not bridged to an agent within this many seconds is abandoned."""
    abandon_lock: timedelta
    """No repeat call to an abandoned number within this time (72 h by default)."""
    no_answer_timeout_s: int
    window_start: time
    window_end: time
    window_days: tuple[int, ...]
    """ISO weekdays, 1 = Monday."""
    min_gap: timedelta
    """Minimum gap between two calls to the same number, across campaigns."""
    max_attempts_per_target: int
    max_attempts_per_contact: int | None
    max_amd_per_target: int
    cadence: dict[str, int]
    """Telephony outcome (see CADENCE_KEYS) -> seconds before the target may be retried."""
    amd_policy: str
    """off | hangup | voicemail_drop | pass_to_agent"""
    amd_message: str | None
    silent_call_message: str
    caller_id: str | None
    preview_timeout_s: int
    preview_auto_action: str
    preview_allow_skip: bool
    preview_allow_remove: bool
    preview_delay: timedelta
    wrapup_code_set_id: int | None
    wrapup_seconds: int
    default_wrapup_code_id: int | None
    max_concurrent_calls: int | None
    recording: bool
    recording_resume_s: int
    masking: bool
    personal_callback_fallback: str
    """A personal callback whose agent is not logged in during its window: wait for them,
    or go to anyone of the campaign (wait | anyone)."""
    callback_attempts: int
    """Attempts a callback gets (1 to 10): the second and third tries of a courtesy callback."""
    callback_retry_delay: timedelta
    """Time between a callback's unanswered attempt and its next one (the target's cadence
    applies too)."""
    callback_queue: str | None
    """The Asterisk queue whose courtesy (queue) callbacks this campaign dials."""
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (durations in seconds, times as HH:MM)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, timedelta):
                v = int(v.total_seconds())
            elif isinstance(v, time):
                v = v.strftime("%H:%M")
            elif isinstance(v, datetime):
                v = v.isoformat()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


# Settings a caller may set on create/update (everything but id, name, status, timestamps).
EDITABLE_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in dataclasses.fields(Campaign)
    if f.name not in ("id", "name", "status", "created_at", "updated_at")
)


@dataclass(frozen=True)
class WrapUpCode:
    """A disposition an agent (or the system) can give an attempt."""

    id: int
    label: str
    outcome_class: str
    """final_success | final_failure | retry | dnc"""
    retry_after: timedelta | None
    is_system: bool
    code_set_id: int | None
    """None for the system defaults every campaign has."""
