"""`orchestrator contacts show`: screen-pop facts, targets with live reasons, attempt history."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from orchestrator.cli import main


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> str:
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        # Calling all day every day, so "now" is inside the window whatever the clock says.
        conn.execute("INSERT INTO campaigns (name, max_attempts_per_target, window_start, window_end)"
                     " VALUES ('Spring', 3, '00:00', '23:59:59.999999')")
        conn.execute("INSERT INTO dnc_entries (e164) VALUES ('+12125550103')")
    path = tmp_path / "c.csv"
    path.write_text(
        "external_id,first_name,last_name,postal_code,timezone,expires_at,"
        "phone1,phone1_description,phone2,phone2_description,phone3,plan\n"
        "CRM-1,Ada,Lovelace,10001,America/New_York,2099-12-31T23:59:00+00:00,"
        "+1 212 555 0101,Mobile,+1 212 555 0102,,+1 212 555 0103,gold\n"
    )
    assert main(["contacts", "import", str(path), "--campaign", "Spring"]) == 0
    capsys.readouterr()
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO agents (username, display_name) VALUES ('jdoe', 'Jane Doe')")
        ids = conn.execute(
            "SELECT k.id, c.id, t.id FROM targets t JOIN contacts c ON c.id = t.contact_id"
            " JOIN campaigns k ON k.id = c.campaign_id WHERE t.position = 1").fetchone()
        assert ids is not None
        for n, outcome, code in ((1, "busy", "Busy"), (2, "no_answer", "No answer")):
            conn.execute(
                "INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164,"
                " mode, agent_id, owner, state, outcome, wrapup_code_id, created_at, ended_at)"
                " VALUES (%s, %s, %s, %s, %s, '+12125550101', 'progressive',"
                " (SELECT id FROM agents WHERE username = 'jdoe'), 'test', 'ended', %s,"
                " (SELECT id FROM wrapup_codes WHERE label = %s AND code_set_id IS NULL),"
                " now() - %s * interval '10 minutes', now() - %s * interval '10 minutes')",
                (uuid.uuid4(), *ids, n, outcome, code, 3 - n, 3 - n),
            )
        conn.execute("UPDATE targets SET last_outcome = 'No answer', last_outcome_class = 'retry'"
                     " WHERE id = %s", (ids[2],))
    return database_url


def show(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["contacts", "show", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_show_text(db: str, capsys) -> None:
    status, out, err = show(capsys, "--external-id", "CRM-1", "--campaign", "Spring")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Contact ")
    assert "  Name         Ada Lovelace" in lines
    assert "  Time zone    America/New_York" in lines
    assert "  Expires      2099-12-31 23:59 UTC" in lines
    assert "  Attempts     2" in lines
    assert "  plan  gold" in lines
    targets = lines[lines.index("Targets") + 1: lines.index("Attempts")]
    assert targets[0].split() == ["Target", "Number", "Attempts", "Available", "from", "Last",
                                  "outcome", "Unavailable", "reason"]
    # Mobile: 2/3, in cadence (No answer -> retry after 1 h) until about 50 minutes from now.
    assert targets[1].startswith("  Mobile   +12125550101  2/3")
    assert targets[1].endswith("No answer     Not in cadence")
    assert targets[2].split() == ["Phone", "2", "+12125550102", "0/3", "now", "-", "-"]
    assert targets[3].split() == ["Phone", "3", "+12125550103", "0/3", "-", "-", "DNC"]
    history = lines[lines.index("Attempts") + 1:]
    assert history[0].split() == ["Attempt", "Date", "and", "time", "Outcome", "Agent", "Disposition"]
    assert history[1].startswith("  Attempt 1 (Mobile)")
    assert history[1].split()[-4:] == ["busy", "Jane", "Doe", "Busy"]
    assert "no_answer" in history[2] and history[2].endswith("Jane Doe  No answer")


def test_show_json_by_id(db: str, capsys) -> None:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT id FROM contacts").fetchone()
        assert row is not None
    status, out, _ = show(capsys, str(row[0]), "--json")
    assert status == 0
    data = json.loads(out)
    assert data["external_id"] == "CRM-1" and data["campaign"]["name"] == "Spring"
    assert data["custom_fields"] == {"plan": "gold"}
    assert data["attempts_made"] == 2
    assert [t["attempts"] for t in data["targets"]] == ["2/3", "0/3", "0/3"]
    assert [t["unavailable_reason"] for t in data["targets"]] == ["Not in cadence", None, "DNC"]
    assert [t["dialable"] for t in data["targets"]] == [False, True, False]
    assert data["targets"][0]["available_from"] > data["evaluated_at"]
    assert data["targets"][2]["available_from"] is None
    assert [(a["attempt"], a["outcome"], a["agent"], a["disposition"]) for a in data["attempts"]] == [
        ("Attempt 1 (Mobile)", "busy", "Jane Doe", "Busy"),
        ("Attempt 2 (Mobile)", "no_answer", "Jane Doe", "No answer"),
    ]


def test_stored_permanent_reason_and_exhaustion(db: str, capsys) -> None:
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE targets SET unavailable_reason = 'Invalid target' WHERE position = 2")
        conn.execute("UPDATE targets SET max_attempts = 2 WHERE position = 1")
    data = json.loads(show(capsys, "--external-id", "CRM-1", "--campaign", "Spring", "--json")[1])
    assert [t["unavailable_reason"] for t in data["targets"]] == ["Exhausted", "Invalid target", "DNC"]
    assert [t["attempts"] for t in data["targets"]][0] == "2/2"


SHOW_ERRORS = [
    (["999999"], 1, "orchestrator: contacts show: no contact with id 999999"),
    (["--external-id", "CRM-1"], 2, "orchestrator: contacts show: --external-id needs --campaign"),
    (["--external-id", "nope", "--campaign", "Spring"], 1,
     'orchestrator: contacts show: no contact with external id "nope" in campaign "Spring"'),
    (["--external-id", "CRM-1", "--campaign", "Nope"], 2,
     'orchestrator: contacts show: no campaign named "Nope"'),
    ([], 2, "orchestrator: contacts show: give a contact ID, or --external-id with --campaign"),
]


def test_show_errors(db: str, capsys) -> None:
    for args, status, message in SHOW_ERRORS:
        got_status, _, err = show(capsys, *args)
        assert (got_status, err.strip()) == (status, message), args
