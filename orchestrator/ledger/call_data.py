"""Call-associated data (MISSION E): the variables a campaign defines, and their values
for each attempt, saved with optimistic concurrency.

* A campaign's variables are replaced as a whole (`replace_variables`), in one
  transaction: a list that fails validation changes nothing.
* An attempt's data (`read_call_data`) is every variable of its campaign with the value
  saved for this attempt, else the contact's custom field of the same name, else "".
* `save_call_data` takes the version the client read. The attempt's version is the
  highest version of its saved values (0 before any save), so the check and the write
  happen under one lock of the attempt row: the first save wins, and a save made from
  an older version gets `SaveResult.changed`, what was saved since, by whom and when.
  Each save that changes something is appended to the attempt's history
  (``attempt_events`` kind ``call_data_saved``: names and version; values only of
  variables that are not secure, so the history never holds a secret).

Values are kept in full here; what a page may see of them (secure variables, numbers
when the campaign masks) is decided by the dialer when it sends them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.ledger.attempts import record_event
from orchestrator.ledger.pool import AsyncConn, audit, execute, fetch_all, fetch_one

NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""A variable's name: identifier-like, so it can match a custom field or a dialplan
variable without quoting."""
MAX_LABEL = 64
MAX_VALUE = 256
"""Characters (code points, as PostgreSQL's length() counts them) in one value."""
MAX_VARIABLES = 100
"""Variables per campaign: a desktop panel, not a database."""
VARIABLE_KEYS = ("name", "label", "editable", "secure")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""Refused in a value: control characters (tab, line feed and carriage return are text)
and lone surrogates (JSON can carry them; PostgreSQL cannot store them)."""
SAVED_EVENT = "call_data_saved"


class CallDataError(Exception):
    """A refused definition or save; ``field`` names what is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


class VariableError(CallDataError):
    """One entry of a variables list is wrong: ``index`` (0-based) and ``key`` (the entry's
    key at fault, or None for the entry itself)."""

    def __init__(self, index: int, key: str | None, message: str) -> None:
        field = f"variables.{index}" + (f".{key}" if key else "")
        super().__init__(message, field)
        self.index = index
        self.key = key


class AttemptNotFound(CallDataError):
    """No such attempt."""


@dataclass(frozen=True)
class Variable:
    """One variable of a campaign."""

    name: str
    label: str
    editable: bool
    """The agent may change its value during the call and the wrap-up."""
    secure: bool
    """The value is masked in every payload (an agent may still write it when editable)."""
    position: int
    """Order on the desktop, from 0."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "editable": self.editable,
                "secure": self.secure, "position": self.position}


@dataclass(frozen=True)
class Value:
    """A variable's current value for one attempt, and where it came from."""

    value: str
    version: int
    """The attempt's version when it was last saved (0: never saved)."""
    source: str
    """"saved", "contact" (the contact's custom field of that name) or "empty"."""
    agent_id: int | None = None
    """Who saved it last."""
    username: str | None = None
    display_name: str | None = None
    at: datetime | None = None
    """When it was saved last."""


@dataclass(frozen=True)
class CallData:
    """An attempt's variables and their values."""

    attempt_id: uuid.UUID
    campaign_id: int
    agent_id: int | None
    """The agent the attempt is assigned to (the one who dispositions it)."""
    masking: bool
    """The campaign masks numbers now."""
    dispositioned: bool
    version: int
    variables: list[Variable]
    values: dict[str, Value]
    """By variable name, for every variable of `variables`."""


@dataclass(frozen=True)
class SaveResult:
    """What `save_call_data` did: saved (``changed`` lists what this save wrote), or
    refused as stale (``changed`` lists what was saved since the client's version)."""

    saved: bool
    version: int
    """The attempt's version now."""
    changed: list[tuple[str, Value]]


# ------------------------------------------------------------------ definitions


def check_variables(items: Sequence[Any]) -> list[Variable]:
    """A campaign's variables from a list of mappings (an API body, a JSON or YAML file):
    ``name`` (required), ``label`` (default: the name), ``editable`` and ``secure``
    (booleans, default false: a variable is read-only unless configured). Positions follow
    the list. `VariableError` names the first bad entry and key."""
    if len(items) > MAX_VARIABLES:
        raise CallDataError(f"at most {MAX_VARIABLES} variables per campaign, got {len(items)}",
                            "variables")
    out: list[Variable] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        var = _check_variable(i, item)
        if var.name in seen:
            raise VariableError(i, "name", f"{var.name!r} is defined twice")
        seen.add(var.name)
        out.append(var)
    return out


