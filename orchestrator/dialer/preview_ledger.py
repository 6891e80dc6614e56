"""Ledger writes of two preview actions the ledger package does not offer yet.

Thin workaround (to move into orchestrator/ledger/ when it grows these functions):
a Reschedule becomes a row of ``callbacks`` (and the target waits until the callback's
time); a Disposition without dialing applies the wrap-up code's outcome class to the
target with no attempt. Parameterized SQL, one transaction each, audited.
"""

from __future__ import annotations

from datetime import timedelta

from orchestrator.core.commands import CreateCallback
from orchestrator.ledger.campaigns import find_wrapup_code
from orchestrator.ledger.pool import AsyncConn, audit, db_now, execute, fetch_one

CALLBACK_WINDOW = timedelta(minutes=30)
"""A rescheduled preview may be called from its time until this long after it."""


async def create_callback(conn: AsyncConn, cmd: CreateCallback, *, owner: str) -> int:
    """Insert the callback; the target is released and not offered before its time."""
    async with conn.transaction():
        row = await fetch_one(
            conn,
            "INSERT INTO callbacks (kind, campaign_id, contact_id, target_id, e164, window_start,"
            " window_end, time_zone, notes, assigned_agent_id, created_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            ("personal" if cmd.assigned_agent_id else "scheduled", int(cmd.campaign_id),
             int(cmd.contact_id), int(cmd.target_id), cmd.e164, cmd.start_at,
             cmd.start_at + CALLBACK_WINDOW, cmd.time_zone, cmd.notes or None,
             int(cmd.assigned_agent_id) if cmd.assigned_agent_id else None, int(cmd.created_by)),
        )
        assert row is not None
        await execute(
            conn,
            "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL,"
            " available_from = %s, unavailable_reason = 'Not in cadence'"
            " WHERE id = %s AND (lease_owner = %s OR lease_owner IS NULL)",
            (cmd.start_at, int(cmd.target_id), owner),
        )
        await audit(conn, actor=f"agent:{cmd.created_by}", action="preview.reschedule",
                    object_type="callback", object_id=row["id"],
                    details={"target_id": int(cmd.target_id), "time_zone": cmd.time_zone})
    return int(row["id"])


async def disposition_without_dial(conn: AsyncConn, target_id: int, code: str, *, owner: str,
                                   notes: str = "") -> str:
    """Apply a wrap-up code to a previewed target that was never dialed; returns its class."""
    async with conn.transaction():
        t = await fetch_one(conn, "SELECT * FROM targets WHERE id = %s FOR UPDATE", (target_id,))
        if t is None:
            raise LookupError(f"no target {target_id}")
        wcode = await find_wrapup_code(conn, int(t["campaign_id"]), code)
        now = await db_now(conn)
        cls = wcode.outcome_class
        available_from = t["available_from"]
        if cls == "final_success":
            reason = "Complete"
            await execute(conn, "UPDATE contacts SET complete = true WHERE id = %s", (t["contact_id"],))
        elif cls == "final_failure":
            reason = "Last outcome not valid for calling"
        elif cls == "dnc":
            reason = "DNC"
            await execute(
                conn,
                "INSERT INTO dnc_entries (e164, campaign_id, source, reason)"
                " VALUES (%s, NULL, 'disposition', %s)"
                " ON CONFLICT (e164, coalesce(campaign_id, 0)) DO NOTHING",
                (t["e164"], f"preview disposition {wcode.label!r}"[:250]),
            )
        else:
            reason = "Not in cadence"
            available_from = now + (wcode.retry_after or timedelta(hours=1))
        await execute(
            conn,
            "UPDATE targets SET last_outcome = %s, last_outcome_class = %s, unavailable_reason = %s,"
            " available_from = %s, lease_owner = NULL, lease_expires_at = NULL WHERE id = %s",
            (wcode.label, cls, reason, available_from, target_id),
        )
        await audit(conn, actor=owner, action="preview.disposition", object_type="target",
                    object_id=target_id, details={"code": wcode.label, "notes": notes[:200]})
    return cls
