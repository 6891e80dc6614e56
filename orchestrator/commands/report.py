"""`orchestrator report campaign NAME [--json] [--csv FILE|-]`: outcomes, abandon rate, agent time."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TextIO, cast

from orchestrator.commands import CliError, echo, json_text, terminal_safe
from orchestrator.commands.campaign import with_ledger
from orchestrator.ledger import reports
from orchestrator.ledger.campaigns import parse_duration
from orchestrator.ledger.pool import AsyncConn


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="campaign reports and CSV export")
    rsub = p.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    c = rsub.add_parser("campaign", help="outcomes, dispositions, abandon rate, agent talk/wrap/idle")
    c.add_argument("name")
    c.add_argument("--period", default="24h", help="agent figures over this period (default 24h)")
    out = c.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON")
    out.add_argument("--csv", metavar="FILE", help="export the campaign's attempts as CSV to FILE (- for stdout)")
    c.add_argument("--since", help="CSV: attempts created at or after this ISO date/time")
    c.set_defaults(func=cmd_campaign)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"since: expected an ISO date or date-time, got {text!r}") from None
    if d.tzinfo is None:
        d = d.astimezone()  # the operator's local zone
    return d


def _secs(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _rate(r: float | None) -> str:
    return "-" if r is None else f"{r:.2%}"


class _TerminalCsv:
    """Standard output for `--csv -` when it is a terminal: each row the csv writer writes
    is escaped with terminal_safe except its own line end, so a value from the database
    cannot drive the terminal. A pipe or a file gets the CSV exactly as written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        body, end = (text[:-2], "\r\n") if text.endswith("\r\n") else (text, "")
        return self.stream.write(terminal_safe(body) + end)


def _stdout_for_csv() -> TextIO:
    if sys.stdout.isatty():
        return cast(TextIO, _TerminalCsv(sys.stdout))
    return sys.stdout


def cmd_campaign(args: argparse.Namespace) -> int:
    if args.csv is not None:
        since = _since(args.since)

        if args.csv == "-":
            out = _stdout_for_csv()
            n = with_ledger(lambda conn: reports.export_attempts_csv(conn, args.name, out, since=since))
        else:
            try:
                fh = open(args.csv, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise CliError(f"csv: cannot write {args.csv}: {exc.strerror}") from None
            with fh:
                n = with_ledger(lambda conn: reports.export_attempts_csv(conn, args.name, fh, since=since))
        if args.csv != "-":
            echo(f"wrote {n} attempts to {args.csv}")
        return 0

    try:
        period = parse_duration(args.period)
    except ValueError as exc:
        raise CliError(f"period: {exc}") from None

    async def build(conn: AsyncConn) -> reports.CampaignReport:
        return await reports.campaign_report(conn, args.name, period=period)

    r = with_ledger(build)
    if args.json:
        print(json_text(r.to_json(), indent=2, sort_keys=True))
        return 0
    echo(f"Campaign {r.campaign} ({r.status}, {r.mode}) at {r.generated_at:%Y-%m-%d %H:%M %Z}")
    echo(f"  contacts {r.contacts_total} ({r.contacts_complete} complete); targets {r.targets_total}: "
         + ", ".join(f"{k} {v}" for k, v in r.targets_by_reason.items()))
    echo(f"  attempts {r.attempts_total} ({r.attempts_live} live): "
         + (", ".join(f"{k} {v}" for k, v in r.outcomes.items()) or "-"))
    echo("  dispositions: " + (", ".join(f"{k} {v}" for k, v in r.dispositions.items()) or "-"))
    for label, ab in (("24 h (UK)", r.abandon_24h), ("30 days (US)", r.abandon_30d)):
        echo(f"  abandon rate {label}: {_rate(ab.rate)} ({ab.abandoned}/{ab.live_answers} live answers,"
             f" cap {ab.cap:.1%}, budget {ab.remaining_budget})")
    echo(f"  last {args.period}: answer rate {_rate(r.answer_rate)}, occupancy {_rate(r.occupancy)},"
         f" connects {r.connects}, per agent hour "
         f"{'-' if r.connects_per_agent_hour is None else f'{r.connects_per_agent_hour:.1f}'}")
    if r.agents:
        echo(f"  {'AGENT':<16} {'LOGGED IN':>9} {'TALK':>8} {'WRAP':>8} {'IDLE':>8} {'NOT RDY':>8} {'CONN':>5} OCC")
        for a in r.agents:
            echo(f"  {a.username:<16} {_secs(a.logged_in_s):>9} {_secs(a.talk_s):>8} {_secs(a.wrap_s):>8}"
                 f" {_secs(a.idle_s):>8} {_secs(a.not_ready_s):>8} {a.connects:>5} {_rate(a.occupancy)}")
    return 0
