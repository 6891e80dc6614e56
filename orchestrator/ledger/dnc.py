"""The internal do-not-call list: global entries (campaign_id NULL) and per-campaign ones.

The attempts trigger in sql/001 refuses an attempt to any number with an active entry,
whatever code path writes it; this module manages the entries and keeps the targets'
stored `unavailable_reason` in step ('DNC' when an entry is added, cleared when the last
active entry for the number goes away) so lists and the agent desktop show it.
An entry that merely expires is not swept here: rules.evaluate() and the trigger read
`expires_at` live, and `dnc add`/`remove` re-sync the stored reason of that number.
A customer's opt-out key press (the dialplan's FastAGI `opt-out` hook) adds a permanent
entry at once with `opt_out_attempt` (source 'opt-out', the attempt named in the reason).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg

from orchestrator.ledger.attempts import record_event
from orchestrator.ledger.pool import AsyncConn, audit, execute, fetch_one

# SQL for "this entry applies to campaign %(campaign_id)s now".
_ACTIVE = "(d.expires_at IS NULL OR d.expires_at > now())"


@dataclass(frozen=True)
class DncEntry:
    """One row of dnc_entries."""

    id: int
    e164: str
    campaign_id: int | None
    campaign_name: str | None
    source: str
    reason: str | None
    added_at: datetime
    expires_at: datetime | None

    @property
    def scope(self) -> str:
        return "global" if self.campaign_id is None else f'campaign "{self.campaign_name}"'


def add_entry(
    conn: psycopg.Connection[Any],
    e164: str,
    *,
    campaign_id: int | None,
    source: str = "manual",
    reason: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[bool, int]:
    """Add (or refresh) an entry. Returns (created, targets newly marked DNC).

    An existing entry in the same scope gets the new source, reason and expiry.
    """
    row = conn.execute(
        """INSERT INTO dnc_entries (e164, campaign_id, source, reason, expires_at)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (e164, coalesce(campaign_id, 0))
           DO UPDATE SET source = EXCLUDED.source, reason = EXCLUDED.reason,
                         expires_at = EXCLUDED.expires_at
           RETURNING (xmax = 0)""",
        (e164, campaign_id, source, reason, expires_at),
    ).fetchone()
    assert row is not None
    marked = sync_targets(conn, [e164])
    return bool(row[0]), marked


def remove_entry(conn: psycopg.Connection[Any], e164: str, *, campaign_id: int | None) -> bool:
    """Delete the entry for `e164` in exactly this scope. Returns False if there was none."""
    cur = conn.execute(
        "DELETE FROM dnc_entries WHERE e164 = %s AND coalesce(campaign_id, 0) = coalesce(%s, 0)",
        (e164, campaign_id),
    )
    if cur.rowcount == 0:
        return False
    sync_targets(conn, [e164])
    return True


_MARK_DNC = f"""UPDATE targets t SET unavailable_reason = 'DNC'
             WHERE t.e164 = ANY(%(n)s)
               AND (t.unavailable_reason IS NULL
                    OR t.unavailable_reason IN ('Not in cadence', 'Outside calling window'))
               AND EXISTS (SELECT 1 FROM dnc_entries d
                            WHERE d.e164 = t.e164 AND {_ACTIVE}
                              AND (d.campaign_id IS NULL OR d.campaign_id = t.campaign_id))"""
"""Mark 'DNC' the targets of numbers %(n)s that an active entry covers."""


def sync_targets(conn: psycopg.Connection[Any], numbers: Iterable[str]) -> int:
    """Make targets' stored 'DNC' reason agree with the active entries for `numbers`.

    Marks targets that an active entry covers (unless a permanent reason is already
    stored) and clears 'DNC' from those no entry covers any more. Returns the count
    of targets newly marked.
    """
    numbers = list(numbers)
    if not numbers:
        return 0
    marked = conn.execute(_MARK_DNC, {"n": numbers}).rowcount
    conn.execute(
        f"""UPDATE targets t SET unavailable_reason = NULL
             WHERE t.e164 = ANY(%(n)s) AND t.unavailable_reason = 'DNC'
               AND t.last_outcome_class IS DISTINCT FROM 'dnc'
               AND NOT EXISTS (SELECT 1 FROM dnc_entries d
                                WHERE d.e164 = t.e164 AND {_ACTIVE}
                                  AND (d.campaign_id IS NULL OR d.campaign_id = t.campaign_id))""",
        {"n": numbers},
    )
    return marked


def entries_for(conn: psycopg.Connection[Any], e164: str) -> list[DncEntry]:
    """Every entry (active or expired) for one number, global first."""
    rows = conn.execute(
        """SELECT d.id, d.e164, d.campaign_id, c.name, d.source, d.reason, d.added_at, d.expires_at
             FROM dnc_entries d LEFT JOIN campaigns c ON c.id = d.campaign_id
            WHERE d.e164 = %s
            ORDER BY d.campaign_id NULLS FIRST""",
        (e164,),
    ).fetchall()
    return [DncEntry(*r) for r in rows]


def active_numbers(conn: psycopg.Connection[Any], campaign_id: int) -> dict[int, str]:
    """Active entries that apply to a campaign, as {E.164 digits as int: 'global'|'campaign'}.

    Integer keys keep a multi-million-entry list small in memory; global wins over
    campaign when a number has both.
    """
    found: dict[int, str] = {}
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT d.e164, d.campaign_id IS NULL FROM dnc_entries d
                 WHERE (d.campaign_id IS NULL OR d.campaign_id = %s) AND {_ACTIVE}""",
            (campaign_id,),
        )
        for e164, is_global in cur:
            key = int(e164[1:])
            if is_global or key not in found:
                found[key] = "global" if is_global else "campaign"
    return found


