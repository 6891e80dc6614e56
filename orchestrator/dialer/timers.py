"""Timers for the core's StartTimer/CancelTimer: asyncio call_later handles by name.

A fired timer only posts ``TimerFired(name)`` into its owner's inbox (no task is created,
no await happens in the callback). Names are globally unique (the core embeds the
machine's id), so re-arming a name replaces the previous timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from orchestrator.core.events import TimerFired
from orchestrator.dialer.clock import ServiceClock


class Timers:
    def __init__(self, clock: ServiceClock) -> None:
        self._clock = clock
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._at: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._handles)

    def start(self, name: str, at: datetime, post: Callable[[TimerFired], None]) -> None:
        self.cancel(name)
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._handles.pop(name, None)
            self._at.pop(name, None)
            post(TimerFired(name))

        self._handles[name] = loop.call_later(self._clock.delay_until(at), fire)
        self._at[name] = at

    def deadline(self, name: str) -> datetime | None:
        """When the armed timer ``name`` fires (core time), or None."""
        return self._at.get(name) if name in self._handles else None

    def cancel(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        self._at.pop(name, None)
        if handle is not None:
            handle.cancel()

    def cancel_prefix(self, prefix: str) -> None:
        for name in [n for n in self._handles if n.startswith(prefix)]:
            self.cancel(name)

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._at.clear()
