"""Reading a CSV file: records with the physical line each starts on, or chunks of whole
records for the worker processes; malformed CSV and bad UTF-8 are ImportFailures that
name the line.

A quoted field that is never closed would take every following line into itself (the
csv module reads on to the end of the file): that is malformed CSV too, reported with
the line where the quote opened and the lines it took (_Lines, unclosed_quote).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from orchestrator.ledger.importer.reports import ImportFailure


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
