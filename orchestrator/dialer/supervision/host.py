"""What supervision needs of the rest of the process, declared here as narrow protocols so
this package imports no other domain of the dialer: the composition root hands it an
object with these members (today the `Dialer` bundle)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from orchestrator.ari import AriClient
from orchestrator.core.calls import CallMachine
from orchestrator.core.commands import AddToBridge, Command
from orchestrator.core.dialgate import DialGate
from orchestrator.dialer.actors import Actor
from orchestrator.hub import EventHub
from orchestrator.ledger.pool import AsyncConn


class LiveCall(Protocol):
    """A call this process runs, as a supervision sees it."""

    @property
    def machine(self) -> CallMachine: ...
    @property
    def campaign_id(self) -> int: ...
    @property
    def campaign_name(self) -> str: ...


class Calls(Protocol):
    """The call registry: the live calls, and those that ended lately (in wrap-up)."""

    @property
    def calls(self) -> Mapping[str, LiveCall]: ...
    @property
    def ended_calls(self) -> Mapping[str, LiveCall]: ...


class ChannelRoutes(Protocol):
    """The channel directory: which actor hears a channel's events."""

    def register(self, channel_id: str, actor: Actor, *, core_id: str | None = None) -> None: ...
    def unregister(self, channel_id: str) -> None: ...
    def mark_stasis_only(self, channel_id: str) -> None: ...


class CommandSink(Protocol):
    """Carries out the commands a supervision returns (the command router)."""

    async def execute(self, commands: list[Command], actor: Actor) -> None: ...


class BridgeJoins(Protocol):
    """Telephony: a bridge join that waits for a channel still entering our app."""

    async def add_to_bridge(self, cmd: AddToBridge, actor: Actor) -> None: ...


class SupervisionHost(Protocol):
    """Everything supervision uses."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]: ...
    @property
    def ari(self) -> AriClient: ...
    @property
    def gate(self) -> DialGate: ...
    @property
    def hub(self) -> EventHub: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def draining(self) -> bool: ...
    @property
    def directory(self) -> ChannelRoutes: ...
    @property
    def executor(self) -> CommandSink: ...
    @property
    def telephony(self) -> BridgeJoins: ...
    @property
    def call_registry(self) -> Calls: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]: ...
