"""Agents, teams and bearer tokens in the ledger.

A token is shown once, when created or rotated; only its sha256 is stored (agents.token_hash).
Looking an agent up by token hashes the presented token, finds the row by the (unique,
indexed) hash and compares the hashes again with `hmac.compare_digest`, so no secret is
compared byte by byte in a data-dependent way. Tokens carry 256 bits of randomness, so a
plain sha256 (no salt, no stretching) is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import errors

from orchestrator.core.dialgate import DialGate, DialRefused
from orchestrator.ledger.pool import AsyncConn, audit, execute, fetch_all, fetch_one

ROLES = ("agent", "supervisor", "admin")
PHONE_MODES = ("per_call", "nailed")
AGENT_STATES = (
    "logged_out", "not_ready", "available", "reserved", "ringing",
    "on_call", "hold", "consulting", "conferencing", "wrap_up",
)
TOKEN_PREFIX = "dlr_"

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class AgentError(Exception):
    """An agent/team operation was refused; `field` names the offending input when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class AgentNotFound(AgentError):
    """No agent (or team) by that name."""


@dataclass(frozen=True)
class Agent:
    """An agent, supervisor or admin. Never carries the token or its hash."""

    id: int
    username: str
    display_name: str
    role: str
    """agent | supervisor | admin"""
    endpoint: str | None
    """Asterisk endpoint to ring, e.g. PJSIP/1001; None for a web-only supervisor."""
    phone_mode: str
    """per_call | nailed"""
    active: bool
    teams: tuple[str, ...]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "username": self.username, "display_name": self.display_name,
            "role": self.role, "endpoint": self.endpoint, "phone_mode": self.phone_mode,
            "active": self.active, "teams": list(self.teams), "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    agents: tuple[str, ...]
    campaigns: tuple[str, ...]


@dataclass(frozen=True)
class AgentStateRecord:
    """One row of agent_state_history."""

    agent_id: int
    state: str
    reason: str | None
    campaign_id: int | None
    at: datetime


def new_token() -> str:
    """A fresh bearer token (256 random bits, URL-safe)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """sha256 hex of a token: what agents.token_hash stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_username(username: Any) -> str:
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise AgentError(
            "must be 1-64 characters of a-z 0-9 _ . - starting with a letter or digit;"
            f" got {username!r}", "username",
        )
    return username


def _check_fields(
    display_name: Any = None, role: Any = None, endpoint: Any = None, phone_mode: Any = None,
    *, require: bool = False,
) -> None:
    if require or display_name is not None:
        if not isinstance(display_name, str) or not 1 <= len(display_name.strip()) <= 200:
            raise AgentError("must be 1-200 characters", "display_name")
    if role is not None and role not in ROLES:
        raise AgentError(f"must be one of {', '.join(ROLES)}; got {role!r}", "role")
    if endpoint is not None:
        try:
            # the dial gate's phone rules: never a customer context, a trunk or a number
            DialGate.admin_phone(endpoint)
        except DialRefused as exc:
            raise AgentError(f"{exc.reason}; got {endpoint!r}", "endpoint") from None
    if phone_mode is not None and phone_mode not in PHONE_MODES:
        raise AgentError(f"must be one of {', '.join(PHONE_MODES)}; got {phone_mode!r}", "phone_mode")


_AGENT_SELECT = """
SELECT a.id, a.username, a.display_name, a.role, a.endpoint, a.phone_mode, a.active, a.created_at,
       coalesce(array(SELECT t.name FROM agent_teams at JOIN teams t ON t.id = at.team_id
                      WHERE at.agent_id = a.id ORDER BY t.name), '{}') AS teams
  FROM agents a
"""


def _row_to_agent(r: Mapping[str, Any]) -> Agent:
    return Agent(
        id=r["id"], username=r["username"], display_name=r["display_name"], role=r["role"],
        endpoint=r["endpoint"], phone_mode=r["phone_mode"], active=r["active"],
        teams=tuple(r["teams"]), created_at=r["created_at"],
    )


async def _team_id(conn: AsyncConn, team: str) -> int:
    row = await fetch_one(conn, "SELECT id FROM teams WHERE name = %s", (team,))
    if row is None:
        raise AgentNotFound(f"no team {team!r} (create it with `orchestrator team create`)", "team")
    return int(row["id"])


