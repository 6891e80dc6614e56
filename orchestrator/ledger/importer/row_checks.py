"""The checks of a contacts row that need no other row, and the COPY text of the rows
that pass them: run on one chunk of the file at a time, in a worker process for large
files (orchestrator.ledger.importer.workers), in-process for small ones.
"""

from __future__ import annotations

import json
import re
import time
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from orchestrator.core.phones import PhoneError, analyze_phone
from orchestrator.ledger.importer.columns import MAX_LENGTH, ContactColumns
from orchestrator.ledger.importer.csv_source import parse_chunk
from orchestrator.ledger.importer.reports import ImportFailure
from orchestrator.ledger.importer.values import PhoneResult, parse_instant

Problems = tuple[tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...]]
"""A row's (errors before the external-id check, errors after it, the "no phone number"
error to give if nothing else is wrong, notes on numbers repeated within the row)."""

_Target = tuple[int, int, str, str, tuple[str, ...]]
"""A number of a row: (index of its phone column, position, description, E.164, zones)."""


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

    @classmethod
    def empty(cls) -> CheckedBatch:
        return cls([], [], [], bytearray(), [], [], bytearray(), {})

    def reject(self, line: int, ext: str | None, problems: Problems) -> None:
        """A rejected record (its external id still counts as seen by the main process's
        check of repeated external ids)."""
        self.problems[len(self.lines)] = problems
        self.lines.append(line)
        self.exts.append(ext)
        self.contacts.append(None)
        self.counts.append(0)


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

    The columns the row loop looks at are worked out once, here.
    """

    def __init__(self, cols: ContactColumns, region: str | None) -> None:
        self.cols = cols
        self.region = region
        self.zones = zoneinfo.available_timezones()
        self.zones_lower = {z.lower(): z for z in self.zones}
        self._array_literals: dict[tuple[str, ...], str] = {}
        f = cols.fields
        self._simple = [(col, cols.names[col] if col is not None else "", MAX_LENGTH[name])
                        for name in ("external_id", "first_name", "last_name", "postal_code")
                        for col in (f.get(name),)]
        """(column or None, its name, longest value) of the contact's plain text fields."""
        self._i_tz = f.get("timezone")
        self._i_exp = f.get("expires_at")
        self._phones = list(enumerate(cols.phones))

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
            out = CheckedBatch.empty()
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
        """The batch of `rows`; `results` gives the phone results of their non-empty
        phone cells, in order (analyzed in one go beforehand, for the phones_cpu figure).

        One function on purpose: its loop runs once per row of the file, and splitting
        the good row's path into helper calls cost 4-7% of it (0.4-0.7 µs a row, measured
        in one process against this version); only what a bad row does is in helpers.
        """
        ncols = len(self.cols.names)
        simple = self._simple
        i_tz = self._i_tz
        i_exp = self._i_exp
        phones = self._phones
        zones_ok = self.zones
        head = f"\t{campaign_id}\t"
        tail = f"\t{max_attempts}\t\\N\n"
        out = CheckedBatch.empty()
        lines, exts, contacts, counts = out.lines, out.exts, out.contacts, out.counts
        target_lines, keys, columns = out.targets, out.keys, out.columns
        contact_copy, zones_literal = self._contact_copy, self._zones_literal

        for n, (line, row) in enumerate(rows):
            if len(row) != ncols:
                if any(cell.strip() for cell in row):  # else: a line of empty cells (spreadsheet exports)
                    out.reject(line, None, (
                        (f"line {line}: row: has {len(row)} fields, the header has {ncols}",),
                        (), None, ()))
                continue
            joined = "".join(row)
            pre = self._nul_errors(line, row) if "\x00" in joined else []
            values: list[str | None] = []
            for col, col_name, max_len in simple:
                if col is None:
                    values.append(None)
                    continue
                v = row[col].strip()
                if len(v) > max_len:
                    pre.append(f"line {line}: {col_name}: longer than {max_len} characters")
                values.append(v or None)
            post: list[str] = []
            tz: str | None = None
            if i_tz is not None:
                tz = row[i_tz].strip() or None
                if tz is not None and tz not in zones_ok:
                    post.append(self._unknown_zone(line, tz))
            expires: datetime | None = None
            if i_exp is not None and row[i_exp].strip():
                expires, err = parse_instant(row[i_exp].strip())
                if err:
                    post.append(f"line {line}: {self.cols.names[i_exp]}: {err}")

            targets: list[_Target] = []
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
            if pre or post or not targets:
                no_phone = None
                if not targets and not pre and not post:
                    no_phone = f"line {line}: {phones[0][1].name}: no phone number in any phone column"
                out.reject(line, values[0], (tuple(pre), tuple(post), no_phone, tuple(notes)))
                continue
            if notes:
                out.problems[len(lines)] = ((), (), None, tuple(notes))
            lines.append(line)
            exts.append(values[0])

            # Good so far (the main process checks the external id, numbers seen on
            # other rows and DNC): the COPY lines.
            escape = _COPY_SPECIAL.search(joined) is not None
            cid = str(ids[n])
            contacts.append(contact_copy(cid + head, row, escape, values, tz, expires))
            counts.append(len(targets))
            for k, position, desc, e164, zones in targets:
                target_lines.append(
                    f"{cid}{head}{position}\t{_copy_escape(desc) if escape else desc}\t{e164}\t"
                    f"{zones_literal(zones)}{tail}")
                keys.append(int(e164[1:]))
                columns.append(k)
        return out

    def _nul_errors(self, line: int, row: list[str]) -> list[str]:
        names = self.cols.names
        return [f"line {line}: {names[i]}: contains a NUL character"
                for i, cell in enumerate(row) if "\x00" in cell]

    def _unknown_zone(self, line: int, tz: str) -> str:
        assert self._i_tz is not None
        hint = self.zones_lower.get(tz.lower())
        return (
            f'line {line}: {self.cols.names[self._i_tz]}: unknown time zone "{tz}" '
            + (f"(did you mean {hint}?)" if hint
               else "(expected an IANA name such as America/New_York)")
        )

    def _contact_copy(self, start: str, row: list[str], escape: bool,
                      values: list[str | None], tz: str | None, expires: datetime | None) -> str:
        """The contact's COPY line; `start` is its id and campaign id, `escape` whether a
        cell of the row has a character COPY must have escaped."""
        texts = [_COPY_NULL if v is None else _copy_escape(v) if escape else v
                 for v in (*values, tz)]
        custom_fields = {name: value for i, name in self.cols.custom
                         if (value := row[i].strip())}
        if custom_fields:
            js = json.dumps(custom_fields, ensure_ascii=False)
            if "\\" in js:
                js = js.replace("\\", "\\\\")
        else:
            js = "{}"
        return (start + "\t".join(texts) + "\t" + js + "\t"
                + (expires.isoformat() if expires is not None else _COPY_NULL) + "\n")
