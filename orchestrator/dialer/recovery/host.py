"""What recovery needs of the rest of the process, declared here as narrow protocols so
this package imports no other domain of the dialer: the composition root hands it
objects that have these members (today the `Dialer` bundle)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeVar

from psycopg_pool import AsyncConnectionPool

from orchestrator.ari import AriClient, AriEventStream
from orchestrator.config import Settings
from orchestrator.core.calls import CallMachine
from orchestrator.dialer.actors import Actor
from orchestrator.hub import EventHub
from orchestrator.ledger.pool import AsyncConn
from orchestrator.metrics import DialerMetrics

T = TypeVar("T")


class LiveCall(Protocol):
    """A call this process runs, as recovery sees it."""

    @property
    def machine(self) -> CallMachine: ...
    @property
    def actor(self) -> Actor: ...
    @property
    def originated_generation(self) -> int | None: ...
    @property
    def attempt_id(self) -> str: ...


class AgentSessionsView(Protocol):
    """The logged-in agents: who they are, and logging one out."""

    @property
    def sessions(self) -> Mapping[int, Any]: ...
    async def logout(self, agent_id: int) -> Any: ...


class CampaignsView(Protocol):
    """The running campaigns: their names, and the pacer's abandon count."""

    @property
    def runners(self) -> Mapping[int, Any]: ...
    def observe_abandon(self, campaign_id: int) -> None: ...


class ChannelOwners(Protocol):
    """Telephony's channel directory: the channels our actors own, and those adopted."""

    @property
    def adopted(self) -> set[str]: ...
    def owned_ids(self) -> set[str]: ...


class SupervisionLegs(Protocol):
    """Supervision: which channels and bridges are of its making (those no supervision of
    this process uses were left by a process that died)."""

    def made_by_supervision(self, channel_id: str) -> bool: ...
    def leftover_bridge(self, bridge_id: str) -> bool: ...


class RecoveryHost(Protocol):
    """Everything reconciliation, adoption, the channel sweep and the heartbeat use."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]: ...
    @property
    def ari(self) -> AriClient: ...
    @property
    def stream(self) -> AriEventStream | None: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def metrics(self) -> DialerMetrics: ...
    @property
    def hub(self) -> EventHub: ...
    @property
    def directory(self) -> ChannelOwners: ...
    @property
    def calls(self) -> Mapping[str, LiveCall]: ...
    @property
    def ended_calls(self) -> Mapping[str, LiveCall]: ...
    @property
    def written_ahead(self) -> set[str]: ...
    @property
    def sessions(self) -> AgentSessionsView: ...
    @property
    def campaigns(self) -> CampaignsView: ...
    @property
    def supervision(self) -> SupervisionLegs: ...
    @property
    def stopping(self) -> asyncio.Event: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]: ...
    async def ledger_write(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T: ...
    def ami_publish(self, kind: str, *args: Any) -> None: ...
