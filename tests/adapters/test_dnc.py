"""`orchestrator dnc add|remove|check|import` and the DNC rule the database enforces."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from orchestrator.cli import main


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO campaigns (name) VALUES ('Spring'), ('Autumn')")
    return database_url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def entries(url: str) -> list[tuple[str, str | None, str, str | None, bool]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT d.e164, c.name, d.source, d.reason, d.expires_at IS NOT NULL"
            " FROM dnc_entries d LEFT JOIN campaigns c ON c.id = d.campaign_id"
            " ORDER BY d.e164, c.name NULLS FIRST"
        ).fetchall()


def add_target(url: str, campaign: str, e164: str) -> tuple[int, int, int]:
    """A contact with one target; (campaign_id, contact_id, target_id)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """WITH k AS (SELECT id FROM campaigns WHERE name = %s),
                    c AS (INSERT INTO contacts (campaign_id) SELECT id FROM k RETURNING id, campaign_id)
               INSERT INTO targets (contact_id, campaign_id, position, e164)
               SELECT c.id, c.campaign_id, 1, %s FROM c RETURNING campaign_id, contact_id, id""",
            (campaign, e164),
        ).fetchone()
        assert row is not None
        return row


def insert_attempt(url: str, ids: tuple[int, int, int], e164: str, number: int = 1) -> None:
    campaign_id, contact_id, target_id = ids
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164,"
            " mode, owner) VALUES (%s, %s, %s, %s, %s, %s, 'progressive', 'test')",
            (uuid.uuid4(), campaign_id, contact_id, target_id, number, e164),
        )


def test_add_check_remove(db: str, capsys) -> None:
    status, out, _ = run(capsys, "dnc", "add", "(212) 555-0101", "--default-region", "US",
                         "--source", "agent", "--reason", "asked on call")
    assert status == 0
    assert out.strip() == "added +12125550101 (global); 0 target(s) marked DNC"
    status, out, _ = run(capsys, "dnc", "add", "+12125550101", "--campaign", "Spring",
                         "--expires", "30d")
    assert status == 0 and out.startswith("added +12125550101 (campaign \"Spring\") until ")
    status, out, _ = run(capsys, "dnc", "add", "+1 212 555 0101", "--source", "web")
    assert out.strip() == "refreshed +12125550101 (global); 0 target(s) marked DNC"
    assert entries(db) == [("+12125550101", None, "web", None, False),
                           ("+12125550101", "Spring", "manual", None, True)]
    status, out, _ = run(capsys, "dnc", "check", "+12125550101")
    assert status == 0
    assert out.splitlines()[0] == "+12125550101: global, active, source web"

    status, out, _ = run(capsys, "dnc", "remove", "+12125550101")
    assert status == 0
    assert out.splitlines() == ["removed +12125550101 (global)", '  still listed: campaign "Spring"']
    status, _, err = run(capsys, "dnc", "remove", "+12125550101")
    assert status == 1
    assert err.strip() == "orchestrator: dnc remove: +12125550101 is not on the do-not-call list (global)"
    assert entries(db) == [("+12125550101", "Spring", "manual", None, True)]


BAD_ADD = [
    (["dnc", "add", "555"],
     'orchestrator: number: no country code (start with + or give a default region) ("555")'),
    (["dnc", "add", "555", "--default-region", "US"], 'orchestrator: number: too short ("555")'),
    (["dnc", "add", "+12125550101", "--campaign", "Nope"], 'orchestrator: no campaign named "Nope"'),
    (["dnc", "add", "+12125550101", "--expires", "2001-01-01T00:00:00+00:00"],
     'orchestrator: --expires: "2001-01-01T00:00:00+00:00" is in the past'),
    (["dnc", "add", "+12125550101", "--expires", "soon"],
     'orchestrator: --expires: "soon" is neither an ISO 8601 date-time nor a duration like 30d'),
]


def test_add_rejects_bad_input(db: str, capsys) -> None:
    for args, message in BAD_ADD:
        status, _, err = run(capsys, *args)
        assert (status, err.strip()) == (2, message)
    assert entries(db) == []


