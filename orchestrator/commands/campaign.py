"""`orchestrator campaign ...`: create, update, start, pause, stop, list, show; wrap-up codes."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg

from orchestrator.commands import CliError, campaign_variables, echo, json_text, terminal_safe
from orchestrator.config import database_url
from orchestrator.ledger import campaigns as ledger
from orchestrator.ledger.agents import AgentError
from orchestrator.ledger.attempts import AttemptError
from orchestrator.ledger.pool import AsyncConn, connect

T = TypeVar("T")


def actor() -> str:
    """Who the audit log names for CLI changes."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def with_ledger(fn: Callable[[AsyncConn], Awaitable[T]]) -> T:
    """Run fn on one autocommit connection (ORCH_DATABASE_URL); ledger errors become CliError."""

    async def main() -> T:
        async with connect(database_url()) as conn:
            return await fn(conn)

    try:
        return asyncio.run(main())
    except (ledger.CampaignError, AgentError, AttemptError) as exc:
        raise CliError(str(exc)) from None
    except psycopg.OperationalError as exc:
        raise CliError(f"database: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}") from None


def _pct(text: str) -> float:
    t = text.strip()
    try:
        return float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction (0.03) or a percentage (3%), got {text!r}") from None


def _bool_text(field: str, text: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "yes", "on", "1"):
        return True
    if t in ("false", "no", "off", "0"):
        return False
    raise CliError(f"{field}: expected true or false, got {text!r}")


