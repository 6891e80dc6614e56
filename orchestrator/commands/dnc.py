"""`orchestrator dnc import|add|remove|check`: the internal do-not-call list."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from orchestrator.commands import CliError, echo
from orchestrator.commands.importing import run_csv_import
from orchestrator.config import database_url
from orchestrator.ledger import dnc as dnc_ledger
from orchestrator.ledger.contacts import find_campaign
from orchestrator.ledger.importer import (
    DncImportReport,
    ImportFailure,
    check_region,
    dnc_e164,
    import_dnc,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dnc", help="manage the do-not-call list")
    dsub = p.add_subparsers(dest="dnc_command", required=True, metavar="ACTION")

    imp = dsub.add_parser(
        "import",
        help="import DNC entries from CSV",
        description=(
            "Columns: number (or phone, e164); optional campaign (name; empty = --campaign "
            "or global), source, reason, expires_at (ISO 8601 with offset). Bad rows are "
            "reported as 'line N: column: reason' and skipped (with --strict nothing is "
            "imported, exit status 1). Entries already on the list are refreshed."
        ),
    )
    imp.add_argument("file")
    imp.add_argument("--campaign", help="scope rows with no campaign to this campaign")
    imp.add_argument("--default-region", metavar="CC", help="ISO country for numbers without +")
    imp.add_argument("--strict", action="store_true", help="import nothing if any row is bad")
    imp.set_defaults(func=run_import)

    for action, helptext in (("add", "add a number (or refresh its entry)"),
                             ("remove", "remove a number's entry in one scope"),
                             ("check", "list a number's entries")):
        a = dsub.add_parser(action, help=helptext)
        a.add_argument("number")
        a.add_argument("--default-region", metavar="CC", help="ISO country for a number without +")
        if action != "check":
            a.add_argument("--campaign", help="campaign scope (default: global)")
        if action == "add":
            a.add_argument("--expires", help="ISO 8601 date-time with offset, or a duration: 30d, 12h")
            a.add_argument("--source", default="manual", help="where the request came from")
            a.add_argument("--reason", help="free text")
        a.set_defaults(func={"add": run_add, "remove": run_remove, "check": run_check}[action])


def run_import(args: argparse.Namespace) -> int:
    status, _result = run_csv_import(
        "dnc import",
        args.file,
        lambda report, progress: import_dnc(
            database_url(),
            args.file,
            campaign_name=args.campaign,
            default_region=args.default_region,
            strict=args.strict,
            report=report,
            progress=progress,
        ),
        _summary,
    )
    return status


def _summary(result: DncImportReport) -> list[tuple[str, str]]:
    return [
        ("rows read", f"{result.rows_read:,}"),
        ("entries added", f"{result.entries_added:,}"),
        ("entries refreshed", f"{result.entries_updated:,}"),
        ("rows rejected", f"{result.rows_rejected:,}"),
        ("duplicates", f"{result.duplicates:,}"),
        ("targets marked DNC", f"{result.targets_marked:,}"),
        ("rate", f"{result.rows_per_second:,.0f} rows/s ({result.seconds:.2f} s)"),
    ]


_DURATION = re.compile(r"^(\d+)\s*([dhm])$")


def parse_expires(text: str, now: datetime) -> datetime:
    m = _DURATION.match(text.strip().lower())
    if m:
        amount, unit = int(m.group(1)), m.group(2)
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount),
                 "m": timedelta(minutes=amount)}[unit]
        if delta <= timedelta(0):
            raise CliError(f'--expires: "{text}" must be a positive duration')
        return now + delta
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(
            f'--expires: "{text}" is neither an ISO 8601 date-time nor a duration like 30d'
        ) from None
    if value.tzinfo is None:
        raise CliError(f'--expires: "{text}" has no UTC offset (add +00:00 or Z)')
    if value <= now:
        raise CliError(f'--expires: "{text}" is in the past')
    return value.astimezone(UTC)


def _number(args: argparse.Namespace) -> str:
    try:
        region = check_region(args.default_region)
    except ImportFailure as exc:
        raise CliError(str(exc)) from None
    res = dnc_e164(args.number, region)
    if isinstance(res, str):
        raise CliError(f'number: {res} ("{args.number}")')
    return res[0]


def _campaign_id(conn: psycopg.Connection[tuple[object, ...]], name: str | None) -> int | None:
    if name is None:
        return None
    found = find_campaign(conn, name)
    if found is None:
        raise CliError(f'no campaign named "{name}"')
    return found.id


def _scope(name: str | None) -> str:
    return "global" if name is None else f'campaign "{name}"'


def run_add(args: argparse.Namespace) -> int:
    e164 = _number(args)
    now = datetime.now(UTC)
    expires = parse_expires(args.expires, now) if args.expires else None
    if not 1 <= len(args.source) <= 100:
        raise CliError("--source: 1 to 100 characters")
    if args.reason is not None and len(args.reason) > 250:
        raise CliError("--reason: at most 250 characters")
    try:
        with psycopg.connect(database_url()) as conn:
            campaign_id = _campaign_id(conn, args.campaign)
            created, marked = dnc_ledger.add_entry(
                conn, e164, campaign_id=campaign_id, source=args.source, reason=args.reason,
                expires_at=expires,
            )
            conn.execute(
                "INSERT INTO audit_log (actor, action, object_type, object_id, details) "
                "VALUES ('cli', 'dnc.add', 'dnc', %s, %s)",
                (e164, Jsonb({"campaign_id": campaign_id,
                                                  "source": args.source})),
            )
    except psycopg.Error as exc:
        raise CliError(f"dnc add: database error: {exc}") from None
    verb = "added" if created else "refreshed"
    until = f" until {expires.isoformat()}" if expires else ""
    echo(f"{verb} {e164} ({_scope(args.campaign)}){until}; {marked} target(s) marked DNC")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    e164 = _number(args)
    try:
        with psycopg.connect(database_url()) as conn:
            campaign_id = _campaign_id(conn, args.campaign)
            removed = dnc_ledger.remove_entry(conn, e164, campaign_id=campaign_id)
            if removed:
                conn.execute(
                    "INSERT INTO audit_log (actor, action, object_type, object_id, details) "
                    "VALUES ('cli', 'dnc.remove', 'dnc', %s, %s)",
                    (e164, Jsonb({"campaign_id": campaign_id})),
                )
            remaining = [e for e in dnc_ledger.entries_for(conn, e164)
                         if e.expires_at is None or e.expires_at > datetime.now(UTC)]
    except psycopg.Error as exc:
        raise CliError(f"dnc remove: database error: {exc}") from None
    if not removed:
        raise CliError(f"dnc remove: {e164} is not on the do-not-call list ({_scope(args.campaign)})",
                       status=1)
    echo(f"removed {e164} ({_scope(args.campaign)})")
    for entry in remaining:
        echo(f"  still listed: {entry.scope}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    e164 = _number(args)
    try:
        with psycopg.connect(database_url()) as conn:
            entries = dnc_ledger.entries_for(conn, e164)
    except psycopg.Error as exc:
        raise CliError(f"dnc check: database error: {exc}") from None
    if not entries:
        echo(f"{e164}: not on the do-not-call list")
        return 1
    now = datetime.now(UTC)
    for e in entries:
        state = "expired" if e.expires_at is not None and e.expires_at <= now else "active"
        until = f" until {e.expires_at.isoformat()}" if e.expires_at else ""
        why = f" - {e.reason}" if e.reason else ""
        echo(f"{e164}: {e.scope}, {state}{until}, source {e.source}{why}")
    return 0
