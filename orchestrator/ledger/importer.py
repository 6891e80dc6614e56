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

Phone numbers are the expensive part (one phonenumbers parse and type match each, in
orchestrator.core.phones.analyze_phone); for large files they are analyzed in worker
processes, batch by batch, while the main process reads the CSV and writes COPY data.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import multiprocessing
import multiprocessing.pool
import os
import re
import time
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator, Sequence
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
"""Rows per batch: one phone-analysis task and one pair of COPY statements."""
MAX_IN_FLIGHT = 4
"""Batches handed to the worker processes ahead of the one being written."""
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
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage: csv, phones_wait, phones_cpu (workers' CPU), rows, copy, commit."""

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
        self._reader = csv.reader(self._text)
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
                if row:
                    yield line, row
        except UnicodeDecodeError:
            raise ImportFailure(self._encoding_error()) from None
        except csv.Error as exc:
            raise ImportFailure(f"line {reader.line_num}: malformed CSV: {exc}") from None

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


# --- phone analysis (in worker processes for large files) -------------------------

PhoneResult = tuple[str, tuple[str, ...]] | str
"""(e164, candidate zones) for a good number, else the rejection reason."""


def analyze_batch(raws: list[str], region: str | None) -> tuple[list[PhoneResult], float]:
    """Analyze raw numbers; returns the results in order and the CPU seconds spent."""
    started = time.process_time()
    out: list[PhoneResult] = []
    append = out.append
    for raw in raws:
        try:
            info = analyze_phone(raw, region)
        except PhoneError as exc:
            append(exc.reason.value)
        else:
            append((info.e164, info.time_zones))
    return out, time.process_time() - started


class _Done:
    """An already computed result with the interface of multiprocessing's AsyncResult."""

    def __init__(self, value: tuple[list[PhoneResult], float]) -> None:
        self._value = value

    def get(self) -> tuple[list[PhoneResult], float]:
        return self._value


class PhoneAnalyzer:
    """Runs analyze_batch in `jobs` worker processes, or in-process when jobs is 0.

    Create it before opening database connections: workers are forked, and a forked
    child must not inherit a live connection (they leave with os._exit, but why risk it).
    """

    def __init__(self, jobs: int, region: str | None) -> None:
        self.region = region
        self._pool: multiprocessing.pool.Pool | None = None
        if jobs > 0:
            self._pool = multiprocessing.get_context("fork").Pool(jobs)

    def submit(self, raws: list[str]) -> _Done | multiprocessing.pool.AsyncResult[Any]:
        if self._pool is None:
            return _Done(analyze_batch(raws, self.region))
        return self._pool.apply_async(analyze_batch, (raws, self.region))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> PhoneAnalyzer:
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


# --- contacts: the import ---------------------------------------------------------


class _ContactRows:
    """Validates contact rows and builds their COPY tuples; remembers what it accepted."""

    def __init__(
        self,
        cols: ContactColumns,
        campaign: CampaignRef,
        existing_ids: dict[str, int],
        existing_numbers: dict[int, int],
        dnc: dict[int, str],
        report: Reporter,
        stats: ContactImportReport,
    ) -> None:
        self.cols = cols
        self.campaign = campaign
        self.existing_ids = existing_ids
        self.existing_numbers = existing_numbers
        self.dnc = dnc
        self.report = report
        self.stats = stats
        self.seen_ids: dict[str, int] = {}
        self.seen_numbers: dict[int, int] = {}
        self.zones = zoneinfo.available_timezones()
        self.zones_lower = {z.lower(): z for z in self.zones}
        self._array_literals: dict[tuple[str, ...], str] = {}

    def phones_of(self, rows: list[tuple[int, list[str]]]) -> list[str]:
        """The raw phone cells of a batch, in the order check() will consume them."""
        ncols = len(self.cols.names)
        out: list[str] = []
        idx = [p.index for p in self.cols.phones]
        for _line, row in rows:
            if len(row) != ncols:
                continue
            for i in idx:
                raw = row[i].strip()
                if raw:
                    out.append(raw)
        return out

    def _zones_literal(self, zones: tuple[str, ...]) -> str:
        lit = self._array_literals.get(zones)
        if lit is None:
            lit = "{" + ",".join(f'"{z}"' for z in zones) + "}"
            self._array_literals[zones] = lit
        return lit

    def check(
        self,
        rows: list[tuple[int, list[str]]],
        results: Iterator[PhoneResult],
        contact_rows: list[tuple[Any, ...]],
        target_rows: list[tuple[Any, ...]],
    ) -> None:
        """Validate a batch; append the good rows' COPY tuples (contact id is filled in later
        as the index into contact_rows) and report the bad ones."""
        cols = self.cols
        names = cols.names
        ncols = len(names)
        f = cols.fields
        i_ext = f.get("external_id")
        i_first = f.get("first_name")
        i_last = f.get("last_name")
        i_zip = f.get("postal_code")
        i_tz = f.get("timezone")
        i_exp = f.get("expires_at")
        phones = cols.phones
        custom = cols.custom
        campaign_id = self.campaign.id
        max_attempts = self.campaign.max_attempts_per_target
        stats = self.stats
        report = self.report
        dnc = self.dnc
        seen_numbers = self.seen_numbers
        existing_numbers = self.existing_numbers
        phone_names = {p.position: p.name for p in phones}
        ext_name = names[i_ext] if i_ext is not None else "external_id"

        for line, row in rows:
            stats.rows_read += 1
            if len(row) != ncols:
                if not any(cell.strip() for cell in row):
                    stats.rows_read -= 1  # a line of empty cells (spreadsheet exports)
                    continue
                report(f"line {line}: row: has {len(row)} fields, the header has {ncols}")
                stats.rows_rejected += 1
                continue
            errors: list[str] = []
            joined = "".join(row)
            if "\x00" in joined:
                for i, cell in enumerate(row):
                    if "\x00" in cell:
                        errors.append(f"line {line}: {names[i]}: contains a NUL character")
            values: dict[str, str | None] = {}
            for name, col in (("external_id", i_ext), ("first_name", i_first),
                              ("last_name", i_last), ("postal_code", i_zip)):
                if col is None:
                    values[name] = None
                    continue
                v = row[col].strip()
                if len(v) > _MAX_LEN[name]:
                    errors.append(
                        f"line {line}: {names[col]}: longer than {_MAX_LEN[name]} characters"
                    )
                values[name] = v or None
            ext = values["external_id"]
            if ext is not None:
                first = self.seen_ids.get(ext)
                if first is not None:
                    errors.append(f"line {line}: {ext_name}: duplicate of line {first}")
                    stats.duplicate_external_ids += 1
                elif ext in self.existing_ids:
                    errors.append(
                        f'line {line}: {ext_name}: "{ext}" is already in campaign '
                        f'"{self.campaign.name}" (contact {self.existing_ids[ext]})'
                    )
                    stats.duplicate_external_ids += 1
            tz: str | None = None
            if i_tz is not None:
                tz = row[i_tz].strip() or None
                if tz is not None and tz not in self.zones:
                    hint = self.zones_lower.get(tz.lower())
                    errors.append(
                        f'line {line}: {names[i_tz]}: unknown time zone "{tz}" '
                        + (f"(did you mean {hint}?)" if hint
                           else "(expected an IANA name such as America/New_York)")
                    )
            expires: datetime | None = None
            if i_exp is not None and row[i_exp].strip():
                expires, err = _parse_instant(row[i_exp].strip())
                if err:
                    errors.append(f"line {line}: {names[i_exp]}: {err}")

            targets: list[tuple[int, str, str, tuple[str, ...]]] = []
            numbers_in_row: dict[str, str] = {}
            for p in phones:
                raw = row[p.index].strip()
                if not raw:
                    continue
                res = next(results)
                if isinstance(res, str):
                    errors.append(f'line {line}: {p.name}: {res} ("{raw}")')
                    continue
                e164, zones = res
                desc = row[p.desc_index].strip() if p.desc_index is not None else ""
                if len(desc) > 100:
                    errors.append(f"line {line}: {p.desc_name}: longer than 100 characters")
                if e164 in numbers_in_row:
                    report(
                        f"line {line}: {p.name}: {e164} is the same number as "
                        f"{numbers_in_row[e164]}; imported once"
                    )
                    stats.duplicate_numbers += 1
                    continue
                numbers_in_row[e164] = p.name
                targets.append((p.position, desc, e164, zones))
            if not targets and not errors:
                errors.append(
                    f"line {line}: {phones[0].name}: no phone number in any phone column"
                )
            if errors:
                for message in errors:
                    report(message)
                stats.rows_rejected += 1
                continue

            # Accepted.
            if ext is not None:
                self.seen_ids[ext] = line
            custom_fields = {name: row[i].strip() for i, name in custom if row[i].strip()}
            contact_index = len(contact_rows)
            contact_rows.append((
                contact_index, campaign_id, ext, values["first_name"], values["last_name"],
                values["postal_code"], tz,
                json.dumps(custom_fields, ensure_ascii=False) if custom_fields else "{}",
                expires,
            ))
            for position, desc, e164, zones in targets:
                key = int(e164[1:])
                reason = None
                scope = dnc.get(key)
                name = phone_names[position]
                if scope is not None:
                    reason = "DNC"
                    stats.dnc_matches += 1
                    report(
                        f"line {line}: {name}: {e164} is on the do-not-call list ({scope}); "
                        "imported as unavailable (DNC)"
                    )
                prev_line = seen_numbers.get(key)
                if prev_line is not None:
                    stats.duplicate_numbers += 1
                    report(f"line {line}: {name}: {e164} is also on line {prev_line}; imported")
                else:
                    seen_numbers[key] = line
                    owner = existing_numbers.get(key)
                    if owner is not None:
                        stats.duplicate_numbers += 1
                        report(
                            f"line {line}: {name}: {e164} is already a target of contact "
                            f"{owner} in this campaign; imported"
                        )
                target_rows.append((
                    contact_index, campaign_id, position, desc, e164,
                    self._zones_literal(zones), max_attempts, reason,
                ))


def _parse_instant(text: str) -> tuple[datetime | None, str | None]:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None, f'"{text}" is not an ISO 8601 date-time (e.g. 2026-03-31T23:59:00+00:00)'
    if value.tzinfo is None:
        return None, f'"{text}" has no UTC offset (add +00:00, Z or the local offset)'
    return value.astimezone(UTC), None


_CONTACT_COPY = (
    "COPY contacts (id, campaign_id, external_id, first_name, last_name, postal_code, "
    "time_zone, custom_fields, expires_at) FROM STDIN"
)
_TARGET_COPY = (
    "COPY targets (contact_id, campaign_id, position, description, e164, "
    "candidate_time_zones, max_attempts, unavailable_reason) FROM STDIN"
)


def _write_batch(
    conn: psycopg.Connection[Any],
    contact_rows: list[tuple[Any, ...]],
    target_rows: list[tuple[Any, ...]],
) -> None:
    """COPY one batch. Contact ids come from the sequence up front, so the targets can
    reference them without a round trip per row."""
    n = len(contact_rows)
    if not n:
        return
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) "
            "FROM generate_series(1, %s)",
            (n,),
        ).fetchall()
    ]
    with conn.cursor() as cur:
        with cur.copy(_CONTACT_COPY) as copy:
            write = copy.write_row
            for row in contact_rows:
                write((ids[row[0]], *row[1:]))
        with cur.copy(_TARGET_COPY) as copy:
            write = copy.write_row
            for row in target_rows:
                write((ids[row[0]], *row[1:]))


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
    region = check_region(default_region)
    stats = ContactImportReport()
    t = stats.timings
    for stage in ("csv", "phones_wait", "phones_cpu", "rows", "copy", "commit"):
        t[stage] = 0.0
    with CsvSource(path) as src:
        cols = map_contact_columns(src.header())
        with PhoneAnalyzer(_jobs_for(src.size, jobs), region) as analyzer:
            try:
                with psycopg.connect(conninfo) as conn:
                    _import_contacts_tx(conn, src, cols, campaign_name, analyzer, strict,
                                        report, progress, stats, actor)
            except psycopg.Error as exc:
                raise ImportFailure(f"database error, nothing imported: {_pg_message(exc)}") from None
    stats.seconds = time.perf_counter() - started
    return stats


