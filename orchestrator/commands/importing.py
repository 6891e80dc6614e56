"""What `contacts import` and `dnc import` share: a progress bar, the rejected rows and
notes on stderr, and the summary of what was imported (or that nothing was)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO, TypeVar

from orchestrator.commands import CliError, echo, terminal_safe
from orchestrator.ledger.importer import ImportFailure, Progress, Reporter


class TerminalProgress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal.

    Messages (rejected rows and notes) go to stderr too; the bar is cleared before each
    so the two never mix on one line. They quote the file (cells, header names): they are
    escaped with terminal_safe.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._line = ""

    def message(self, text: str) -> None:
        if self._line:
            self.stream.write("\r\x1b[K")
        self.stream.write(terminal_safe(text) + "\n")
        if self._line:
            self.stream.write(self._line)
        self.stream.flush()

    def update(self, done: int, total: int, rows: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1 and done < total:
            return
        self._last_draw = now
        fraction = min(1.0, done / total) if total else 1.0
        width = 30
        filled = int(fraction * width)
        rate = rows / (now - self.started) if now > self.started else 0.0
        self._line = (
            f"\r[{'#' * filled}{'-' * (width - filled)}] {fraction:4.0%}  "
            f"{rows:,} rows  {rate:,.0f} rows/s"
        )
        self.stream.write(self._line)
        self.stream.flush()

    def finish(self) -> None:
        if self._line:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line = ""


def print_summary(title: str, lines: list[tuple[str, str]]) -> None:
    """A title (escaped: it names the file and the campaign) and aligned key-value lines."""
    width = max(len(k) for k, _ in lines)
    echo(title)
    for key, value in lines:
        echo(f"  {key:<{width}}  {value}")


class ImportReport(Protocol):
    """What run_import needs of an import's report (ContactImportReport, DncImportReport)."""

    @property
    def committed(self) -> bool: ...

    @property
    def rows_rejected(self) -> int: ...


R = TypeVar("R", bound=ImportReport)


def run_csv_import(
    command: str,
    subject: str,
    start: Callable[[Reporter, Progress], R],
    summary: Callable[[R], list[tuple[str, str]]],
) -> tuple[int, R]:
    """Run an import, `start(report, progress)`, with the progress bar and messages on
    stderr, then print its summary titled "<command>: <subject>". Returns the exit status
    (1 when nothing was imported because of --strict) and the report; an ImportFailure
    is a CliError "<command>: <why>" (exit status 2)."""
    bar = TerminalProgress()
    try:
        result = start(bar.message, bar.update)
    except ImportFailure as exc:
        bar.finish()
        raise CliError(f"{command}: {exc}") from None
    bar.finish()
    if not result.committed:
        print_summary(f"{command}: {subject}: NOTHING IMPORTED "
                      f"(--strict and {result.rows_rejected:,} bad rows)", summary(result))
        return 1, result
    print_summary(f"{command}: {subject}", summary(result))
    return 0, result
