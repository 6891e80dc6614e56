"""A DNC import: entries for the do-not-call list, global or per campaign, from a CSV
file, written in one transaction that also marks the targets they match."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
import psycopg
from psycopg.types.json import Jsonb

from orchestrator.core.phones import PhoneError, PhoneErrorReason, analyze_phone
from orchestrator.ledger.contacts import find_campaign
from orchestrator.ledger.importer.columns import DncColumns, map_dnc_columns
from orchestrator.ledger.importer.csv_source import CsvSource
from orchestrator.ledger.importer.reports import (
    DncImportReport,
    ImportFailure,
    Progress,
    Reporter,
    database_failure,
)
from orchestrator.ledger.importer.values import PhoneResult, check_region, parse_instant

_Entry = tuple[str, int | None, str, str | None, datetime | None]
"""A good row: (e164, campaign id or None for global, source, reason, expires_at)."""


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
        cols = map_dnc_columns(src.header(), report)
        try:
            with psycopg.connect(conninfo) as conn:
                rows = _DncRows(conn, cols, region, now, report, stats)
                if campaign_name is not None:
                    found = find_campaign(conn, campaign_name)
                    if found is None:
                        raise ImportFailure(f'no campaign named "{campaign_name}"')
                    rows.default_campaign = found.id
                rows.read(src, progress)
                if stats.rows_read == 0:
                    raise ImportFailure(f"{src.path.name}: no data rows after the header")
                if strict and stats.rows_rejected:
                    conn.rollback()
                    stats.seconds = time.perf_counter() - started
                    return stats
                _write_dnc(conn, rows.good, stats)
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
            raise database_failure(exc) from None
    stats.seconds = time.perf_counter() - started
    return stats


@dataclass
class _DncRows:
    """The checks of a DNC file's rows, in file order: the good ones end up in `good`,
    each number once per scope; the others are reported."""

    conn: psycopg.Connection[Any]
    cols: DncColumns
    region: str | None
    now: datetime
    report: Reporter
    stats: DncImportReport
    default_campaign: int | None = None
    """The scope of a row with no campaign (None: global)."""
    campaigns: dict[str, int | None] = field(default_factory=dict)
    """Campaign name -> id (None: no such campaign), as looked up."""
    seen: dict[tuple[str, int | None], int] = field(default_factory=dict)
    """(e164, campaign id) -> the line it was first on."""
    good: list[_Entry] = field(default_factory=list)

    def read(self, src: CsvSource, progress: Progress | None) -> None:
        stats = self.stats
        names = self.cols.names
        ncols = len(names)
        for line, row in src.records():
            if len(row) != ncols and not any(c.strip() for c in row):
                continue
            stats.rows_read += 1
            if len(row) != ncols:
                self.report(f"line {line}: row: has {len(row)} fields, the header has {ncols}")
                stats.rows_rejected += 1
                continue
            entry, errors = self._check(line, row)
            if entry is None:
                for message in errors:
                    self.report(message)
                stats.rows_rejected += 1
                continue
            key = (entry[0], entry[1])
            if key in self.seen:
                self.report(
                    f"line {line}: {names[self.cols.fields['number']]}: {entry[0]} is a "
                    f"duplicate of line {self.seen[key]}; kept once"
                )
                stats.duplicates += 1
                continue
            self.seen[key] = line
            self.good.append(entry)
            if progress is not None and stats.rows_read % 5000 == 0:
                progress(src.bytes_read(), src.size, stats.rows_read)

    def _check(self, line: int, row: list[str]) -> tuple[_Entry | None, list[str]]:
        """The row's entry, or None and its errors (every field is checked)."""
        names = self.cols.names
        cols = self.cols.fields
        errors: list[str] = []
        for i, cell in enumerate(row):
            if "\x00" in cell:
                errors.append(f"line {line}: {names[i]}: contains a NUL character")
        raw = row[cols["number"]].strip()
        e164: str | None = None
        if not raw:
            errors.append(f"line {line}: {names[cols['number']]}: empty")
        else:
            res = dnc_e164(raw, self.region)
            if isinstance(res, str):
                errors.append(f'line {line}: {names[cols["number"]]}: {res} ("{raw}")')
            else:
                e164 = res[0]
        campaign_id = self._campaign_id(line, row, errors)
        source = "import"
        if "source" in cols and row[cols["source"]].strip():
            source = row[cols["source"]].strip()
            if len(source) > 100:
                errors.append(f"line {line}: {names[cols['source']]}: longer than 100 characters")
        reason = None
        if "reason" in cols:
            reason = row[cols["reason"]].strip() or None
            if reason and len(reason) > 250:
                errors.append(f"line {line}: {names[cols['reason']]}: longer than 250 characters")
        expires = self._expiry(line, row, errors)
        if errors:
            return None, errors
        assert e164 is not None
        return (e164, campaign_id, source, reason, expires), errors

    def _campaign_id(self, line: int, row: list[str], errors: list[str]) -> int | None:
        """The row's scope: its campaign cell's campaign, else the default."""
        cols = self.cols.fields
        if "campaign" not in cols or not (cname := row[cols["campaign"]].strip()):
            return self.default_campaign
        if cname not in self.campaigns:
            ref = find_campaign(self.conn, cname)
            self.campaigns[cname] = ref.id if ref else None
        campaign_id = self.campaigns[cname]
        if campaign_id is None:
            errors.append(
                f'line {line}: {self.cols.names[cols["campaign"]]}: no campaign named "{cname}"'
            )
        return campaign_id

    def _expiry(self, line: int, row: list[str], errors: list[str]) -> datetime | None:
        """The row's expires_at, which must be in the future, or None (never expires)."""
        i = self.cols.fields.get("expires_at")
        if i is None or not row[i].strip():
            return None
        expires, err = parse_instant(row[i].strip())
        if err is None and expires is not None and expires <= self.now:
            err = f'"{row[i].strip()}" is in the past'
        if err:
            errors.append(f"line {line}: {self.cols.names[i]}: {err}")
        return expires


def _write_dnc(
    conn: psycopg.Connection[Any],
    good: list[_Entry],
    stats: DncImportReport,
) -> None:
    """Add the entries (or refresh the ones already on the list), and mark the targets
    they match unavailable (DNC), unless they already are for another reason."""
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
