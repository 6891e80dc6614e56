"""`orchestrator simulate-agents N --campaign NAME`: agents that work a campaign unattended.

Each simulated agent is an API client like a real agent desktop: it logs in over HTTP
with its own bearer token, listens to its WebSocket event stream, goes Available,
and when a call is connected talks for a random time, hangs up and picks a random
wrap-up code (in preview it accepts what it is shown). Its phone is a Local endpoint
that answers at once: by default ``Local/testagent<N>@dialer-testlines``, a test phone of
the shipped dialplan (asterisk-conf's opt-in test lines; pbxsim has them too).

The agents (``sim-agent-1`` ... ``sim-agent-N``) are created in the ledger when
missing (their tokens rotated otherwise) and added to the campaign's teams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from orchestrator.commands import CliError, echo


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate-agents",
                       help="run N simulated agents on a campaign through the HTTP API")
    p.add_argument("count", type=int, help="number of agents (1-200)")
    p.add_argument("--campaign", required=True, help="campaign name")
    p.add_argument("--api", default=None,
                   help="API base URL (default http://127.0.0.1:$ORCH_HTTP_PORT)")
    p.add_argument("--talk", default="2-8", help="talk time range in seconds, e.g. 2-8")
    p.add_argument("--wrap", default="0.5-2", help="wrap-up time range in seconds")
    p.add_argument("--endpoint", default="Local/testagent{n}@dialer-testlines",
                   help="phone endpoint template ({n} = agent number)")
    p.add_argument("--codes", default="Sale,No answer,Busy",
                   help="wrap-up codes to pick from, comma-separated")
    p.add_argument("--duration", type=float, default=0.0,
                   help="stop after this many seconds (default: until Ctrl-C / SIGTERM)")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=run)


def _range(text: str, field: str) -> tuple[float, float]:
    try:
        lo, _, hi = text.partition("-")
        a, b = float(lo), float(hi or lo)
    except ValueError:
        raise CliError(f"simulate-agents: --{field}: expected a range like 2-8, got {text!r}") from None
    if a < 0 or b < a:
        raise CliError(f"simulate-agents: --{field}: expected 0 <= low <= high, got {text!r}")
    return a, b


@dataclass
class SimStats:
    calls: int = 0
    dispositions: int = 0
    previews: int = 0
    errors: int = 0
    reconnects: int = 0
    by_agent: dict[str, int] = field(default_factory=dict)


class SimulatedAgent:
    """One agent desktop driven by a script (random talk and wrap-up times)."""

    def __init__(self, api: str, agent_id: int, token: str, campaign: str, endpoint: str, *,
                 talk: tuple[float, float], wrap: tuple[float, float], codes: list[str],
                 rng: random.Random, stats: SimStats, nailed_up: bool | None = None) -> None:
        self.api = api.rstrip("/")
        self.nailed_up = nailed_up
        self.agent_id = agent_id
        self.token = token
        self.campaign = campaign
        self.endpoint = endpoint
        self.talk = talk
        self.wrap = wrap
        self.codes = codes
        self.rng = rng
        self.stats = stats
        self.state = "logged_out"
        self._handled: set[str] = set()

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def _post(self, s: aiohttp.ClientSession, path: str, body: dict[str, Any] | None = None,
                    ) -> tuple[int, Any]:
        async with s.post(self.api + path, json=body or {}, headers=self._headers) as r:
            return r.status, await r.json(content_type=None)

    async def _safe_post(self, s: aiohttp.ClientSession, path: str,
                         body: dict[str, Any] | None = None) -> None:
        try:
            await self._post(s, path, body)
        except (aiohttp.ClientError, OSError):
            self.stats.errors += 1

    async def run(self, stop: asyncio.Event) -> None:
        base = f"/api/v1/agents/{self.agent_id}"
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(self.api + "/api/v1/events",
                                    headers=self._headers, heartbeat=15) as ws:
                login: dict[str, Any] = {"campaign": self.campaign, "endpoint": self.endpoint}
                if self.nailed_up is not None:
                    login["nailed_up"] = self.nailed_up
                status, body = await self._post(s, base + "/session", login)
                if status != 200:
                    raise RuntimeError(f"agent {self.agent_id}: login refused: {status} {body}")
                await self._post(s, base + "/state", {"state": "available"})
                reader = asyncio.ensure_future(self._read(s, ws, stop))
                stopper = asyncio.ensure_future(stop.wait())
                try:
                    # Ends on stop, or when the service closes the socket (restart).
                    await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (reader, stopper):
                        task.cancel()
                    await asyncio.gather(reader, stopper, return_exceptions=True)
                if not stop.is_set():
                    raise ConnectionResetError("the service closed the event stream")
                with contextlib.suppress(Exception):
                    async with s.delete(self.api + base + "/session", headers=self._headers):
                        pass

    async def run_forever(self, stop: asyncio.Event, *, retry_s: float = 0.3) -> None:
        """`run`, logging in again whenever the service restarts, until ``stop``."""
        while not stop.is_set():
            try:
                await self.run(stop)
            except asyncio.CancelledError:
                raise
            except Exception:  # the service restarted or is not up yet: log in again
                self.stats.reconnects += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), retry_s)

    async def _read(self, s: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse,
                    stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(msg.data)
                kind = event.get("type")
                data = event.get("data") or {}
                if kind == "call.state" and data.get("state") == "bridged":
                    # Connected to a customer (not merely the agent's own leg ringing out).
                    aid = data.get("attempt_id")
                    if aid and aid not in self._handled:
                        self._handled.add(aid)
                        tg.create_task(self._work_call(s, aid))
                elif kind == "agent.state" and data.get("agent_id") == self.agent_id:
                    self.state = data.get("state", self.state)
                    if self.state == "not_ready" and data.get("reason") == "RONA" and not stop.is_set():
                        tg.create_task(self._post(s, f"/api/v1/agents/{self.agent_id}/state",
                                                  {"state": "available"}))
                elif kind == "preview.show" and event.get("agent_id") == self.agent_id:
                    self.stats.previews += 1
                    tg.create_task(self._post(s, f"/api/v1/agents/{self.agent_id}/preview/accept"))

    async def _work_call(self, s: aiohttp.ClientSession, attempt_id: str) -> None:
        try:
            await self._talk_and_wrap(s, attempt_id)
        except (aiohttp.ClientError, OSError):
            self.stats.errors += 1  # the service went away mid-call

    async def _talk_and_wrap(self, s: aiohttp.ClientSession, attempt_id: str) -> None:
        base = f"/api/v1/agents/{self.agent_id}"
        self.stats.calls += 1
        self.stats.by_agent[str(self.agent_id)] = self.stats.by_agent.get(str(self.agent_id), 0) + 1
        await asyncio.sleep(self.rng.uniform(*self.talk))
        if self.state == "on_call":
            await self._post(s, base + "/hangup", {"attempt_id": attempt_id})
        await asyncio.sleep(self.rng.uniform(*self.wrap))
        status, _ = await self._post(s, base + "/disposition",
                                     {"attempt_id": attempt_id, "code": self.rng.choice(self.codes)})
        if status == 200:
            self.stats.dispositions += 1
        else:
            self.stats.errors += 1


async def provision_agents(database_url: str, count: int, campaign: str, endpoint_template: str,
                           ) -> list[tuple[int, str, str]]:
    """Create or refresh sim-agent-1..count; returns (agent id, token, endpoint) each."""
    from orchestrator.ledger import agents as agents_ledger
    from orchestrator.ledger import campaigns as campaigns_ledger
    from orchestrator.ledger.pool import connect

    out: list[tuple[int, str, str]] = []
    async with connect(database_url) as conn:
        camp = await campaigns_ledger.get_campaign(conn, campaign)
        teams = await campaigns_ledger.campaign_teams(conn, camp.id)
        for n in range(1, count + 1):
            username = f"sim-agent-{n}"
            endpoint = endpoint_template.format(n=n)
            try:
                agent = await agents_ledger.get_agent(conn, username)
                token = await agents_ledger.rotate_token(conn, username, actor="simulate-agents")
            except agents_ledger.AgentNotFound:
                agent, token = await agents_ledger.create_agent(
                    conn, username, display_name=f"Simulated agent {n}", endpoint=endpoint,
                    actor="simulate-agents")
            for team in teams:
                if team not in agent.teams:
                    await agents_ledger.add_agent_to_team(conn, username, team,
                                                          actor="simulate-agents")
            out.append((agent.id, token, endpoint))
    return out


async def simulate(api: str, database_url: str, count: int, campaign: str, *, talk: tuple[float, float],
                   wrap: tuple[float, float], codes: list[str], endpoint: str,
                   stop: asyncio.Event, seed: int | None = None) -> SimStats:
    """Provision and run ``count`` agents until ``stop`` is set."""
    agents = await provision_agents(database_url, count, campaign, endpoint)
    rng = random.Random(seed)
    stats = SimStats()
    sims = [SimulatedAgent(api, aid, token, campaign, ep, talk=talk, wrap=wrap, codes=codes,
                           rng=random.Random(rng.random()), stats=stats)
            for aid, token, ep in agents]
    async with asyncio.TaskGroup() as tg:
        for sim in sims:
            tg.create_task(sim.run_forever(stop))
    return stats


def run(args: argparse.Namespace) -> int:
    from orchestrator.config import Settings

    if not 1 <= args.count <= 200:
        raise CliError("simulate-agents: count must be between 1 and 200")
    talk = _range(args.talk, "talk")
    wrap = _range(args.wrap, "wrap")
    codes = [c.strip() for c in args.codes.split(",") if c.strip()]
    if not codes:
        raise CliError("simulate-agents: --codes: give at least one wrap-up code")
    settings = Settings()
    api = args.api or f"http://127.0.0.1:{settings.http_port}"

    async def main() -> SimStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.duration > 0:
            loop.call_later(args.duration, stop.set)
        return await simulate(api, settings.database_url.get_secret_value(), args.count,
                              args.campaign, talk=talk, wrap=wrap, codes=codes,
                              endpoint=args.endpoint, stop=stop, seed=args.seed)

    try:
        stats = asyncio.run(main())
    except* (aiohttp.ClientError, OSError) as eg:
        raise CliError(f"simulate-agents: cannot reach the API at {api}: {eg.exceptions[0]}") from None
    echo(f"simulated agents: {stats.calls} calls, {stats.dispositions} dispositions, "
         f"{stats.previews} previews, {stats.errors} errors")
    return 0