def _check_variable(i: int, item: Any) -> Variable:
    if not isinstance(item, Mapping):
        raise VariableError(i, None, "a variable is an object with name, label, editable, secure")
    unknown = [k for k in item if k not in VARIABLE_KEYS]
    if unknown:
        raise VariableError(i, str(unknown[0])[:40],
                            f"unknown key; a variable has {', '.join(VARIABLE_KEYS)}")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise VariableError(i, "name", "1 to 32 of a-z, 0-9 and _, starting with a letter; got "
                            f"{_shown(name)}")
    label = item.get("label", name)
    if not isinstance(label, str) or not label.strip() or len(label.strip()) > MAX_LABEL:
        raise VariableError(i, "label", f"1 to {MAX_LABEL} characters; got {_shown(label)}")
    if _CONTROL.search(label) or "\n" in label or "\r" in label or "\t" in label:
        raise VariableError(i, "label", "control characters and broken text are not allowed")
    flags = {}
    for key in ("editable", "secure"):
        flag = item.get(key, False)
        if not isinstance(flag, bool):
            raise VariableError(i, key, f"true or false; got {_shown(flag)}")
        flags[key] = flag
    return Variable(name, label.strip(), flags["editable"], flags["secure"], i)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 42 else text[:40] + "..."


async def replace_variables(conn: AsyncConn, campaign_id: int, variables: Sequence[Variable],
                            *, actor: str) -> list[Variable]:
    """Make ``variables`` the campaign's whole set (checked with `check_variables` first),
    in one transaction, audited. Values saved for attempts stay with the attempts."""
    async with conn.transaction():
        await audit(conn, actor=actor, action="campaign.variables", object_type="campaign",
                    object_id=campaign_id, details={"names": [v.name for v in variables]})
        await execute(conn, "DELETE FROM call_data_variables WHERE campaign_id = %s",
                      (campaign_id,))
        for v in variables:
            await execute(
                conn,
                "INSERT INTO call_data_variables (campaign_id, name, label, editable, secure,"
                " position) VALUES (%s, %s, %s, %s, %s, %s)",
                (campaign_id, v.name, v.label, v.editable, v.secure, v.position))
    return await campaign_variables(conn, campaign_id)


async def campaign_variables(conn: AsyncConn, campaign_id: int) -> list[Variable]:
    """The campaign's variables, in their desktop order."""
    rows = await fetch_all(
        conn,
        "SELECT name, label, editable, secure, position FROM call_data_variables"
        " WHERE campaign_id = %s ORDER BY position",
        (campaign_id,))
    return [Variable(r["name"], r["label"], r["editable"], r["secure"], r["position"])
            for r in rows]


# ------------------------------------------------------------------ values


def field_text(value: Any) -> str:
    """A contact's custom field as a variable's first value: text as it is, other JSON
    values written as JSON, cut to `MAX_VALUE` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:MAX_VALUE]


def _contact_value(fields: Mapping[str, Any], name: str) -> str | None:
    """The custom field named like the variable: exactly, else ignoring case (imported
    columns keep their header as written: ``Plan`` fills ``plan``)."""
    if name in fields:
        return field_text(fields[name])
    for key in sorted(fields):
        if key.lower() == name:
            return field_text(fields[key])
    return None


_ATTEMPT_SQL = """
SELECT a.id, a.campaign_id, a.agent_id, a.dispositioned_at, c.masking, k.custom_fields
  FROM attempts a JOIN campaigns c ON c.id = a.campaign_id JOIN contacts k ON k.id = a.contact_id
 WHERE a.id = %s"""

_SAVED_SQL = """
SELECT v.name, v.value, v.version, v.updated_by, v.updated_at, g.username, g.display_name
  FROM call_data_values v LEFT JOIN agents g ON g.id = v.updated_by
 WHERE v.attempt_id = %s"""


def _saved(row: Mapping[str, Any]) -> Value:
    return Value(row["value"], int(row["version"]), "saved", row["updated_by"], row["username"],
                 row["display_name"], row["updated_at"])


async def _attempt_row(conn: AsyncConn, aid: uuid.UUID, *, lock: bool) -> dict[str, Any]:
    # A save locks the attempt row (record_event takes the same lock): two saves of one
    # attempt are serialised, and the second reads the version the first wrote.
    row = await fetch_one(conn, _ATTEMPT_SQL + (" FOR UPDATE OF a" if lock else ""), (aid,))
    if row is None:
        raise AttemptNotFound(f"no attempt {aid}", "attempt_id")
    return row


async def _read(conn: AsyncConn, aid: uuid.UUID, *, lock: bool) -> CallData:
    row = await _attempt_row(conn, aid, lock=lock)
    variables = await campaign_variables(conn, int(row["campaign_id"]))
    # One statement: the version and the values it covers are read from one snapshot.
    saved = {r["name"]: _saved(r) for r in await fetch_all(conn, _SAVED_SQL, (aid,))}
    fields = dict(row["custom_fields"] or {})
    values: dict[str, Value] = {}
    for var in variables:
        if var.name in saved:
            values[var.name] = saved[var.name]
            continue
        initial = _contact_value(fields, var.name)
        values[var.name] = (Value(initial, 0, "contact") if initial is not None
                            else Value("", 0, "empty"))
    return CallData(
        attempt_id=aid, campaign_id=int(row["campaign_id"]), agent_id=row["agent_id"],
        masking=bool(row["masking"]), dispositioned=row["dispositioned_at"] is not None,
        version=max((v.version for v in saved.values()), default=0),
        variables=variables, values=values)


async def read_call_data(conn: AsyncConn, attempt_id: uuid.UUID | str) -> CallData:
    """An attempt's variables with their values (`AttemptNotFound` if none)."""
    return await _read(conn, _uuid(attempt_id), lock=False)


