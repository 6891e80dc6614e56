"""The attempts row and its history rows: the types, and the locked read and append every step shares."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from orchestrator.core.rules import OutcomeClass
from orchestrator.ledger.campaigns import (
    OUTCOME_LABELS,
)
from orchestrator.ledger.pool import AsyncConn, execute, fetch_one

OUTCOMES = tuple(OUTCOME_LABELS)
"""Values of attempts.outcome."""
STATES = ("pending", "dialing", "ringing", "answered", "bridged", "ended")
_RANK = {s: i for i, s in enumerate(STATES)}
ONCE_KINDS = frozenset(
    {"created", "originated", "ringing", "answered", "amd", "bridged", "abandoned", "ended", "dispositioned"}
)
"""Event kinds that happen at most once per attempt (see sql/002)."""

# Outcome -> system wrap-up code applied automatically when no agent will disposition.
AUTO_CODES = {
    "busy": "Busy",
    "congestion": "Congestion",
    "no_answer": "No answer",
    "machine": "Answering machine detected",
    "fax": "Fax",
}


class AttemptError(Exception):
    """Bad input for an attempt operation (names the field)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class AttemptNotFound(AttemptError):
    pass


@dataclass(frozen=True)
class Attempt:
    """The attempts row."""

    id: uuid.UUID
    campaign_id: int
    contact_id: int
    target_id: int
    attempt_number: int
    e164: str
    mode: str
    agent_id: int | None
    owner: str
    state: str
    outcome: str | None
    cause: int | None
    cause_txt: str | None
    amd_status: str | None
    wrapup_code_id: int | None
    disposition_note: str | None
    created_at: datetime
    originated_at: datetime | None
    answered_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    dispositioned_at: datetime | None

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class DispositionResult:
    """What a disposition did to the target."""

    attempt_id: uuid.UUID
    label: str
    """The wrap-up code's label, or the outcome's label for an automatic disposition."""
    outcome_class: OutcomeClass
    wrapup_code_id: int | None
    unavailable_reason: str | None
    """The target's reason afterwards (None = dialable now)."""
    available_from: datetime | None
    replayed: bool = False
    """True when the attempt was already dispositioned: nothing was changed."""


@dataclass(frozen=True)
class ReconcileResult:
    still_live: list[Attempt]
    """Attempts whose channel Asterisk still has (adopted by the caller when orphaned)."""
    finished: list[Attempt]
    """Attempts ended by reconciliation (outcome from the channel's fate, else 'unknown')."""
    presumed_abandoned: list[uuid.UUID] = field(default_factory=list)
    """Of those, the ones counted as abandons: they may have been answered unseen."""


def _attempt(row: Mapping[str, Any]) -> Attempt:
    return Attempt(**{k: row[k] for k in Attempt.__dataclass_fields__})


async def get_attempt(conn: AsyncConn, attempt_id: uuid.UUID | str) -> Attempt:
    row = await fetch_one(conn, "SELECT * FROM attempts WHERE id = %s", (_uuid(attempt_id),))
    if row is None:
        raise AttemptNotFound(f"no attempt {attempt_id}", "attempt_id")
    return _attempt(row)


def _uuid(v: uuid.UUID | str) -> uuid.UUID:
    if isinstance(v, uuid.UUID):
        return v
    try:
        return uuid.UUID(v)
    except (ValueError, TypeError):
        raise AttemptError(f"not an attempt id: {v!r}", "attempt_id") from None


async def _lock(conn: AsyncConn, attempt_id: uuid.UUID) -> dict[str, Any]:
    row = await fetch_one(conn, "SELECT * FROM attempts WHERE id = %s FOR UPDATE", (attempt_id,))
    if row is None:
        raise AttemptNotFound(f"no attempt {attempt_id}", "attempt_id")
    return row


async def _append(
    conn: AsyncConn, attempt_id: uuid.UUID, kind: str, at: datetime | None, data: Mapping[str, Any] | None
) -> bool:
    """Insert an event unless it is a replay. True if inserted."""
    row = await fetch_one(
        conn,
        "INSERT INTO attempt_events (attempt_id, at, kind, data)"
        " VALUES (%s, coalesce(%s::timestamptz, now()), %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING id",
        (attempt_id, at, kind, Jsonb(dict(data or {}))),
    )
    return row is not None


def _advance(current: str, to: str) -> str:
    return to if _RANK[to] > _RANK[current] else current



async def _set(conn: AsyncConn, attempt_id: uuid.UUID, **values: Any) -> None:
    cols = ", ".join(f"{k} = %({k})s" for k in values)  # names are ours, values parameterized
    await execute(conn, f"UPDATE attempts SET {cols} WHERE id = %(id)s", {**values, "id": attempt_id})
