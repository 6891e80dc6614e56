"""The checks of a contacts row that depend on other rows or on the database, done by the
main process in file order on the batches the row checks made (CheckedBatch)."""

from __future__ import annotations

from orchestrator.ledger.contacts import CampaignRef
from orchestrator.ledger.importer.columns import ContactColumns
from orchestrator.ledger.importer.reports import ContactImportReport, Reporter
from orchestrator.ledger.importer.row_checks import CheckedBatch, Problems


class ContactRows:
    """Finishes the checks that depend on other rows or on the database (external ids
    and numbers already seen, DNC), reports every rejected row and note in file order,
    and assembles the COPY data of the accepted rows.

    merge() runs once per row of the file: what every row does is in its loop, what
    only a rejected row, a DNC match or a repeated number does is in helper calls.
    """

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
        seen_ids = self.seen_ids
        existing_ids = self.existing_ids
        seen_numbers = self.seen_numbers
        dnc = self.dnc
        problems = batch.problems
        target_lines = batch.targets
        keys = batch.keys
        t = 0
        for r, (line, ext, contact, count) in enumerate(
            zip(batch.lines, batch.exts, batch.contacts, batch.counts, strict=True)
        ):
            problem = problems.get(r) if problems else None
            if problem is not None and problem[3]:
                self._report_notes(problem[3])
            ext_error = None
            if ext is not None and (ext in seen_ids or ext in existing_ids):
                ext_error = self._repeated_external_id(line, ext)
            if contact is None or ext_error is not None:
                self._reject(problem, ext_error)
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
                    targets.append(self._on_dnc_list(line, batch, j, scope))
                prev_line = seen_numbers.get(key)
                if prev_line is not None:
                    self._repeated_number(line, batch, j, f"is also on line {prev_line}")
                else:
                    seen_numbers[key] = line
                    owner = self.existing_numbers.get(key)
                    if owner is not None:
                        self._repeated_number(
                            line, batch, j,
                            f"is already a target of contact {owner} in this campaign")
            t += count
        self.stats.rows_read += len(batch.lines)

    def _report_notes(self, notes: tuple[str, ...]) -> None:
        """Numbers repeated within a row (imported once)."""
        for note in notes:
            self.report(note)
        self.stats.duplicate_numbers += len(notes)

    def _repeated_external_id(self, line: int, ext: str) -> str:
        """The error for an external id used on an earlier line or already in the campaign."""
        self.stats.duplicate_external_ids += 1
        first = self.seen_ids.get(ext)
        if first is not None:
            return f"line {line}: {self.ext_name}: duplicate of line {first}"
        return (
            f'line {line}: {self.ext_name}: "{ext}" is already in campaign '
            f'"{self.campaign.name}" (contact {self.existing_ids[ext]})'
        )

    def _reject(self, problem: Problems | None, ext_error: str | None) -> None:
        """Report a rejected row's errors, in column order (the external id's between the
        row-local errors of the columns before and after it)."""
        pre, post, no_phone = problem[:3] if problem is not None else ((), (), None)
        errors = [*pre, ext_error, *post] if ext_error is not None else [*pre, *post]
        if not errors and no_phone is not None:
            errors.append(no_phone)
        for message in errors:
            self.report(message)
        self.stats.rows_rejected += 1

    def _on_dnc_list(self, line: int, batch: CheckedBatch, j: int, scope: str) -> str:
        """Report the batch's target j as on the DNC list; its COPY line, unavailable (DNC)."""
        self.stats.dnc_matches += 1
        self.report(
            f"line {line}: {self.phone_names[batch.columns[j]]}: +{batch.keys[j]} is on the "
            f"do-not-call list ({scope}); imported as unavailable (DNC)"
        )
        return batch.targets[j][:-3] + "DNC\n"  # in place of the \N unavailable_reason

    def _repeated_number(self, line: int, batch: CheckedBatch, j: int, where: str) -> None:
        """Report the batch's target j as a number another contact has too (imported)."""
        self.stats.duplicate_numbers += 1
        self.report(f"line {line}: {self.phone_names[batch.columns[j]]}: +{batch.keys[j]} "
                    f"{where}; imported")
