"""What telephony needs of the rest of the process, declared here as narrow protocols so
this package imports no other domain of the dialer: the composition root hands it an
object with these members (today the `Dialer` bundle)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from orchestrator.ari import AriClient, AriEventStream
from orchestrator.config import Settings
from orchestrator.core.dialgate import DialGate
from orchestrator.dialer.telephony.channels import ChannelDirectory
from orchestrator.dialer.telephony.dial_guard import DialGuard
from orchestrator.metrics import DialerMetrics

T = TypeVar("T")


class OriginatedCalls(Protocol):
    """The call registry: which ARI stream generation saw a call's originate accepted."""

    def note_originated(self, attempt_id: str) -> None: ...


class TelephonyHost(Protocol):
    @property
    def ari(self) -> AriClient: ...
    @property
    def stream(self) -> AriEventStream | None: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def gate(self) -> DialGate: ...
    @property
    def directory(self) -> ChannelDirectory: ...
    @property
    def dial_guard(self) -> DialGuard: ...
    @property
    def metrics(self) -> DialerMetrics: ...
    @property
    def call_registry(self) -> OriginatedCalls: ...
    def now_s(self) -> float: ...
    async def ami_hangup_cause(self, channel_id: str, within: float = 1.0) -> tuple[int, str] | None: ...
    async def ledger_write(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T: ...
