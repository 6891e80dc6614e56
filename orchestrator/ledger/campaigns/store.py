"""Campaigns' rows: reads, create and update, status transitions (audited), team links."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import time
from typing import Any

import psycopg
from psycopg import sql

from orchestrator.ledger.campaigns.model import (
    Campaign,
    CampaignError,
    CampaignNotFound,
    CampaignTransitionError,
)
from orchestrator.ledger.campaigns.settings import (
    _db_error,
    _fail,
    validate_name,
    validate_settings,
)
from orchestrator.ledger.pool import AsyncConn, audit, execute, fetch_all, fetch_one


def campaign_from_row(row: Mapping[str, Any]) -> Campaign:
    """A campaigns row (as a mapping) to Campaign."""
    kw = {f.name: row[f.name] for f in dataclasses.fields(Campaign)}
    for k in ("power_lines_per_agent", "abandon_cap", "abandon_grace_seconds"):
        kw[k] = float(kw[k])
    kw["window_days"] = tuple(kw["window_days"])
    kw["cadence"] = {str(k): int(v) for k, v in (kw["cadence"] or {}).items()}
    return Campaign(**kw)


async def get_campaign(conn: AsyncConn, name_or_id: str | int) -> Campaign:
    """The campaign by name (str) or id (int); raises CampaignNotFound."""
    if isinstance(name_or_id, int):
        row = await fetch_one(conn, "SELECT * FROM campaigns WHERE id = %s", (name_or_id,))
    else:
        row = await fetch_one(conn, "SELECT * FROM campaigns WHERE name = %s", (name_or_id,))
    if row is None:
        raise CampaignNotFound(f"no campaign {name_or_id!r}", "name" if isinstance(name_or_id, str) else "id")
    return campaign_from_row(row)


async def list_campaigns(conn: AsyncConn, *, status: str | None = None) -> list[Campaign]:
    """All campaigns (optionally of one status), by name."""
    if status is None:
        rows = await fetch_all(conn, "SELECT * FROM campaigns ORDER BY name")
    else:
        rows = await fetch_all(conn, "SELECT * FROM campaigns WHERE status = %s ORDER BY name", (status,))
    return [campaign_from_row(r) for r in rows]


async def campaign_teams(conn: AsyncConn, campaign_id: int) -> list[str]:
    """Names of the teams linked to a campaign."""
    rows = await fetch_all(
        conn,
        "SELECT t.name FROM campaign_teams ct JOIN teams t ON t.id = ct.team_id"
        " WHERE ct.campaign_id = %s ORDER BY t.name",
        (campaign_id,),
    )
    return [r["name"] for r in rows]


# ---------------------------------------------------------------- writes


async def _check_code_refs(conn: AsyncConn, values: Mapping[str, Any], current: Campaign | None) -> None:
    code_id = values.get("default_wrapup_code_id")
    if code_id is None:
        return
    set_id = values.get("wrapup_code_set_id", current.wrapup_code_set_id if current else None)
    row = await fetch_one(conn, "SELECT code_set_id FROM wrapup_codes WHERE id = %s", (code_id,))
    if row is None or (row["code_set_id"] is not None and row["code_set_id"] != set_id):
        raise _fail("default_wrapup_code_id", f"wrap-up code {code_id} is not in this campaign's set")


async def create_campaign(
    conn: AsyncConn,
    name: str,
    *,
    actor: str = "system",
    teams: Iterable[str] = (),
    **settings: Any,
) -> Campaign:
    """Create a campaign in status draft; unspecified settings take the schema defaults.

    Teams are linked by name and must exist. Raises CampaignError naming the field.
    """
    validate_name(name)
    values = validate_settings(settings)
    if "window_start" in values or "window_end" in values:
        ws = values.get("window_start", time(9, 0))
        we = values.get("window_end", time(21, 0))
        if not ws < we:
            raise _fail("window", "start must be before end")
    team_names = list(teams)
    async with conn.transaction():
        await _check_code_refs(conn, values, None)
        cols = ["name", *values.keys()]
        query = sql.SQL("INSERT INTO campaigns ({}) VALUES ({}) RETURNING *").format(
            sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols)),
        )
        try:
            async with conn.transaction():
                row = await fetch_one(conn, query, [name, *values.values()])
        except psycopg.errors.IntegrityError as exc:
            raise _db_error(exc) from None
        assert row is not None
        campaign = campaign_from_row(row)
        for team in team_names:
            await link_team(conn, campaign.id, team, actor=actor)
        await audit(
            conn, actor=actor, action="campaign.create", object_type="campaign", object_id=campaign.id,
            details={"name": name, "settings": sorted(values.keys()), "teams": team_names},
        )
    return campaign


async def update_campaign(
    conn: AsyncConn, name_or_id: str | int, changes: Mapping[str, Any], *, actor: str = "system"
) -> Campaign:
    """Change settings (names as in Campaign, plus `name` to rename).

    Raises CampaignError naming the field; nothing is changed when any field is bad.
    """
    changes = dict(changes)
    new_name = changes.pop("name", None)
    values = validate_settings(changes)
    if new_name is not None:
        values["name"] = validate_name(new_name)
    async with conn.transaction():
        current = await get_campaign(conn, name_or_id)
        await fetch_one(conn, "SELECT 1 FROM campaigns WHERE id = %s FOR UPDATE", (current.id,))
        ws = values.get("window_start", current.window_start)
        we = values.get("window_end", current.window_end)
        if not ws < we:
            raise _fail("window", f"start {ws:%H:%M} must be before end {we:%H:%M}")
        await _check_code_refs(conn, values, current)
        if not values:
            return current
        query = sql.SQL("UPDATE campaigns SET {}, updated_at = now() WHERE id = %s RETURNING *").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder()) for k in values
            )
        )
        try:
            async with conn.transaction():
                row = await fetch_one(conn, query, [*values.values(), current.id])
        except psycopg.errors.IntegrityError as exc:
            raise _db_error(exc) from None
        assert row is not None
        await audit(
            conn, actor=actor, action="campaign.update", object_type="campaign", object_id=current.id,
            details={"fields": sorted(values.keys())},
        )
        return campaign_from_row(row)


_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("draft", "paused", "stopped", "completed"), "running"),
    "pause": (("running",), "paused"),
    "stop": (("draft", "running", "paused", "completed"), "stopped"),
}


async def transition_campaign(
    conn: AsyncConn, name_or_id: str | int, action: str, *, actor: str = "system", reason: str | None = None
) -> Campaign:
    """Apply start | pause | stop; raises CampaignTransitionError when not allowed from the status.

    Stopping releases every lease held on the campaign's targets.
    """
    if action not in _TRANSITIONS:
        raise CampaignError(f"unknown action {action!r}", "action")
    allowed_from, to = _TRANSITIONS[action]
    async with conn.transaction():
        current = await get_campaign(conn, name_or_id)
        row = await fetch_one(conn, "SELECT status FROM campaigns WHERE id = %s FOR UPDATE", (current.id,))
        assert row is not None
        status = row["status"]
        if status not in allowed_from:
            raise CampaignTransitionError(
                f"cannot {action} campaign {current.name!r}: it is {status}", "status"
            )
        row2 = await fetch_one(
            conn,
            "UPDATE campaigns SET status = %s, updated_at = now() WHERE id = %s RETURNING *",
            (to, current.id),
        )
        assert row2 is not None
        if to == "stopped":
            await execute(
                conn,
                "UPDATE targets SET lease_owner = NULL, lease_expires_at = NULL"
                " WHERE campaign_id = %s AND lease_owner IS NOT NULL",
                (current.id,),
            )
        details: dict[str, Any] = {"from": status, "to": to}
        if reason:
            details["reason"] = reason
        await audit(
            conn, actor=actor, action=f"campaign.{action}", object_type="campaign",
            object_id=current.id, details=details,
        )
        return campaign_from_row(row2)


async def start_campaign(conn: AsyncConn, name_or_id: str | int, *, actor: str = "system") -> Campaign:
    return await transition_campaign(conn, name_or_id, "start", actor=actor)


async def pause_campaign(conn: AsyncConn, name_or_id: str | int, *, actor: str = "system") -> Campaign:
    return await transition_campaign(conn, name_or_id, "pause", actor=actor)


async def stop_campaign(conn: AsyncConn, name_or_id: str | int, *, actor: str = "system") -> Campaign:
    return await transition_campaign(conn, name_or_id, "stop", actor=actor)


async def mark_completed(conn: AsyncConn, campaign_id: int, *, actor: str = "system") -> bool:
    """running -> completed when nothing is left to dial (the runtime decides that). True if changed."""
    async with conn.transaction():
        n = await execute(
            conn,
            "UPDATE campaigns SET status = 'completed', updated_at = now() WHERE id = %s AND status = 'running'",
            (campaign_id,),
        )
        if n:
            await audit(conn, actor=actor, action="campaign.complete", object_type="campaign",
                        object_id=campaign_id, details={"from": "running", "to": "completed"})
    return bool(n)


async def link_team(conn: AsyncConn, campaign_id: int, team: str, *, actor: str = "system") -> None:
    """Link an existing team (by name) to a campaign; idempotent."""
    row = await fetch_one(conn, "SELECT id FROM teams WHERE name = %s", (team,))
    if row is None:
        raise CampaignError(f"no team {team!r} (create it with `orchestrator team create`)", "team")
    n = await execute(
        conn,
        "INSERT INTO campaign_teams (campaign_id, team_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (campaign_id, row["id"]),
    )
    if n:
        await audit(conn, actor=actor, action="campaign.link_team", object_type="campaign",
                    object_id=campaign_id, details={"team": team})




async def agent_campaigns(conn: AsyncConn, agent_id: int) -> list[Campaign]:
    """Campaigns an agent may log in to: those linked to one of its teams, and those linked
    to no team at all (open to every agent), by name."""
    rows = await fetch_all(
        conn,
        """SELECT c.* FROM campaigns c
            WHERE EXISTS (SELECT 1 FROM campaign_teams ct JOIN agent_teams at ON at.team_id = ct.team_id
                           WHERE ct.campaign_id = c.id AND at.agent_id = %(agent)s)
               OR NOT EXISTS (SELECT 1 FROM campaign_teams ct WHERE ct.campaign_id = c.id)
            ORDER BY c.name""",
        {"agent": agent_id},
    )
    return [campaign_from_row(r) for r in rows]
