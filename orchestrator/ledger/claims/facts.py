"""A target's facts as the rules see them, read in the same SELECT by claims and the write-ahead."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from orchestrator.core.rules import (
    PERMANENT_REASONS,
    OutcomeClass,
    TargetFacts,
    UnavailableReason,
    Verdict,
)
from orchestrator.ledger.claims.results import (
    RECHECK_UNKNOWN,
)
from orchestrator.ledger.pool import AsyncConn, execute


def target_facts(row: Mapping[str, Any], *, for_write_ahead: bool = False) -> TargetFacts:
    """rules.TargetFacts from a row of the claim queries.

    For write-ahead, DNC and the per-target attempt cap are left to the database (trigger and
    CHECK) so that their refusal is the database's own, whatever races happened before.
    """
    reason = row["unavailable_reason"]
    available_from = row["available_from"]
    lock = row["abandon_locked_until"]
    # The abandon lock is stored as its end instant; it acts like available_from.
    if lock is not None and (available_from is None or lock > available_from):
        available_from = lock
    cls = row["last_outcome_class"]
    return TargetFacts(
        e164=row["e164"],
        contact_time_zone=row["time_zone"],
        number_time_zones=tuple(row["candidate_time_zones"]) or None,
        invalid=reason == UnavailableReason.INVALID_TARGET.value,
        attempts_made=row["attempts_made"],
        max_attempts=None if for_write_ahead else row["max_attempts"],
        contact_attempts_made=row["contact_attempts_made"],
        contact_complete=row["contact_complete"],
        target_complete=reason == UnavailableReason.COMPLETE.value,
        last_outcome=row["last_outcome"],
        last_outcome_class=OutcomeClass(cls) if cls else None,
        last_attempt_at=row["last_attempt_at"],
        amd_count=row["amd_count"],
        available_from=available_from,
        offered_rejected=reason == UnavailableReason.OFFERED.value,
        on_dnc=False if for_write_ahead else bool(row["on_dnc"]),
        last_call_at_any_campaign=row["last_call_at"],
        last_abandoned_at=None,
        contact_expires_at=row["contact_expires_at"],
    )


_FACT_COLUMNS = """
       t.id AS target_id, t.contact_id, t.campaign_id, t.position, t.description, t.e164,
       t.candidate_time_zones, t.attempts_made, t.max_attempts, t.amd_count, t.available_from,
       t.last_attempt_at, t.last_outcome, t.last_outcome_class, t.unavailable_reason,
       t.lease_owner, t.lease_expires_at,
       k.external_id, k.first_name, k.last_name, k.postal_code, k.time_zone, k.custom_fields,
       k.expires_at AS contact_expires_at, k.complete AS contact_complete,
       k.attempts_made AS contact_attempts_made,
       p.last_call_at, p.abandon_locked_until,
       EXISTS (SELECT 1 FROM dnc_entries d
                WHERE d.e164 = t.e164 AND (d.campaign_id IS NULL OR d.campaign_id = t.campaign_id)
                  AND (d.expires_at IS NULL OR d.expires_at > %(now)s)) AS on_dnc
"""



async def _store_verdict(conn: AsyncConn, target_id: int, verdict: Verdict, now: datetime) -> None:
    """Record why a target is not dialable, and release any lease on it."""
    assert verdict.reason is not None
    if verdict.reason in PERMANENT_REASONS:
        await execute(
            conn,
            "UPDATE targets SET unavailable_reason = %s, lease_owner = NULL, lease_expires_at = NULL"
            " WHERE id = %s",
            (verdict.reason.value, target_id),
        )
    else:
        nxt = verdict.next_dialable_at or now + RECHECK_UNKNOWN
        await execute(
            conn,
            "UPDATE targets SET unavailable_reason = %s, available_from = %s,"
            " lease_owner = NULL, lease_expires_at = NULL WHERE id = %s",
            (verdict.reason.value, nxt, target_id),
        )