async def create_agent(
    conn: AsyncConn,
    username: str,
    *,
    display_name: str,
    role: str = "agent",
    endpoint: str | None = None,
    phone_mode: str = "per_call",
    teams: Iterable[str] = (),
    actor: str = "system",
) -> tuple[Agent, str]:
    """Create an agent; returns (agent, token). The token is not stored and cannot be shown again."""
    _check_username(username)
    _check_fields(display_name, role, endpoint, phone_mode, require=True)
    token = new_token()
    team_names = list(teams)
    async with conn.transaction():
        try:
            async with conn.transaction():
                row = await fetch_one(
                    conn,
                    "INSERT INTO agents (username, display_name, role, endpoint, phone_mode, token_hash)"
                    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (username, display_name.strip(), role, endpoint, phone_mode, hash_token(token)),
                )
        except errors.UniqueViolation:
            raise AgentError(f"an agent {username!r} already exists", "username") from None
        assert row is not None
        for team in team_names:
            await add_agent_to_team(conn, username, team, actor=actor)
        await audit(conn, actor=actor, action="agent.create", object_type="agent", object_id=row["id"],
                    details={"username": username, "role": role, "teams": team_names})
        agent = await get_agent(conn, username)
    return agent, token


async def get_agent(conn: AsyncConn, username_or_id: str | int) -> Agent:
    """An agent by username (str) or id (int); raises AgentNotFound."""
    if isinstance(username_or_id, int):
        row = await fetch_one(conn, _AGENT_SELECT + " WHERE a.id = %s", (username_or_id,))
    else:
        row = await fetch_one(conn, _AGENT_SELECT + " WHERE a.username = %s", (username_or_id,))
    if row is None:
        raise AgentNotFound(f"no agent {username_or_id!r}", "username")
    return _row_to_agent(row)


async def list_agents(conn: AsyncConn, *, include_inactive: bool = True) -> list[Agent]:
    rows = await fetch_all(
        conn, _AGENT_SELECT + ("" if include_inactive else " WHERE a.active") + " ORDER BY a.username"
    )
    return [_row_to_agent(r) for r in rows]


async def agent_by_token(conn: AsyncConn, token: str) -> Agent | None:
    """The active agent holding this bearer token, or None (unknown, rotated or deactivated)."""
    if not token or len(token) > 512:
        return None
    presented = hash_token(token)
    row = await fetch_one(conn, _AGENT_SELECT.replace("a.created_at,", "a.created_at, a.token_hash,")
                          + " WHERE a.token_hash = %s AND a.active", (presented,))
    if row is None or not hmac.compare_digest(str(row["token_hash"]), presented):
        return None
    return _row_to_agent(row)


async def rotate_token(conn: AsyncConn, username: str, *, actor: str = "system") -> str:
    """Replace the agent's token; the old one stops working at once. Returns the new token."""
    token = new_token()
    async with conn.transaction():
        row = await fetch_one(
            conn, "UPDATE agents SET token_hash = %s WHERE username = %s RETURNING id",
            (hash_token(token), username),
        )
        if row is None:
            raise AgentNotFound(f"no agent {username!r}", "username")
        await audit(conn, actor=actor, action="agent.rotate_token", object_type="agent", object_id=row["id"])
    return token


async def inactive_among(conn: AsyncConn, agent_ids: list[int]) -> list[int]:
    """Which of ``agent_ids`` are deactivated (or gone)."""
    if not agent_ids:
        return []
    rows = await fetch_all(conn, "SELECT id FROM agents WHERE id = ANY(%s) AND active",
                           (agent_ids,))
    active = {int(r["id"]) for r in rows}
    return [a for a in agent_ids if a not in active]


