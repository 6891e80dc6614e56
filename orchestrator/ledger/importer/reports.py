"""What an import tells its caller: a report of what it did, or an ImportFailure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

Reporter = Callable[[str], None]
"""report(message): one rejected row or note, as ``line N: <column>: <reason>``."""
Progress = Callable[[int, int, int], None]
"""progress(bytes_read, bytes_total, rows_read)."""


class ImportFailure(Exception):
    """A fatal import error: nothing was imported. The message names the file line or field."""


def database_failure(exc: psycopg.Error) -> ImportFailure:
    """The failure for a database error: its primary message, without psycopg's context."""
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    return ImportFailure(f"database error, nothing imported: {(primary or str(exc)).strip()}")


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
    """Seconds per stage, see orchestrator.ledger.importer.timings.STAGES."""

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
