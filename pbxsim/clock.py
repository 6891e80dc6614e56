"""Simulated time: every timer of the PBX runs `speed` times faster than real time.

Timestamps shown to clients (ARI `timestamp`, AMI `Timestamp`) come from a simulated
wall clock that starts at the real time and then advances `speed` times faster, so a
30 s ring timeout at speed 10 takes 3 real seconds and the timestamps still say 30 s.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class SimClock:
    """The one clock of a PBX: converts simulated seconds to real ones."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        """Simulated wall-clock time, seconds since the epoch."""
        return self._wall0 + (time.monotonic() - self._mono0) * self.speed

    def real(self, sim_seconds: float) -> float:
        """Real seconds for a simulated duration."""
        return max(0.0, sim_seconds) / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real(sim_seconds))

    def iso(self, ts: float | None = None) -> str:
        """Asterisk's ARI time format, e.g. 2026-11-21T18:29:57.463+0000."""
        t = self.now() if ts is None else ts
        d = datetime.fromtimestamp(t, tz=UTC)
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"
