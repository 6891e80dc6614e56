"""A contacts import: the file's chunks through the row checks (worker processes), the
checks across rows (this process, in file order) and the COPY writer (a thread), in one
transaction that holds the campaign's import lock."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from orchestrator.ledger import dnc as dnc_ledger
from orchestrator.ledger.contacts import CampaignRef, find_campaign
from orchestrator.ledger.importer.columns import ContactColumns, map_contact_columns
from orchestrator.ledger.importer.contact_rows import ContactRows
from orchestrator.ledger.importer.copy_writer import CopyWriter
from orchestrator.ledger.importer.csv_source import CsvSource
from orchestrator.ledger.importer.reports import (
    ContactImportReport,
    ImportFailure,
    Progress,
    Reporter,
    database_failure,
)
from orchestrator.ledger.importer.row_checks import CheckedBatch
from orchestrator.ledger.importer.timings import STAGES, server_cpu
from orchestrator.ledger.importer.values import check_region
from orchestrator.ledger.importer.workers import RowCheckPool, jobs_for

BATCH_ROWS = 5000
"""Lines per chunk: one row-check task and one pair of COPY statements."""
MAX_IN_FLIGHT = 4
"""Chunks handed to the worker processes ahead of the one being merged."""
IMPORT_LOCK_CLASS = 0x0D1A
"""First key of the per-campaign advisory lock held while importing contacts."""


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
    """Import a contacts CSV into a campaign; see the package doc for the rules.

    Raises ImportFailure (nothing written) for a missing or empty file, a bad header, an
    unknown campaign, a bad encoding, malformed CSV or a database error.
    """
    started = time.perf_counter()
    cpu_started = time.process_time()
    region = check_region(default_region)
    stats = ContactImportReport()
    for stage in STAGES:
        stats.timings[stage] = 0.0
    with CsvSource(path) as src:
        cols = map_contact_columns(src.header())
        # The pool first: its workers are forked, and must not inherit a connection.
        with RowCheckPool(jobs_for(src.size, jobs), cols, region) as checks:
            try:
                with psycopg.connect(conninfo) as conn, \
                        psycopg.connect(conninfo, autocommit=True) as id_conn:
                    _import_in_transaction(conn, id_conn, src, cols, campaign_name, checks,
                                           strict, report, progress, stats, actor)
                    workers_cpu = checks.finish()
                    if workers_cpu is not None:
                        stats.timings["workers_cpu"] = workers_cpu
            except psycopg.Error as exc:
                raise database_failure(exc) from None
    stats.seconds = time.perf_counter() - started
    stats.timings["main_cpu"] = time.process_time() - cpu_started
    return stats


def _lock_campaign(conn: psycopg.Connection[Any], campaign_name: str) -> CampaignRef:
    """The campaign, locked for this import until the transaction ends: two imports into
    one campaign cannot race on external ids."""
    campaign = find_campaign(conn, campaign_name)
    if campaign is None:
        raise ImportFailure(f'no campaign named "{campaign_name}"')
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (IMPORT_LOCK_CLASS, campaign.id))
    return campaign


def _campaign_contacts(
    conn: psycopg.Connection[Any], campaign_id: int
) -> tuple[dict[str, int], dict[int, int]]:
    """The campaign's contacts already there: external id -> contact id, and number (E.164
    as an int) -> the first contact that has it."""
    existing_ids = {
        ext: cid
        for ext, cid in conn.execute(
            "SELECT external_id, id FROM contacts WHERE campaign_id = %s AND external_id IS NOT NULL",
            (campaign_id,),
        )
    }
    existing_numbers: dict[int, int] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT e164, contact_id FROM targets WHERE campaign_id = %s", (campaign_id,))
        for e164, cid in cur:
            existing_numbers.setdefault(int(e164[1:]), cid)
    return existing_ids, existing_numbers


def _import_in_transaction(
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
    """Every chunk of the file, then the commit (or, with `strict` and a bad row, the
    rollback); `stats` says what was done."""
    t = stats.timings
    server_cpus = (server_cpu(conn), server_cpu(id_conn))
    server_started = [read() for read in server_cpus]
    campaign = _lock_campaign(conn, campaign_name)
    rows = ContactRows(campaign, cols, *_campaign_contacts(conn, campaign.id),
                       dnc_ledger.active_numbers(conn, campaign.id), report, stats)
    _Chunks(conn, id_conn, src, campaign, checks, rows, strict, progress).run()
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


class _Chunks:
    """The file's chunks on their way: read and given contact ids here, checked by the
    workers (up to MAX_IN_FLIGHT ahead), merged here in file order (ContactRows), then
    sent by the COPY writer while the next ones are merged."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        id_conn: psycopg.Connection[Any],
        src: CsvSource,
        campaign: CampaignRef,
        checks: RowCheckPool,
        rows: ContactRows,
        strict: bool,
        progress: Progress | None,
    ) -> None:
        self.conn = conn
        self.id_conn = id_conn
        self.src = src
        self.campaign = campaign
        self.checks = checks
        self.rows = rows
        self.strict = strict
        self.progress = progress
        self.stats = rows.stats
        self.pending: deque[tuple[Any, int]] = deque()
        """(the chunk's checks, the file position after it) in file order."""
        self.writing = True

    def run(self) -> None:
        t = self.stats.timings
        src = self.src
        max_attempts = self.campaign.max_attempts_per_target
        writer = CopyWriter(self.conn)
        finished = False
        try:
            while True:
                t0 = time.perf_counter()
                first_line, text, nlines = src.chunk(BATCH_ROWS)
                t["csv"] += time.perf_counter() - t0
                if not nlines:
                    break
                ids = _new_contact_ids(self.id_conn, nlines)
                self.pending.append((
                    self.checks.submit(first_line, text, ids, self.campaign.id, max_attempts),
                    src.bytes_read()))
                if len(self.pending) > MAX_IN_FLIGHT:
                    self._merge_oldest(writer)
            while self.pending:
                self._merge_oldest(writer)
            t0 = time.perf_counter()
            writer.finish()
            finished = True
            t["copy_wait"] += time.perf_counter() - t0
        finally:
            if not finished:
                writer.abandon()
        t["copy_busy"] = writer.busy

    def _merge_oldest(self, writer: CopyWriter) -> None:
        stats = self.stats
        t = stats.timings
        future, position = self.pending.popleft()
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
        self.rows.merge(checked, contacts, targets)
        t2 = time.perf_counter()
        t["rows"] += t2 - t1
        if self.strict and stats.rows_rejected:
            self.writing = False  # everything will be rolled back: stop sending data
        if self.writing and contacts:
            data = "".join(contacts).encode(), "".join(targets).encode()
            t3 = time.perf_counter()
            t["rows"] += t3 - t2
            writer.put(*data)
            t["copy_wait"] += time.perf_counter() - t3
            stats.contacts_imported += len(contacts)
            stats.targets_imported += len(targets)
        if self.progress is not None:
            self.progress(position, self.src.size, stats.rows_read)


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
