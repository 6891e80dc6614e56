"""What previews need of the rest of the process, declared here as narrow protocols so
this package imports no other domain of the dialer: the composition root hands it an
object with these members (today the `Dialer` bundle)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from orchestrator.config import Settings
from orchestrator.core import events as ev
from orchestrator.core.agents import AgentMachine
from orchestrator.core.calls import AgentLeg
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.core.commands import Command
from orchestrator.dialer.actors import Actor
from orchestrator.hub import EventHub
from orchestrator.ledger.pool import AsyncConn
from orchestrator.metrics import DialerMetrics


class NamedCampaign(Protocol):
    @property
    def name(self) -> str: ...


class PreviewCampaign(Protocol):
    """A running preview campaign (its runner): its rules and its targets' policy."""

    @property
    def id(self) -> int: ...
    @property
    def campaign(self) -> NamedCampaign: ...
    @property
    def core(self) -> CampaignSettings: ...
    @property
    def policy(self) -> Any: ...


class AgentSeat(Protocol):
    """A logged-in agent as previews see them."""

    @property
    def agent_id(self) -> int: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def machine(self) -> AgentMachine: ...


class AgentsForPreviews(Protocol):
    """The agents' sessions: who is Available, reserving one, and telling one."""

    def available(self, campaign_id: int) -> Sequence[AgentSeat]: ...
    def get(self, agent_id: int) -> AgentSeat: ...
    # ``session`` is one `available` returned (the sessions' own type, opaque here).
    def reserve(self, session: Any, attempt_id: str, campaign_id: int, *,
                reservation_call: bool = False) -> AgentLeg: ...
    def post(self, agent_id: int, event: ev.Event) -> None: ...


class CallStarter(Protocol):
    """The call registry: an accepted preview becomes an agent-first call."""

    def start_call(self, *, attempt_id: str, campaign_id: int, campaign_name: str,
                   contact_id: int, target_id: int, e164: str, settings: CampaignSettings,
                   agent_leg: Any = None, agent_id: int | None = None) -> object: ...


class Masking(Protocol):
    """The screen pops: whether a campaign masks numbers right now."""

    def masking(self, campaign_id: int) -> Awaitable[bool]: ...
    def secure_fields(self, campaign_id: int) -> Awaitable[list[str] | None]: ...


class CallbackPreviews(Protocol):
    """Callbacks: a callback's preview closed without a call (it waits again, or ends)."""

    def preview_closed(self, callback_id: int, closed_by: str) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
    def to_wall(self, at: datetime) -> datetime: ...


class CommandSink(Protocol):
    async def execute(self, commands: list[Command], actor: Actor) -> None: ...


class PreviewsHost(Protocol):
    """Everything previews use."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def hub(self) -> EventHub: ...
    @property
    def metrics(self) -> DialerMetrics: ...
    @property
    def draining(self) -> bool: ...
    @property
    def written_ahead(self) -> set[str]: ...
    @property
    def executor(self) -> CommandSink: ...
    @property
    def sessions(self) -> AgentsForPreviews: ...
    @property
    def call_registry(self) -> CallStarter: ...
    @property
    def screen_pops(self) -> Masking: ...
    @property
    def callbacks(self) -> CallbackPreviews: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]: ...
