"""CSV import of contacts and DNC entries: header mapping, row validation, COPY, one transaction.

Contacts file (UTF-8, a byte-order mark is tolerated; header on line 1; header names are
matched case-insensitively, with spaces and hyphens read as underscores):

    external_id (also externalid, ext_id)       first_name (firstname, given_name)
    last_name (lastname, surname, family_name)  postal_code (postcode, post_code, zip,
    timezone (time_zone, tz): an IANA zone       zip_code, zipcode)
    expires_at (expires, expiry): ISO 8601 date-time with a UTC offset
    phoneN (phone_N; "phone" is phone1), N = 1..99: the numbers, in dialing order
    phoneN_description (phoneN_desc, phoneN_label; "phone_description" is phone1's)
    any other column: a custom field (key = the header as written; empty cells omitted)

What a row gets:
- Rejected (reported as ``line N: <column>: <reason>``, N the physical line, header = 1):
  a bad phone number (unparsable, invalid for its country, premium-rate, shared-cost,
  with an extension), no phone number at all, an unknown time zone, a bad expiry, a value
  too long for its column, a NUL character, the wrong number of fields, an external_id
  already used on an earlier line of the file or already in the campaign.
- Imported, and reported: a number on an active DNC entry (global or this campaign's): the
  target is stored with unavailable_reason 'DNC' (and the attempts trigger would refuse
  it anyway); a number already used by another contact of the file or of the campaign.
- A number repeated within one row is imported once (reported).

Good rows are written with COPY inside one transaction that also holds a per-campaign
advisory lock (two imports into one campaign cannot race on external ids); any fatal
error (bad encoding, malformed CSV, database error, interruption) rolls everything back.
With ``strict``, one bad row rolls back everything.

A quoted field that is never closed would take every following line into itself (the
csv module reads on to the end of the file): that is malformed CSV too, reported with
the line where the quote opened and the lines it took (_Lines, unclosed_quote).

How a large file flows (docs/benchmarks/import.md has the measurements):
- the main process reads the file in chunks of whole records (CsvSource.chunk: it only
  finds where the last record of a chunk ends) and takes contact ids for them from the
  sequence, on a second connection;
- worker processes parse each chunk's CSV, run the checks that need no other row
  (lengths, zones, expiry, phone numbers through orchestrator.core.phones.analyze_phone)
  and write the COPY text of the rows that pass (RowChecker);
- the main process, in file order, does the checks across rows (external ids and numbers
  already seen, DNC), reports, and hands each chunk's COPY data to a writer thread that
  streams it into PostgreSQL while the next chunk is being checked (_CopyWriter).
Small files go through the same code in-process.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import multiprocessing
import multiprocessing.pool
import os
import queue
import re
import resource
import threading
import time
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
import psycopg
from psycopg.types.json import Jsonb

from orchestrator.core.phones import PhoneError, PhoneErrorReason, analyze_phone
from orchestrator.ledger import dnc as dnc_ledger
from orchestrator.ledger.contacts import CampaignRef, find_campaign

__all__ = [
    "ContactImportReport",
    "DncImportReport",
    "ImportFailure",
    "import_contacts",
    "import_dnc",
]

BATCH_ROWS = 5000
"""Lines per chunk: one row-check task and one pair of COPY statements."""
MAX_IN_FLIGHT = 4
"""Chunks handed to the worker processes ahead of the one being merged."""
PARALLEL_MIN_BYTES = 2_000_000
"""Below this file size phones are analyzed in-process (worker start-up is not worth it)."""
IMPORT_LOCK_CLASS = 0x0D1A
"""First key of the per-campaign advisory lock held while importing contacts."""

Reporter = Callable[[str], None]
Progress = Callable[[int, int, int], None]
"""progress(bytes_read, bytes_total, rows_read)."""


class ImportFailure(Exception):
    """A fatal import error: nothing was imported. The message names the file line or field."""


@dataclass
class ContactImportReport:
    """What a contacts import did; `committed` is False when nothing was written."""

    rows_read: int = 0
    contacts_imported: int = 0
    targets_imported: int = 0
    rows_rejected: int = 0
    dnc_matches: int = 0
    duplicate_numbers: int = 0
    duplicate_external_ids: int = 0
    committed: bool = False
    seconds: float = 0.0
    numbers_analyzed: int = 0
    """Phone cells analyzed (for the phones/s figure of --timings)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage, see _STAGES."""

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


@dataclass
class DncImportReport:
    """What a DNC import did; `committed` is False when nothing was written."""

    rows_read: int = 0
    entries_added: int = 0
    entries_updated: int = 0
    rows_rejected: int = 0
    duplicates: int = 0
    targets_marked: int = 0
    committed: bool = False
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


# --- reading the CSV --------------------------------------------------------------


class _Lines:
    """The lines given to a csv reader, noting when the reader asks for one past the last.

    The reader only does that between records, or inside a quoted field that is still
    open at the end of the text: so a record it returns after `ended` is set is one whose
    quote was never closed (the csv module, not strict, then returns the rest of the text
    as that field instead of failing)."""

    __slots__ = ("_lines", "ended")

    def __init__(self, lines: Iterable[str]) -> None:
        self.ended = False
        self._lines = self._run(lines)

    def _run(self, lines: Iterable[str]) -> Iterator[str]:
        yield from lines
        self.ended = True

    def __iter__(self) -> Iterator[str]:
        return self._lines


def unclosed_quote(row: Sequence[str], last_line: int) -> str:
    """The error for a record returned at the end of the text inside a quoted field: its
    last field is that field, and holds every line break from where its quote opened to
    `last_line`, the file's last line."""
    field_text = row[-1] if row else ""
    breaks = field_text.count("\n") + field_text.count("\r") - field_text.count("\r\n")
    opened = last_line - breaks + (1 if field_text.endswith(("\n", "\r")) else 0)
    start = f"line {opened}: malformed CSV: a quoted field opened on this line is never closed"
    if opened >= last_line:
        return f"{start} (the file ends first)"
    return f"{start}; it swallowed lines {opened}-{last_line} (to the end of the file) into one field"


