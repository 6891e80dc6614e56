"""The service's clock for the core: aware UTC datetimes, optionally scaled.

``scale`` > 1 makes the dialer's notion of time run faster than the wall clock, in
step with a PBX simulator running ``--speed scale`` (tests and demos): a 26 s
no-answer timer then fires after 2.6 real seconds and still measures 26 s of
ringing. Production runs with scale 1. The ledger keeps the database clock for
its own timestamps either way.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class ServiceClock:
    """``now()`` for the core; ``delay_until(at)`` in real seconds for asyncio timers."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"time scale: must be > 0, got {scale}")
        self.scale = scale
        self._wall0 = datetime.now(UTC)
        self._mono0 = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._mono0) * self.scale
        return self._wall0 + timedelta(seconds=elapsed)

    def delay_until(self, at: datetime) -> float:
        """Real seconds from now until the core instant ``at`` (0 if past)."""
        return max(0.0, (at - self.now()).total_seconds() / self.scale)

    def real_seconds(self, core_seconds: float) -> float:
        """A core duration in real seconds."""
        return core_seconds / self.scale

    def to_wall(self, at: datetime) -> datetime:
        """The wall-clock instant (for the ledger) of the core instant ``at``: the same
        distance from now, in real time."""
        return datetime.now(UTC) + timedelta(seconds=(at - self.now()).total_seconds() / self.scale)
