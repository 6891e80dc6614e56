"""The header of a CSV file: which column holds which field, for contacts and for DNC
entries. Header names are matched case-insensitively, with spaces and hyphens read as
underscores (header_key); a bad header is an ImportFailure naming line 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.ledger.importer.reports import ImportFailure, Reporter


def header_key(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def check_header(header: Sequence[str]) -> list[str]:
    """The header's names, stripped; ImportFailure for an empty cell, a NUL character or
    two names that are the same key."""
    names = [h.strip() for h in header]
    for i, name in enumerate(names, 1):
        if not name:
            raise ImportFailure(f"line 1: column {i}: the header cell is empty")
        if "\x00" in name:
            raise ImportFailure(f"line 1: column {i}: contains a NUL character")
    seen: dict[str, str] = {}
    for name in names:
        k = header_key(name)
        if k in seen:
            raise ImportFailure(f'line 1: columns "{seen[k]}" and "{name}" have the same name')
        seen[k] = name
    return names


# --- contacts ---------------------------------------------------------------------

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
MAX_LENGTH = {"external_id": 200, "first_name": 200, "last_name": 200, "postal_code": 20}
"""The longest value each text field of a contact may have (as the contacts table)."""


@dataclass(frozen=True)
class PhoneColumn:
    """phoneN: `position` is N (the dialing order), `index` its column, `desc_index` the
    column of its description if there is one."""

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
    phones: list[PhoneColumn]
    custom: list[tuple[int, str]]


def map_contact_columns(header: Sequence[str]) -> ContactColumns:
    """The contact fields, phone columns and custom fields of a header (see the package
    doc for the names); ImportFailure for a bad header or one without a phone column."""
    names = check_header(header)
    fields: dict[str, int] = {}
    phones: dict[int, int] = {}
    descs: dict[int, int] = {}
    custom: list[tuple[int, str]] = []
    for i, name in enumerate(names):
        k = header_key(name)
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
            PhoneColumn(n, phones[n], names[phones[n]], descs.get(n),
                        names[descs[n]] if n in descs else None)
            for n in sorted(phones)
        ],
        custom=custom,
    )


# --- DNC entries ------------------------------------------------------------------

_DNC_FIELDS = {
    "number": ("number", "phone", "e164", "phone_number"),
    "campaign": ("campaign",),
    "source": ("source",),
    "reason": ("reason",),
    "expires_at": ("expires_at", "expires", "expiry"),
}
_DNC_ALIASES = {alias: name for name, aliases in _DNC_FIELDS.items() for alias in aliases}


@dataclass(frozen=True)
class DncColumns:
    """Where each field is in a DNC file."""

    names: list[str]
    fields: dict[str, int]
    """DNC field (number, campaign, source, reason, expires_at) -> column index."""


def map_dnc_columns(header: Sequence[str], report: Reporter) -> DncColumns:
    """The DNC fields of a header; other columns are reported and ignored."""
    names = check_header(header)
    fields: dict[str, int] = {}
    for i, name in enumerate(names):
        k = _DNC_ALIASES.get(header_key(name))
        if k is None:
            report(f"line 1: {name}: not a DNC column; ignored")
            continue
        if k in fields:
            raise ImportFailure(f'line 1: columns "{names[fields[k]]}" and "{name}" are both {k}')
        fields[k] = i
    if "number" not in fields:
        raise ImportFailure(
            f"line 1: no number column (expected number, phone or e164); header is: "
            f"{', '.join(names)}"
        )
    return DncColumns(names=names, fields=fields)