class CsvSource:
    """A UTF-8 CSV file read record by record with the physical line each record starts on."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._raw = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ImportFailure(f"{self.path}: {exc.strerror or exc}") from None
        self.size = os.fstat(self._raw.fileno()).st_size
        buffered = io.BufferedReader(self._raw, 1 << 20)
        self._text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="strict", newline="")
        self._lines = _Lines(self._text)
        self._reader = csv.reader(self._lines)
        self._prev_line = 0

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bytes_read(self) -> int:
        return self._raw.tell()

    def header(self) -> list[str]:
        """The header record (line 1); ImportFailure when the file is empty."""
        for line, row in self.records():
            if line == 1 and any(cell.strip() for cell in row):
                return row
            raise ImportFailure(f"{self.path.name}: line 1 must be the header (it is empty)")
        raise ImportFailure(f"{self.path.name}: empty file (no header line)")

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """(first physical line, fields) for each record; blank lines are skipped."""
        reader = self._reader
        try:
            for row in reader:
                line = self._prev_line + 1
                self._prev_line = reader.line_num
                if self._lines.ended:
                    raise ImportFailure(unclosed_quote(row, reader.line_num))
                if row:
                    yield line, row
        except UnicodeDecodeError:
            raise ImportFailure(self._encoding_error()) from None
        except csv.Error as exc:
            raise ImportFailure(f"line {reader.line_num}: malformed CSV: {exc}") from None

    def chunk(self, size: int) -> tuple[int, str, int]:
        """The next records, as raw text: about `size` physical lines, ending where a
        record ends. Returns (the chunk's first line number, its text, its line count);
        ("", 0) at the end of the file. parse_chunk() gives the records.

        Only the chunk's end must be found, not its records: a line without a quote
        cannot open or close a quoted field, so when every line with a quote is a whole
        record on its own (checked by parsing that line alone), the chunk ends where its
        last line ends. Otherwise (a quoted field spanning lines) the chunk is parsed to
        find where its last record ends.
        """
        first = self._prev_line + 1
        try:
            lines = list(itertools.islice(self._text, size))
            if not lines:
                return first, "", 0
            for line in lines:
                if '"' in line and _ends_in_quoted_field(line):
                    lines = self._to_record_end(lines)
                    break
        except UnicodeDecodeError:
            raise ImportFailure(self._encoding_error()) from None
        self._prev_line += len(lines)
        return first, "".join(lines), len(lines)

    def _to_record_end(self, lines: list[str]) -> list[str]:
        """lines, plus the following lines of a record that does not end with them."""
        more: list[str] = []

        def rest() -> Iterator[str]:
            for line in self._text:
                more.append(line)
                yield line

        feed = _Lines(itertools.chain(lines, rest()))
        reader = csv.reader(feed)
        try:
            for row in reader:
                if feed.ended:
                    raise ImportFailure(unclosed_quote(row, self._prev_line + reader.line_num))
                if reader.line_num >= len(lines):
                    break
        except csv.Error as exc:
            raise ImportFailure(
                f"line {self._prev_line + reader.line_num}: malformed CSV: {exc}"
            ) from None
        return lines + more

    def _encoding_error(self) -> str:
        # TextIOWrapper decodes in chunks, so find the first undecodable physical line.
        data = self.path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        for number, line in enumerate(data.splitlines(), 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (
                    f"line {number}: not valid UTF-8 (byte 0x{line[exc.start]:02x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                )
        return f"{self.path.name}: not valid UTF-8"


def _ends_in_quoted_field(line: str) -> bool:
    """Whether a physical line, read from the start of a record, ends inside a quoted
    field (the record goes on on the next line). The csv module returns the open field
    with the line's end in it; a field of a record that ends on this line cannot end
    with a line break (with newline="" every CR or LF ends a physical line)."""
    try:
        row = next(csv.reader((line,)), [])
    except csv.Error:
        return True  # let the full parse report it
    return bool(row) and row[-1].endswith(("\n", "\r"))


def parse_chunk(first_line: int, text: str) -> list[tuple[int, list[str]]]:
    """(first physical line, fields) of each record of a chunk from CsvSource.chunk();
    blank lines are skipped. ImportFailure for malformed CSV, with the file's line."""
    feed = _Lines(io.StringIO(text, newline=""))
    reader = csv.reader(feed)
    out: list[tuple[int, list[str]]] = []
    append = out.append
    prev = 0
    try:
        for row in reader:
            if feed.ended:  # a chunk ends where a record ends, unless a quote is never closed
                raise ImportFailure(unclosed_quote(row, first_line - 1 + reader.line_num))
            if row:
                append((first_line + prev, row))
            prev = reader.line_num
    except csv.Error as exc:
        raise ImportFailure(f"line {first_line - 1 + reader.line_num}: malformed CSV: {exc}") from None
    return out


def _key(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def _check_header(header: Sequence[str]) -> list[str]:
    names = [h.strip() for h in header]
    for i, name in enumerate(names, 1):
        if not name:
            raise ImportFailure(f"line 1: column {i}: the header cell is empty")
        if "\x00" in name:
            raise ImportFailure(f"line 1: column {i}: contains a NUL character")
    seen: dict[str, str] = {}
    for name in names:
        k = _key(name)
        if k in seen:
            raise ImportFailure(f'line 1: columns "{seen[k]}" and "{name}" have the same name')
        seen[k] = name
    return names


# --- contacts: header mapping ----------------------------------------------------

_CONTACT_FIELDS = {
    "external_id": ("external_id", "externalid", "ext_id"),
    "first_name": ("first_name", "firstname", "given_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "postal_code": ("postal_code", "postalcode", "postcode", "post_code", "zip", "zip_code",
                    "zipcode"),
    "timezone": ("timezone", "time_zone", "tz"),
    "expires_at": ("expires_at", "expires", "expiry"),
}
_ALIASES = {alias: name for name, aliases in _CONTACT_FIELDS.items() for alias in aliases}
_PHONE = re.compile(r"^phone(?:_?(\d{1,3}))?$")
_PHONE_DESC = re.compile(r"^phone(?:_?(\d{1,3}))?_(?:description|desc|label)$")
_MAX_LEN = {"external_id": 200, "first_name": 200, "last_name": 200, "postal_code": 20}


@dataclass(frozen=True)
class _PhoneColumn:
    position: int
    index: int
    name: str
    desc_index: int | None
    desc_name: str | None


@dataclass(frozen=True)
class ContactColumns:
    """Where each field is in a contacts file."""

    names: list[str]
    fields: dict[str, int]
    """Known contact field -> column index."""
    phones: list[_PhoneColumn]
    custom: list[tuple[int, str]]


def map_contact_columns(header: Sequence[str]) -> ContactColumns:
    names = _check_header(header)
    fields: dict[str, int] = {}
    phones: dict[int, int] = {}
    descs: dict[int, int] = {}
    custom: list[tuple[int, str]] = []
    for i, name in enumerate(names):
        k = _key(name)
        if k in _ALIASES:
            f = _ALIASES[k]
            if f in fields:
                raise ImportFailure(
                    f'line 1: columns "{names[fields[f]]}" and "{name}" are both {f}'
                )
            fields[f] = i
        elif (m := _PHONE.match(k)) or (m := _PHONE_DESC.match(k)):
            n = int(m.group(1) or 1)
            if not 1 <= n <= 99:
                raise ImportFailure(f"line 1: {name}: phone columns are numbered 1 to 99")
            target = phones if m.re is _PHONE else descs
            if n in target:
                raise ImportFailure(
                    f'line 1: columns "{names[target[n]]}" and "{name}" are both '
                    f"phone{n}{'' if target is phones else ' descriptions'}"
                )
            target[n] = i
        else:
            custom.append((i, name))
    if not phones:
        raise ImportFailure(
            "line 1: no phone column (expected phone1, phone2, ... or phone); "
            f"header is: {', '.join(names)}"
        )
    for n, i in descs.items():
        if n not in phones:
            raise ImportFailure(f"line 1: {names[i]}: there is no phone{n} column")
    return ContactColumns(
        names=names,
        fields=fields,
        phones=[
            _PhoneColumn(n, phones[n], names[phones[n]], descs.get(n),
                         names[descs[n]] if n in descs else None)
            for n in sorted(phones)
        ],
        custom=custom,
    )


# --- row checks (in worker processes for large files) -----------------------------

PhoneResult = tuple[str, tuple[str, ...]] | str
"""(e164, candidate zones) for a good number, else the rejection reason."""

Problems = tuple[tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...]]
"""A row's (errors before the external-id check, errors after it, the "no phone number"
error to give if nothing else is wrong, notes on numbers repeated within the row)."""


@dataclass
class CheckedBatch:
    """What the row-local checks made of a batch, in a compact form (it crosses a process
    boundary): one entry per record in `lines`, `exts`, `contacts` (COPY line, None when
    the row is rejected) and `counts` (its targets); one entry per target in `targets`
    (COPY line ending with a NULL unavailable_reason), `keys` (E.164 as an int) and
    `columns` (index of its phone column); `problems` by record index, for the few
    records with errors or notes."""

    lines: list[int]
    exts: list[str | None]
    contacts: list[str | None]
    counts: bytearray
    targets: list[str]
    keys: list[int]
    columns: bytearray
    problems: dict[int, Problems]
    phones_cpu: float = 0.0
    other_cpu: float = 0.0
    numbers: int = 0
    fatal: str | None = None
    """Malformed CSV: the import stops with this message."""


_COPY_NULL = "\\N"
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_escape(value: str) -> str:
    """A value in COPY's text format (backslash, tab, newline and CR are escaped)."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


class RowChecker:
    """The checks of a contacts row that need no other row, and the row's COPY text.

    Runs in the worker processes (one instance each, made before any task) or in-process
    for small files; the checks that depend on other rows or on the database (repeated
    external ids and numbers, DNC) are done by the main process, in file order.
    """

    def __init__(self, cols: ContactColumns, region: str | None) -> None:
        self.cols = cols
        self.region = region
        self.zones = zoneinfo.available_timezones()
        self.zones_lower = {z.lower(): z for z in self.zones}
        self._array_literals: dict[tuple[str, ...], str] = {}

    def phone(self, raw: str) -> PhoneResult:
        try:
            info = analyze_phone(raw, self.region)
        except PhoneError as exc:
            return exc.reason.value
        return info.e164, info.time_zones

    def _zones_literal(self, zones: tuple[str, ...]) -> str:
        lit = self._array_literals.get(zones)
        if lit is None:
            lit = "{" + ",".join(f'"{z}"' for z in zones) + "}"
            self._array_literals[zones] = lit
        return lit

    def check(self, first_line: int, text: str, ids: Sequence[int], campaign_id: int,
              max_attempts: int) -> CheckedBatch:
        """Check a chunk of the file (CsvSource.chunk); ids[i] is the contact id for its
        i-th record if it is accepted (there are at least as many ids as lines)."""
        t0 = time.process_time()
        try:
            rows = parse_chunk(first_line, text)
        except ImportFailure as exc:
            out = CheckedBatch([], [], [], bytearray(), [], [], bytearray(), {})
            out.fatal = str(exc)
            return out
        ncols = len(self.cols.names)
        phone_idx = [p.index for p in self.cols.phones]
        raws: list[str] = []
        for _line, row in rows:
            if len(row) == ncols:
                for i in phone_idx:
                    raw = row[i].strip()
                    if raw:
                        raws.append(raw)
        t1 = time.process_time()
        phone = self.phone
        results = iter([phone(raw) for raw in raws])
        t2 = time.process_time()
        out = self._check_rows(rows, results, ids, campaign_id, max_attempts)
        t3 = time.process_time()
        out.phones_cpu = t2 - t1
        out.other_cpu = (t1 - t0) + (t3 - t2)
        out.numbers = len(raws)
        return out

    def _check_rows(
        self,
        rows: list[tuple[int, list[str]]],
        results: Iterator[PhoneResult],
        ids: Sequence[int],
        campaign_id: int,
        max_attempts: int,
    ) -> CheckedBatch:
        cols = self.cols
        names = cols.names
        ncols = len(names)
        f = cols.fields
        simple = [(col, names[col] if col is not None else "", _MAX_LEN[name])
                  for name in ("external_id", "first_name", "last_name", "postal_code")
                  for col in (f.get(name),)]
        i_tz = f.get("timezone")
        i_exp = f.get("expires_at")
        phones = list(enumerate(cols.phones))
        custom = cols.custom
        zones_ok = self.zones
        head = f"\t{campaign_id}\t"
        tail = f"\t{max_attempts}\t\\N\n"
        out = CheckedBatch([], [], [], bytearray(), [], [], bytearray(), {})
        lines = out.lines
        exts = out.exts
        contacts = out.contacts
        counts = out.counts
        target_lines = out.targets
        keys = out.keys
        columns = out.columns
        problems = out.problems

        for n, (line, row) in enumerate(rows):
            if len(row) != ncols:
                if not any(cell.strip() for cell in row):
                    continue  # a line of empty cells (spreadsheet exports)
                problems[len(lines)] = (
                    (f"line {line}: row: has {len(row)} fields, the header has {ncols}",),
                    (), None, ())
                lines.append(line)
                exts.append(None)
                contacts.append(None)
                counts.append(0)
                continue
            pre: list[str] = []
            joined = "".join(row)
            if "\x00" in joined:
                for i, cell in enumerate(row):
                    if "\x00" in cell:
                        pre.append(f"line {line}: {names[i]}: contains a NUL character")
            values: list[str | None] = []
            for col, col_name, max_len in simple:
                if col is None:
                    values.append(None)
                    continue
                v = row[col].strip()
                if len(v) > max_len:
                    pre.append(f"line {line}: {col_name}: longer than {max_len} characters")
                values.append(v or None)
            ext = values[0]
            post: list[str] = []
            tz: str | None = None
            if i_tz is not None:
                tz = row[i_tz].strip() or None
                if tz is not None and tz not in zones_ok:
                    hint = self.zones_lower.get(tz.lower())
                    post.append(
                        f'line {line}: {names[i_tz]}: unknown time zone "{tz}" '
                        + (f"(did you mean {hint}?)" if hint
                           else "(expected an IANA name such as America/New_York)")
                    )
            expires: datetime | None = None
            if i_exp is not None and row[i_exp].strip():
                expires, err = _parse_instant(row[i_exp].strip())
                if err:
                    post.append(f"line {line}: {names[i_exp]}: {err}")

            targets: list[tuple[int, int, str, str, tuple[str, ...]]] = []
            notes: list[str] = []
            numbers_in_row: dict[str, str] = {}
            for k, p in phones:
                raw = row[p.index].strip()
                if not raw:
                    continue
                res = next(results)
                if isinstance(res, str):
                    post.append(f'line {line}: {p.name}: {res} ("{raw}")')
                    continue
                e164, zones = res
                desc = row[p.desc_index].strip() if p.desc_index is not None else ""
                if len(desc) > 100:
                    post.append(f"line {line}: {p.desc_name}: longer than 100 characters")
                if e164 in numbers_in_row:
                    notes.append(f"line {line}: {p.name}: {e164} is the same number as "
                                 f"{numbers_in_row[e164]}; imported once")
                    continue
                numbers_in_row[e164] = p.name
                targets.append((k, p.position, desc, e164, zones))
            index = len(lines)
            lines.append(line)
            exts.append(ext)
            if pre or post or not targets:
                no_phone = None
                if not targets and not pre and not post:
                    no_phone = f"line {line}: {phones[0][1].name}: no phone number in any phone column"
                problems[index] = (tuple(pre), tuple(post), no_phone, tuple(notes))
                contacts.append(None)
                counts.append(0)
                continue
            if notes:
                problems[index] = ((), (), None, tuple(notes))

            # Good so far (the main process checks the external id, numbers seen on
            # other rows and DNC): the COPY lines.
            escape = _COPY_SPECIAL.search(joined) is not None
            texts = [_COPY_NULL if v is None else _copy_escape(v) if escape else v
                     for v in (*values, tz)]
            custom_fields = {name: row[i].strip() for i, name in custom if row[i].strip()}
            if custom_fields:
                js = json.dumps(custom_fields, ensure_ascii=False)
                if "\\" in js:
                    js = js.replace("\\", "\\\\")
            else:
                js = "{}"
            cid = str(ids[n])
            contacts.append(cid + head + "\t".join(texts) + "\t" + js + "\t"
                            + (expires.isoformat() if expires is not None else _COPY_NULL) + "\n")
            counts.append(len(targets))
            for k, position, desc, e164, zones in targets:
                target_lines.append(
                    f"{cid}{head}{position}\t{_copy_escape(desc) if escape else desc}\t{e164}\t"
                    f"{self._zones_literal(zones)}{tail}")
                keys.append(int(e164[1:]))
                columns.append(k)
        return out


_WORKER_CHECKER: RowChecker | None = None


def _worker_init(cols: ContactColumns, region: str | None) -> None:
    global _WORKER_CHECKER
    _WORKER_CHECKER = RowChecker(cols, region)


def _worker_check(first_line: int, text: str, ids: Sequence[int], campaign_id: int,
                  max_attempts: int) -> CheckedBatch:
    assert _WORKER_CHECKER is not None
    return _WORKER_CHECKER.check(first_line, text, ids, campaign_id, max_attempts)


class _Done:
    """An already computed result with the interface of multiprocessing's AsyncResult."""

    def __init__(self, value: CheckedBatch) -> None:
        self._value = value

    def get(self) -> CheckedBatch:
        return self._value


class RowCheckPool:
    """Runs RowChecker.check in `jobs` worker processes, or in-process when jobs is 0.

    Create it before opening database connections or threads: workers are forked, and
    a forked child must not inherit a live connection.
    """

    def __init__(self, jobs: int, cols: ContactColumns, region: str | None) -> None:
        self._pool: multiprocessing.pool.Pool | None = None
        self._local: RowChecker | None = None
        if jobs > 0:
            self._pool = multiprocessing.get_context("fork").Pool(
                jobs, initializer=_worker_init, initargs=(cols, region))
        else:
            self._local = RowChecker(cols, region)

    def submit(self, first_line: int, text: str, ids: Sequence[int], campaign_id: int,
               max_attempts: int) -> _Done | multiprocessing.pool.AsyncResult[Any]:
        if self._pool is None:
            assert self._local is not None
            return _Done(self._local.check(first_line, text, ids, campaign_id, max_attempts))
        return self._pool.apply_async(_worker_check,
                                      (first_line, text, ids, campaign_id, max_attempts))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def finish(self) -> float | None:
        """Let the workers exit after their last task; returns the CPU seconds the worker
        processes used in all (task transfer included), None when unknown."""
        if self._pool is None:
            return None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._pool.close()
        self._pool.join()
        self._pool = None
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    def __enter__(self) -> RowCheckPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jobs_for(size: int, jobs: int | None) -> int:
    if jobs is not None:
        return max(0, jobs)
    if size < PARALLEL_MIN_BYTES:
        return 0
    return os.cpu_count() or 1


def check_region(region: str | None) -> str | None:
    if region is None:
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ImportFailure(f'--default-region: unknown region "{region}" (use e.g. US, GB, AU)')
    return code


def _parse_instant(text: str) -> tuple[datetime | None, str | None]:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None, f'"{text}" is not an ISO 8601 date-time (e.g. 2026-03-31T23:59:00+00:00)'
    if value.tzinfo is None:
        return None, f'"{text}" has no UTC offset (add +00:00, Z or the local offset)'
    return value.astimezone(UTC), None


# --- contacts: the checks across rows (main process, file order) -------------------


class _ContactRows:
    """Finishes the checks that depend on other rows or on the database (external ids
    and numbers already seen, DNC), reports every rejected row and note in file order,
    and assembles the COPY data of the accepted rows."""

    def __init__(
        self,
        campaign: CampaignRef,
        cols: ContactColumns,
        existing_ids: dict[str, int],
        existing_numbers: dict[int, int],
        dnc: dict[int, str],
        report: Reporter,
        stats: ContactImportReport,
    ) -> None:
        self.campaign = campaign
        i_ext = cols.fields.get("external_id")
        self.ext_name = cols.names[i_ext] if i_ext is not None else "external_id"
        self.phone_names = [p.name for p in cols.phones]
        self.existing_ids = existing_ids
        self.existing_numbers = existing_numbers
        self.dnc = dnc
        self.report = report
        self.stats = stats
        self.seen_ids: dict[str, int] = {}
        self.seen_numbers: dict[int, int] = {}

    def merge(self, batch: CheckedBatch, contacts: list[str], targets: list[str]) -> None:
        """Append the COPY lines of the batch's accepted rows to contacts and targets."""
        stats = self.stats
        report = self.report
        seen_ids = self.seen_ids
        existing_ids = self.existing_ids
        seen_numbers = self.seen_numbers
        existing_numbers = self.existing_numbers
        dnc = self.dnc
        ext_name = self.ext_name
        phone_names = self.phone_names
        problems = batch.problems
        target_lines = batch.targets
        keys = batch.keys
        columns = batch.columns
        rejected = dnc_matches = duplicate_numbers = duplicate_ext = 0
        t = 0
        for r, (line, ext, contact, count) in enumerate(
            zip(batch.lines, batch.exts, batch.contacts, batch.counts, strict=True)
        ):
            pre: tuple[str, ...] = ()
            post: tuple[str, ...] = ()
            no_phone = None
            if problems and r in problems:
                pre, post, no_phone, notes = problems[r]
                for note in notes:
                    report(note)
                duplicate_numbers += len(notes)
            ext_error = None
            if ext is not None:
                first = seen_ids.get(ext)
                if first is not None:
                    ext_error = f"line {line}: {ext_name}: duplicate of line {first}"
                    duplicate_ext += 1
                elif ext in existing_ids:
                    ext_error = (
                        f'line {line}: {ext_name}: "{ext}" is already in campaign '
                        f'"{self.campaign.name}" (contact {existing_ids[ext]})'
                    )
                    duplicate_ext += 1
            if contact is None or ext_error is not None:
                errors = [*pre, ext_error, *post] if ext_error is not None else [*pre, *post]
                if not errors and no_phone is not None:
                    errors.append(no_phone)
                for message in errors:
                    report(message)
                rejected += 1
                t += count
                continue
            # Accepted.
            if ext is not None:
                seen_ids[ext] = line
            contacts.append(contact)
            for j in range(t, t + count):
                key = keys[j]
                scope = dnc.get(key)
                if scope is None:
                    targets.append(target_lines[j])
                else:
                    dnc_matches += 1
                    report(
                        f"line {line}: {phone_names[columns[j]]}: +{key} is on the do-not-call "
                        f"list ({scope}); imported as unavailable (DNC)"
                    )
                    targets.append(target_lines[j][:-3] + "DNC\n")
                prev_line = seen_numbers.get(key)
                if prev_line is not None:
                    duplicate_numbers += 1
                    report(f"line {line}: {phone_names[columns[j]]}: +{key} is also on line "
                           f"{prev_line}; imported")
                else:
                    seen_numbers[key] = line
                    owner = existing_numbers.get(key)
                    if owner is not None:
                        duplicate_numbers += 1
                        report(
                            f"line {line}: {phone_names[columns[j]]}: +{key} is already a target "
                            f"of contact {owner} in this campaign; imported"
                        )
            t += count
        stats.rows_read += len(batch.lines)
        stats.rows_rejected += rejected
        stats.dnc_matches += dnc_matches
        stats.duplicate_numbers += duplicate_numbers
        stats.duplicate_external_ids += duplicate_ext


def _new_contact_ids(conn: psycopg.Connection[Any], n: int) -> list[int]:
    """n new contact ids from the contacts sequence (on a connection of their own, so this
    never waits for the COPY in progress). The ids of rows that end up rejected, or of a
    rolled-back import, are gaps, as with any sequence."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) FROM generate_series(1, %s)",
            (n,),
        ).fetchall()
    ]


_CONTACT_COPY = (
    "COPY contacts (id, campaign_id, external_id, first_name, last_name, postal_code, "
    "time_zone, custom_fields, expires_at) FROM STDIN"
)
_TARGET_COPY = (
    "COPY targets (contact_id, campaign_id, position, description, e164, "
    "candidate_time_zones, max_attempts, unavailable_reason) FROM STDIN"
)


class _CopyWriter:
    """Sends the batches' COPY data from a thread of its own, so that PostgreSQL inserts
    one batch while this process checks the next: the two run on different cores.

    The thread is the only user of the connection until finish() returns. A database
    error ends the thread; it is raised in the caller by the next put() or by finish().
    """

    def __init__(self, conn: psycopg.Connection[Any], depth: int = 2) -> None:
        self.conn = conn
        self.error: BaseException | None = None
        self.busy = 0.0
        self._queue: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(depth)
        self._thread = threading.Thread(target=self._run, name="contacts-copy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        q = self._queue
        try:
            with self.conn.cursor() as cur:
                while (item := q.get()) is not None:
                    started = time.perf_counter()
                    contacts, targets = item
                    with cur.copy(_CONTACT_COPY) as copy:
                        copy.write(contacts)
                    with cur.copy(_TARGET_COPY) as copy:
                        copy.write(targets)
                    self.busy += time.perf_counter() - started
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc
            while q.get() is not None:  # let put() callers go on until they see the error
                pass

    def put(self, contacts: bytes, targets: bytes) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put((contacts, targets))

    def finish(self) -> None:
        """Wait until every batch is in the database (or raise the error that stopped it)."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """Stop after the batch in progress (the transaction is being rolled back)."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(30)


def _server_cpu(conn: psycopg.Connection[Any]) -> Callable[[], float | None]:
    """CPU seconds used so far by the connection's server process, when PostgreSQL runs
    on this machine (read from /proc; for the --timings breakdown only)."""
    pid = conn.info.backend_pid
    host = conn.info.host
    if host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
        return lambda: None
    try:
        with open(f"/proc/{pid}/comm") as f:
            if "postgres" not in f.read():
                return lambda: None
    except OSError:
        return lambda: None
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            return None

    return read


# --- contacts: the import ---------------------------------------------------------

_STAGES = (
    "csv", "checks_wait", "rows", "copy_wait", "commit", "copy_busy",
    "main_cpu", "workers_cpu", "checks_cpu", "phones_cpu", "server_cpu",
)
"""--timings. Wall seconds: the main thread reading the CSV (finding chunk ends),
waiting for the row checks, finishing rows (checks across rows, COPY data), waiting
for the COPY writer, committing; copy_busy: the writer thread in COPY. CPU seconds:
main_cpu of the main process (all its threads), workers_cpu of the worker processes
(all of it; in-process: as checks_cpu), checks_cpu of RowChecker.check (CSV parsing,
row checks, COPY text, phones), phones_cpu of phone analysis, server_cpu of the
PostgreSQL server processes of both connections (when local, else 0)."""


def import_contacts(
    conninfo: str,
    path: str | Path,
    campaign_name: str,
    *,
    default_region: str | None = None,
    strict: bool = False,
    jobs: int | None = None,
    report: Reporter = lambda message: None,
    progress: Progress | None = None,
    actor: str = "cli",
) -> ContactImportReport:
    """Import a contacts CSV into a campaign; see the module doc for the rules.

    Raises ImportFailure (nothing written) for a missing or empty file, a bad header, an
    unknown campaign, a bad encoding, malformed CSV or a database error.
    """
    started = time.perf_counter()
    cpu_started = time.process_time()
    region = check_region(default_region)
    stats = ContactImportReport()
    for stage in _STAGES:
        stats.timings[stage] = 0.0
    with CsvSource(path) as src:
        cols = map_contact_columns(src.header())
        with RowCheckPool(_jobs_for(src.size, jobs), cols, region) as checks:
            try:
                with psycopg.connect(conninfo) as conn, \
                        psycopg.connect(conninfo, autocommit=True) as id_conn:
                    _import_contacts_tx(conn, id_conn, src, cols, campaign_name, checks,
                                        strict, report, progress, stats, actor)
                    workers_cpu = checks.finish()
                    if workers_cpu is not None:
                        stats.timings["workers_cpu"] = workers_cpu
            except psycopg.Error as exc:
                raise ImportFailure(f"database error, nothing imported: {_pg_message(exc)}") from None
    stats.seconds = time.perf_counter() - started
    stats.timings["main_cpu"] = time.process_time() - cpu_started
    return stats


def _pg_message(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    return (primary or str(exc)).strip()


def _import_contacts_tx(
    conn: psycopg.Connection[Any],
    id_conn: psycopg.Connection[Any],
    src: CsvSource,
    cols: ContactColumns,
    campaign_name: str,
    checks: RowCheckPool,
    strict: bool,
    report: Reporter,
    progress: Progress | None,
    stats: ContactImportReport,
    actor: str,
) -> None:
    t = stats.timings
    server_cpus = (_server_cpu(conn), _server_cpu(id_conn))
    server_started = [read() for read in server_cpus]
    campaign = find_campaign(conn, campaign_name)
    if campaign is None:
        raise ImportFailure(f'no campaign named "{campaign_name}"')
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (IMPORT_LOCK_CLASS, campaign.id))
    existing_ids = {
        ext: cid
        for ext, cid in conn.execute(
            "SELECT external_id, id FROM contacts WHERE campaign_id = %s AND external_id IS NOT NULL",
            (campaign.id,),
        )
    }
    existing_numbers: dict[int, int] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT e164, contact_id FROM targets WHERE campaign_id = %s", (campaign.id,))
        for e164, cid in cur:
            existing_numbers.setdefault(int(e164[1:]), cid)
    rows = _ContactRows(campaign, cols, existing_ids, existing_numbers,
                        dnc_ledger.active_numbers(conn, campaign.id), report, stats)
    max_attempts = campaign.max_attempts_per_target

    pending: deque[tuple[Any, int]] = deque()
    writing = True
    writer = _CopyWriter(conn)
    finished = False

    def flush_one() -> None:
        nonlocal writing
        future, position = pending.popleft()
        t0 = time.perf_counter()
        checked: CheckedBatch = future.get()
        if checked.fatal is not None:
            raise ImportFailure(checked.fatal)
        t1 = time.perf_counter()
        t["checks_wait"] += t1 - t0
        t["phones_cpu"] += checked.phones_cpu
        t["checks_cpu"] += checked.phones_cpu + checked.other_cpu
        t["workers_cpu"] += checked.phones_cpu + checked.other_cpu
        stats.numbers_analyzed += checked.numbers
        contacts: list[str] = []
        targets: list[str] = []
        rows.merge(checked, contacts, targets)
        t2 = time.perf_counter()
        t["rows"] += t2 - t1
        if strict and stats.rows_rejected:
            writing = False  # everything will be rolled back: stop sending data
        if writing and contacts:
            data = "".join(contacts).encode(), "".join(targets).encode()
            t3 = time.perf_counter()
            t["rows"] += t3 - t2
            writer.put(*data)
            t["copy_wait"] += time.perf_counter() - t3
            stats.contacts_imported += len(contacts)
            stats.targets_imported += len(targets)
        if progress is not None:
            progress(position, src.size, stats.rows_read)

    try:
        while True:
            t0 = time.perf_counter()
            first_line, text, nlines = src.chunk(BATCH_ROWS)
            t["csv"] += time.perf_counter() - t0
            if not nlines:
                break
            ids = _new_contact_ids(id_conn, nlines)
            pending.append((checks.submit(first_line, text, ids, campaign.id, max_attempts),
                            src.bytes_read()))
            if len(pending) > MAX_IN_FLIGHT:
                flush_one()
        while pending:
            flush_one()
        t0 = time.perf_counter()
        writer.finish()
        finished = True
        t["copy_wait"] += time.perf_counter() - t0
    finally:
        if not finished:
            writer.abandon()
    t["copy_busy"] = writer.busy

    if stats.rows_read == 0:
        raise ImportFailure(f"{src.path.name}: no data rows after the header")
    if strict and stats.rows_rejected:
        conn.rollback()
        stats.contacts_imported = stats.targets_imported = 0
        return
    conn.execute(
        "INSERT INTO audit_log (actor, action, object_type, object_id, details) "
        "VALUES (%s, 'contacts.import', 'campaign', %s, %s)",
        (actor, str(campaign.id), Jsonb({
            "file": src.path.name, "rows_read": stats.rows_read,
            "contacts": stats.contacts_imported, "targets": stats.targets_imported,
            "rejected": stats.rows_rejected, "dnc_matches": stats.dnc_matches,
        })),
    )
    t0 = time.perf_counter()
    conn.commit()
    t["commit"] = time.perf_counter() - t0
    for read, start in zip(server_cpus, server_started, strict=True):
        done = read()
        if start is not None and done is not None:
            t["server_cpu"] += done - start
    stats.committed = True


# --- DNC import -------------------------------------------------------------------

_DNC_FIELDS = {
    "number": ("number", "phone", "e164", "phone_number"),
    "campaign": ("campaign",),
    "source": ("source",),
    "reason": ("reason",),
    "expires_at": ("expires_at", "expires", "expiry"),
}
_DNC_ALIASES = {alias: name for name, aliases in _DNC_FIELDS.items() for alias in aliases}


def dnc_e164(raw: str, region: str | None) -> PhoneResult:
    """E.164 of a number for the DNC list. Premium-rate and shared-cost numbers are never
    dialed anyway, but a regulator's list may hold them: they are kept, not rejected."""
    try:
        info = analyze_phone(raw, region)
    except PhoneError as exc:
        if exc.reason in (PhoneErrorReason.PREMIUM_RATE, PhoneErrorReason.SHARED_COST):
            num = phonenumbers.parse(raw.strip(), region)
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164), ()
        return exc.reason.value
    return info.e164, info.time_zones