def test_attempts_trigger_refuses_a_dnc_number(db: str, capsys) -> None:
    e164 = "+12125550101"
    ids = add_target(db, "Spring", e164)
    assert run(capsys, "dnc", "add", e164)[1].strip() == f"added {e164} (global); 1 target(s) marked DNC"
    with pytest.raises(psycopg.errors.CheckViolation, match="do-not-call"):
        insert_attempt(db, ids, e164)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT unavailable_reason, attempts_made FROM targets").fetchone() == ("DNC", 0)
    # Removing the entry clears the stored reason and the attempt goes through.
    assert run(capsys, "dnc", "remove", e164)[0] == 0
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT unavailable_reason FROM targets").fetchone() == (None,)
    insert_attempt(db, ids, e164)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT attempts_made FROM targets").fetchone() == (1,)


def test_campaign_scoped_entry_only_blocks_that_campaign(db: str, capsys) -> None:
    e164 = "+12125550102"
    spring = add_target(db, "Spring", e164)
    autumn = add_target(db, "Autumn", e164)
    assert run(capsys, "dnc", "add", e164, "--campaign", "Spring")[0] == 0
    with pytest.raises(psycopg.errors.CheckViolation):
        insert_attempt(db, spring, e164)
    insert_attempt(db, autumn, e164)
    with psycopg.connect(db) as conn:
        reasons = conn.execute(
            "SELECT k.name, t.unavailable_reason FROM targets t JOIN campaigns k ON k.id = t.campaign_id"
            " ORDER BY k.name").fetchall()
    assert reasons == [("Autumn", None), ("Spring", "DNC")]


def test_dnc_import(db: str, tmp_path: Path, capsys) -> None:
    add_target(db, "Spring", "+12125550105")
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO dnc_entries (e164, campaign_id, source) SELECT '+12125550101', id,"
                     " 'old' FROM campaigns WHERE name = 'Spring'")
    path = tmp_path / "dnc.csv"
    path.write_text(
        "Phone,Campaign,Source,Reason,Expires_At,ignored\n"
        "(212) 555-0101,,regulator,,,x\n"                        # 2: refreshes Spring's entry
        "+1 212 555 0102,Autumn,,wrong person,,\n"              # 3: Autumn
        "212.555.0103,,,,2099-01-01T00:00:00Z,\n"               # 4: --campaign Spring
        "+1 900 555 0199,,,,,\n"                                # 5: premium: kept
        "555-0104,,,,,\n"                                       # 6: bad number
        "+12125550106,Nope,,,,\n"                               # 7: unknown campaign
        "+12125550107,,,,2001-01-01T00:00:00+00:00,\n"          # 8: past expiry
        "+1 (212) 555-0103,,,,,\n"                              # 9: duplicate of line 4
        "+12125550105,,,,,\n"                                   # 10: marks a target
    )
    args = ["dnc", "import", str(path), "--default-region", "US", "--campaign", "Spring"]
    status, out, err = run(capsys, *args, "--strict")
    assert status == 1 and "NOTHING IMPORTED" in out
    assert len(entries(db)) == 1

    status, out, err = run(capsys, *args)
    assert status == 0
    assert err.splitlines() == [
        "line 1: ignored: not a DNC column; ignored",
        'line 6: Phone: not a valid number for its country ("555-0104")',
        'line 7: Campaign: no campaign named "Nope"',
        'line 8: Expires_At: "2001-01-01T00:00:00+00:00" is in the past',
        "line 9: Phone: +12125550103 is a duplicate of line 4; kept once",
    ]
    for expected in ("rows read           9", "entries added       4", "entries refreshed   1",
                     "rows rejected       3", "duplicates          1", "targets marked DNC  1"):
        assert expected in out
    assert entries(db) == [
        ("+12125550101", "Spring", "regulator", None, False),
        ("+12125550102", "Autumn", "import", "wrong person", False),
        ("+12125550103", "Spring", "import", None, True),
        ("+12125550105", "Spring", "import", None, False),
        ("+19005550199", "Spring", "import", None, False),
    ]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT unavailable_reason FROM targets").fetchone() == ("DNC",)


def test_dnc_import_needs_a_number_column(db: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text("name,reason\nAnn,x\n")
    status, _, err = run(capsys, "dnc", "import", str(path))
    assert status == 2
    assert "line 1: no number column (expected number, phone or e164)" in err