async def update_agent(
    conn: AsyncConn,
    username: str,
    *,
    display_name: str | None = None,
    role: str | None = None,
    endpoint: str | None = None,
    phone_mode: str | None = None,
    active: bool | None = None,
    actor: str = "system",
) -> Agent:
    """Change some fields of an agent (None leaves a field as it is)."""
    _check_fields(display_name, role, endpoint, phone_mode)
    changes: dict[str, Any] = {
        k: v for k, v in (("display_name", display_name), ("role", role), ("endpoint", endpoint),
                          ("phone_mode", phone_mode), ("active", active)) if v is not None
    }
    async with conn.transaction():
        agent = await get_agent(conn, username)
        for k, v in changes.items():
            # Column names come from the fixed list above, never from input.
            await execute(conn, f"UPDATE agents SET {k} = %s WHERE id = %s", (v, agent.id))
        if changes:
            await audit(conn, actor=actor, action="agent.update", object_type="agent", object_id=agent.id,
                        details={"fields": sorted(changes)})
        return await get_agent(conn, agent.id)


# ---------------------------------------------------------------- teams


async def create_team(conn: AsyncConn, name: str, *, actor: str = "system") -> Team:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise AgentError("must be 1-100 characters", "team")
    async with conn.transaction():
        try:
            async with conn.transaction():
                row = await fetch_one(conn, "INSERT INTO teams (name) VALUES (%s) RETURNING id", (name.strip(),))
        except errors.UniqueViolation:
            raise AgentError(f"a team {name!r} already exists", "team") from None
        assert row is not None
        await audit(conn, actor=actor, action="team.create", object_type="team", object_id=row["id"],
                    details={"name": name.strip()})
    return Team(id=row["id"], name=name.strip(), agents=(), campaigns=())


