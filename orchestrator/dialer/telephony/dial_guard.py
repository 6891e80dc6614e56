"""Stop dialing when Asterisk refuses originates in a burst.

A refused originate (500 "Allocation failed" while Asterisk shuts down, narrow surprise
32; a trunk or endpoint misconfigured) costs the target nothing (the attempt is
``not_dialed``), but dialing on would empty the list of its dialable-now targets in a
loop and say nothing. After `burst` refusals in `window_s` seconds with no accepted
originate in between, dialing pauses for a back-off that doubles up to `max_pause_s`,
with an error in the log and a health status, until an originate is accepted again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("orchestrator.dialer.dial_guard")


@dataclass
class DialGuard:
    """Counts Asterisk's originate refusals; says when dialing must pause."""

    burst: int = 5
    window_s: float = 10.0
    first_pause_s: float = 5.0
    max_pause_s: float = 120.0
    _refusals: deque[float] = field(default_factory=deque)
    _paused_until: float = 0.0
    _pause_s: float = 0.0
    _last_reason: str = ""
    _pauses: int = 0

    def refused(self, now: float, status: int, reason: str) -> None:
        """Asterisk refused an originate before any channel existed."""
        self._refusals.append(now)
        while self._refusals and self._refusals[0] < now - self.window_s:
            self._refusals.popleft()
        self._last_reason = f"{status} {reason}".strip()
        if len(self._refusals) < self.burst or now < self._paused_until:
            return
        self._pause_s = min(self.max_pause_s, self._pause_s * 2 if self._pause_s else self.first_pause_s)
        self._paused_until = now + self._pause_s
        self._pauses += 1
        self._refusals.clear()
        log.error("dialer.dialing_paused", reason=self._last_reason, pause_s=self._pause_s,
                  note="Asterisk refuses originates (shutting down or misconfigured); "
                       "targets are not charged")

    def accepted(self) -> None:
        """An originate went through: Asterisk takes calls again."""
        if self._pause_s:
            log.warning("dialer.dialing_resumed", after_pauses=self._pauses)
        self._refusals.clear()
        self._pause_s = 0.0
        self._paused_until = 0.0

    def paused(self, now: float) -> bool:
        """True while dialing must wait."""
        return now < self._paused_until

    def status(self, now: float) -> dict[str, Any]:
        """For /health: whether dialing is paused, until when, and why."""
        return {
            "paused": self.paused(now),
            "resumes_in_s": round(max(0.0, self._paused_until - now), 1),
            "reason": self._last_reason if self._pause_s else "",
            "recent_refusals": len(self._refusals),
        }