def _cadence(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise CliError(f"cadence: expected outcome=duration pairs like busy=10m,no_answer=2h; got {part!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


_BOOL_FIELDS = {f for f in ledger.EDITABLE_FIELDS
                if f in ("preview_allow_skip", "preview_allow_remove", "recording", "masking")}


def _add_setting_options(p: argparse.ArgumentParser, *, create: bool) -> None:
    g = p.add_argument_group("settings")
    g.add_argument("--mode", choices=ledger.MODES, required=create, help="dialing mode")
    g.add_argument("--flavour", dest="progressive_flavour", choices=ledger.PROGRESSIVE_FLAVOURS,
                   help="progressive: agent_first or customer_first")
    g.add_argument("--lines-per-agent", dest="power_lines_per_agent", type=float, help="power mode lines per agent")
    g.add_argument("--abandon-cap", type=_pct, help="abandon rate cap, 0.03 or 3%% (max 20%%)")
    g.add_argument("--abandon-lock", help="no repeat call after an abandon for this long (72h)")
    g.add_argument("--window", help="calling window in the contact's local time, e.g. 09:00-21:00")
    g.add_argument("--days", dest="window_days", help="calling days, e.g. mon-fri or mon,wed,fri")
    g.add_argument("--caller-id", help="E.164 caller id, e.g. +14155550100")
    g.add_argument("--max-attempts", dest="max_attempts_per_target", type=int, help="max attempts per target")
    g.add_argument("--max-attempts-per-contact", type=int, help="max attempts per contact")
    g.add_argument("--max-amd", dest="max_amd_per_target", type=int, help="max answering machines per target")
    g.add_argument("--amd", dest="amd_policy", choices=ledger.AMD_POLICIES, help="answering machine policy")
    g.add_argument("--amd-message", help="media for voicemail drop, e.g. sound:vm-drop")
    g.add_argument("--silent-call-message", help="information message played on an abandon")
    g.add_argument("--min-gap", help="minimum gap between calls to one number (e.g. 4h)")
    g.add_argument("--no-answer-timeout", dest="no_answer_timeout_s", type=int, help="seconds of ringing (15-120)")
    g.add_argument("--max-calls", dest="max_concurrent_calls", type=int, help="concurrent call cap")
    g.add_argument("--wrapup-seconds", type=int, help="after-call work time")
    g.add_argument("--cadence", help="retry delays per outcome, e.g. busy=10m,no_answer=2h")
    g.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any other setting by its name (see `campaign show --json`)")
    if create:
        p.add_argument("--team", action="append", default=[], help="link a team (repeatable)")


def _settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    s: dict[str, Any] = {}
    for name in ("mode", "progressive_flavour", "power_lines_per_agent", "abandon_cap", "abandon_lock",
                 "caller_id", "max_attempts_per_target", "max_attempts_per_contact", "max_amd_per_target",
                 "amd_policy", "amd_message", "silent_call_message", "min_gap", "no_answer_timeout_s",
                 "max_concurrent_calls", "wrapup_seconds", "window_days"):
        v = getattr(args, name, None)
        if v is not None:
            s[name] = v
    if args.window is not None:
        try:
            s["window_start"], s["window_end"] = ledger.parse_window(args.window)
        except ledger.CampaignError as exc:
            raise CliError(str(exc)) from None
    if args.cadence is not None:
        s["cadence"] = _cadence(args.cadence)
    for item in args.set:
        if "=" not in item:
            raise CliError(f"--set: expected FIELD=VALUE, got {item!r}")
        k, v = (x.strip() for x in item.split("=", 1))
        if k not in ledger.EDITABLE_FIELDS and k != "name":
            raise CliError(f"{k}: is not a campaign setting")
        value: Any = v
        if k in _BOOL_FIELDS:
            value = _bool_text(k, v)
        elif v.lower() in ("null", "none", ""):
            value = None
        elif k == "cadence":
            value = _cadence(v)
        s[k] = value
    return s


def _print_campaign(c: ledger.Campaign, teams: list[str], as_json: bool) -> None:
    if as_json:
        print(json_text({**c.to_json(), "teams": teams}, indent=2, sort_keys=True))
        return
    days = ",".join(str(d) for d in c.window_days)
    echo(f"{c.name} (id {c.id}): {c.status}, mode {c.mode}")
    echo(f"  window {c.window_start:%H:%M}-{c.window_end:%H:%M} days {days}; abandon cap {c.abandon_cap:.2%},"
         f" lock {c.abandon_lock}; max attempts {c.max_attempts_per_target}; AMD {c.amd_policy}")
    echo(f"  caller id {c.caller_id or '-'}; call cap {c.max_concurrent_calls or '-'}; teams {', '.join(teams) or '-'}")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("campaign", help="create, change, start, pause, stop and list campaigns")
    csub = p.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")

    c = csub.add_parser("create", help="create a campaign (status draft)")
    c.add_argument("name")
    _add_setting_options(c, create=True)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_create)

    u = csub.add_parser("update", help="change settings of a campaign")
    u.add_argument("name")
    u.add_argument("--rename", help="new name")
    _add_setting_options(u, create=False)
    u.add_argument("--json", action="store_true")
    u.set_defaults(func=cmd_update)

    for action, text in (("start", "start (or resume) dialing"), ("pause", "pause dialing"),
                         ("stop", "stop the campaign and release its leases")):
        a = csub.add_parser(action, help=text)
        a.add_argument("name")
        a.set_defaults(func=cmd_transition, action=action)

    ls = csub.add_parser("list", help="list campaigns")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    sh = csub.add_parser("show", help="show every setting of a campaign")
    sh.add_argument("name")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_show)

    codes = csub.add_parser("codes", help="list the campaign's wrap-up codes")
    codes.add_argument("name")
    codes.add_argument("--json", action="store_true")
    codes.set_defaults(func=cmd_codes)

    add = csub.add_parser("add-code", help="add a wrap-up code to the campaign")
    add.add_argument("name")
    add.add_argument("label")
    add.add_argument("--class", dest="outcome_class", required=True, choices=ledger.OUTCOME_CLASSES)
    add.add_argument("--retry-after", help="retry delay for class retry, e.g. 2h")
    add.set_defaults(func=cmd_add_code)

    campaign_variables.add_parser(csub)


