"""`orchestrator contacts import` against a real PostgreSQL: mapping, rejections, COPY, atomicity."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from bench.import_bench import generate
from orchestrator.cli import main
from orchestrator.core.phones import PhoneError, analyze_phone
from orchestrator.ledger.importer import CsvSource, import_contacts, parse_chunk
from orchestrator.ledger.importer import contact_import as importer

REPO = Path(__file__).resolve().parents[2]

HEADER = ("external_id,first_name,last_name,postal_code,timezone,expires_at,"
          "phone1,phone1_description,phone2,phone2_desc,tier,notes\n")


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO campaigns (name, max_attempts_per_target) VALUES ('Spring', 7)")
    return database_url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def write(tmp_path: Path, text: str, name: str = "contacts.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # table names are ours
        assert row is not None
        return int(row[0])


def test_good_file_is_imported_with_every_field(db: str, tmp_path: Path, capsys) -> None:
    path = write(tmp_path, HEADER + (
        'C1,Ada,Lovelace,10001,America/New_York,2030-01-31T23:00:00+00:00,'
        '(212) 555-0101,Mobile,+1 212 555 0102,Home,gold,"call after 6, please"\n'
        "C2,Alan,Turing,SW1A 1AA,,,+44 20 7946 0958,Office,,,,\n"
        "C3,Zoë,Ng,2000,,,+61 2 9374 4000,,+61 412 345 678,Mobile,silver,\n"
    ), bom=True)
    status, out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring",
                           "--default-region", "US")
    assert status == 0, err
    assert err == ""
    assert "rows read               3" in out
    assert "contacts imported       3" in out
    assert "targets imported        5" in out
    assert "rows rejected           0" in out
    with psycopg.connect(db) as conn:
        contacts = conn.execute(
            "SELECT external_id, first_name, last_name, postal_code, time_zone, custom_fields,"
            " expires_at::text FROM contacts ORDER BY external_id").fetchall()
        targets = conn.execute(
            "SELECT c.external_id, t.position, t.description, t.e164, t.candidate_time_zones,"
            " t.max_attempts, t.attempts_made, t.unavailable_reason, t.campaign_id = c.campaign_id"
            " FROM targets t JOIN contacts c ON c.id = t.contact_id"
            " ORDER BY c.external_id, t.position").fetchall()
    assert contacts == [
        ("C1", "Ada", "Lovelace", "10001", "America/New_York",
         {"tier": "gold", "notes": "call after 6, please"}, "2030-01-31 23:00:00+00"),
        ("C2", "Alan", "Turing", "SW1A 1AA", None, {}, None),
        ("C3", "Zoë", "Ng", "2000", None, {"tier": "silver"}, None),
    ]
    assert targets == [
        ("C1", 1, "Mobile", "+12125550101", ["America/New_York"], 7, 0, None, True),
        ("C1", 2, "Home", "+12125550102", ["America/New_York"], 7, 0, None, True),
        ("C2", 1, "Office", "+442079460958", ["Europe/London"], 7, 0, None, True),
        ("C3", 1, "", "+61293744000", ["Australia/Sydney"], 7, 0, None, True),
        ("C3", 2, "Mobile", "+61412345678",
         list(analyze_phone("+61412345678").time_zones), 7, 0, None, True),
    ]
    with psycopg.connect(db) as conn:
        audit = conn.execute("SELECT action, details->>'contacts' FROM audit_log").fetchall()
    assert audit == [("contacts.import", "3")]


def test_bad_rows_are_rejected_with_line_and_field(db: str, tmp_path: Path, capsys) -> None:
    path = write(tmp_path, HEADER + (
        "G1,Good,One,,,,212-555-0111,,,,,\n"                         # line 2: good
        'G2,Multi,Line,,,,212-555-0112,,,,,"first line\nsecond line"\n'  # lines 3-4: good
        "B1,Bad,Zone,,Mars/Olympus,,212-555-0113,,,,,\n"               # line 5
        "B2,Bad,Zone,,america/new_york,,212-555-0114,,,,,\n"           # line 6
        "B3,Premium,,,,,+1 900 555 0199,,,,,\n"                        # line 7
        "B4,Shared,,,,,+61 1300 123 456,,,,,\n"                        # line 8
        "B5,Short,,,,,555-123,,212-555-0115,,,\n"                      # line 9
        "B6,Second,,,,,212-555-0116,,12,,,\n"                          # line 10
        "B7,NoPhone,,,,,,,,,,\n"                                       # line 11
        "B8,Expiry,,,,2030-01-31,212-555-0117,,,,,\n"                  # line 12
        "B9,Fields,,,\n"                                               # line 13
        ",Nobody,,,,,+44 20 7946 0000,,,,,\n"                          # line 14: good, no id
        "G1,Again,,,,,212-555-0118,,,,,\n"                             # line 15
        f"{'x' * 201},Long,,,,,212-555-0119,,,,,\n"                    # line 16
        "B10,No country,,,,,7946 0000,,,,,\n"                          # line 17
    ))
    status, out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring",
                           "--default-region", "US")
    assert status == 0
    assert err.splitlines() == [
        'line 5: timezone: unknown time zone "Mars/Olympus" (expected an IANA name such as America/New_York)',
        'line 6: timezone: unknown time zone "america/new_york" (did you mean America/New_York?)',
        'line 7: phone1: premium-rate number (never dialed) ("+1 900 555 0199")',
        'line 8: phone1: shared-cost number (never dialed) ("+61 1300 123 456")',
        'line 9: phone1: too short ("555-123")',
        'line 10: phone2: too short ("12")',
        "line 11: phone1: no phone number in any phone column",
        'line 12: expires_at: "2030-01-31" has no UTC offset (add +00:00, Z or the local offset)',
        "line 13: row: has 5 fields, the header has 12",
        "line 15: external_id: duplicate of line 2",
        "line 16: external_id: longer than 200 characters",
        'line 17: phone1: too short ("7946 0000")',
    ]
    assert "rows read               15" in out
    assert "contacts imported       3" in out
    assert "rows rejected           12" in out
    assert "duplicate external ids  1" in out
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT coalesce(external_id, '-'), custom_fields->>'notes'"
                            " FROM contacts ORDER BY id").fetchall()
    assert rows == [("G1", None), ("G2", "first line\nsecond line"), ("-", None)]


def test_strict_imports_nothing_and_exits_1(db: str, tmp_path: Path, capsys) -> None:
    path = write(tmp_path, HEADER + "G1,Good,,,,,212-555-0111,,,,,\nB1,Bad,,,,,555,,,,,\n")
    status, out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring",
                           "--default-region", "US", "--strict")
    assert status == 1
    assert err.splitlines() == ['line 3: phone1: too short ("555")']
    assert "NOTHING IMPORTED" in out
    assert "contacts imported       0" in out
    assert count(db, "contacts") == 0 and count(db, "targets") == 0
    # Without --strict the good row goes in.
    status, out, _ = run(capsys, "contacts", "import", str(path), "--campaign", "Spring",
                         "--default-region", "US")
    assert status == 0 and count(db, "contacts") == 1


def test_duplicates_in_file_and_against_campaign(db: str, tmp_path: Path, capsys) -> None:
    first = write(tmp_path, HEADER + "C1,A,,,,,+1 212 555 0101,,,,,\n", name="first.csv")
    assert run(capsys, "contacts", "import", str(first), "--campaign", "Spring")[0] == 0
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT id FROM contacts WHERE external_id = 'C1'").fetchone()
        assert row is not None
        c1 = row[0]
    second = write(tmp_path, HEADER + (
        "C1,A again,,,,,+1 212 555 0199,,,,,\n"          # line 2: id already in campaign
        "C2,B,,,,,+1 212 555 0101,,+1 212 555 0101,,,\n"  # line 3: number of C1; same twice
        "C3,C,,,,,+1 212 555 0102,,,,,\n"                 # line 4
        "C4,D,,,,,(212) 555-0102,,,,,\n"                  # line 5: number of line 4
    ), name="second.csv")
    status, out, err = run(capsys, "contacts", "import", str(second), "--campaign", "Spring",
                           "--default-region", "US")
    assert status == 0
    assert err.splitlines() == [
        f'line 2: external_id: "C1" is already in campaign "Spring" (contact {c1})',
        "line 3: phone2: +12125550101 is the same number as phone1; imported once",
        f"line 3: phone1: +12125550101 is already a target of contact {c1} in this campaign; imported",
        "line 5: phone1: +12125550102 is also on line 4; imported",
    ]
    assert "contacts imported       3" in out
    assert "duplicate numbers       3" in out
    with psycopg.connect(db) as conn:
        n = conn.execute("SELECT count(*) FROM targets WHERE e164 = '+12125550101'").fetchone()
    assert n == (2,)


def test_dnc_match_is_imported_unavailable_and_reported(db: str, tmp_path: Path, capsys) -> None:
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO dnc_entries (e164) VALUES ('+12125550101')")
        conn.execute("INSERT INTO campaigns (name) VALUES ('Other')")
        conn.execute("INSERT INTO dnc_entries (e164, campaign_id) SELECT '+12125550102', id"
                     " FROM campaigns WHERE name = 'Spring'")
        conn.execute("INSERT INTO dnc_entries (e164, campaign_id) SELECT '+12125550103', id"
                     " FROM campaigns WHERE name = 'Other'")
        conn.execute("INSERT INTO dnc_entries (e164, added_at, expires_at)"
                     " VALUES ('+12125550104', now() - interval '2 days', now() - interval '1 day')")
    path = write(tmp_path, HEADER + (
        "C1,A,,,,,+1 212 555 0101,,+1 212 555 0102,,,\n"
        "C2,B,,,,,+1 212 555 0103,,+1 212 555 0104,,,\n"
    ))
    status, out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring")
    assert status == 0
    assert err.splitlines() == [
        "line 2: phone1: +12125550101 is on the do-not-call list (global); imported as unavailable (DNC)",
        "line 2: phone2: +12125550102 is on the do-not-call list (campaign); imported as unavailable (DNC)",
    ]
    assert "DNC matches             2" in out
    with psycopg.connect(db) as conn:
        reasons = conn.execute("SELECT e164, unavailable_reason FROM targets ORDER BY e164").fetchall()
    assert reasons == [("+12125550101", "DNC"), ("+12125550102", "DNC"),
                       ("+12125550103", None), ("+12125550104", None)]


FATAL_CASES = [
    (b"", "contacts import: contacts.csv: empty file (no header line)"),
    (b"external_id,first_name\nC1,Ann\n",
     "contacts import: line 1: no phone column (expected phone1, phone2, ... or phone); "
     "header is: external_id, first_name"),
    (b"phone1,phone3_desc\n+12125550101,x\n",
     "contacts import: line 1: phone3_desc: there is no phone3 column"),
    (b"phone,zip,postal_code\n", 'contacts import: line 1: columns "zip" and "postal_code" are both postal_code'),
    (b"phone1,notes\n", "contacts import: contacts.csv: no data rows after the header"),
    (b"phone1,notes\n+12125550101,ok\n+12125550102,caf\xe9\n",
     "contacts import: line 3: not valid UTF-8 (byte 0xe9 at column 17); save the file as UTF-8"),
]


def test_fatal_file_errors_exit_2_and_import_nothing(db: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "contacts.csv"
    for content, message in FATAL_CASES:
        path.write_bytes(content)
        status, _out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring")
        assert (status, err.strip()) == (2, f"orchestrator: {message}")
    assert count(db, "contacts") == 0


def test_unknown_campaign_and_region_exit_2(db: str, tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "phone1\n+12125550101\n")
    status, _, err = run(capsys, "contacts", "import", str(path), "--campaign", "Nope")
    assert (status, err.strip()) == (2, 'orchestrator: contacts import: no campaign named "Nope"')
    status, _, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring",
                         "--default-region", "XX")
    assert status == 2 and "--default-region: unknown region" in err


def _numbers_by_line(path: Path) -> dict[str, list[str]]:
    """external_id -> E.164 of its good numbers, straight from phones.analyze_phone."""
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            numbers = []
            for raw in (row[5], row[7], row[9]):
                if raw:
                    try:
                        numbers.append(analyze_phone(raw, "US").e164)
                    except PhoneError:
                        numbers = []
                        break
            out.setdefault(row[0], numbers)
    return out


@pytest.mark.timeout(60)
def test_20k_rows_through_worker_processes(db: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "big.csv"
    generate(path, 20_000, seed=3)
    status, out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring",
                           "--default-region", "US", "--jobs", "2")
    assert status == 0, err
    rejected = int(next(line for line in out.splitlines() if "rows rejected" in line).split()[-1].replace(",", ""))
    with psycopg.connect(db) as conn:
        contacts = conn.execute("SELECT count(*) FROM contacts").fetchone()
        by_ext = {
            ext: numbers
            for ext, numbers in conn.execute(
                "SELECT c.external_id, array_agg(t.e164 ORDER BY t.position)"
                " FROM contacts c JOIN targets t ON t.contact_id = c.id GROUP BY c.external_id")
        }
        orphans = conn.execute("SELECT count(*) FROM contacts c WHERE NOT EXISTS"
                               " (SELECT 1 FROM targets t WHERE t.contact_id = c.id)").fetchone()
    assert contacts == (20_000 - rejected,)
    assert orphans == (0,)
    assert 0 < rejected < 300
    expected = _numbers_by_line(path)
    # Every imported contact carries exactly the numbers phones.analyze_phone gives its row
    # (duplicates within a row collapse to one).
    for ext, numbers in by_ext.items():
        assert numbers == list(dict.fromkeys(expected[ext])), ext


@pytest.mark.timeout(60)
def test_database_error_mid_import_rolls_back_everything(db: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "big.csv"
    generate(path, 7_000, seed=5)
    # A fault injected in the database: the contact of line ~6,500 makes COPY fail, after
    # earlier batches were already sent.
    with psycopg.connect(db) as conn:
        conn.execute("""
            CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.external_id = 'CRM-00006500' THEN RAISE EXCEPTION 'injected failure'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER boom BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION boom();
        """)
    status, _out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring",
                            "--default-region", "US", "--jobs", "1")
    assert status == 2
    assert err.splitlines()[-1] == (
        "orchestrator: contacts import: database error, nothing imported: injected failure")
    assert count(db, "contacts") == 0 and count(db, "targets") == 0
    assert count(db, "audit_log") == 0


@pytest.mark.timeout(60)
def test_killed_import_leaves_nothing(db: str, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    generate(path, 8_000, seed=6)
    with psycopg.connect(db) as conn:
        conn.execute("""
            CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.external_id = 'CRM-00006000' THEN PERFORM pg_sleep(2); END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER slow BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION slow();
        """)
    env = dict(os.environ, ORCH_DATABASE_URL=db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "contacts", "import", str(path),
         "--campaign", "Spring", "--default-region", "US", "--jobs", "1"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    dbname = psycopg.conninfo.conninfo_to_dict(db)["dbname"]
    try:
        with psycopg.connect(db, autocommit=True) as conn:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                sleeping = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND wait_event = 'PgSleep'", (dbname,)).fetchone()
                if sleeping and sleeping[0]:
                    break
                assert proc.poll() is None, "import ended before it could be killed"
                time.sleep(0.05)
            else:
                pytest.fail("the import never reached the slow row")
            # Earlier batches are in the (uncommitted) transaction right now.
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                others = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (dbname,)).fetchone()
                if others == (0,):
                    break
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert count(db, "contacts") == 0 and count(db, "targets") == 0


TRICKY = (
    "external_id,first_name,last_name,postal_code,timezone,expires_at,"
    "phone1,phone1_description,phone2,phone2_desc,tier,notes\r\n"
    'T1,Ann,"O\'Neil",,,,212-555-0121,,,,,"two\r\nlines"\r\n'      # lines 2-3 (CRLF)
    "\r\n"                                                          # line 4: blank
    'T2,Bob,5\'11",,,,212-555-0122,,,,,plain\n'                     # line 5: stray quote
    'T3,Cy,b"c,,,,212-555-0123,,,,,"x\n\ny\n"\n'                     # lines 6-9: stray + multi-line
    'T4,"Di ""Q""",Lee,,,,212-555-0124,,,,,"a"b\n'                  # line 10: text after a quote
    'T5,Ed,Tab\tBack\\slash,,,,212-555-0125,Cell\\Home,,,gold\\x,"q\\"\n'  # line 11: COPY escapes
    ",,,,,,,,,,,\n"                                                  # line 12: only empty cells
    "T6,Flo,Cr,,,,212-555-0126,,,,,end\r"                             # line 13: lone CR
    'T7,Gus,Last,,,,212-555-0127,,,,,"open at end of file\n'         # line 14-15: unterminated
    "still open"
)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 100])
def test_chunks_give_the_same_records_and_lines_as_the_csv_reader(tmp_path: Path, size: int) -> None:
    path = write(tmp_path, TRICKY.replace("still open", 'still open"\n'))
    with CsvSource(path) as src:
        src.header()
        expected = list(src.records())
    got = []
    with CsvSource(path) as src:
        src.header()
        ends = []
        while True:
            first, text, nlines = src.chunk(size)
            if not nlines:
                break
            ends.append(first + nlines - 1)
            got += parse_chunk(first, text)
    assert got == expected
    assert [line for line, _ in expected] == [2, 5, 6, 10, 11, 12, 13, 14]
    # A chunk never ends inside a record: not after line 2, 6, 7, 8 or 14.
    assert not {2, 6, 7, 8, 14} & set(ends)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 100])
