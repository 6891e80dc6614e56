"""How call-associated data leaves the server for a page (MISSION E): the same masking
for the call-data routes, their events and the screen pop.

* A secure variable's value is masked in every payload, whoever asks: ``****`` and, for
  a value of 8 characters or more, its last 4 (``****1234``; a shorter secret would be
  mostly shown). Agents may write it; nobody reads it back through the API. The clear
  value stays in the ledger, for integrations.
* When the campaign masks numbers, a value that is a phone number (7 to 15 digits,
  written with + spaces dots dashes or brackets) is shown as its last 4 digits, like
  every other number (`shown.mask_number`).

Supervisors get the same as agents: the project shows numbers masked to every page when
the campaign masks them (supervisors' live calls included, `shown.py`), and a secure
value is at least as sensitive as a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.dialer.kernel.shown import MASK, iso_or_none, mask_number
from orchestrator.ledger.call_data import CallData, Value, Variable, field_text

SECRET_TAIL_FROM = 8
"""A secure value shows its last 4 characters only from this length on."""
_NUMBER = re.compile(r"\+?[0-9][0-9 ().\-]*")


def mask_secret(value: str) -> str:
    """``****`` plus the last 4 characters of a value of at least 8; "" stays "" (unset)."""
    if not value:
        return ""
    return MASK + value[-4:] if len(value) >= SECRET_TAIL_FROM else MASK


def is_phone_number(value: str) -> bool:
    """A value written like a phone number: 7 to 15 ASCII digits, with + spaces dots
    dashes or brackets around them (an order number with letters is not one)."""
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        return False
    digits = sum(1 for ch in text if "0" <= ch <= "9")
    return 7 <= digits <= 15


def shown_value(value: str, *, secure: bool, masking: bool) -> tuple[str, bool]:
    """(what a page gets, whether it was masked)."""
    if secure:
        return mask_secret(value), bool(value)
    if masking and is_phone_number(value):
        return mask_number(value), True
    return value, False


def _by(v: Value) -> dict[str, Any] | None:
    if v.agent_id is None:
        return None
    return {"agent_id": v.agent_id, "username": v.username, "display_name": v.display_name}


def _entry(var: Variable, v: Value, masking: bool) -> dict[str, Any]:
    value, masked = shown_value(v.value, secure=var.secure, masking=masking)
    return {**var.to_json(), "value": value, "masked": masked, "source": v.source,
            "version": v.version, "updated_by": _by(v), "updated_at": iso_or_none(v.at)}


def call_data_json(data: CallData, *, writable: bool) -> dict[str, Any]:
    """An attempt's call data as the pages read it; ``writable``: the caller may save it."""
    return {
        "attempt_id": str(data.attempt_id), "campaign_id": data.campaign_id,
        "version": data.version, "writable": writable and not data.dispositioned,
        "dispositioned": data.dispositioned, "masking": data.masking,
        "variables": [_entry(var, data.values[var.name], data.masking)
                      for var in data.variables],
    }


def changes_json(data: CallData, changes: Iterable[tuple[str, Value]]) -> list[dict[str, Any]]:
    """Values saved (by this save, or since a stale version): name, label, value (masked
    as above), version, who saved it (``by``) and when (``at``). A variable no longer
    defined is left out (its value is nobody's to see now)."""
    by_name = {v.name: v for v in data.variables}
    out = []
    for name, v in changes:
        var = by_name.get(name)
        if var is None:
            continue
        value, masked = shown_value(v.value, secure=var.secure, masking=data.masking)
        out.append({"name": name, "label": var.label, "value": value, "masked": masked,
                    "version": v.version, "by": _by(v), "at": iso_or_none(v.at)})
    return out


def shown_custom_fields(fields: Mapping[str, Any], secure_names: Iterable[str],
                        masking: bool) -> dict[str, Any]:
    """A contact's custom fields for a page: the field that fills a secure variable is
    masked like it (names matched as `ledger.call_data` matches them, case aside), and
    numbers are masked when the campaign masks them."""
    secure = {n.lower() for n in secure_names}
    out: dict[str, Any] = {}
    for key, raw in fields.items():
        if key.lower() in secure:
            out[key] = mask_secret(field_text(raw))
        elif masking and isinstance(raw, str | int) and not isinstance(raw, bool) \
                and is_phone_number(str(raw)):
            out[key] = mask_number(str(raw))
        else:
            out[key] = raw
    return out
