"""Wrap-up codes: the system defaults and a campaign set's own codes, found by id or label."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from psycopg import errors

from orchestrator.ledger.campaigns.model import (
    OUTCOME_CLASSES,
    CampaignError,
    WrapUpCode,
)
from orchestrator.ledger.campaigns.settings import (
    _choice,
    _duration,
    _fail,
)
from orchestrator.ledger.campaigns.store import (
    get_campaign,
)
from orchestrator.ledger.pool import AsyncConn, audit, execute, fetch_all, fetch_one


def wrapup_code_from_row(r: Mapping[str, Any]) -> WrapUpCode:
    """A wrapup_codes row (as a mapping) to WrapUpCode."""
    return WrapUpCode(
        id=r["id"], label=r["label"], outcome_class=r["outcome_class"], retry_after=r["retry_after"],
        is_system=r["is_system"], code_set_id=r["code_set_id"],
    )


async def wrapup_codes(conn: AsyncConn, campaign_id: int) -> list[WrapUpCode]:
    """The campaign's codes: the system defaults, then the campaign set's own codes, by label."""
    rows = await fetch_all(
        conn,
        "SELECT w.* FROM wrapup_codes w WHERE w.code_set_id IS NULL"
        " OR w.code_set_id = (SELECT wrapup_code_set_id FROM campaigns WHERE id = %s)"
        " ORDER BY w.code_set_id NULLS FIRST, lower(w.label)",
        (campaign_id,),
    )
    return [wrapup_code_from_row(r) for r in rows]


async def system_wrapup_code(conn: AsyncConn, label: str) -> WrapUpCode:
    """A system default code by label (e.g. 'Busy')."""
    row = await fetch_one(
        conn, "SELECT * FROM wrapup_codes WHERE code_set_id IS NULL AND lower(label) = lower(%s)", (label,)
    )
    if row is None:
        raise CampaignError(f"no system wrap-up code {label!r}", "label")
    return wrapup_code_from_row(row)


async def find_wrapup_code(conn: AsyncConn, campaign_id: int, code: int | str) -> WrapUpCode:
    """A code valid for this campaign, by id or by label (case-insensitive); campaign codes win
    over system codes of the same label. Raises CampaignError naming `wrapup_code`."""
    for c in reversed(await wrapup_codes(conn, campaign_id)):
        if (isinstance(code, int) and c.id == code) or (isinstance(code, str) and c.label.lower() == code.lower()):
            return c
    raise CampaignError(f"{code!r} is not a wrap-up code of this campaign", "wrapup_code")


async def add_wrapup_code(
    conn: AsyncConn,
    campaign: str | int,
    label: str,
    outcome_class: str,
    *,
    retry_after: timedelta | str | int | None = None,
    actor: str = "system",
) -> WrapUpCode:
    """Add a custom code to the campaign's set (created on first use, named after the campaign)."""
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= 100:
        raise _fail("label", "must be 1-100 characters")
    label = label.strip()
    _choice("outcome_class", outcome_class, OUTCOME_CLASSES)
    ra = _duration("retry_after", retry_after, nullable=True)
    if ra is not None and outcome_class != "retry":
        raise _fail("retry_after", "only codes of class retry take a retry delay")
    async with conn.transaction():
        c = await get_campaign(conn, campaign)
        await fetch_one(conn, "SELECT 1 FROM campaigns WHERE id = %s FOR UPDATE", (c.id,))
        row = await fetch_one(conn, "SELECT wrapup_code_set_id FROM campaigns WHERE id = %s", (c.id,))
        assert row is not None
        set_id = row["wrapup_code_set_id"]
        if set_id is None:
            srow = await fetch_one(
                conn,
                "INSERT INTO wrapup_code_sets (name) VALUES (%s)"
                " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                (f"campaign:{c.name}"[:100],),
            )
            assert srow is not None
            set_id = srow["id"]
            await execute(conn, "UPDATE campaigns SET wrapup_code_set_id = %s, updated_at = now() WHERE id = %s",
                          (set_id, c.id))
        system = await fetch_one(
            conn, "SELECT 1 FROM wrapup_codes WHERE code_set_id IS NULL AND lower(label) = lower(%s)", (label,)
        )
        if system is not None:
            raise _fail("label", f"{label!r} is a system code already")
        try:
            async with conn.transaction():
                r = await fetch_one(
                    conn,
                    "INSERT INTO wrapup_codes (code_set_id, label, outcome_class, retry_after)"
                    " VALUES (%s, %s, %s, %s) RETURNING *",
                    (set_id, label, outcome_class, ra),
                )
        except errors.UniqueViolation:
            raise _fail("label", f"the campaign already has a code {label!r}") from None
        assert r is not None
        await audit(conn, actor=actor, action="campaign.add_wrapup_code", object_type="campaign",
                    object_id=c.id, details={"label": label, "outcome_class": outcome_class})
        return wrapup_code_from_row(r)
