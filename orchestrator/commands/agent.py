"""`orchestrator agent ...` and `orchestrator team ...`: agents, their tokens, teams."""

from __future__ import annotations

import argparse

from orchestrator.commands import CliError, echo, json_text, terminal_safe
from orchestrator.commands.campaign import actor, with_ledger
from orchestrator.ledger import agents as ledger
from orchestrator.ledger.pool import AsyncConn


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("agent", help="create agents, list them, rotate their tokens")
    asub = p.add_subparsers(dest="agent_command", required=True, metavar="ACTION")

    c = asub.add_parser("create", help="create an agent and print its bearer token (shown once)")
    c.add_argument("username")
    c.add_argument("--name", required=True, help="display name")
    c.add_argument("--role", choices=ledger.ROLES, default="agent")
    c.add_argument("--endpoint", help="Asterisk endpoint, e.g. PJSIP/1001")
    c.add_argument("--phone-mode", choices=ledger.PHONE_MODES, default="per_call")
    c.add_argument("--team", action="append", default=[], help="add to a team (repeatable)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_create)

    u = asub.add_parser("update", help="change an agent")
    u.add_argument("username")
    u.add_argument("--name")
    u.add_argument("--role", choices=ledger.ROLES)
    u.add_argument("--endpoint")
    u.add_argument("--phone-mode", choices=ledger.PHONE_MODES)
    act = u.add_mutually_exclusive_group()
    act.add_argument("--activate", dest="active", action="store_const", const=True)
    act.add_argument("--deactivate", dest="active", action="store_const", const=False,
                     help="disable the agent (its token stops working)")
    u.set_defaults(func=cmd_update)

    ls = asub.add_parser("list", help="list agents")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    t = asub.add_parser("token", help="rotate an agent's token and print the new one (the old one stops working)")
    t.add_argument("username")
    t.set_defaults(func=cmd_token)

    tp = sub.add_parser("team", help="create teams, add agents, link campaigns")
    tsub = tp.add_subparsers(dest="team_command", required=True, metavar="ACTION")
    tc = tsub.add_parser("create", help="create a team")
    tc.add_argument("name")
    tc.add_argument("--campaign", action="append", default=[], help="link to a campaign (repeatable)")
    tc.set_defaults(func=cmd_team_create)
    ta = tsub.add_parser("add", help="add agents to a team")
    ta.add_argument("name")
    ta.add_argument("usernames", nargs="+")
    ta.set_defaults(func=cmd_team_add)
    tr = tsub.add_parser("remove", help="remove agents from a team")
    tr.add_argument("name")
    tr.add_argument("usernames", nargs="+")
    tr.set_defaults(func=cmd_team_remove)
    tl = tsub.add_parser("link", help="let a team work a campaign")
    tl.add_argument("name")
    tl.add_argument("campaign")
    tl.set_defaults(func=cmd_team_link)
    tls = tsub.add_parser("list", help="list teams")
    tls.add_argument("--json", action="store_true")
    tls.set_defaults(func=cmd_team_list)


def cmd_create(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> tuple[ledger.Agent, str]:
        return await ledger.create_agent(
            conn, args.username, display_name=args.name, role=args.role, endpoint=args.endpoint,
            phone_mode=args.phone_mode, teams=args.team, actor=actor(),
        )

    agent, token = with_ledger(go)
    if args.json:
        print(json_text({**agent.to_json(), "token": token}, indent=2))
    else:
        echo(f"created {agent.role} {agent.username!r} (id {agent.id})")
        echo(f"token: {token}")
        echo("This token is shown only once; `orchestrator agent token USERNAME` makes a new one.")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    if all(v is None for v in (args.name, args.role, args.endpoint, args.phone_mode, args.active)):
        raise CliError("update: nothing to change")

    async def go(conn: AsyncConn) -> ledger.Agent:
        return await ledger.update_agent(
            conn, args.username, display_name=args.name, role=args.role, endpoint=args.endpoint,
            phone_mode=args.phone_mode, active=args.active, actor=actor(),
        )

    a = with_ledger(go)
    echo(f"updated agent {a.username!r}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    agents = with_ledger(ledger.list_agents)
    if args.json:
        print(json_text([a.to_json() for a in agents], indent=2))
        return 0
    if not agents:
        echo("no agents")
        return 0
    width = max(8, *(len(terminal_safe(a.username)) for a in agents))
    echo(f"{'USERNAME':<{width}}  {'ROLE':<10} {'ENDPOINT':<20} {'ACTIVE':<6} TEAMS")
    for a in agents:
        echo(f"{terminal_safe(a.username):<{width}}  {a.role:<10} {a.endpoint or '-':<20} {'yes' if a.active else 'no':<6}"
             f" {', '.join(a.teams) or '-'}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> str:
        return await ledger.rotate_token(conn, args.username, actor=actor())

    token = with_ledger(go)
    echo(f"token: {token}")
    echo("The previous token no longer works. This one is shown only once.")
    return 0


def cmd_team_create(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> ledger.Team:
        async with conn.transaction():
            team = await ledger.create_team(conn, args.name, actor=actor())
            for c in args.campaign:
                await ledger.link_team_to_campaign(conn, team.name, c, actor=actor())
        return team

    team = with_ledger(go)
    linked = f", linked to {', '.join(args.campaign)}" if args.campaign else ""
    echo(f"created team {team.name!r} (id {team.id}){linked}")
    return 0


def cmd_team_add(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> None:
        async with conn.transaction():
            for u in args.usernames:
                await ledger.add_agent_to_team(conn, u, args.name, actor=actor())

    with_ledger(go)
    echo(f"team {args.name!r}: added {', '.join(args.usernames)}")
    return 0


def cmd_team_remove(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> None:
        async with conn.transaction():
            for u in args.usernames:
                await ledger.remove_agent_from_team(conn, u, args.name, actor=actor())

    with_ledger(go)
    echo(f"team {args.name!r}: removed {', '.join(args.usernames)}")
    return 0


def cmd_team_link(args: argparse.Namespace) -> int:
    async def go(conn: AsyncConn) -> None:
        await ledger.link_team_to_campaign(conn, args.name, args.campaign, actor=actor())

    with_ledger(go)
    echo(f"team {args.name!r} works campaign {args.campaign!r}")
    return 0


def cmd_team_list(args: argparse.Namespace) -> int:
    teams = with_ledger(ledger.list_teams)
    if args.json:
        print(json_text([{"id": t.id, "name": t.name, "agents": list(t.agents), "campaigns": list(t.campaigns)}
                          for t in teams], indent=2))
        return 0
    if not teams:
        echo("no teams")
    for t in teams:
        echo(f"{t.name}: agents {', '.join(t.agents) or '-'}; campaigns {', '.join(t.campaigns) or '-'}")
    return 0
