"""Ledger campaign rows → the core's CampaignSettings, and core ↔ ledger vocabularies."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.core.campaigns import MAX_GRACE_SECONDS
from orchestrator.core.campaigns import CampaignSettings as CoreSettings
from orchestrator.core.commands import CallOutcome
from orchestrator.ledger.campaigns import Campaign as LedgerCampaign

AUTO_CODE = "__auto__"
"""Default wrap-up code when the campaign names none: the ledger then dispositions the
attempt from its telephony outcome alone (`attempts.auto_disposition`)."""

ZIP_TONE = "sound:beep"
"""The zip tone: a short stock sound. An ARI ``tone:`` playback plays until it is stopped,
so the core's default tone would keep beeping in the agent's ear for the whole call."""

RESERVED_RING_S = 15
"""RONA: how long an offered call may ring on the agent's phone."""

# core CallOutcome -> attempts.outcome
LEDGER_OUTCOME: dict[CallOutcome, str] = {
    CallOutcome.HUMAN_ANSWER: "human",
    CallOutcome.ANSWERING_MACHINE: "machine",
    CallOutcome.FAX: "fax",
    CallOutcome.BUSY: "busy",
    CallOutcome.NO_ANSWER: "no_answer",
    CallOutcome.FAILED: "failed",
    CallOutcome.INVALID_NUMBER: "invalid_number",
    CallOutcome.ABANDONED: "abandoned",
    CallOutcome.CANCELLED_BY_AGENT: "cancelled_by_agent",
    CallOutcome.REJECTED_BY_AGENT: "rejected_by_agent",
    CallOutcome.NOT_DIALED: "not_dialed",
}


def ledger_outcome(outcome: CallOutcome, detail: str = "") -> str:
    """The attempts.outcome for a core outcome (congestion kept apart from other failures)."""
    if outcome is CallOutcome.FAILED and "CONGESTION" in detail:
        return "congestion"
    return LEDGER_OUTCOME[outcome]


def core_settings(c: LedgerCampaign, *, default_code: str | None = None) -> CoreSettings:
    """The core's view of a campaign row. Values the core bounds tighter than the schema
    (grace at most 2 s) are clamped: the mission's 2 s is a regulatory ceiling."""
    grace = min(max(c.abandon_grace_seconds, 0.1), MAX_GRACE_SECONDS)
    kwargs: dict[str, object] = {}
    if c.cadence:
        kwargs["cadence"] = {k: timedelta(seconds=int(v)) for k, v in c.cadence.items()}
    return CoreSettings(
        mode=c.mode,  # type: ignore[arg-type]
        progressive_flavour=c.progressive_flavour,  # type: ignore[arg-type]
        power_lines_per_agent=max(1, round(c.power_lines_per_agent)),
        abandon_cap=c.abandon_cap,
        amd_policy=c.amd_policy,  # type: ignore[arg-type]
        caller_id=c.caller_id or "",
        no_answer_timeout_s=c.no_answer_timeout_s,
        grace_s=grace,
        abandon_lock_hours=max(c.abandon_lock.total_seconds() / 3600.0, 1 / 3600.0),
        info_message=c.silent_call_message,
        voicemail_message=c.amd_message,
        preview_timeout_s=c.preview_timeout_s,
        preview_auto_action=c.preview_auto_action,  # type: ignore[arg-type]
        preview_hide_skip=not c.preview_allow_skip,
        preview_hide_remove=not c.preview_allow_remove,
        preview_delay_s=max(1, int(c.preview_delay.total_seconds())),
        reservation_call=True,
        rona_s=RESERVED_RING_S,
        wrapup_s=c.wrapup_seconds,
        default_wrapup_code=default_code or AUTO_CODE,
        recording=c.recording,
        recording_resume_s=c.recording_resume_s,
        zip_tone=ZIP_TONE,
        max_concurrent_calls=c.max_concurrent_calls,
        **kwargs,  # type: ignore[arg-type]
    )