def is_blocked(conn: psycopg.Connection[Any], e164: str, campaign_id: int | None) -> bool:
    """Whether an active entry (global, or this campaign's) covers `e164` now."""
    row = conn.execute(
        f"""SELECT EXISTS (SELECT 1 FROM dnc_entries d
                            WHERE d.e164 = %s AND {_ACTIVE}
                              AND (d.campaign_id IS NULL OR d.campaign_id = %s))""",
        (e164, campaign_id),
    ).fetchone()
    return bool(row and row[0])


# ------------------------------------------------------------------ opt-out key press (FastAGI)

OptOutScope = Literal["global", "campaign"]
OPT_OUT_SOURCE = "opt-out"
"""dnc_entries.source of an entry made by a customer's opt-out key press."""


@dataclass(frozen=True)
class OptOut:
    """What an opt-out key press did."""

    entry_id: int
    created: bool
    """False: the number already had an entry in that scope (refreshed, made permanent)."""
    campaign_id: int | None
    """The entry's campaign (None: global)."""
    targets_marked: int


async def opt_out_attempt(conn: AsyncConn, attempt_id: uuid.UUID, *, scope: OptOutScope) -> OptOut | None:
    """The number an attempt dialed goes on the DNC list at once, in one transaction:
    globally or for the attempt's campaign (`scope`), with the attempt as its source
    (source 'opt-out', the attempt id in the reason, and an 'opt_out' event in the
    attempt's history naming the entry). Targets with that number are marked 'DNC'; the
    attempts trigger and the claim query refuse the number from now on.
    None when there is no such attempt."""
    async with conn.transaction():
        att = await fetch_one(conn, "SELECT e164, campaign_id FROM attempts WHERE id = %s", (attempt_id,))
        if att is None:
            return None
        campaign_id = int(att["campaign_id"]) if scope == "campaign" else None
        # An existing entry (an earlier import, a temporary one) becomes this permanent one.
        row = await fetch_one(
            conn,
            """INSERT INTO dnc_entries (e164, campaign_id, source, reason, expires_at)
               VALUES (%s, %s, %s, %s, NULL)
               ON CONFLICT (e164, coalesce(campaign_id, 0))
               DO UPDATE SET source = EXCLUDED.source, reason = EXCLUDED.reason, expires_at = NULL
               RETURNING id, (xmax = 0) AS created""",
            (att["e164"], campaign_id, OPT_OUT_SOURCE, f"opt-out key press on attempt {attempt_id}"),
        )
        assert row is not None
        marked = await execute(conn, _MARK_DNC, {"n": [att["e164"]]})
        await record_event(conn, attempt_id, "opt_out", key="opt-out",
                           data={"dnc_entry_id": int(row["id"]), "scope": scope})
        await audit(conn, actor="dialplan", action="dnc.opt_out", object_type="attempt",
                    object_id=str(attempt_id), details={"dnc_entry_id": int(row["id"]), "scope": scope,
                                                        "campaign_id": campaign_id})
        return OptOut(int(row["id"]), bool(row["created"]), campaign_id, marked)
