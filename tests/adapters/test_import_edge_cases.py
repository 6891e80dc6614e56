"""CSV imports against a real PostgreSQL: a quote that is never closed.

The csv module (not strict) takes every line after such a quote into one field: the
following rows would vanish into a custom field, or their row be rejected for its field
count while the rows before it are imported. It is malformed CSV: the whole import is
refused (exit 2, nothing written) with the line where the quote opened and the lines it
took.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from orchestrator.cli import main
from orchestrator.ledger.importer import ImportFailure, import_contacts, parse_chunk
from orchestrator.ledger.importer import contact_import as importer

HEADER = "external_id,first_name,last_name,phone1,tier,notes\n"


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORCH_DATABASE_URL", database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO campaigns (name) VALUES ('Spring')")
    return database_url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def write(tmp_path: Path, text: str, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def good_rows(first: int, n: int) -> str:
    """n good rows, external ids R<first>.. (the file line of each when first is its line)."""
    return "".join(f"R{i},Ann,Lee,+1 212 555 {1000 + i:04d},gold,ok\n" for i in range(first, first + n))


def unclosed(opened: int, last: int) -> str:
    return (f"line {opened}: malformed CSV: a quoted field opened on this line is never closed; "
            f"it swallowed lines {opened}-{last} (to the end of the file) into one field")


def nothing_imported(url: str) -> bool:
    return (count(url, "SELECT count(*) FROM contacts") == 0
            and count(url, "SELECT count(*) FROM targets") == 0
            and count(url, "SELECT count(*) FROM audit_log WHERE action = 'contacts.import'") == 0)


@pytest.mark.parametrize("bad_cell", ["first_name", "notes"])
def test_contacts_import_refuses_a_quote_never_closed(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad_cell: str
) -> None:
    """Lines 2-4 are good, line 5 opens a quote (in a middle column: the swallowed record
    has too few fields; in the last one: it would have looked like a good row with a long
    note) and lines 6-10 are taken into it."""
    opener = ('R5,"Bob,Lee,+1 212 555 1005,gold,ok\n' if bad_cell == "first_name"
              else 'R5,Bob,Lee,+1 212 555 1005,gold,"ok\n')
    path = write(tmp_path, HEADER + good_rows(2, 3) + opener + good_rows(6, 5))
    status, out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring")
    assert (status, out) == (2, "")
    assert err == f"orchestrator: contacts import: {unclosed(5, 10)}\n"
    assert nothing_imported(db)


def test_contacts_import_refuses_it_through_workers_after_earlier_chunks_were_copied(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small chunks and two worker processes: chunks before the quote are already in the
    COPY when it is found; the transaction is rolled back all the same."""
    monkeypatch.setattr(importer, "BATCH_ROWS", 3)
    text = HEADER + good_rows(2, 20) + 'R22,Bob,Lee,+1 212 555 1022,gold,"never closed\n' + good_rows(23, 8)
    path = write(tmp_path, text)
    with pytest.raises(ImportFailure) as failure:
        import_contacts(db, path, "Spring", jobs=2)
    assert str(failure.value) == unclosed(22, 30)
    assert nothing_imported(db)


def test_quote_opened_on_the_last_line_and_in_the_header(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, HEADER + good_rows(2, 2) + 'R4,Bob,Lee,+1 212 555 1004,gold,"no end')
    status, _out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring")
    assert status == 2
    assert err == ("orchestrator: contacts import: line 4: malformed CSV: a quoted field opened "
                   "on this line is never closed (the file ends first)\n")
    path = write(tmp_path, 'external_id,"first_name,phone1\n' + good_rows(2, 3))
    status, _out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring")
    assert status == 2
    assert err == f"orchestrator: contacts import: {unclosed(1, 4)}\n"
    assert nothing_imported(db)


def test_the_opening_line_is_found_after_a_closed_multiline_cell_and_with_crlf(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Line 3 starts a record whose notes cell is closed on line 4; line 4 then opens
    another quote (in a 7th field) that runs to the end. CRLF line ends."""
    text = (HEADER + good_rows(2, 1) + 'R3,Cy,Lee,+1 212 555 1003,gold,"two\n'
            + 'lines",",and more\n' + good_rows(5, 3)).replace("\n", "\r\n")
    path = write(tmp_path, text)
    status, _out, err = run(capsys, "contacts", "import", str(path), "--campaign", "Spring")
    assert status == 2
    assert err == f"orchestrator: contacts import: {unclosed(4, 7)}\n"
    assert nothing_imported(db)


@pytest.mark.parametrize("jobs, batch", [(0, 5000), (2, 2)])
def test_a_closed_multiline_cell_is_still_imported(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int, batch: int
) -> None:
    monkeypatch.setattr(importer, "BATCH_ROWS", batch)
    text = (HEADER + good_rows(2, 3) + 'R5,Bob,Lee,+1 212 555 1005,gold,"first line\n'
            + 'second, line\n"\n' + good_rows(7, 4))
    path = write(tmp_path, text)
    report = import_contacts(db, path, "Spring", jobs=jobs)
    assert report.committed and report.contacts_imported == 8 and report.rows_rejected == 0
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT custom_fields ->> 'notes' FROM contacts WHERE external_id = 'R5'"
                           ).fetchone()
    assert row == ("first line\nsecond, line",)  # cells are stripped


def test_parse_chunk_names_the_file_lines() -> None:
    with pytest.raises(ImportFailure) as failure:
        parse_chunk(40, 'a,b\nc,"d\ne\nf\n')
    assert str(failure.value) == unclosed(41, 43)
    assert parse_chunk(40, 'a,b\nc,"d\ne"\nf,g') == [(40, ["a", "b"]), (41, ["c", "d\ne"]), (43, ["f", "g"])]


def test_dnc_import_refuses_a_quote_never_closed(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"+1 212 555 {1000 + i:04d},ok\n" for i in range(2, 5))
    path = write(tmp_path, "number,reason\n" + rows + '+12125551005,"asked to stop\n' + rows,
                 name="dnc.csv")
    status, out, err = run(capsys, "dnc", "import", str(path))
    assert (status, out) == (2, "")
    assert err == f"orchestrator: dnc import: {unclosed(5, 8)}\n"
    assert count(db, "SELECT count(*) FROM dnc_entries") == 0
    # Closed, the same file imports.
    path.write_text("number,reason\n" + rows + '+12125551005,"asked to stop\nby letter"\n')
    status, out, err = run(capsys, "dnc", "import", str(path))
    assert status == 0, err
    assert count(db, "SELECT count(*) FROM dnc_entries") == 4
    assert count(db, "SELECT count(*) FROM dnc_entries WHERE reason = e'asked to stop\\nby letter'") == 1