def _pg_message(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    return (primary or str(exc)).strip()


def _import_contacts_tx(
    conn: psycopg.Connection[Any],
    src: CsvSource,
    cols: ContactColumns,
    campaign_name: str,
    analyzer: PhoneAnalyzer,
    strict: bool,
    report: Reporter,
    progress: Progress | None,
    stats: ContactImportReport,
    actor: str,
) -> None:
    t = stats.timings
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
    checker = _ContactRows(cols, campaign, existing_ids, existing_numbers,
                           dnc_ledger.active_numbers(conn, campaign.id), report, stats)

    records = src.records()
    pending: deque[tuple[list[tuple[int, list[str]]], Any, int]] = deque()
    writing = True

    def flush_one() -> None:
        nonlocal writing
        rows, future, position = pending.popleft()
        t0 = time.perf_counter()
        results, cpu = future.get()
        t1 = time.perf_counter()
        t["phones_wait"] += t1 - t0
        t["phones_cpu"] += cpu
        contact_rows: list[tuple[Any, ...]] = []
        target_rows: list[tuple[Any, ...]] = []
        checker.check(rows, iter(results), contact_rows, target_rows)
        t2 = time.perf_counter()
        t["rows"] += t2 - t1
        if strict and stats.rows_rejected:
            writing = False  # everything will be rolled back: stop sending data
        if writing:
            _write_batch(conn, contact_rows, target_rows)
            stats.contacts_imported += len(contact_rows)
            stats.targets_imported += len(target_rows)
        t["copy"] += time.perf_counter() - t2
        if progress is not None:
            progress(position, src.size, stats.rows_read)

    while True:
        t0 = time.perf_counter()
        batch = list(itertools.islice(records, BATCH_ROWS))
        phones = checker.phones_of(batch)
        t["csv"] += time.perf_counter() - t0
        if not batch:
            break
        pending.append((batch, analyzer.submit(phones), src.bytes_read()))
        if len(pending) > MAX_IN_FLIGHT:
            flush_one()
    while pending:
        flush_one()

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