def import_dnc(
    conninfo: str,
    path: str | Path,
    *,
    campaign_name: str | None = None,
    default_region: str | None = None,
    strict: bool = False,
    report: Reporter = lambda message: None,
    progress: Progress | None = None,
    actor: str = "cli",
) -> DncImportReport:
    """Import DNC entries: columns number (or phone, e164), and optionally campaign,
    source, reason, expires_at. A row's empty campaign cell means `campaign_name` if
    given, else global. An entry already on the list is refreshed (source, reason,
    expiry); a number repeated in the file in the same scope is kept once.
    """
    started = time.perf_counter()
    region = check_region(default_region)
    stats = DncImportReport()
    now = datetime.now(UTC)
    with CsvSource(path) as src:
        names = _check_header(src.header())
        cols: dict[str, int] = {}
        for i, name in enumerate(names):
            k = _DNC_ALIASES.get(_key(name))
            if k is None:
                report(f"line 1: {name}: not a DNC column; ignored")
                continue
            if k in cols:
                raise ImportFailure(f'line 1: columns "{names[cols[k]]}" and "{name}" are both {k}')
            cols[k] = i
        if "number" not in cols:
            raise ImportFailure(
                f"line 1: no number column (expected number, phone or e164); header is: "
                f"{', '.join(names)}"
            )
        try:
            with psycopg.connect(conninfo) as conn:
                default_campaign: int | None = None
                if campaign_name is not None:
                    found = find_campaign(conn, campaign_name)
                    if found is None:
                        raise ImportFailure(f'no campaign named "{campaign_name}"')
                    default_campaign = found.id
                campaigns: dict[str, int | None] = {}
                seen: dict[tuple[str, int | None], int] = {}
                good: list[tuple[str, int | None, str, str | None, datetime | None]] = []
                ncols = len(names)
                for line, row in src.records():
                    if len(row) != ncols and not any(c.strip() for c in row):
                        continue
                    stats.rows_read += 1
                    if len(row) != ncols:
                        report(f"line {line}: row: has {len(row)} fields, the header has {ncols}")
                        stats.rows_rejected += 1
                        continue
                    errors: list[str] = []
                    for i, cell in enumerate(row):
                        if "\x00" in cell:
                            errors.append(f"line {line}: {names[i]}: contains a NUL character")
                    raw = row[cols["number"]].strip()
                    e164: str | None = None
                    if not raw:
                        errors.append(f"line {line}: {names[cols['number']]}: empty")
                    else:
                        res = dnc_e164(raw, region)
                        if isinstance(res, str):
                            errors.append(f'line {line}: {names[cols["number"]]}: {res} ("{raw}")')
                        else:
                            e164 = res[0]
                    campaign_id = default_campaign
                    if "campaign" in cols and (cname := row[cols["campaign"]].strip()):
                        if cname not in campaigns:
                            ref = find_campaign(conn, cname)
                            campaigns[cname] = ref.id if ref else None
                        campaign_id = campaigns[cname]
                        if campaign_id is None:
                            errors.append(
                                f'line {line}: {names[cols["campaign"]]}: no campaign named "{cname}"'
                            )
                    source = "import"
                    if "source" in cols and row[cols["source"]].strip():
                        source = row[cols["source"]].strip()
                        if len(source) > 100:
                            errors.append(
                                f"line {line}: {names[cols['source']]}: longer than 100 characters"
                            )
                    reason = None
                    if "reason" in cols:
                        reason = row[cols["reason"]].strip() or None
                        if reason and len(reason) > 250:
                            errors.append(
                                f"line {line}: {names[cols['reason']]}: longer than 250 characters"
                            )
                    expires = None
                    if "expires_at" in cols and row[cols["expires_at"]].strip():
                        expires, err = _parse_instant(row[cols["expires_at"]].strip())
                        if err is None and expires is not None and expires <= now:
                            err = f'"{row[cols["expires_at"]].strip()}" is in the past'
                        if err:
                            errors.append(f"line {line}: {names[cols['expires_at']]}: {err}")
                    if errors:
                        for message in errors:
                            report(message)
                        stats.rows_rejected += 1
                        continue
                    assert e164 is not None
                    key = (e164, campaign_id)
                    if key in seen:
                        report(
                            f"line {line}: {names[cols['number']]}: {e164} is a duplicate of "
                            f"line {seen[key]}; kept once"
                        )
                        stats.duplicates += 1
                        continue
                    seen[key] = line
                    good.append((e164, campaign_id, source, reason, expires))
                    if progress is not None and stats.rows_read % 5000 == 0:
                        progress(src.bytes_read(), src.size, stats.rows_read)
                if stats.rows_read == 0:
                    raise ImportFailure(f"{src.path.name}: no data rows after the header")
                if strict and stats.rows_rejected:
                    conn.rollback()
                    stats.seconds = time.perf_counter() - started
                    return stats
                _write_dnc(conn, good, stats)
                conn.execute(
                    "INSERT INTO audit_log (actor, action, object_type, object_id, details) "
                    "VALUES (%s, 'dnc.import', 'dnc', NULL, %s)",
                    (actor, Jsonb({
                        "file": src.path.name, "rows_read": stats.rows_read,
                        "added": stats.entries_added, "updated": stats.entries_updated,
                        "rejected": stats.rows_rejected,
                    })),
                )
                conn.commit()
                stats.committed = True
        except psycopg.Error as exc:
            raise ImportFailure(f"database error, nothing imported: {_pg_message(exc)}") from None
    stats.seconds = time.perf_counter() - started
    return stats


