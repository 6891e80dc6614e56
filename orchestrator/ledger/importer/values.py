"""Values read from a file's cells or the command line that contacts and DNC imports
share: a default region for numbers written without +, an instant, a phone result."""

from __future__ import annotations

from datetime import UTC, datetime

import phonenumbers

from orchestrator.ledger.importer.reports import ImportFailure

PhoneResult = tuple[str, tuple[str, ...]] | str
"""(e164, candidate zones) for a good number, else the rejection reason."""


def check_region(region: str | None) -> str | None:
    """The --default-region as an upper-case ISO code (None: numbers must have a +)."""
    if region is None:
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ImportFailure(f'--default-region: unknown region "{region}" (use e.g. US, GB, AU)')
    return code


def parse_instant(text: str) -> tuple[datetime | None, str | None]:
    """(the instant in UTC, None), or (None, why it is not one): an ISO 8601 date-time
    with a UTC offset (without one, the time would be ambiguous)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None, f'"{text}" is not an ISO 8601 date-time (e.g. 2026-03-31T23:59:00+00:00)'
    if value.tzinfo is None:
        return None, f'"{text}" has no UTC offset (add +00:00, Z or the local offset)'
    return value.astimezone(UTC), None
