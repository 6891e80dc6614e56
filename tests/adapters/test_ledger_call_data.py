"""Call-associated data in the ledger (MISSION E; sql/008): a campaign's variables
replaced whole or not at all, an attempt's values filled from the contact's custom
fields, saves with optimistic concurrency (the first save wins, the second is told what
changed and by whom), the history of saves without secrets, and the limits the database
enforces itself."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from orchestrator.ledger import agents, campaigns, claims
from orchestrator.ledger import call_data as cd
from orchestrator.ledger.claims import AttemptTicket
from orchestrator.ledger.pool import AsyncConn, connect, execute, fetch_all
from tests.support import ledger_seed
from tests.support.ledger_seed import NOON, add_contact

pytestmark = pytest.mark.timeout(30)
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database

VARIABLES = [
    {"name": "plan", "label": "Plan"},
    {"name": "note", "label": "Agent note", "editable": True},
    {"name": "card", "label": "Card number", "editable": True, "secure": True},
    {"name": "renewal", "label": "Renewal", "editable": True},
]


async def _call(conn: AsyncConn, *, fields: dict[str, object] | None = None,
                name: str = "Cad") -> tuple[campaigns.Campaign, uuid.UUID, int, int]:
    """A running campaign with the variables above, one contact with ``fields`` as custom
    fields, one attempt written ahead for it; (campaign, attempt id, agent, other agent)."""
    c = await campaigns.create_campaign(conn, name, mode="progressive")
    c = await campaigns.start_campaign(conn, c.id)
    await cd.replace_variables(conn, c.id, cd.check_variables(VARIABLES), actor="test")
    contact_id, (tid,) = await add_contact(conn, c.id)
    await execute(conn, "UPDATE contacts SET custom_fields = %s WHERE id = %s",
                  (Jsonb(fields or {}), contact_id))
    a1, _ = await agents.create_agent(conn, f"{name.lower()}1", display_name="Alice")
    a2, _ = await agents.create_agent(conn, f"{name.lower()}2", display_name="Bob")
    res = await claims.claim_targets(conn, c.id, owner="i1", limit=5, now=NOON)
    assert tid in {t.target_id for t in res.claimed}
    ticket = await claims.write_ahead_attempt(conn, tid, owner="i1", agent_id=a1.id, now=NOON)
    assert isinstance(ticket, AttemptTicket)
    return c, uuid.UUID(str(ticket.attempt_id)), a1.id, a2.id


# ------------------------------------------------------------------ definitions


async def test_variables_are_replaced_whole_in_order_and_audited(database_url: str) -> None:
    async with connect(database_url) as conn:
        c = await campaigns.create_campaign(conn, "Defs", mode="progressive")
        saved = await cd.replace_variables(conn, c.id, cd.check_variables(VARIABLES), actor="adm")
        assert [(v.name, v.label, v.editable, v.secure, v.position) for v in saved] == [
            ("plan", "Plan", False, False, 0), ("note", "Agent note", True, False, 1),
            ("card", "Card number", True, True, 2), ("renewal", "Renewal", True, False, 3)]
        again = await cd.replace_variables(
            conn, c.id, cd.check_variables([{"name": "note"}, {"name": "plan", "label": " P "}]),
            actor="adm")
        assert [(v.name, v.label, v.editable, v.position) for v in again] == [
            ("note", "note", False, 0), ("plan", "P", False, 1)]
        assert await cd.campaign_variables(conn, c.id) == again
        audit = await fetch_all(conn, "SELECT actor, details FROM audit_log"
                                " WHERE action = 'campaign.variables' ORDER BY id")
        assert [(a["actor"], a["details"]["names"]) for a in audit] == [
            ("adm", ["plan", "note", "card", "renewal"]), ("adm", ["note", "plan"])]


@pytest.mark.parametrize(("items", "field", "words"), [
    ([{"name": "Plan"}], "variables.0.name", "a-z"),
    ([{"name": "1plan"}], "variables.0.name", "starting with a letter"),
    ([{"name": "p" * 33}], "variables.0.name", "1 to 32"),
    ([{"label": "No name"}], "variables.0.name", "a-z"),
    ([{"name": "a"}, {"name": "a"}], "variables.1.name", "defined twice"),
    ([{"name": "a", "label": ""}], "variables.0.label", "1 to 64"),
    ([{"name": "a", "label": "x" * 65}], "variables.0.label", "1 to 64"),
    ([{"name": "a", "label": "bad\x1b[2J"}], "variables.0.label", "control"),
    ([{"name": "a", "editable": "yes"}], "variables.0.editable", "true or false"),
    ([{"name": "a", "secure": 1}], "variables.0.secure", "true or false"),
    ([{"name": "a"}, {"name": "b", "colour": "red"}], "variables.1.colour", "unknown key"),
    ([{"name": "a"}, "b"], "variables.1", "an object"),
    ([{"name": f"v{i}"} for i in range(101)], "variables", "at most 100"),
])
def test_a_bad_variable_is_refused_naming_its_entry_and_key(
        items: list[object], field: str, words: str) -> None:
    with pytest.raises(cd.CallDataError) as exc:
        cd.check_variables(items)
    assert exc.value.field == field and words in exc.value.message, (exc.value.field, exc.value)


# ------------------------------------------------------------------ values


async def test_first_values_come_from_the_contacts_custom_fields(database_url: str) -> None:
    async with connect(database_url) as conn:
        _, aid, _, _ = await _call(conn, fields={"plan": "gold", "Renewal": 2027, "other": "x",
                                                 "note": "n" * 300})
        data = await cd.read_call_data(conn, aid)
    assert data.version == 0 and not data.dispositioned
    shown = {n: (v.value, v.source, v.version) for n, v in data.values.items()}
    assert shown == {"plan": ("gold", "contact", 0), "renewal": ("2027", "contact", 0),
                     "note": ("n" * 256, "contact", 0), "card": ("", "empty", 0)}
    assert [v.name for v in data.variables] == ["plan", "note", "card", "renewal"]


async def test_a_save_writes_the_next_version_and_its_history_without_secrets(
        database_url: str) -> None:
    async with connect(database_url) as conn:
        _, aid, alice, _ = await _call(conn, fields={"plan": "gold"})
        res = await cd.save_call_data(conn, aid, agent_id=alice, version=0,
                                      values={"note": "call back after 5", "card": "4111111111111111"})
        assert res.saved and res.version == 1
        assert [(n, v.value, v.version, v.username) for n, v in res.changed] == [
            ("card", "4111111111111111", 1, "cad1"), ("note", "call back after 5", 1, "cad1")]
        data = await cd.read_call_data(conn, aid)
        assert data.version == 1
        assert data.values["note"].value == "call back after 5"
        assert data.values["note"].display_name == "Alice" and data.values["note"].at is not None
        assert data.values["card"].value == "4111111111111111"  # kept in full here
        # Unchanged values write nothing: no new version.
        same = await cd.save_call_data(conn, aid, agent_id=alice, version=1,
                                       values={"note": "call back after 5"})
        assert same.saved and same.version == 1 and same.changed == []
        events = await fetch_all(conn, "SELECT data FROM attempt_events WHERE attempt_id = %s"
                                 " AND kind = 'call_data_saved'", (aid,))
    assert [e["data"] for e in events] == [{"version": 1, "agent_id": alice,
                                            "names": ["card", "note"],
                                            "values": {"note": "call back after 5"}}]
    assert "4111" not in str(events)


async def test_a_stale_save_is_refused_with_what_changed_since(database_url: str) -> None:
    async with connect(database_url) as conn:
        _, aid, alice, bob = await _call(conn)
        first = await cd.save_call_data(conn, aid, agent_id=alice, version=0, values={"note": "A"})
        assert first.saved and first.version == 1
        second = await cd.save_call_data(conn, aid, agent_id=bob, version=0,
                                         values={"note": "B", "renewal": "2030"})
        assert not second.saved and second.version == 1
        assert [(n, v.value, v.version, v.agent_id, v.username) for n, v in second.changed] == [
            ("note", "A", 1, alice, "cad1")]
        data = await cd.read_call_data(conn, aid)
        assert data.values["note"].value == "A" and data.values["renewal"].value == ""
        # From the version it now knows, the second writer's save goes through.
        third = await cd.save_call_data(conn, aid, agent_id=bob, version=1, values={"note": "B"})
        assert third.saved and third.version == 2


async def test_two_concurrent_saves_from_one_version_one_wins(database_url: str) -> None:
    async with connect(database_url) as conn:
        _, aid, alice, bob = await _call(conn)
    async with connect(database_url) as c1, connect(database_url) as c2:
        results = await asyncio.gather(
            cd.save_call_data(c1, aid, agent_id=alice, version=0, values={"note": "from A"}),
            cd.save_call_data(c2, aid, agent_id=bob, version=0, values={"note": "from B"}))
    won = [r for r in results if r.saved]
    lost = [r for r in results if not r.saved]
    assert len(won) == 1 and len(lost) == 1, results
    (name, value), = [(n, v.value) for n, v in lost[0].changed]
    async with connect(database_url) as conn:
        data = await cd.read_call_data(conn, aid)
    assert name == "note" and data.values["note"].value == value and data.version == 1


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"nope": "x"}, "values.nope", "no such variable"),
    ({"plan": "platinum"}, "values.plan", "not editable"),
    ({"note": "x" * 257}, "values.note", "at most 256"),
    ({"note": "bell\x07"}, "values.note", "control"),
    ({"note": "half \ud800 a pair"}, "values.note", "broken text"),
    ({"note": 5}, "values.note", "text"),
    ({"Bad Name!": "x"}, "values.'Bad Name!'", "no such variable"),
])
async def test_a_refused_value_writes_nothing_and_names_the_variable(
        database_url: str, values: dict[str, object], field: str, words: str) -> None:
    async with connect(database_url) as conn:
        _, aid, alice, _ = await _call(conn)
        with pytest.raises(cd.CallDataError) as exc:
            await cd.save_call_data(conn, aid, agent_id=alice, version=0,
                                    values={"renewal": "2031", **values})
        assert exc.value.field == field and words in exc.value.message, exc.value
        assert (await cd.read_call_data(conn, aid)).version == 0


async def test_the_limits_hold_at_256_and_in_the_database(database_url: str) -> None:
    async with connect(database_url) as conn:
        _, aid, alice, _ = await _call(conn)
        ok = await cd.save_call_data(conn, aid, agent_id=alice, version=0,
                                     values={"note": "é" * 255 + "\n"})
        assert ok.saved
        with pytest.raises(psycopg.errors.CheckViolation):
            await execute(conn, "UPDATE call_data_values SET value = %s WHERE attempt_id = %s",
                          ("x" * 257, aid))
        with pytest.raises(psycopg.errors.CheckViolation):
            await execute(conn, "INSERT INTO call_data_variables (campaign_id, name, label,"
                          " position) SELECT campaign_id, 'Bad', 'x', 9 FROM attempts"
                          " WHERE id = %s", (aid,))


async def test_values_stay_with_the_attempt_when_the_variables_change(database_url: str) -> None:
    async with connect(database_url) as conn:
        c, aid, alice, _ = await _call(conn)
        await cd.save_call_data(conn, aid, agent_id=alice, version=0, values={"note": "kept"})
        await cd.replace_variables(conn, c.id, cd.check_variables([{"name": "plan"}]),
                                   actor="test")
        data = await cd.read_call_data(conn, aid)
        assert list(data.values) == ["plan"] and data.version == 1
        await cd.replace_variables(conn, c.id, cd.check_variables(VARIABLES), actor="test")
        assert (await cd.read_call_data(conn, aid)).values["note"].value == "kept"


async def test_an_unknown_attempt_is_named(database_url: str) -> None:
    async with connect(database_url) as conn:
        with pytest.raises(cd.AttemptNotFound) as exc:
            await cd.read_call_data(conn, uuid.uuid4())
        assert exc.value.field == "attempt_id"
        with pytest.raises(cd.CallDataError) as bad:
            await cd.read_call_data(conn, "not-a-uuid")
        assert bad.value.field == "attempt_id"
