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
the line where the quote opened and the lines it took (csv_source.unclosed_quote).

How a large file flows (docs/benchmarks/import.md has the measurements):
- the main process reads the file in chunks of whole records (csv_source.CsvSource.chunk:
  it only finds where the last record of a chunk ends) and takes contact ids for them
  from the sequence, on a second connection (contact_import);
- worker processes (workers.RowCheckPool) parse each chunk's CSV, run the checks that
  need no other row (lengths, zones, expiry, phone numbers through
  orchestrator.core.phones.analyze_phone) and write the COPY text of the rows that pass
  (row_checks.RowChecker);
- the main process, in file order, does the checks across rows (external ids and numbers
  already seen, DNC), reports (contact_rows.ContactRows), and hands each chunk's COPY data
  to a writer thread that streams it into PostgreSQL while the next chunk is being
  checked (copy_writer.CopyWriter).
Small files go through the same code in-process. DNC files are read record by record
(dnc_import). Headers are mapped to fields in columns; reports says what an import
returns; timings is the --timings breakdown.
"""

from orchestrator.ledger.importer.columns import (
    ContactColumns,
    DncColumns,
    map_contact_columns,
    map_dnc_columns,
)
from orchestrator.ledger.importer.contact_import import import_contacts
from orchestrator.ledger.importer.csv_source import CsvSource, parse_chunk, unclosed_quote
from orchestrator.ledger.importer.dnc_import import dnc_e164, import_dnc
from orchestrator.ledger.importer.reports import (
    ContactImportReport,
    DncImportReport,
    ImportFailure,
    Progress,
    Reporter,
)
from orchestrator.ledger.importer.row_checks import CheckedBatch, RowChecker
from orchestrator.ledger.importer.values import PhoneResult, check_region
from orchestrator.ledger.importer.workers import RowCheckPool

__all__ = [
    "CheckedBatch",
    "ContactColumns",
    "ContactImportReport",
    "CsvSource",
    "DncColumns",
    "DncImportReport",
    "ImportFailure",
    "PhoneResult",
    "Progress",
    "Reporter",
    "RowCheckPool",
    "RowChecker",
    "check_region",
    "dnc_e164",
    "import_contacts",
    "import_dnc",
    "map_contact_columns",
    "map_dnc_columns",
    "parse_chunk",
    "unclosed_quote",
]
