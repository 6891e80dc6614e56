"""Agents, tokens, teams and state history against PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.ledger import agents, campaigns
from orchestrator.ledger.pool import connect, fetch_all, fetch_one
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON

pytestmark = pytest.mark.timeout(30)
# One shared, emptied-per-test database instead of one database per test (faster).
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database


async def test_token_is_returned_once_and_only_its_hash_is_stored(database_url: str) -> None:
    async with connect(database_url) as conn:
        agent, token = await agents.create_agent(conn, "ann", display_name="Ann Agent", endpoint="PJSIP/1001")
        assert token.startswith("dlr_") and len(token) > 40
        row = await fetch_one(conn, "SELECT token_hash FROM agents WHERE id = %s", (agent.id,))
        assert row == {"token_hash": agents.hash_token(token)}
        dump = await fetch_all(conn, "SELECT details::text AS d FROM audit_log")
        assert all(token not in r["d"] and agents.hash_token(token) not in r["d"] for r in dump)
        found = await agents.agent_by_token(conn, token)
        assert found == agent and found.role == "agent"
        assert "token" not in repr(found)


async def test_lookup_refuses_wrong_rotated_and_inactive_tokens(database_url: str) -> None:
    async with connect(database_url) as conn:
        sup, token = await agents.create_agent(conn, "sue", display_name="Sue", role="supervisor")
        assert await agents.agent_by_token(conn, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert await agents.agent_by_token(conn, "") is None
        assert await agents.agent_by_token(conn, agents.hash_token(token)) is None, "the hash is not a token"
        new = await agents.rotate_token(conn, "sue")
        assert new != token
        assert await agents.agent_by_token(conn, token) is None
        assert (await agents.agent_by_token(conn, new)) == sup
        await agents.update_agent(conn, "sue", active=False)
        assert await agents.agent_by_token(conn, new) is None
        with pytest.raises(agents.AgentNotFound):
            await agents.rotate_token(conn, "nobody")


BAD_AGENTS = (
        ({"username": "Bad User"}, "username"),
        ({"display_name": ""}, "display_name"),
        ({"role": "root"}, "role"),
        ({"endpoint": "1001"}, "endpoint"),
        ({"phone_mode": "pigeon"}, "phone_mode"),
        ({"teams": ["Ghosts"]}, "team"),
)


async def test_bad_agent_input_names_the_field(database_url: str) -> None:
    async with connect(database_url) as conn:
        for kwargs, field in BAD_AGENTS:
            args: dict = {"username": "ok", "display_name": "OK", **kwargs}
            with pytest.raises(agents.AgentError) as exc:
                await agents.create_agent(conn, args.pop("username"), **args)
            assert exc.value.field == field, (kwargs, exc.value)
        assert await agents.list_agents(conn) == [], "nothing half-created"


async def test_teams_link_agents_to_campaigns(database_url: str) -> None:
    async with connect(database_url) as conn:
        c1 = await campaigns.create_campaign(conn, "C1")
        c2 = await campaigns.create_campaign(conn, "C2")
        await agents.create_team(conn, "Red")
        await agents.create_team(conn, "Blue")
        with pytest.raises(agents.AgentError, match="already exists"):
            await agents.create_team(conn, "Red")
        a, _ = await agents.create_agent(conn, "amy", display_name="Amy", teams=["Red"])
        b, _ = await agents.create_agent(conn, "ben", display_name="Ben", teams=["Blue"])
        await agents.create_agent(conn, "cat", display_name="Cat")
        await agents.add_agent_to_team(conn, "ben", "Red")
        await agents.add_agent_to_team(conn, "ben", "Red")  # idempotent
        await agents.link_team_to_campaign(conn, "Red", "C1")
        await agents.link_team_to_campaign(conn, "Blue", "C2")
        assert [x.username for x in await agents.agents_for_campaign(conn, c1.id)] == ["amy", "ben"]
        assert [x.username for x in await agents.agents_for_campaign(conn, c2.id)] == ["ben"]
        assert await agents.campaigns_for_agent(conn, b.id) == [c1.id, c2.id]
        assert await agents.campaigns_for_agent(conn, a.id) == [c1.id]
        await agents.remove_agent_from_team(conn, "ben", "Red")
        assert [x.username for x in await agents.agents_for_campaign(conn, c1.id)] == ["amy"]
        teams = {t.name: t for t in await agents.list_teams(conn)}
        assert teams["Red"].agents == ("amy",) and teams["Red"].campaigns == ("C1",)
        assert (await agents.get_agent(conn, "ben")).teams == ("Blue",)


async def test_state_history_appends_and_skips_repeats(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "S")
        a, _ = await agents.create_agent(conn, "amy", display_name="Amy")
        await agents.record_agent_state(conn, a.id, "available", campaign_id=c.id, at=NOON)
        await agents.record_agent_state(conn, a.id, "available", campaign_id=c.id, at=NOON + timedelta(seconds=1))
        await agents.record_agent_state(conn, a.id, "not_ready", reason="Lunch", at=NOON + timedelta(minutes=5))
        rows = await fetch_all(conn, "SELECT state, reason FROM agent_state_history ORDER BY id")
        assert rows == [{"state": "available", "reason": None}, {"state": "not_ready", "reason": "Lunch"}]
        last = await agents.last_agent_states(conn)
        assert last[a.id].state == "not_ready" and last[a.id].at == NOON + timedelta(minutes=5)
        with pytest.raises(agents.AgentError) as exc:
            await agents.record_agent_state(conn, a.id, "dancing")
        assert exc.value.field == "state"
        with pytest.raises(agents.AgentNotFound):
            await agents.record_agent_state(conn, 999, "available")
