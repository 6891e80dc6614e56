"""What an agent's screen shows about the contact of a call or a preview (MISSION D):
the contact, the target being called, and the contact's earlier attempts.

Read-only; two queries (the card, then the history). The dialer shapes it into JSON and
applies the campaign's masking, read again (`campaign_masking`) each time a card is sent:
the ledger hands out full numbers only to the server, never to a page.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.ledger.attempts import AttemptHistoryEntry, contact_history
from orchestrator.ledger.callbacks import OPEN_STATUSES
from orchestrator.ledger.pool import AsyncConn, fetch_one


@dataclass(frozen=True)
class ContactCard:
    id: int
    external_id: str | None
    first_name: str | None
    last_name: str | None
    postal_code: str | None
    time_zone: str | None
    custom_fields: dict[str, Any]
    expires_at: datetime | None


@dataclass(frozen=True)
class TargetCard:
    id: int
    description: str
    e164: str
    attempts_made: int
    max_attempts: int
    last_outcome: str | None
    """The label of the target's last outcome or disposition."""


@dataclass(frozen=True)
class CallCard:
    """A contact's screen pop."""

    campaign_id: int
    masking: bool
    """The campaign shows agents only the last 4 digits of numbers."""
    contact: ContactCard
    target: TargetCard
    history: list[AttemptHistoryEntry]
    """Earlier attempts of the contact, newest first (the call shown is left out)."""
    attempt_id: uuid.UUID | None = None
    """The call this card is for (None for a preview not dialed yet)."""
    e164: str | None = None
    """The number this attempt dialed (may differ from the target's after an edit)."""


_CARD_SQL = """
SELECT t.id AS target_id, t.description, t.e164 AS target_e164, t.attempts_made, t.max_attempts,
       t.last_outcome, k.id AS contact_id, k.external_id, k.first_name, k.last_name, k.postal_code,
       k.time_zone, k.custom_fields, k.expires_at, c.id AS campaign_id, c.masking
  FROM targets t JOIN contacts k ON k.id = t.contact_id JOIN campaigns c ON c.id = t.campaign_id
 WHERE t.id = %s"""


def _card(r: Mapping[str, Any], history: list[AttemptHistoryEntry], attempt_id: uuid.UUID | None,
          e164: str | None) -> CallCard:
    return CallCard(
        campaign_id=int(r["campaign_id"]), masking=bool(r["masking"]),
        contact=ContactCard(int(r["contact_id"]), r["external_id"], r["first_name"], r["last_name"],
                            r["postal_code"], r["time_zone"], dict(r["custom_fields"] or {}), r["expires_at"]),
        target=TargetCard(int(r["target_id"]), r["description"] or "", r["target_e164"], int(r["attempts_made"]),
                          int(r["max_attempts"]), r["last_outcome"]),
        history=history, attempt_id=attempt_id, e164=e164,
    )


async def target_card(conn: AsyncConn, target_id: int) -> CallCard | None:
    """The screen pop of a target (a preview): None if the target is gone."""
    row = await fetch_one(conn, _CARD_SQL, (target_id,))
    if row is None:
        return None
    return _card(row, await contact_history(conn, int(row["contact_id"])), None, None)


async def attempt_card(conn: AsyncConn, attempt_id: uuid.UUID | str) -> CallCard | None:
    """The screen pop of a call: its target and contact, and the contact's other attempts.
    None if there is no such attempt (e.g. a preview not accepted yet)."""
    try:
        aid = attempt_id if isinstance(attempt_id, uuid.UUID) else uuid.UUID(str(attempt_id))
    except ValueError:
        return None
    att = await fetch_one(conn, "SELECT target_id, e164 FROM attempts WHERE id = %s", (aid,))
    if att is None:
        return None
    row = await fetch_one(conn, _CARD_SQL, (att["target_id"],))
    if row is None:
        return None
    history = [h for h in await contact_history(conn, int(row["contact_id"])) if h.attempt_id != aid]
    return _card(row, history, aid, att["e164"])


async def campaign_masking(conn: AsyncConn, campaign_id: int) -> bool | None:
    """The campaign's masking setting as it is now (None: no such campaign). Read each
    time a card is sent, so a change applies to calls in progress."""
    row = await fetch_one(conn, "SELECT masking FROM campaigns WHERE id = %s", (campaign_id,))
    return None if row is None else bool(row["masking"])


# ------------------------------------------------------------------ inbound calls (FastAGI screen-pop)


@dataclass(frozen=True)
class CallerCard:
    """What the ledger knows of an inbound caller's number (the dialplan's screen-pop)."""

    contact_id: int | None
    """The contact with a target on this number (None: unknown caller); of several, the
    one last called."""
    first_name: str | None
    last_name: str | None
    campaign_id: int | None
    campaign_name: str | None
    attempts_made: int
    last_outcome: str | None
    """The contact's last attempt: its disposition's label, else its outcome (raw code)."""
    last_attempt_at: datetime | None
    open_callbacks: int
    """Callbacks still open (callbacks.OPEN_STATUSES: pending, offered, being dialed) to
    this number or for this contact."""


_CALLER_SQL = """
WITH k AS (
    SELECT k.id AS contact_id, k.first_name, k.last_name, c.id AS campaign_id, c.name AS campaign_name,
           k.attempts_made, la.outcome, la.disposition, la.created_at AS last_attempt_at
      FROM targets t JOIN contacts k ON k.id = t.contact_id JOIN campaigns c ON c.id = k.campaign_id
      LEFT JOIN LATERAL (
          SELECT a.outcome, w.label AS disposition, a.created_at
            FROM targets kt JOIN attempts a ON a.target_id = kt.id
            LEFT JOIN wrapup_codes w ON w.id = a.wrapup_code_id
           WHERE kt.contact_id = k.id
           ORDER BY a.created_at DESC LIMIT 1) la ON true
     WHERE t.e164 = %(e164)s
     ORDER BY t.last_attempt_at DESC NULLS LAST, k.id DESC
     LIMIT 1)
SELECT k.*, (SELECT count(*) FROM callbacks cb
              WHERE cb.status = ANY(%(open)s)
                AND (cb.e164 = %(e164)s OR cb.contact_id = k.contact_id)) AS open_callbacks
  FROM (SELECT 1) AS one LEFT JOIN k ON true"""


async def caller_card(conn: AsyncConn, e164: str) -> CallerCard:
    """The screen pop of an inbound caller, in one query (targets_e164 finds the contact)."""
    r = await fetch_one(conn, _CALLER_SQL, {"e164": e164, "open": list(OPEN_STATUSES)})
    assert r is not None
    return CallerCard(
        contact_id=None if r["contact_id"] is None else int(r["contact_id"]),
        first_name=r["first_name"], last_name=r["last_name"],
        campaign_id=None if r["campaign_id"] is None else int(r["campaign_id"]),
        campaign_name=r["campaign_name"], attempts_made=int(r["attempts_made"] or 0),
        last_outcome=r["disposition"] or r["outcome"], last_attempt_at=r["last_attempt_at"],
        open_callbacks=int(r["open_callbacks"]),
    )


__all__ = ["CallCard", "CallerCard", "ContactCard", "TargetCard", "attempt_card", "caller_card",
           "campaign_masking", "target_card"]
