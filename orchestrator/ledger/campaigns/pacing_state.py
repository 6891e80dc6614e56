"""The predictive pacer's saved state per campaign and instance, kept across restarts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import errors
from psycopg.types.json import Jsonb

from orchestrator.ledger.campaigns.model import (
    CampaignError,
    CampaignNotFound,
)
from orchestrator.ledger.pool import AsyncConn, execute, fetch_one


async def save_pacing_state(conn: AsyncConn, campaign_id: int, snapshot: Mapping[str, Any], *,
                            instance_id: str = "") -> None:
    """Store the predictive pacer's snapshot (`CampaignPacer.snapshot()`): what it learned and,
    above all, the abandon counts of the regulatory 24 h / 30-day windows, which must not reset
    when the service restarts. One row per campaign and instance, replaced on every save: each
    instance paces its own calls (sql/006). `instance_id` '' is a snapshot of no particular
    instance, which an instance without a row of its own starts from."""
    if not isinstance(snapshot, Mapping):
        raise CampaignError("must be a JSON object", "snapshot")
    if len(instance_id) > 200:
        raise CampaignError("must be at most 200 characters", "instance_id")
    try:
        await execute(
            conn,
            "INSERT INTO campaign_pacing_state (campaign_id, instance_id, snapshot, updated_at)"
            " VALUES (%s, %s, %s, now())"
            " ON CONFLICT (campaign_id, instance_id) DO UPDATE SET snapshot = EXCLUDED.snapshot,"
            " updated_at = now()",
            (campaign_id, instance_id, Jsonb(dict(snapshot))),
        )
    except errors.ForeignKeyViolation:
        raise CampaignNotFound(f"no campaign with id {campaign_id}", "campaign_id") from None


async def load_pacing_state(conn: AsyncConn, campaign_id: int, *,
                            instance_id: str = "") -> dict[str, Any] | None:
    """The instance's last saved pacer snapshot of the campaign, else the one of no
    particular instance (''), else None. Never another instance's: its abandon counts are
    of its own calls, and taking them up would forget this instance's."""
    row = await fetch_one(
        conn,
        "SELECT snapshot FROM campaign_pacing_state WHERE campaign_id = %s AND instance_id IN (%s, '')"
        " ORDER BY instance_id = %s DESC LIMIT 1",
        (campaign_id, instance_id, instance_id),
    )
    if row is None:
        return None
    snap = row["snapshot"]
    return dict(snap) if isinstance(snap, Mapping) else None
