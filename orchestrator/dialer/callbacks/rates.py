"""A sliding-window rate limit: at most ``limit`` requests per ``window`` seconds per key."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque

from orchestrator.dialer.errors import DialerError


class RateLimited(DialerError):
    """Too many requests from this token or address lately: 429 with Retry-After."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Whole seconds until one more request is allowed."""


class SlidingWindow:
    """Request times per key, the oldest dropped as they leave the window. Keys are
    bounded (the least recently seen dropped first), so a flood of addresses costs
    memory for at most ``max_keys`` of them."""

    def __init__(self, limit: int, window: float = 60.0, *, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def admit(self, *keys: str, now: float | None = None) -> None:
        """Count one request for every key, or raise `RateLimited` (counting none) when
        one of them is at its limit."""
        now = time.monotonic() if now is None else now
        waits = []
        for key in keys:
            times = self._times(key, now)
            if len(times) >= self.limit:
                waits.append(times[0] + self.window - now)
        if waits:
            retry = max(1, math.ceil(max(waits)))
            raise RateLimited(f"at most {self.limit} per {self.window:g} s; retry after {retry} s",
                              retry)
        for key in keys:
            self._seen[key].append(now)

    def _times(self, key: str, now: float) -> deque[float]:
        times = self._seen.get(key)
        if times is None:
            times = self._seen[key] = deque()
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
