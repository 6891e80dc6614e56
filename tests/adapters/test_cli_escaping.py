"""The CLI never prints a control character that came from a CSV file, the database or an
argument: escape sequences (cursor moves, colours, clear screen, window title), CR, C1
controls and bidi overrides are shown escaped (\\x1b, \\r, \\x9b, \\u202e). JSON output stays
valid JSON with the same values. Against a real PostgreSQL, through orchestrator.cli.main.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

import psycopg
import pytest

from orchestrator.cli import main
from orchestrator.commands import json_text, terminal_safe

CLEAR = "\x1b[2J\x1b[H"  # clear the screen, cursor home
TITLE = "\x1b]0;owned\x07"  # set the window title (OSC ... BEL)
CSI8 = "\x9b31m"  # red, with the one-byte C1 CSI
RLO = "\u202e"  # right-to-left override

# Anything a terminal could act on; "\n" is allowed (the CLI's own line breaks).
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def assert_safe(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(text)})
    assert not found, f"raw control characters {found} in output:\n{text!r}"


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO campaigns (name, window_start, window_end)"
                     " VALUES ('Spring', '00:00', '23:59:59.999999')")
    return database_url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


# --- the helper ---------------------------------------------------------------------


def test_terminal_safe_escapes_every_control_and_keeps_text() -> None:
    controls = ("".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
                + "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                + "\u2028\u2029")
    shown = terminal_safe(controls)
    assert_safe(shown)
    assert "\n" not in shown
    assert terminal_safe(f"a{CLEAR}b") == "a\\x1b[2J\\x1b[Hb"
    assert terminal_safe("x\r\ny\tz\x00") == "x\\r\\ny\\tz\\x00"
    assert terminal_safe(f"{CSI8}{RLO}\x7f") == "\\x9b31m\\u202e\\x7f"
    text = "Zoë Ng, 日本語, Ærøskøbing, emoji 🎉, a \\ backslash, O'Neil \"Q\""
    assert terminal_safe(text) == text
    assert terminal_safe(terminal_safe(controls)) == shown  # escaping twice changes nothing
    assert terminal_safe(42) == "42"


def test_json_text_is_the_same_json_and_safe() -> None:
    value = {"name": f"a{CLEAR}{TITLE}{CSI8}{RLO}\r\nb\x7f\u2028", "Zoë": ["日本", "🎉"]}
    for ensure_ascii in (True, False):
        text = json_text(value, indent=2, ensure_ascii=ensure_ascii)
        assert json.loads(text) == value
        assert_safe(text)
    assert json_text({"k": "Zoë"}, ensure_ascii=False) == '{"k": "Zoë"}'


# --- contacts import and show -------------------------------------------------------------


def test_contacts_import_messages_and_summary_are_escaped(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"list{TITLE}.csv"
    path.write_text(
        f"external_id,first_name,phone1,timezone,expires_at\n"
        f"A1,Ann,+1 212 555 {CLEAR}0101,,\n"                 # bad number, quoted in the message
        f"A2,Bob,+1 212 555 0102,Europe/{CSI8}Paris,\n"       # unknown zone, quoted
        f'A3,Cy,+1 212 555 0103,,"2030{RLO}-01-01"\n'          # bad expiry, quoted
        f"A1{TITLE},Di,+1 212 555 0104,,\n"                    # good
    )
    status, out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring")
    assert status == 0, err
    assert_safe(out)
    assert_safe(err)
    assert 'line 2: phone1: ' in err and '("+1 212 555 \\x1b[2J\\x1b[H0101")' in err
    assert 'unknown time zone "Europe/\\x9b31mParis"' in err
    assert '"2030\\u202e-01-01" is not an ISO 8601 date-time' in err
    assert "contacts import: " + str(tmp_path / "list\\x1b]0;owned\\x07.csv") in out
    assert "contacts imported       1" in out


def test_contacts_show_text_is_escaped_and_json_keeps_the_values(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        f"external_id,first_name,last_name,phone1,phone1_description,plan{RLO}\n"
        f'X{CLEAR},Ann{TITLE},"Lee\rOverwritten",+1 212 555 0101,Cell{CSI8},"gold\nsecond line"\n'
    )
    assert run(capsys, "contacts", "import", str(path), "--campaign", "Spring")[0] == 0

    status, out, err = run(capsys, "contacts", "show", "--external-id", f"X{CLEAR}",
                           "--campaign", "Spring")
    assert status == 0, err
    assert_safe(out)
    assert "Ann\\x1b]0;owned\\x07 Lee\\rOverwritten" in out
    assert "External id  X\\x1b[2J\\x1b[H\n" in out
    assert "plan\\u202e  gold\\nsecond line" in out  # one line: the value's line break is escaped
    assert "  Cell\\x9b31m  +12125550101  " in out  # the target's label: its description
    lines = out.splitlines()
    assert lines[0].startswith("Contact ") and "Custom fields" in lines

    status, out, _ = run(capsys, "contacts", "show", "--external-id", f"X{CLEAR}",
                         "--campaign", "Spring", "--json")
    assert status == 0
    assert_safe(out)
    data = json.loads(out)
    assert data["first_name"] == f"Ann{TITLE}" and data["last_name"] == "Lee\rOverwritten"
    assert data["custom_fields"] == {f"plan{RLO}": "gold\nsecond line"}
    assert data["targets"][0]["description"] == f"Cell{CSI8}"


def test_errors_quoting_an_argument_or_a_value_are_escaped(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("external_id,phone1\nA1,+12125550101\n")
    status, _, err = run(capsys, "contacts", "import", str(path), "--campaign", f"No{CLEAR}pe")
    assert status == 2
    assert_safe(err)
    assert err == 'orchestrator: contacts import: no campaign named "No\\x1b[2J\\x1b[Hpe"\n'
    status, _, err = run(capsys, "contacts", "show", "--external-id", f"Z{TITLE}", "--campaign", "Spring")
    assert status == 1
    assert_safe(err)
    assert 'no contact with external id "Z\\x1b]0;owned\\x07"' in err
    status, _, err = run(capsys, "dnc", "add", f"+1212{CSI8}5550101")
    assert status == 2
    assert_safe(err)
    assert '("+1212\\x9b31m5550101")' in err
    path.write_text(f"external_id,phone1,x{CLEAR},X{CLEAR}\nA1,+12125550101,,\n")
    status, _, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring")
    assert status == 2
    assert_safe(err)
    assert 'line 1: columns "x\\x1b[2J\\x1b[H" and "X\\x1b[2J\\x1b[H" have the same name' in err


# --- DNC --------------------------------------------------------------------------------


def test_dnc_import_and_check_are_escaped(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text(
        f"number,reason,source,extra{CLEAR}\n"
        f"+12125550101,asked{TITLE} to stop,web{CSI8},\n"
        f"+1212555{RLO}0199,,,\n"
    )
    status, out, err = run(capsys, "dnc", "import", str(path))
    assert status == 0, err
    assert_safe(out)
    assert_safe(err)
    assert "line 1: extra\\x1b[2J\\x1b[H: not a DNC column; ignored" in err
    assert '("+1212555\\u202e0199")' in err
    status, out, _ = run(capsys, "dnc", "check", "+12125550101")
    assert status == 0
    assert_safe(out)
    assert out == "+12125550101: global, active, source web\\x9b31m - asked\\x1b]0;owned\\x07 to stop\n"


# --- campaign codes and reports ------------------------------------------------------------


def test_wrapup_labels_in_codes_and_reports_are_escaped(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    label = f"Sale{CLEAR}{RLO}"
    status, out, err = run(capsys, "campaign", "add-code", "Spring", label, "--class", "final_success")
    assert status == 0, err
    assert_safe(out)
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO contacts (campaign_id, external_id) SELECT id, %s FROM campaigns",
                     (f"E{TITLE}",))
        conn.execute("INSERT INTO targets (contact_id, campaign_id, position, description, e164)"
                     " SELECT id, campaign_id, 1, %s, '+447700900123' FROM contacts", (f"Home{CSI8}",))
        conn.execute(
            "INSERT INTO attempts (id, campaign_id, contact_id, target_id, attempt_number, e164, mode,"
            " owner, state, outcome, wrapup_code_id, created_at, answered_at, ended_at, dispositioned_at)"
            " SELECT gen_random_uuid(), t.campaign_id, t.contact_id, t.id, 1, t.e164, 'progressive', 'i',"
            " 'ended', 'human', (SELECT id FROM wrapup_codes WHERE label = %s), now(), now(), now(), now()"
            " FROM targets t", (label,))

    status, out, _ = run(capsys, "campaign", "codes", "Spring")
    assert status == 0
    assert_safe(out)
    assert "Sale\\x1b[2J\\x1b[H\\u202e" in out
    status, out, _ = run(capsys, "campaign", "codes", "Spring", "--json")
    assert_safe(out)
    assert label in [c["label"] for c in json.loads(out)]

    status, out, err = run(capsys, "report", "campaign", "Spring")
    assert status == 0, err
    assert_safe(out)
    assert "dispositions: Sale\\x1b[2J\\x1b[H\\u202e 1" in out
    status, out, _ = run(capsys, "report", "campaign", "Spring", "--json")
    assert_safe(out)
    assert json.loads(out)["dispositions"] == {label: 1}

    # --csv -: a pipe gets the CSV as it is; a terminal gets it escaped.
    status, out, _ = run(capsys, "report", "campaign", "Spring", "--csv", "-")
    row = next(csv.DictReader(io.StringIO(out)))
    assert (row["external_id"], row["target"], row["disposition"]) == (f"E{TITLE}", f"Home{CSI8}", label)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    status, out, _ = run(capsys, "report", "campaign", "Spring", "--csv", "-")
    assert status == 0
    assert_safe(out.replace("\r\n", "\n"))
    row = next(csv.DictReader(io.StringIO(out)))
    assert (row["external_id"], row["target"], row["disposition"]) == (
        "E\\x1b]0;owned\\x07", "Home\\x9b31m", "Sale\\x1b[2J\\x1b[H\\u202e")
