"""A contact's attempt history: attempt numbers, titles, and the report lines of `contacts show`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from orchestrator.ledger.pool import AsyncConn, fetch_all, fetch_one


async def next_attempt_number(conn: AsyncConn, contact_id: int) -> int:
    """The number of a contact's next attempt ("Attempt N"): one more than its last row.

    Not the contact's attempts_made: a call that was never placed ('not_dialed') gives
    its count back (sql/005) but keeps its row and number in the history. The caller
    holds the contact's row lock (claims and previews lock it), so two attempts of one
    contact never race for a number.
    """
    row = await fetch_one(
        conn, "SELECT COALESCE(max(attempt_number), 0) + 1 AS n FROM attempts WHERE contact_id = %s",
        (contact_id,),
    )
    assert row is not None
    return int(row["n"])


def attempt_title(attempt_number: int, description: str, position: int) -> str:
    """ "Attempt N (Mobile)": the one title of an attempt, in `contacts show` and the screen pop.
    A target without a description is named by its position ("Phone 2")."""
    return f"Attempt {attempt_number} ({description or f'Phone {position}'})"


@dataclass(frozen=True)
class AttemptHistoryEntry:
    """One line of a contact's attempt report: "Attempt N (TargetDescription)"."""

    attempt_id: uuid.UUID
    attempt_number: int
    target_description: str
    e164: str
    created_at: datetime
    outcome: str | None
    agent: str | None
    """The agent's display name."""
    disposition: str | None
    note: str | None
    target_position: int = 1

    @property
    def title(self) -> str:
        return attempt_title(self.attempt_number, self.target_description, self.target_position)


async def contact_history(conn: AsyncConn, contact_id: int) -> list[AttemptHistoryEntry]:
    """Every attempt of a contact, newest first."""
    rows = await fetch_all(
        conn,
        """SELECT a.id, a.attempt_number, t.description, t.position, a.e164, a.created_at, a.outcome,
                  ag.display_name AS agent, w.label AS disposition, a.disposition_note
             FROM attempts a JOIN targets t ON t.id = a.target_id
             LEFT JOIN agents ag ON ag.id = a.agent_id
             LEFT JOIN wrapup_codes w ON w.id = a.wrapup_code_id
            WHERE a.contact_id = %s ORDER BY a.attempt_number DESC""",
        (contact_id,),
    )
    return [
        AttemptHistoryEntry(r["id"], r["attempt_number"], r["description"], r["e164"], r["created_at"],
                            r["outcome"], r["agent"], r["disposition"], r["disposition_note"],
                            r["position"])
        for r in rows
    ]
