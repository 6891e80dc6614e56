"""`orchestrator contacts import|show`: load a CSV into a campaign; show one contact."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg

from orchestrator.commands import CliError, echo, echo_lines, json_text, terminal_safe
from orchestrator.commands.importing import print_summary, run_csv_import
from orchestrator.config import database_url
from orchestrator.ledger.contacts import ContactView, contact_view, find_campaign, find_contact_id
from orchestrator.ledger.importer import ContactImportReport, import_contacts


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("contacts", help="import contacts from CSV; show a contact")
    csub = p.add_subparsers(dest="contacts_command", required=True, metavar="ACTION")

    imp = csub.add_parser(
        "import",
        help="import a contacts CSV into a campaign",
        description=(
            "Columns: external_id, first_name, last_name, postal_code, timezone (IANA), "
            "expires_at (ISO 8601 with offset), phone1..phoneN with phoneN_description "
            "(or phoneN_desc, phoneN_label); any other column becomes a custom field. "
            "Bad rows are reported as 'line N: column: reason' and skipped (with --strict "
            "nothing is imported and the exit status is 1). Exit status 2: fatal error, "
            "nothing imported."
        ),
    )
    imp.add_argument("file", help="CSV file, UTF-8, header on line 1")
    imp.add_argument("--campaign", required=True, help="campaign name")
    imp.add_argument("--default-region", metavar="CC",
                     help="ISO country for numbers written without +, e.g. US")
    imp.add_argument("--strict", action="store_true",
                     help="import nothing if any row is bad (exit status 1)")
    imp.add_argument("--jobs", type=int, default=None,
                     help="worker processes for phone numbers (default: CPU count for large files)")
    imp.add_argument("--timings", action="store_true",
                     help="also print where the time went (for benchmarks)")
    imp.set_defaults(func=run_import)

    show = csub.add_parser("show", help="a contact's facts, targets and attempt history")
    show.add_argument("id", nargs="?", type=int, help="contact id")
    show.add_argument("--external-id", help="the contact's external id (with --campaign)")
    show.add_argument("--campaign", help="campaign name (with --external-id)")
    show.add_argument("--json", action="store_true", help="JSON output")
    show.add_argument("--tz", default="UTC", help="time zone for dates in text output (default UTC)")
    show.set_defaults(func=run_show)


# --- contacts import -----------------------------------------------------------------


def run_import(args: argparse.Namespace) -> int:
    status, result = run_csv_import(
        "contacts import",
        f'{args.file} -> campaign "{args.campaign}"',
        lambda report, progress: import_contacts(
            database_url(),
            args.file,
            args.campaign,
            default_region=args.default_region,
            strict=args.strict,
            jobs=args.jobs,
            report=report,
            progress=progress,
        ),
        _summary,
    )
    if status == 0 and args.timings:
        _print_timings(result)
    return status


def _summary(result: ContactImportReport) -> list[tuple[str, str]]:
    return [
        ("rows read", f"{result.rows_read:,}"),
        ("contacts imported", f"{result.contacts_imported:,}"),
        ("targets imported", f"{result.targets_imported:,}"),
        ("rows rejected", f"{result.rows_rejected:,}"),
        ("DNC matches", f"{result.dnc_matches:,}"),
        ("duplicate numbers", f"{result.duplicate_numbers:,}"),
        ("duplicate external ids", f"{result.duplicate_external_ids:,}"),
        ("rate", f"{result.rows_per_second:,.0f} rows/s ({result.seconds:.2f} s)"),
    ]


def _print_timings(result: ContactImportReport) -> None:
    print_summary("timings (s)", [(k, f"{v:.2f}") for k, v in result.timings.items()])
    phones_cpu = result.timings.get("phones_cpu", 0.0)
    if result.numbers_analyzed and phones_cpu > 0:
        echo(f"phone numbers analyzed {result.numbers_analyzed:,}: "
             f"{phones_cpu / result.numbers_analyzed * 1e6:.1f} µs CPU each, "
             f"{result.numbers_analyzed / phones_cpu:,.0f} numbers/s per core")


# --- contacts show ---------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    try:
        zone = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f'contacts show: --tz: unknown time zone "{args.tz}"') from None
    if (args.id is None) == (args.external_id is None):
        raise CliError("contacts show: give a contact ID, or --external-id with --campaign")
    if args.external_id is not None and not args.campaign:
        raise CliError("contacts show: --external-id needs --campaign")
    now = datetime.now(UTC)
    try:
        with psycopg.connect(database_url()) as conn:
            if args.id is not None:
                contact_id: int | None = args.id
                missing = f"no contact with id {args.id}"
            else:
                campaign = find_campaign(conn, args.campaign)
                if campaign is None:
                    raise CliError(f'contacts show: no campaign named "{args.campaign}"')
                contact_id = find_contact_id(conn, args.external_id, campaign.id)
                missing = f'no contact with external id "{args.external_id}" in campaign "{args.campaign}"'
            view = contact_view(conn, contact_id, now) if contact_id is not None else None
    except psycopg.Error as exc:
        raise CliError(f"contacts show: database error: {exc}") from None
    if view is None:
        raise CliError(f"contacts show: {missing}", status=1)
    if args.json:
        print(json_text(view_json(view), indent=2, ensure_ascii=False))
    else:
        echo_lines(render_text(view, zone))
    return 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def view_json(view: ContactView) -> dict[str, Any]:
    return {
        "id": view.id,
        "campaign": {"id": view.campaign_id, "name": view.campaign_name},
        "external_id": view.external_id,
        "first_name": view.first_name,
        "last_name": view.last_name,
        "postal_code": view.postal_code,
        "time_zone": view.time_zone,
        "custom_fields": view.custom_fields,
        "expires_at": _iso(view.expires_at),
        "complete": view.complete,
        "attempts_made": view.attempts_made,
        "max_attempts_per_contact": view.max_attempts_per_contact,
        "created_at": _iso(view.created_at),
        "evaluated_at": _iso(view.now),
        "targets": [
            {
                "id": t.id,
                "position": t.position,
                "description": t.description,
                "label": t.label,
                "e164": t.e164,
                "attempts": f"{t.attempts_made}/{t.max_attempts}",
                "attempts_made": t.attempts_made,
                "max_attempts": t.max_attempts,
                "dialable": t.reason is None and t.verdict.dialable,
                "available_from": _iso(t.available_at),
                "stored_available_from": _iso(t.available_from),
                "last_outcome": t.last_outcome,
                "last_attempt_at": _iso(t.last_attempt_at),
                "unavailable_reason": t.reason,
                "stored_unavailable_reason": t.stored_reason,
                "detail": t.verdict.detail,
                "time_zones": list(t.verdict.time_zones),
            }
            for t in view.targets
        ],
        "attempts": [
            {
                "attempt": a.title,
                "attempt_number": a.attempt_number,
                "target": a.target_label,
                "e164": a.e164,
                "at": _iso(a.at),
                "state": a.state,
                "outcome": a.outcome,
                "agent": a.agent,
                "disposition": a.disposition,
                "note": a.note,
            }
            for a in view.attempts
        ],
    }


def _when(value: datetime | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    if value is None:
        return "-"
    local = value.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + f" {local.tzname()}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    rows = [[terminal_safe(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    out = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return out


def render_text(view: ContactView, zone: ZoneInfo) -> str:
    """The text of `contacts show`; every value from the database is escaped with
    terminal_safe (a name with a line break in it shows as one line, with \\n)."""
    name = " ".join(p for p in (view.first_name, view.last_name) if p) or "-"
    facts = [
        ("Name", name),
        ("External id", view.external_id or "-"),
        ("Campaign", view.campaign_name),
        ("Postal code", view.postal_code or "-"),
        ("Time zone", view.time_zone or "- (from the numbers)"),
        ("Expires", _when(view.expires_at, zone)),
        ("Attempts", f"{view.attempts_made}"
         + (f"/{view.max_attempts_per_contact}" if view.max_attempts_per_contact else "")
         + (" (complete)" if view.complete else "")),
    ]
    width = max(len(k) for k, _ in facts)
    lines = [f"Contact {view.id}"]
    lines += [f"  {k:<{width}}  {terminal_safe(v)}" for k, v in facts]
    if view.custom_fields:
        lines.append("Custom fields")
        custom = [(terminal_safe(k), terminal_safe(v)) for k, v in view.custom_fields.items()]
        cw = max(len(k) for k, _ in custom)
        lines += [f"  {k:<{cw}}  {v}" for k, v in custom]
    lines.append("Targets")
    target_rows = []
    for t in view.targets:
        if t.reason is None and t.verdict.dialable:
            available = "now"
        else:
            available = _when(t.available_at, zone) if t.available_at else "-"
        target_rows.append([
            t.label, t.e164, f"{t.attempts_made}/{t.max_attempts}", available,
            t.last_outcome or "-", t.reason or "-",
        ])
    lines += _table(["Target", "Number", "Attempts", "Available from", "Last outcome",
                     "Unavailable reason"], target_rows)
    lines.append("Attempts")
    if view.attempts:
        lines += _table(
            ["Attempt", "Date and time", "Outcome", "Agent", "Disposition"],
            [[a.title, _when(a.at, zone, seconds=True),
              a.outcome or ("in progress" if a.state != "ended" else "-"),
              a.agent or "-", a.disposition or "-"] for a in view.attempts],
        )
    else:
        lines.append("  (none)")
    return "\n".join(lines)