def check_values(data: CallData, values: Mapping[str, Any]) -> dict[str, str]:
    """The values a save may write: each must name an editable variable of the campaign
    and be text of at most `MAX_VALUE` characters, without control characters other than
    tab and line breaks. `CallDataError` names ``values.<name>``."""
    by_name = {v.name: v for v in data.variables}
    out: dict[str, str] = {}
    for name, value in values.items():
        field = f"values.{name if NAME.fullmatch(name) else _shown(name)}"
        var = by_name.get(name)
        if var is None:
            raise CallDataError("no such variable in this call's campaign", field)
        if not var.editable:
            raise CallDataError(f"{var.label!r} is not editable", field)
        if not isinstance(value, str):
            raise CallDataError("a value is text", field)
        if len(value) > MAX_VALUE:
            raise CallDataError(f"{var.label!r} holds at most {MAX_VALUE} characters, "
                                f"got {len(value)}", field)
        if _CONTROL.search(value):
            raise CallDataError("control characters and broken text are not allowed", field)
        out[name] = value
    return out


async def save_call_data(conn: AsyncConn, attempt_id: uuid.UUID | str, *, agent_id: int,
                         version: int, values: Mapping[str, Any]) -> SaveResult:
    """Save ``values`` (name -> text) for the attempt if ``version`` is still its version.

    Stale: nothing is written; the result lists every value saved after ``version``.
    Current: the values that differ from what the attempt shows now are written with the
    next version (none differing: nothing is written, the version stays). Values are
    checked first (`check_values`): a refused one writes nothing."""
    aid = _uuid(attempt_id)
    async with conn.transaction():
        data = await _read(conn, aid, lock=True)
        wanted = check_values(data, values)
        if version != data.version:
            since = await _saved_since(conn, aid, version)
            return SaveResult(False, data.version, since)
        changes = {n: v for n, v in wanted.items() if v != data.values[n].value}
        if not changes:
            return SaveResult(True, data.version, [])
        new = data.version + 1
        for name, value in changes.items():
            await execute(
                conn,
                "INSERT INTO call_data_values (attempt_id, name, value, version, updated_by)"
                " VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (attempt_id, name) DO UPDATE SET value = EXCLUDED.value,"
                " version = EXCLUDED.version, updated_by = EXCLUDED.updated_by,"
                " updated_at = now()",
                (aid, name, value, new, agent_id))
        secure = {v.name for v in data.variables if v.secure}
        await record_event(conn, aid, SAVED_EVENT, data={
            "version": new, "agent_id": agent_id, "names": sorted(changes),
            "values": {n: v for n, v in changes.items() if n not in secure}})
        written = await _saved_since(conn, aid, data.version)
    return SaveResult(True, new, written)


async def _saved_since(conn: AsyncConn, aid: uuid.UUID, version: int) -> list[tuple[str, Value]]:
    rows = await fetch_all(conn, _SAVED_SQL + " AND v.version > %s ORDER BY v.version, v.name",
                           (aid, version))
    return [(r["name"], _saved(r)) for r in rows]


def _uuid(v: uuid.UUID | str) -> uuid.UUID:
    if isinstance(v, uuid.UUID):
        return v
    try:
        return uuid.UUID(v)
    except (ValueError, TypeError):
        raise CallDataError(f"not an attempt id: {_shown(v)}", "attempt_id") from None


__all__ = [
    "MAX_LABEL", "MAX_VALUE", "MAX_VARIABLES", "NAME", "SAVED_EVENT", "AttemptNotFound",
    "CallData", "CallDataError", "SaveResult", "Value", "Variable", "VariableError",
    "campaign_variables", "check_values", "check_variables", "field_text", "read_call_data",
    "replace_variables", "save_call_data",
]
