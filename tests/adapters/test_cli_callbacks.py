"""`orchestrator callbacks list|show|delete|web-token` against a real PostgreSQL: what is
printed (escaped for the terminal), refusals naming the field, deletion logged."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.cli import main
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import callbacks, campaigns, claims
from orchestrator.ledger.pool import connect, fetch_all, fetch_one
from tests.support import ledger_seed

pytestmark = pytest.mark.timeout(30)
database_url = ledger_seed.database_url
ledger_session_database = ledger_seed.ledger_session_database


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def _seed(url: str, *, name: str = "Zoë\x1b[31mRED", queue: str | None = None) -> dict[str, Any]:
    """A running campaign, a scheduled callback in two hours and a queue callback."""
    async def go() -> dict[str, Any]:
        async with connect(url) as conn:
            c = await campaigns.create_campaign(conn, "Dusk", mode="progressive",
                                                callback_queue="sales", window_start="00:00",
                                                window_end="23:59")
            c = await campaigns.start_campaign(conn, c.id)
            cb = await callbacks.create_callback(
                conn, phone="+33 612 340 777", name=name, campaign_id=c.id,
                window_start=datetime.now(UTC) + timedelta(hours=2), time_zone="Europe/Paris",
                reason="renewal")
            q = await callbacks.create_queue_callback(conn, queue="sales", position=2,
                                                      e164="+33612340778", source_channel=None)
            return {"campaign": c.id, "scheduled": cb.id, "queue": q}
    return asyncio.run(go())


def test_list_shows_open_callbacks_escaped_and_as_json(cli, database_url: str) -> None:
    made = _seed(database_url)
    status, out, _ = cli("callbacks", "list", "--tz", "Europe/Paris")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["Id", "Kind", "Status"]
    assert "\x1b" not in out and "Zoë\\x1b[31mRED" in out  # a name cannot recolour the terminal
    assert "queue #2" in out and "+33612340778" in out and "CET" in out
    status, out, _ = cli("callbacks", "list", "--json", "--kind", "queue")
    listed = json.loads(out)["callbacks"]
    assert [c["id"] for c in listed] == [made["queue"]]
    assert listed[0]["queue_position"] == 2 and listed[0]["campaign"] == "Dusk"
    status, out, _ = cli("callbacks", "list", "--status", "done")
    assert status == 0 and out.strip() == "no callbacks"
    status, _, err = cli("callbacks", "list", "--status", "pending,finished")
    assert status == 2 and "--status: finished" in err
    status, _, err = cli("callbacks", "list", "--tz", "Mars/Base")
    assert status == 2 and "--tz" in err
    status, _, err = cli("callbacks", "list", "--campaign", "Nope")
    assert status == 2 and "no campaign 'Nope'" in err


def test_show_has_the_attempts_made_for_it(cli, database_url: str) -> None:
    made = _seed(database_url)

    async def dial_once() -> None:
        async with connect(database_url) as conn:
            (due,) = (await callbacks.claim_due_callbacks(
                conn, owner="cli-test", limit=1, lease=timedelta(seconds=60),
                campaign_ids=[made["campaign"]])).claimed
            ticket = await claims.write_ahead_attempt(conn, due.target_id, owner="cli-test",
                                                      require_lease=False, callback_id=due.id,
                                                      mode="callback")
            assert isinstance(ticket, claims.AttemptTicket), ticket
            await attempts_ledger.end_attempt(conn, ticket.attempt_id, outcome="busy")
            await callbacks.settle_callbacks(conn)

    asyncio.run(dial_once())
    status, out, _ = cli("callbacks", "show", str(made["queue"]))
    assert status == 0
    assert "Queue position  2" in out and "Attempts        1/3" in out
    assert "Next attempt after busy (1 made)" in out
    attempts_part = out.split("Attempts\n", 1)[1]
    assert "busy" in attempts_part and "Busy" in attempts_part  # outcome, automatic disposition
    status, out, _ = cli("callbacks", "show", str(made["queue"]), "--json")
    shown = json.loads(out)
    assert [a["outcome"] for a in shown["attempts"]] == ["busy"] and shown["attempts_made"] == 1
    status, _, err = cli("callbacks", "show", "999")
    assert status == 1 and "callback_id: no callback 999" in err


def test_delete_is_logged_and_refused_once_ended(cli, database_url: str) -> None:
    made = _seed(database_url)
    status, out, _ = cli("callbacks", "delete", str(made["queue"]), "--reason", "caller came back")
    assert status == 0 and f"callback {made['queue']} deleted" in out and "logged as deleted" in out
    status, _, err = cli("callbacks", "delete", str(made["queue"]))
    assert status == 1 and "status: the callback is deleted" in err
    status, _, err = cli("callbacks", "delete", str(made["scheduled"]), "--reason", "r" * 251)
    assert status == 1 and "reason: must be at most 250 characters" in err

    async def read() -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        async with connect(database_url) as conn:
            logged = await fetch_all(conn, "SELECT * FROM audit_log WHERE action = 'callback.delete'")
            row = await fetch_one(conn, "SELECT status FROM callbacks WHERE id = %s",
                                  (made["scheduled"],))
            return logged, row

    logged, row = asyncio.run(read())
    assert len(logged) == 1 and logged[0]["object_id"] == str(made["queue"])
    assert logged[0]["actor"].startswith("cli") and logged[0]["details"]["reason"] == "caller came back"
    assert row == {"status": "pending"}  # nothing half-written by the refused one


def test_web_tokens_and_campaign_callback_settings(cli, database_url: str) -> None:
    _seed(database_url)
    status, out, _ = cli("callbacks", "web-token", "create", "shop", "--campaign", "Dusk")
    assert status == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("dlw_") and len(token) > 40

    async def lookup() -> Any:
        async with connect(database_url) as conn:
            return await callbacks.web_token_by_token(conn, token)

    found = asyncio.run(lookup())
    assert found is not None and found.name == "shop"
    status, _, err = cli("callbacks", "web-token", "create", "shop", "--campaign", "Dusk")
    assert status == 1 and "name: a web-callback token with this name exists" in err
    status, _, err = cli("callbacks", "web-token", "create", "Bad Name", "--campaign", "Dusk")
    assert status == 1 and err.startswith("orchestrator: name:")
    assert cli("callbacks", "web-token", "revoke", "shop")[0] == 0
    assert asyncio.run(lookup()) is None
    status, _, err = cli("callbacks", "web-token", "revoke", "shop")
    assert status == 1 and "no active web-callback token" in err
    # the campaign's callback settings, through the campaign command
    status, out, _ = cli("campaign", "update", "Dusk", "--set", "personal_callback_fallback=anyone",
                         "--set", "callback_attempts=2", "--set", "callback_retry_delay=5m")
    assert status == 0
    status, out, _ = cli("campaign", "show", "Dusk", "--json")
    shown = json.loads(out)
    assert (shown["personal_callback_fallback"], shown["callback_attempts"],
            shown["callback_retry_delay"], shown["callback_queue"]) == ("anyone", 2, 300, "sales")
    assert cli("campaign", "create", "Dawn", "--mode", "preview")[0] == 0
    status, _, err = cli("campaign", "update", "Dawn", "--set", "callback_queue=sales")
    assert status == 2 and "callback_queue: another campaign already dials" in err
    status, _, err = cli("campaign", "update", "Dawn", "--set", "personal_callback_fallback=never")
    assert status == 2 and "personal_callback_fallback" in err
