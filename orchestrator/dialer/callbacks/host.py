"""What the callbacks need of the rest of the process, declared here as narrow protocols
so this package imports no other domain of the dialer: the composition root hands it an
object with these members (today the `Dialer` bundle)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from orchestrator.ari import AriEventStream
from orchestrator.config import Settings
from orchestrator.core import events as ev
from orchestrator.core.agents import AgentMachine
from orchestrator.core.calls import AgentLeg
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.hub import EventHub
from orchestrator.ledger.campaigns import Campaign
from orchestrator.ledger.claims import ClaimedTarget
from orchestrator.ledger.pool import AsyncConn


class RunningCampaign(Protocol):
    """A campaign running here (its runner): its row, its core settings, its rules."""

    @property
    def id(self) -> int: ...
    @property
    def campaign(self) -> Campaign: ...
    @property
    def core(self) -> CampaignSettings: ...
    @property
    def policy(self) -> Any: ...


class RunningCampaigns(Protocol):
    """The campaigns' manager: the runner of each campaign running here."""

    @property
    def runners(self) -> Mapping[int, Any]: ...


class AgentSeat(Protocol):
    """A logged-in agent as the callbacks see them."""

    @property
    def agent_id(self) -> int: ...
    @property
    def machine(self) -> AgentMachine: ...


class AgentsForCallbacks(Protocol):
    """The agents' sessions: who is logged in to a campaign, who is free, reserving one."""

    def of_campaign(self, campaign_id: int) -> Sequence[AgentSeat]: ...
    def available(self, campaign_id: int) -> Sequence[AgentSeat]: ...
    # ``session`` is one `of_campaign` returned (the sessions' own type, opaque here).
    def reserve(self, session: Any, attempt_id: str, campaign_id: int, *,
                reservation_call: bool = False) -> AgentLeg: ...
    def post(self, agent_id: int, event: ev.Event) -> None: ...


class CallStarter(Protocol):
    """The call registry: a callback becomes an agent-first call."""

    def start_call(self, *, attempt_id: str, campaign_id: int, campaign_name: str,
                   contact_id: int, target_id: int, e164: str, settings: CampaignSettings,
                   agent_leg: Any = None, agent_id: int | None = None) -> object: ...


class PreviewOffers(Protocol):
    """Previews: a preview campaign's callback is shown to its agent first."""

    def offer_callback(self, runner: Any, session: Any, target: ClaimedTarget,
                       callback_id: int) -> str: ...


class Masking(Protocol):
    """The screen pops: whether a campaign masks numbers right now."""

    def masking(self, campaign_id: int) -> Awaitable[bool]: ...


class DialPause(Protocol):
    def paused(self, now: float) -> bool: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class CallbacksHost(Protocol):
    """Everything the callbacks' scheduler and service use."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def hub(self) -> EventHub: ...
    @property
    def draining(self) -> bool: ...
    @property
    def stream(self) -> AriEventStream | None: ...
    @property
    def reconciled(self) -> asyncio.Event: ...
    @property
    def stopping(self) -> asyncio.Event: ...
    @property
    def written_ahead(self) -> set[str]: ...
    @property
    def dial_guard(self) -> DialPause: ...
    @property
    def sessions(self) -> AgentsForCallbacks: ...
    @property
    def call_registry(self) -> CallStarter: ...
    @property
    def previews(self) -> PreviewOffers: ...
    @property
    def campaigns(self) -> RunningCampaigns: ...
    @property
    def screen_pops(self) -> Masking: ...
    def now_s(self) -> float: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]: ...
