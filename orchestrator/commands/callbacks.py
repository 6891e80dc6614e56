"""`orchestrator callbacks list|show|delete|web-token`: callbacks in the ledger.

Every value from the database is printed through terminal_safe (a caller's name typed on
a website is no terminal control); each write is one ledger transaction (nothing
half-written); a refusal names the field.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.commands import CliError, echo, echo_lines, json_text, terminal_safe
from orchestrator.commands.campaign import actor, with_ledger
from orchestrator.ledger import callbacks as ledger
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger.pool import AsyncConn


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("callbacks", help="list, show and delete callbacks; web-callback tokens")
    csub = p.add_subparsers(dest="callbacks_command", required=True, metavar="ACTION")

    ls = csub.add_parser("list", help="callbacks, open ones first, with why they wait")
    ls.add_argument("--campaign", help="campaign name")
    ls.add_argument("--status", default="open",
                    help="open (pending, offered, dialing), all, or statuses comma-separated "
                         f"({', '.join(ledger.STATUSES)}); default open")
    ls.add_argument("--kind", choices=ledger.KINDS)
    ls.add_argument("--queue", help="an Asterisk queue's callbacks")
    ls.add_argument("--limit", type=int, default=200, help="at most this many (1-1000)")
    ls.add_argument("--json", action="store_true", help="JSON output")
    ls.add_argument("--tz", default="UTC", help="time zone for dates in text output (default UTC)")
    ls.set_defaults(func=run_list)

    show = csub.add_parser("show", help="one callback and the attempts made for it")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="JSON output")
    show.add_argument("--tz", default="UTC", help="time zone for dates in text output (default UTC)")
    show.set_defaults(func=run_show)

    rm = csub.add_parser("delete", help="delete a pending callback (kept, logged as deleted)")
    rm.add_argument("id", type=int)
    rm.add_argument("--reason", help="why (at most 250 characters), for the log")
    rm.set_defaults(func=run_delete)

    tok = csub.add_parser("web-token", help="tokens of a website's call-me-back form")
    tsub = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    mk = tsub.add_parser("create", help="a token that may only create web callbacks for one "
                                        "campaign (printed once)")
    mk.add_argument("name", help="a name for it: a-z 0-9 _ . -")
    mk.add_argument("--campaign", required=True, help="the campaign its callbacks go to")
    mk.set_defaults(func=run_token_create)
    rv = tsub.add_parser("revoke", help="stop a web-callback token")
    rv.add_argument("name")
    rv.set_defaults(func=run_token_revoke)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f'--tz: unknown time zone "{name}"') from None


def _ledger_call(fn: Any) -> Any:
    """with_ledger, a callback refusal becoming a CliError that names the field."""
    async def run(conn: AsyncConn) -> Any:
        try:
            return await fn(conn)
        except ledger.CallbackError as exc:
            raise CliError(f"{exc.field}: {exc.message}", status=1) from None
    return with_ledger(run)


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return "-"
    local = value.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M") + f" {local.tzname()}"


def _statuses(text: str) -> list[str] | None:
    if text == "all":
        return None
    if text == "open":
        return list(ledger.OPEN_STATUSES)
    found = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in found if s not in ledger.STATUSES]
    if bad or not found:
        shown = ", ".join(bad) or repr(text)
        raise CliError(f"--status: {shown} is not open, all or one of {', '.join(ledger.STATUSES)}")
    return found


# ------------------------------------------------------------------ list, show


def run_list(args: argparse.Namespace) -> int:
    zone = _zone(args.tz)
    statuses = _statuses(args.status)
    if not 1 <= args.limit <= 1000:
        raise CliError("--limit: must be from 1 to 1000")

    async def fetch(conn: AsyncConn) -> list[ledger.Callback]:
        ids = None
        if args.campaign is not None:
            ids = [(await campaigns_ledger.get_campaign(conn, args.campaign)).id]
        return await ledger.list_callbacks(conn, campaign_ids=ids, statuses=statuses,
                                           kind=args.kind, queue=args.queue, limit=args.limit)

    rows = _ledger_call(fetch)
    if args.json:
        print(json_text({"callbacks": [cb.to_json() for cb in rows]}, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        echo("no callbacks")
        return 0
    table = [["Id", "Kind", "Status", "Campaign", "Number", "Name", "Window", "Agent",
              "Attempts", "Waiting / result"]]
    for cb in rows:
        table.append([
            str(cb.id), cb.kind + (f" #{cb.queue_position}" if cb.queue_position else ""),
            cb.status, cb.campaign_name or "-", cb.e164, cb.name or "-",
            f"{_when(cb.window_start, zone)} - {_when(cb.window_end, zone)}",
            str(cb.assigned_agent_id) if cb.assigned_agent_id else "anyone",
            f"{cb.attempts_made}/{cb.max_attempts}", cb.waiting_reason or cb.result or "-"])
    echo_lines("\n".join(_table(table)))
    return 0


def _table(rows: list[list[str]]) -> list[str]:
    rows = [[terminal_safe(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def run_show(args: argparse.Namespace) -> int:
    zone = _zone(args.tz)

    async def fetch(conn: AsyncConn) -> tuple[ledger.Callback, list[ledger.CallbackAttempt]]:
        return (await ledger.get_callback(conn, args.id),
                await ledger.callback_attempts(conn, args.id))

    cb, attempts = _ledger_call(fetch)
    if args.json:
        out = cb.to_json()
        out["attempts"] = [{"attempt_id": str(a.attempt_id), "attempt_number": a.attempt_number,
                            "at": a.created_at.isoformat(), "state": a.state,
                            "outcome": a.outcome, "agent": a.agent,
                            "disposition": a.disposition} for a in attempts]
        print(json_text(out, indent=2, ensure_ascii=False))
        return 0
    facts = [
        ("Kind", cb.kind), ("Status", cb.status), ("Campaign", cb.campaign_name or "-"),
        ("Number", cb.e164), ("Name", cb.name or "-"),
        ("Window", f"{_when(cb.window_start, zone)} - {_when(cb.window_end, zone)}"),
        ("Time zone", cb.time_zone), ("Queue", cb.queue or "-"),
        ("Queue position", str(cb.queue_position) if cb.queue_position else "-"),
        ("Assigned to", f"agent {cb.assigned_agent_id}" if cb.assigned_agent_id else "anyone"),
        ("Reason", cb.reason or "-"), ("Notes", cb.notes or "-"),
        ("Attempts", f"{cb.attempts_made}/{cb.max_attempts}"),
        ("Waiting", cb.waiting_reason or "-"),
        ("Next try", _when(cb.next_try_at, zone)), ("Result", cb.result or "-"),
        ("Created", _when(cb.created_at, zone)),
        ("Deleted", f"{_when(cb.deleted_at, zone)} by {cb.deleted_by}" if cb.deleted_at else "-"),
    ]
    width = max(len(k) for k, _ in facts)
    lines = [f"Callback {cb.id}"] + [f"  {k:<{width}}  {terminal_safe(v)}" for k, v in facts]
    lines.append("Attempts")
    if attempts:
        lines += ["  " + line for line in _table(
            [["Attempt", "Date and time", "Outcome", "Agent", "Disposition"]]
            + [[str(a.attempt_number), _when(a.created_at, zone),
                a.outcome or ("in progress" if a.state != "ended" else "-"),
                a.agent or "-", a.disposition or "-"] for a in attempts])]
    else:
        lines.append("  (none)")
    echo_lines("\n".join(lines))
    return 0


# ------------------------------------------------------------------ writes


def run_delete(args: argparse.Namespace) -> int:
    who = actor()

    async def delete(conn: AsyncConn) -> ledger.Callback:
        # an admin's tool: also a waiting callback past its start (as a supervisor may)
        return await ledger.delete_callback(conn, args.id, actor=who, reason=args.reason,
                                            after_start=True)

    cb = _ledger_call(delete)
    echo(f"callback {cb.id} deleted ({cb.kind}, {cb.e164}); logged as deleted by {who}")
    return 0


def run_token_create(args: argparse.Namespace) -> int:
    async def create(conn: AsyncConn) -> tuple[ledger.WebCallbackToken, str]:
        campaign = await campaigns_ledger.get_campaign(conn, args.campaign)
        return await ledger.create_web_token(conn, args.name, campaign.id, actor=actor())

    row, token = _ledger_call(create)
    echo(f"web-callback token {row.name} for campaign {args.campaign} (shown once):")
    print(token)
    return 0


def run_token_revoke(args: argparse.Namespace) -> int:
    async def revoke(conn: AsyncConn) -> bool:
        return await ledger.revoke_web_token(conn, args.name, actor=actor())

    if not _ledger_call(revoke):
        raise CliError(f'no active web-callback token named "{args.name}"', status=1)
    echo(f"web-callback token {args.name} revoked")
    return 0
