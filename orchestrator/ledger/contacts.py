"""Contacts and their targets: campaign lookup and the contact view (screen-pop facts,
targets with their live dialability, attempt history) used by `contacts show`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from orchestrator.core.rules import (
    PERMANENT_REASONS,
    DialingPolicy,
    TargetFacts,
    UnavailableReason,
    Verdict,
    evaluate,
)
from orchestrator.ledger import campaigns
from orchestrator.ledger.attempts import attempt_title


@dataclass(frozen=True)
class CampaignRef:
    """The campaign facts the importer and the contact view need."""

    id: int
    name: str
    max_attempts_per_target: int


def find_campaign(conn: psycopg.Connection[Any], name: str) -> CampaignRef | None:
    row = conn.execute(
        "SELECT id, name, max_attempts_per_target FROM campaigns WHERE name = %s", (name,)
    ).fetchone()
    return CampaignRef(*row) if row else None


def dialing_policy(conn: psycopg.Connection[Any], campaign_id: int) -> DialingPolicy:
    """The campaign's rules, built by the one policy builder the dialer uses
    (`campaigns.dialing_policy`), read here over a synchronous connection."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM campaigns WHERE id = %s", (campaign_id,)).fetchone()
        if row is None:
            raise LookupError(f"no campaign with id {campaign_id}")
        codes = cur.execute(
            "SELECT * FROM wrapup_codes WHERE code_set_id IS NULL OR code_set_id = %s"
            " ORDER BY code_set_id NULLS FIRST, lower(label)",
            (row["wrapup_code_set_id"],),
        ).fetchall()
    return campaigns.dialing_policy(
        campaigns.campaign_from_row(row), [campaigns.wrapup_code_from_row(r) for r in codes]
    )


@dataclass(frozen=True)
class TargetView:
    """One target of a contact as the agent desktop and `contacts show` present it."""

    id: int
    position: int
    description: str
    e164: str
    attempts_made: int
    max_attempts: int
    available_from: datetime | None
    """Stored lock (a reschedule or snooze), as in the ledger."""
    last_outcome: str | None
    last_attempt_at: datetime | None
    stored_reason: str | None
    """unavailable_reason as stored in the ledger (may be stale for time reasons)."""
    verdict: Verdict
    """rules.evaluate() at the time of the view."""

    @property
    def label(self) -> str:
        return self.description or f"Phone {self.position}"

    @property
    def reason(self) -> str | None:
        """The reason shown: the live one, or the stored one when it is permanent and
        the live facts cannot see it (e.g. 'Invalid target' flagged by the network).
        DNC is always live (entries and their expiry are read at view time)."""
        live = self.verdict.reason
        if live in PERMANENT_REASONS:
            return str(live)
        stored = self.stored_reason
        if (
            stored in {str(r) for r in PERMANENT_REASONS}
            and stored != UnavailableReason.DNC.value
        ):
            return stored
        return str(live) if live is not None else None

    @property
    def available_at(self) -> datetime | None:
        """When it can be dialed: now if dialable, the next opening for a time reason,
        None when a permanent reason holds or nothing opens within the horizon."""
        if self.reason is not None and self.reason in {str(r) for r in PERMANENT_REASONS}:
            return None
        return self.verdict.next_dialable_at


@dataclass(frozen=True)
class AttemptView:
    """One line of the attempt report: "Attempt N (Mobile)", time, outcome, agent, disposition."""

    attempt_number: int
    target_label: str
    e164: str
    at: datetime
    state: str
    outcome: str | None
    agent: str | None
    disposition: str | None
    note: str | None
    target_position: int = 1

    @property
    def title(self) -> str:
        return attempt_title(self.attempt_number, self.target_label, self.target_position)


@dataclass(frozen=True)
class ContactView:
    """A contact's screen-pop facts, targets and attempt history."""

    id: int
    campaign_id: int
    campaign_name: str
    external_id: str | None
    first_name: str | None
    last_name: str | None
    postal_code: str | None
    time_zone: str | None
    custom_fields: dict[str, Any]
    expires_at: datetime | None
    complete: bool
    attempts_made: int
    max_attempts_per_contact: int | None
    created_at: datetime
    now: datetime
    targets: list[TargetView] = field(default_factory=list)
    attempts: list[AttemptView] = field(default_factory=list)


def find_contact_id(
    conn: psycopg.Connection[Any], external_id: str, campaign_id: int
) -> int | None:
    row = conn.execute(
        "SELECT id FROM contacts WHERE campaign_id = %s AND external_id = %s",
        (campaign_id, external_id),
    ).fetchone()
    return int(row[0]) if row else None


