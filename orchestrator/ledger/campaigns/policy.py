"""A campaign's dialing policy (rules.DialingPolicy): its cadence, classes and calling window."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from orchestrator.core.rules import (
    DEFAULT_CADENCE,
    DEFAULT_OUTCOME_CLASSES,
    CallingWindow,
    DialingPolicy,
    OutcomeClass,
    normalize_outcome,
)
from orchestrator.ledger.campaigns.model import (
    Campaign,
    WrapUpCode,
)
from orchestrator.ledger.campaigns.wrapup_codes import (
    wrapup_codes,
)
from orchestrator.ledger.pool import AsyncConn

# attempts.outcome -> the label stored as targets.last_outcome when no wrap-up code applies.
# rules.normalize_outcome() of these labels gives the keys of rules.DEFAULT_CADENCE.
OUTCOME_LABELS: dict[str, str] = {
    "human": "Human answer",
    "machine": "Answering machine",
    "fax": "Fax",
    "busy": "Busy",
    "no_answer": "No answer",
    "congestion": "Congestion",
    "failed": "Failed",
    "invalid_number": "Invalid number",
    "abandoned": "Abandoned",
    "cancelled_by_agent": "Cancelled by agent",
    "rejected_by_agent": "Rejected by agent",
    "not_dialed": "Not dialed",
    "unknown": "Unknown",
}


def dialing_policy(campaign: Campaign, codes: Iterable[WrapUpCode]) -> DialingPolicy:
    """The rules.DialingPolicy of a campaign.

    Cadence precedence (later wins): rules.DEFAULT_CADENCE < system codes' retry_after <
    the campaign's own codes' retry_after < the campaign's `cadence` column (keyed by
    telephony outcome; `machine` also sets the 'Answering machine detected' code's delay).
    Outcome classes: rules.DEFAULT_OUTCOME_CLASSES plus every code of the campaign, plus
    'unknown' and 'not_dialed' as retry.
    """
    cadence: dict[str, timedelta] = dict(DEFAULT_CADENCE)
    classes: dict[str, OutcomeClass] = dict(DEFAULT_OUTCOME_CLASSES)
    for key in ("unknown", "not_dialed"):
        classes[key] = OutcomeClass.RETRY
    ordered = sorted(codes, key=lambda c: c.code_set_id is not None)  # system codes first
    for code in ordered:
        key = normalize_outcome(code.label)
        classes[key] = OutcomeClass(code.outcome_class)
        if code.retry_after is not None:
            cadence[key] = code.retry_after
    for outcome, seconds in campaign.cadence.items():
        delay = timedelta(seconds=seconds)
        cadence[normalize_outcome(OUTCOME_LABELS.get(outcome, outcome))] = delay
        if outcome == "machine":
            cadence["answering_machine_detected"] = delay
    return DialingPolicy(
        window=CallingWindow(
            start=campaign.window_start,
            end=campaign.window_end,
            weekdays=frozenset(d - 1 for d in campaign.window_days),
        ),
        max_attempts_per_contact=campaign.max_attempts_per_contact,
        min_gap_between_calls=campaign.min_gap,
        abandon_lock=campaign.abandon_lock,
        max_amd_detections=campaign.max_amd_per_target,
        cadence=cadence,
        outcome_classes=classes,
    )


async def load_dialing_policy(conn: AsyncConn, campaign: Campaign) -> DialingPolicy:
    """dialing_policy() with the campaign's wrap-up codes read from the ledger."""
    return dialing_policy(campaign, await wrapup_codes(conn, campaign.id))
