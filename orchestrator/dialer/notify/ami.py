"""AMI UserEvents for supervisors' wallboards, queued and sent by one task so a slow or
dropped AMI never holds up a call."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import structlog

from orchestrator.ami import AmiConfig, AmiEvent, AmiListener
from orchestrator.config import Settings

log = structlog.get_logger("orchestrator.dialer")


class HangupCauses(Protocol):
    """The AMI Hangup events' witness (telephony's): fed by the listener, asked here."""

    async def __call__(self, event: AmiEvent) -> None: ...
    async def cause_of(self, channel_id: str, within: float) -> tuple[int, str] | None: ...


class AmiPublisher:
    def __init__(self, settings: Settings, witness: HangupCauses) -> None:
        self.settings = settings
        self.hangup_witness = witness
        """AMI's Hangup causes, for channels whose end ARI could not show us."""
        self.listener: AmiListener | None = None
        self._queue: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue(maxsize=10_000)

    @property
    def connected(self) -> bool:
        return self.listener is not None and self.listener.connected.is_set()

    def make_listener(self) -> AmiListener | None:
        """The AMI listener for our UserEvents (None when disabled or unconfigured)."""
        s = self.settings
        if not s.ami_enabled or not s.ami_secret.get_secret_value():
            return None
        self.listener = AmiListener(AmiConfig(host=s.ami_host, port=s.ami_port, username=s.ami_user,
                                              secret=s.ami_secret.get_secret_value()),
                                    handler=self.hangup_witness)
        return self.listener

    async def hangup_cause(self, channel_id: str, within: float = 1.0) -> tuple[int, str] | None:
        """The cause AMI reported for a channel (None when AMI is off or said nothing)."""
        if not self.connected:
            return None
        return await self.hangup_witness.cause_of(channel_id, within)

    def publish(self, kind: str, *args: Any) -> None:
        """Queue a UserEvent for supervisors' AMI tools (dropped when AMI is down)."""
        if self.listener is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((kind, args))

    async def run(self) -> None:
        ami = self.listener
        assert ami is not None
        while True:
            kind, args = await self._queue.get()
            if not ami.connected.is_set():
                continue
            try:
                if kind == "agent":
                    await ami.publish_agent_state(args[0], args[1], campaign=args[2], reason=args[3])
                elif kind == "attempt":
                    await ami.publish_attempt(args[0], args[1], args[2], agent=args[3], cause=args[4])
                elif kind == "stats":
                    await ami.publish_campaign_stats(args[0])
                elif kind == "abandon":
                    await ami.publish_abandon(args[0], args[1], args[2])
            except Exception as exc:
                log.debug("dialer.ami_publish_failed", kind=kind, error=str(exc))