def contact_view(conn: psycopg.Connection[Any], contact_id: int, now: datetime) -> ContactView | None:
    """Everything `contacts show` prints, with each target evaluated at `now`."""
    with conn.cursor(row_factory=dict_row) as cur:
        c = cur.execute(
            """SELECT c.*, k.name AS campaign_name, k.max_attempts_per_contact
                 FROM contacts c JOIN campaigns k ON k.id = c.campaign_id
                WHERE c.id = %s""",
            (contact_id,),
        ).fetchone()
        if c is None:
            return None
        policy = dialing_policy(conn, c["campaign_id"])
        target_rows = cur.execute(
            """SELECT t.*, p.last_call_at AS number_last_call_at, p.abandon_locked_until,
                      EXISTS (SELECT 1 FROM dnc_entries d
                               WHERE d.e164 = t.e164
                                 AND (d.campaign_id IS NULL OR d.campaign_id = t.campaign_id)
                                 AND (d.expires_at IS NULL OR d.expires_at > %s)) AS on_dnc
                 FROM targets t LEFT JOIN phone_numbers p ON p.e164 = t.e164
                WHERE t.contact_id = %s ORDER BY t.position""",
            (now, contact_id),
        ).fetchall()
        attempt_rows = cur.execute(
            """SELECT a.attempt_number, t.description, t.position, a.e164, a.created_at, a.state,
                      a.outcome, g.display_name AS agent, w.label AS disposition,
                      a.disposition_note
                 FROM attempts a
                 JOIN targets t ON t.id = a.target_id
                 LEFT JOIN agents g ON g.id = a.agent_id
                 LEFT JOIN wrapup_codes w ON w.id = a.wrapup_code_id
                WHERE a.contact_id = %s ORDER BY a.attempt_number""",
            (contact_id,),
        ).fetchall()

    targets = [_target_view(t, c, policy, now) for t in target_rows]
    attempts = [_attempt_view(a) for a in attempt_rows]
    return ContactView(
        id=c["id"],
        campaign_id=c["campaign_id"],
        campaign_name=c["campaign_name"],
        external_id=c["external_id"],
        first_name=c["first_name"],
        last_name=c["last_name"],
        postal_code=c["postal_code"],
        time_zone=c["time_zone"],
        custom_fields=dict(c["custom_fields"] or {}),
        expires_at=c["expires_at"],
        complete=c["complete"],
        attempts_made=c["attempts_made"],
        max_attempts_per_contact=c["max_attempts_per_contact"],
        created_at=c["created_at"],
        now=now,
        targets=targets,
        attempts=attempts,
    )


def _target_facts(t: dict[str, Any], c: dict[str, Any], policy: DialingPolicy) -> TargetFacts:
    """A target row (with its number's facts) and its contact row as the rules see them."""
    abandoned_at = (
        t["abandon_locked_until"] - policy.abandon_lock if t["abandon_locked_until"] else None
    )
    return TargetFacts(
        e164=t["e164"],
        contact_time_zone=c["time_zone"],
        number_time_zones=tuple(t["candidate_time_zones"]),
        invalid=t["unavailable_reason"] == UnavailableReason.INVALID_TARGET.value,
        attempts_made=t["attempts_made"],
        max_attempts=t["max_attempts"],
        contact_attempts_made=c["attempts_made"],
        contact_complete=c["complete"],
        target_complete=t["unavailable_reason"] == UnavailableReason.COMPLETE.value,
        last_outcome=t["last_outcome"],
        last_outcome_class=t["last_outcome_class"],
        last_attempt_at=t["last_attempt_at"],
        amd_count=t["amd_count"],
        available_from=t["available_from"],
        offered_rejected=t["unavailable_reason"] == UnavailableReason.OFFERED.value,
        on_dnc=t["on_dnc"],
        last_call_at_any_campaign=t["number_last_call_at"],
        last_abandoned_at=abandoned_at,
        contact_expires_at=c["expires_at"],
    )


def _target_view(
    t: dict[str, Any], c: dict[str, Any], policy: DialingPolicy, now: datetime
) -> TargetView:
    """One target's line, with its dialability evaluated at `now`."""
    return TargetView(
        id=t["id"],
        position=t["position"],
        description=t["description"],
        e164=t["e164"],
        attempts_made=t["attempts_made"],
        max_attempts=t["max_attempts"],
        available_from=t["available_from"],
        last_outcome=t["last_outcome"],
        last_attempt_at=t["last_attempt_at"],
        stored_reason=t["unavailable_reason"],
        verdict=evaluate(_target_facts(t, c, policy), policy, now),
    )


def _attempt_view(a: dict[str, Any]) -> AttemptView:
    """One line of the attempt report."""
    return AttemptView(
        attempt_number=a["attempt_number"],
        target_label=a["description"] or f"Phone {a['position']}",
        target_position=a["position"],
        e164=a["e164"],
        at=a["created_at"],
        state=a["state"],
        outcome=a["outcome"],
        agent=a["agent"],
        disposition=a["disposition"],
        note=a["disposition_note"],
    )
