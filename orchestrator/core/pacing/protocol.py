"""What every pacing policy sees and answers: the floor, the outcomes, the hooks.

Policies are pure objects: they take observations stamped with ``now``
(seconds, any monotonic origin; the runtime passes ``time.time()``, the
simulator its virtual clock) and answer :meth:`PacingPolicy.lines_to_dial`.
Nothing in this package reads a clock, sleeps or touches I/O, so the same code
runs in production, in unit tests and in ``bench/pacing``'s discrete-event
simulation of whole days.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

Outcome = Literal["human", "machine", "no_answer", "busy", "failed"]
"""Resolution of one dial as the pacer sees it. ``human`` = live answer handed
on for an agent; ``machine`` = answering machine detected by AMD (including
AMD false positives, which the dialer cannot tell apart)."""

OUTCOMES: tuple[Outcome, ...] = ("human", "machine", "no_answer", "busy", "failed")


@dataclass(frozen=True, slots=True)
class FloorView:
    """What the floor looks like at the moment of a pacing decision."""

    ready: int
    """Agents available and not yet given a call (logged in, not paused)."""
    staffed: int
    """Agents logged in and not paused (ready + on call + in wrap-up)."""
    talking_since: Collection[float]
    """For each agent on a call: when the call was bridged to the agent."""
    wrapping_since: Collection[float]
    """For each agent in wrap-up: when the call ended (wrap-up started)."""
    dials_in_flight: Collection[float]
    """For each originated call not yet resolved: when it was originated."""
    waiting_calls: int = 0
    """Live answers waiting for an agent (inside the grace period)."""


@dataclass(frozen=True, slots=True)
class PacerStats:
    """Live pacing facts for the supervisor dashboard and AMI UserEvents."""

    dial_level: float
    """Lines (in flight + waiting + on call) per staffed agent at the last decision."""
    answer_rate: float
    """Current estimate of live answers per dial."""
    abandon_rate_24h: float
    """Abandons / answered calls over the rolling 24 h window (UK Ofcom)."""
    abandon_rate_30d: float
    """Abandons / answered calls over the rolling 30-day window (US FTC)."""
    answered_24h: float
    """Answered calls in the 24 h window (denominator, incl. AMD machines)."""
    abandoned_24h: float
    """Abandons in the 24 h window (incl. estimated AMD false positives)."""
    drop_budget_24h: float
    """Abandons still allowed in the 24 h window before the cap is reached."""
    drop_budget_30d: float
    """Abandons still allowed in the 30-day window before the cap is reached."""
    target_rate: float
    """Abandon rate the pacer currently aims at for new answers."""
    warming_up: bool
    """True while the pacer still dials progressively (too few observations)."""


class PacingPolicy(Protocol):
    """Interface shared by our pacer and the baselines (the simulator swaps them)."""

    name: str

    def observe_dial(self, now: float) -> None: ...

    def observe_outcome(self, now: float, outcome: Outcome, since_dial: float) -> None: ...

    def observe_connect(self, now: float, wait: float) -> None: ...

    def observe_abandon(self, now: float) -> None: ...

    def observe_call_end(self, now: float, talk: float) -> None: ...

    def observe_wrap_end(self, now: float, wrap: float) -> None: ...

    def lines_to_dial(self, now: float, floor: FloorView) -> int: ...


class Observer:
    """No-op observation hooks; baselines override what they use."""

    name = "base"

    def observe_dial(self, now: float) -> None:
        return None

    def observe_outcome(self, now: float, outcome: Outcome, since_dial: float) -> None:
        return None

    def observe_connect(self, now: float, wait: float) -> None:
        return None

    def observe_abandon(self, now: float) -> None:
        return None

    def observe_call_end(self, now: float, talk: float) -> None:
        return None

    def observe_wrap_end(self, now: float, wrap: float) -> None:
        return None
