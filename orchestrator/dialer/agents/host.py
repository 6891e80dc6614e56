"""What the agents' sessions need of the rest of the process, declared here as narrow
protocols so this package imports no other domain of the dialer: the composition root
hands it an object with these members (today the `Dialer` bundle)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from datetime import datetime
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from orchestrator.core import events as ev
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.core.commands import Command
from orchestrator.dialer.actors import Actor
from orchestrator.hub import EventHub
from orchestrator.ledger.pool import AsyncConn
from orchestrator.metrics import DialerMetrics


class Clock(Protocol):
    def now(self) -> datetime: ...
    def to_wall(self, at: datetime) -> datetime: ...
    def delay_until(self, at: datetime) -> float: ...


class Deadlines(Protocol):
    """The timers: when an agent's wrap-up runs out."""

    def deadline(self, name: str) -> datetime | None: ...


class CommandSink(Protocol):
    async def execute(self, commands: list[Command], actor: Actor) -> None: ...


class CallsForAgents(Protocol):
    """The call registry: the calls an agent is assigned to, and who still waits."""

    def post_call(self, attempt_id: str, event: ev.Event) -> None: ...
    def call_waits_for_agent(self, attempt_id: str) -> bool: ...
    def campaign_unstaffed(self, campaign_id: int) -> None: ...


class ScreenPops(Protocol):
    def prefetch(self, attempt_id: str) -> None: ...
    async def get(self, attempt_id: str) -> dict[str, Any] | None: ...


class PreviewOffers(Protocol):
    """Previews: the offer each agent is looking at (it has no call yet)."""

    @property
    def by_agent(self) -> Mapping[int, str]: ...


class CampaignWake(Protocol):
    def wake(self, campaign_id: int) -> None: ...


class AgentsHost(Protocol):
    """Everything the agents' sessions use."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def timers(self) -> Deadlines: ...
    @property
    def metrics(self) -> DialerMetrics: ...
    @property
    def hub(self) -> EventHub: ...
    @property
    def core_campaigns(self) -> Mapping[str, CampaignSettings]: ...
    @property
    def executor(self) -> CommandSink: ...
    @property
    def call_registry(self) -> CallsForAgents: ...
    @property
    def screen_pops(self) -> ScreenPops: ...
    @property
    def previews(self) -> PreviewOffers: ...
    @property
    def campaigns(self) -> CampaignWake: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]: ...
    def ami_publish(self, kind: str, *args: Any) -> None: ...