def cmd_create(args: argparse.Namespace) -> int:
    settings = _settings_from_args(args)

    async def go(conn: AsyncConn) -> tuple[ledger.Campaign, list[str]]:
        c = await ledger.create_campaign(conn, args.name, actor=actor(), teams=args.team, **settings)
        return c, await ledger.campaign_teams(conn, c.id)

    c, teams = with_ledger(go)
    if args.json:
        _print_campaign(c, teams, True)
    else:
        echo(f"created campaign {c.name!r} (id {c.id}, {c.mode}, draft); start it with"
             f" `orchestrator campaign start {c.name!r}`")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    settings = _settings_from_args(args)
    if args.rename:
        settings["name"] = args.rename
    if not settings:
        raise CliError("update: nothing to change (give at least one setting)")

    async def go(conn: AsyncConn) -> tuple[ledger.Campaign, list[str]]:
        c = await ledger.update_campaign(conn, args.name, settings, actor=actor())
        return c, await ledger.campaign_teams(conn, c.id)

    c, teams = with_ledger(go)
    if args.json:
        _print_campaign(c, teams, True)
    else:
        echo(f"updated campaign {c.name!r}: {', '.join(sorted(settings))}")
    return 0


def cmd_transition(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> ledger.Campaign:
        return await ledger.transition_campaign(conn, args.name, args.action, actor=actor())

    c = with_ledger(go)
    echo(f"campaign {c.name!r} is {c.status}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> list[tuple[ledger.Campaign, list[str]]]:
        return [(c, await ledger.campaign_teams(conn, c.id)) for c in await ledger.list_campaigns(conn)]

    rows = with_ledger(go)
    if args.json:
        print(json_text([{**c.to_json(), "teams": t} for c, t in rows], indent=2, sort_keys=True))
        return 0
    if not rows:
        echo("no campaigns")
        return 0
    width = max(len(terminal_safe(c.name)) for c, _ in rows)
    echo(f"{'NAME':<{width}}  {'STATUS':<9} {'MODE':<14} {'WINDOW':<11} {'CAP':>6}  TEAMS")
    for c, teams in rows:
        echo(f"{terminal_safe(c.name):<{width}}  {c.status:<9} {c.mode:<14} {c.window_start:%H:%M}-{c.window_end:%H:%M}"
             f" {c.abandon_cap:>6.1%}  {', '.join(teams) or '-'}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> tuple[ledger.Campaign, list[str]]:
        c = await ledger.get_campaign(conn, args.name)
        return c, await ledger.campaign_teams(conn, c.id)

    c, teams = with_ledger(go)
    if args.json:
        _print_campaign(c, teams, True)
    else:
        for k, v in {**c.to_json(), "teams": teams}.items():
            echo(f"{k:<26} {v}")
    return 0


def cmd_codes(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> list[ledger.WrapUpCode]:
        c = await ledger.get_campaign(conn, args.name)
        return await ledger.wrapup_codes(conn, c.id)

    codes = with_ledger(go)
    if args.json:
        print(json_text([
            {"id": w.id, "label": w.label, "outcome_class": w.outcome_class, "system": w.is_system,
             "retry_after_s": None if w.retry_after is None else int(w.retry_after.total_seconds())}
            for w in codes
        ], indent=2))
        return 0
    for w in codes:
        retry = f" retry after {w.retry_after}" if w.retry_after is not None else ""
        echo(f"{w.id:>4}  {w.label:<30} {w.outcome_class}{retry}{' (system)' if w.is_system else ''}")
    return 0


def cmd_add_code(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> ledger.WrapUpCode:
        return await ledger.add_wrapup_code(conn, args.name, args.label, args.outcome_class,
                                            retry_after=args.retry_after, actor=actor())

    w = with_ledger(go)
    echo(f"added wrap-up code {w.label!r} ({w.outcome_class}, id {w.id})")
    return 0
