"""`orchestrator campaign variables NAME [FILE]`: a campaign's call-data variables
(MISSION E), shown, or replaced from a JSON or YAML list.

Each entry: ``name`` (a-z, 0-9, _; it fills from the contact's custom field of that
name), ``label`` (default: the name), ``editable`` and ``secure`` (default false)::

    - name: plan
      label: Plan
    - name: note
      label: Agent note
      editable: true
    - name: card
      label: Card number
      editable: true
      secure: true

The whole list replaces the campaign's, in one transaction: a file with one bad entry
changes nothing, and the error names its line and key. YAML needs PyYAML; JSON always
works.
"""

from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.commands import CliError, echo, json_text
from orchestrator.ledger import call_data as ledger
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger.pool import AsyncConn


@dataclass(frozen=True)
class Entries:
    """The list read from a file, and where each entry (and its keys) starts."""

    items: list[Any]
    lines: list[int]
    """1-based line of each entry."""
    key_lines: list[dict[str, int]]
    """Per entry, the line of each key when the format tells it (YAML)."""


def add_parser(csub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``campaign variables`` under ``orchestrator campaign``."""
    v = csub.add_parser("variables",
                        help="show or replace the campaign's call-data variables (JSON or YAML)")
    v.add_argument("name", help="campaign name")
    v.add_argument("file", nargs="?", type=Path,
                   help="a JSON or YAML list of {name, label, editable, secure}; "
                        "without it: show the current variables")
    v.add_argument("--json", action="store_true", help="print the variables as JSON")
    v.set_defaults(func=cmd_variables)


def cmd_variables(args: argparse.Namespace) -> int:
    from orchestrator.commands.campaign import actor, with_ledger

    variables = None
    if args.file is not None:
        entries = read_entries(args.file)
        variables = _checked(args.file, entries)

    async def go(conn: AsyncConn) -> tuple[campaigns_ledger.Campaign, list[ledger.Variable]]:
        c = await campaigns_ledger.get_campaign(conn, args.name)
        if variables is None:
            return c, await ledger.campaign_variables(conn, c.id)
        return c, await ledger.replace_variables(conn, c.id, variables, actor=actor())

    camp, now = with_ledger(go)
    if args.json:
        print(json_text([v.to_json() for v in now], indent=2))
    elif variables is not None:
        echo(f"campaign {camp.name!r}: {len(now)} call-data variable(s)"
             + (f": {', '.join(v.name for v in now)}" if now else ""))
    else:
        _print(camp, now)
    return 0


def _print(camp: campaigns_ledger.Campaign, variables: list[ledger.Variable]) -> None:
    if not variables:
        echo(f"campaign {camp.name!r} has no call-data variables")
        return
    width = max(len(v.name) for v in variables)
    for v in variables:
        flags = ", ".join(f for f, on in (("editable", v.editable), ("secure", v.secure)) if on)
        echo(f"{v.name:<{width}}  {v.label}" + (f"  ({flags})" if flags else ""))


def _checked(path: Path, entries: Entries) -> list[ledger.Variable]:
    try:
        return ledger.check_variables(entries.items)
    except ledger.VariableError as exc:
        line = entries.key_lines[exc.index].get(exc.key or "", entries.lines[exc.index])
        where = f"{path}: line {line} (variable {exc.index + 1})"
        raise CliError(f"{where}: {exc.key + ': ' if exc.key else ''}{exc.message}; "
                       "nothing was changed") from None
    except ledger.CallDataError as exc:
        raise CliError(f"{path}: {exc.message}; nothing was changed") from None


def read_entries(path: Path) -> Entries:
    """The list in ``path``: YAML for .yaml/.yml (or text that does not start as JSON
    does), else JSON. `CliError` with the line of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read: {exc}") from None
    start = text.lstrip()[:1]
    if path.suffix.lower() in (".yaml", ".yml") or (
            path.suffix.lower() != ".json" and start not in ("[", "{")):
        return _yaml_entries(path, text)
    return _json_entries(path, text)


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _json_entries(path: Path, text: str) -> Entries:
    """A JSON array read entry by entry, so that each entry's line is known."""
    decoder = json.JSONDecoder()
    ws = " \t\r\n"
    pos = len(text) - len(text.lstrip(ws))
    try:
        if text[pos:pos + 1] != "[":
            raise CliError(f"{path}: line {_line(text, pos)}: expected a list of variables "
                           "([{\"name\": ...}, ...])")
        pos += 1
        items: list[Any] = []
        lines: list[int] = []
        while True:
            while pos < len(text) and text[pos] in ws:
                pos += 1
            if text[pos:pos + 1] == "]" and not items:
                pos += 1
                break
            item, end = decoder.raw_decode(text, pos)
            items.append(item)
            lines.append(_line(text, pos))
            pos = end
            while pos < len(text) and text[pos] in ws:
                pos += 1
            if text[pos:pos + 1] == ",":
                pos += 1
                continue
            if text[pos:pos + 1] == "]":
                pos += 1
                break
            raise json.JSONDecodeError("expected ',' or ']'", text, pos)
        if text[pos:].strip(ws):
            raise json.JSONDecodeError("extra data after the list", text, pos)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON: "
                       f"{exc.msg}") from None
    return Entries(items, lines, [{} for _ in items])


def _yaml_entries(path: Path, text: str) -> Entries:
    try:
        # PyYAML is optional (JSON always works) and ships no type information.
        yaml: Any = importlib.import_module("yaml")
    except ImportError:
        raise CliError(f"{path}: reading YAML needs the PyYAML package (pip install pyyaml); "
                       "or give the variables as a JSON list") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise CliError(f"{path}: {where}not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        line = node.start_mark.line + 1 if node is not None else 1
        raise CliError(f"{path}: line {line}: expected a list of variables (- name: ...)")
    lines = [n.start_mark.line + 1 for n in node.value]
    key_lines: list[dict[str, int]] = []
    for n in node.value:
        keys: dict[str, int] = {}
        if isinstance(n, yaml.MappingNode):
            for k, _ in n.value:
                keys[str(k.value)] = k.start_mark.line + 1
        key_lines.append(keys)
    return Entries(data, lines, key_lines)