async def add_agent_to_team(conn: AsyncConn, username: str, team: str, *, actor: str = "system") -> None:
    """Idempotent."""
    async with conn.transaction():
        agent = await get_agent(conn, username)
        team_id = await _team_id(conn, team)
        n = await execute(conn, "INSERT INTO agent_teams (agent_id, team_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                          (agent.id, team_id))
        if n:
            await audit(conn, actor=actor, action="team.add_agent", object_type="team", object_id=team_id,
                        details={"agent": username})


async def remove_agent_from_team(conn: AsyncConn, username: str, team: str, *, actor: str = "system") -> None:
    async with conn.transaction():
        agent = await get_agent(conn, username)
        team_id = await _team_id(conn, team)
        n = await execute(conn, "DELETE FROM agent_teams WHERE agent_id = %s AND team_id = %s", (agent.id, team_id))
        if n:
            await audit(conn, actor=actor, action="team.remove_agent", object_type="team", object_id=team_id,
                        details={"agent": username})


async def link_team_to_campaign(conn: AsyncConn, team: str, campaign: str, *, actor: str = "system") -> None:
    """Idempotent. The campaign is named."""
    async with conn.transaction():
        team_id = await _team_id(conn, team)
        row = await fetch_one(conn, "SELECT id FROM campaigns WHERE name = %s", (campaign,))
        if row is None:
            raise AgentNotFound(f"no campaign {campaign!r}", "campaign")
        n = await execute(conn, "INSERT INTO campaign_teams (campaign_id, team_id) VALUES (%s, %s)"
                          " ON CONFLICT DO NOTHING", (row["id"], team_id))
        if n:
            await audit(conn, actor=actor, action="campaign.link_team", object_type="campaign",
                        object_id=row["id"], details={"team": team})


async def list_teams(conn: AsyncConn) -> list[Team]:
    rows = await fetch_all(
        conn,
        """SELECT t.id, t.name,
                  coalesce(array(SELECT a.username FROM agent_teams at JOIN agents a ON a.id = at.agent_id
                                 WHERE at.team_id = t.id ORDER BY a.username), '{}') AS agents,
                  coalesce(array(SELECT c.name FROM campaign_teams ct JOIN campaigns c ON c.id = ct.campaign_id
                                 WHERE ct.team_id = t.id ORDER BY c.name), '{}') AS campaigns
             FROM teams t ORDER BY t.name""",
    )
    return [Team(id=r["id"], name=r["name"], agents=tuple(r["agents"]), campaigns=tuple(r["campaigns"]))
            for r in rows]


async def agents_for_campaign(conn: AsyncConn, campaign_id: int, *, active_only: bool = True) -> list[Agent]:
    """Agents who may work a campaign: members of any team linked to it."""
    rows = await fetch_all(
        conn,
        _AGENT_SELECT
        + """ WHERE a.id IN (SELECT at.agent_id FROM agent_teams at
                              JOIN campaign_teams ct ON ct.team_id = at.team_id
                             WHERE ct.campaign_id = %s)"""
        + (" AND a.active" if active_only else "")
        + " ORDER BY a.username",
        (campaign_id,),
    )
    return [_row_to_agent(r) for r in rows]


async def campaigns_for_agent(conn: AsyncConn, agent_id: int) -> list[int]:
    """Ids of campaigns the agent may work (through teams); for authorization checks."""
    rows = await fetch_all(
        conn,
        "SELECT DISTINCT ct.campaign_id FROM agent_teams at JOIN campaign_teams ct ON ct.team_id = at.team_id"
        " WHERE at.agent_id = %s ORDER BY 1",
        (agent_id,),
    )
    return [int(r["campaign_id"]) for r in rows]


# ---------------------------------------------------------------- state history


async def record_agent_state(
    conn: AsyncConn,
    agent_id: int,
    state: str,
    *,
    reason: str | None = None,
    campaign_id: int | None = None,
    at: datetime | None = None,
    instance_id: str | None = None,
) -> None:
    """Append a state change to agent_state_history (reports derive talk/wrap/idle from it).
    `instance_id`: the orchestrator instance hosting the agent's session.

    Consecutive identical (state, reason, campaign, instance) rows are skipped, so a replay
    is harmless.
    """
    if state not in AGENT_STATES:
        raise AgentError(f"must be one of {', '.join(AGENT_STATES)}; got {state!r}", "state")
    async with conn.transaction():
        if await fetch_one(conn, "SELECT 1 FROM agents WHERE id = %s FOR UPDATE", (agent_id,)) is None:
            raise AgentNotFound(f"no agent with id {agent_id}", "agent_id")
        last = await fetch_one(
            conn,
            "SELECT state, reason, campaign_id, instance_id FROM agent_state_history WHERE agent_id = %s"
            " ORDER BY at DESC, id DESC LIMIT 1",
            (agent_id,),
        )
        if last is not None and (last["state"], last["reason"], last["campaign_id"], last["instance_id"]) == (
                state, reason, campaign_id, instance_id):
            return
        await execute(
            conn,
            "INSERT INTO agent_state_history (agent_id, state, reason, campaign_id, at, instance_id)"
            " VALUES (%s, %s, %s, %s, coalesce(%s::timestamptz, now()), %s)",
            (agent_id, state, reason, campaign_id, at, instance_id),
        )


async def last_agent_states(conn: AsyncConn) -> dict[int, AgentStateRecord]:
    """Each agent's latest recorded state (to restore the desk after a restart)."""
    rows = await fetch_all(
        conn,
        "SELECT DISTINCT ON (agent_id) agent_id, state, reason, campaign_id, at"
        " FROM agent_state_history ORDER BY agent_id, at DESC, id DESC",
    )
    return {
        r["agent_id"]: AgentStateRecord(r["agent_id"], r["state"], r["reason"], r["campaign_id"], r["at"])
        for r in rows
    }


async def agents_hosted_elsewhere(
    conn: AsyncConn, agent_ids: Iterable[int], *, me: str, stale_after: timedelta
) -> set[int]:
    """Of `agent_ids`, the agents that may be logged in on another live instance: their last
    recorded state is not logged_out and was recorded by an instance other than `me` whose
    heartbeat is fresh (or by an unknown instance: assumed alive). Reconciliation leaves
    such agents' bridges alone."""
    ids = sorted({int(a) for a in agent_ids})
    if not ids:
        return set()
    rows = await fetch_all(
        conn,
        """SELECT l.agent_id FROM (
               SELECT DISTINCT ON (agent_id) agent_id, state, instance_id
                 FROM agent_state_history WHERE agent_id = ANY(%(ids)s)
                ORDER BY agent_id, at DESC, id DESC) l
             LEFT JOIN orchestrator_instances i ON i.instance_id = l.instance_id
            WHERE l.state <> 'logged_out'
              AND l.instance_id IS DISTINCT FROM %(me)s
              AND (l.instance_id IS NULL OR i.instance_id IS NULL
                   OR i.heartbeat_at >= now() - %(stale)s)""",
        {"ids": ids, "me": me, "stale": stale_after},
    )
    return {int(r["agent_id"]) for r in rows}