def _write_dnc(
    conn: psycopg.Connection[Any],
    good: list[tuple[str, int | None, str, str | None, datetime | None]],
    stats: DncImportReport,
) -> None:
    conn.execute(
        """CREATE TEMP TABLE dnc_import (e164 text NOT NULL, campaign_id bigint, source text NOT NULL,
                                         reason text, expires_at timestamptz) ON COMMIT DROP"""
    )
    with conn.cursor() as cur:
        with cur.copy("COPY dnc_import (e164, campaign_id, source, reason, expires_at) FROM STDIN") as copy:
            for row in good:
                copy.write_row(row)
        cur.execute(
            """INSERT INTO dnc_entries (e164, campaign_id, source, reason, expires_at)
               SELECT e164, campaign_id, source, reason, expires_at FROM dnc_import
               ON CONFLICT (e164, coalesce(campaign_id, 0))
               DO UPDATE SET source = EXCLUDED.source, reason = EXCLUDED.reason,
                             expires_at = EXCLUDED.expires_at
               RETURNING (xmax = 0)"""
        )
        created = [r[0] for r in cur.fetchall()]
        stats.entries_added = sum(1 for c in created if c)
        stats.entries_updated = len(created) - stats.entries_added
        cur.execute(
            """UPDATE targets t SET unavailable_reason = 'DNC'
                 FROM dnc_import i
                WHERE t.e164 = i.e164 AND (i.campaign_id IS NULL OR i.campaign_id = t.campaign_id)
                  AND (t.unavailable_reason IS NULL
                       OR t.unavailable_reason IN ('Not in cadence', 'Outside calling window'))"""
        )
        stats.targets_marked = cur.rowcount