def test_chunks_and_the_csv_reader_both_refuse_a_quote_never_closed(tmp_path: Path, size: int) -> None:
    """TRICKY's last quote (line 14) is never closed: the csv module would make lines 14-15
    one field; both ways of reading report it, with the same message."""
    path = write(tmp_path, TRICKY)
    expected = ("line 14: malformed CSV: a quoted field opened on this line is never closed; "
                "it swallowed lines 14-15 (to the end of the file) into one field")
    with CsvSource(path) as src:
        src.header()
        with pytest.raises(importer.ImportFailure) as by_records:
            list(src.records())
    assert str(by_records.value) == expected
    with CsvSource(path) as src:
        src.header()
        with pytest.raises(importer.ImportFailure) as by_chunks:
            while True:
                first, text, nlines = src.chunk(size)
                if not nlines:
                    break
                parse_chunk(first, text)
    assert str(by_chunks.value) == expected


@pytest.mark.timeout(60)
def test_worker_processes_and_small_chunks_give_the_same_import(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file through two worker processes in chunks of 2 lines (so records, bad
    rows and multi-line cells fall on chunk edges) and in-process in one chunk: the same
    messages in the same order, the same rows (COPY escaping of tabs and backslashes)."""
    body = TRICKY.replace("still open", "still open\"\n") + "".join(
        f"D{i},Dup,,,,,212-555-01{21 + i % 9},,bad{i},,,\n" for i in range(12))
    path = write(tmp_path, body)
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO campaigns (name) VALUES ('Other')")
        conn.execute("INSERT INTO dnc_entries (e164, source) VALUES ('+12125550125', 'test')")

    def imported(campaign: str, jobs: int) -> tuple[list[str], list[tuple[object, ...]]]:
        messages: list[str] = []
        report = import_contacts(db, path, campaign, default_region="US", jobs=jobs,
                                 report=messages.append)
        assert report.committed
        with psycopg.connect(db) as conn:
            rows = conn.execute(
                "SELECT c.external_id, c.first_name, c.last_name, c.custom_fields::text,"
                " t.position, t.description, t.e164, t.candidate_time_zones, t.unavailable_reason"
                " FROM contacts c JOIN targets t ON t.contact_id = c.id"
                " JOIN campaigns k ON k.id = c.campaign_id WHERE k.name = %s"
                " ORDER BY c.id, t.position", (campaign,)).fetchall()
        return messages, rows

    monkeypatch.setattr(importer, "BATCH_ROWS", 2)
    workers = imported("Spring", jobs=2)
    monkeypatch.setattr(importer, "BATCH_ROWS", 5000)
    local = imported("Other", jobs=0)
    assert workers == local
    messages, rows = workers
    assert ("T5", "Ed", "Tab\tBack\\slash", '{"tier": "gold\\\\x", "notes": "q\\\\"}', 1,
            "Cell\\Home", "+12125550125", ["America/New_York"], "DNC") in rows
    assert any(m.startswith("line 11: phone1: +12125550125 is on the do-not-call list")
               for m in messages)
    assert "line 12: phone1: no phone number in any phone column" in messages
    assert len(messages) > 12
