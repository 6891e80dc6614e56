"""Policies for the simulator: the production ones plus a bench-only oracle."""

from __future__ import annotations

from orchestrator.core.pacing import (
    CampaignPacer,
    FloorView,
    PacingPolicy,
    PowerPolicy,
    ProgressivePolicy,
)

from .model import Scenario
from .vicidial import VicidialAdaptTapered

POLICIES = ("progressive", "power", "vicidial", "ours", "oracle", "oracle+")
POWER_LINES_PER_AGENT = 2.0


class OraclePolicy(CampaignPacer):
    """Our planner, given what no real dialer knows.

    ``oracle`` (the issue's definition) is told the exact moment every busy or
    paused agent will be ready (talk end + wrap-up, or the end of its pause)
    and otherwise learns like ours. ``oracle+`` is also told the true answer
    rate at every moment and skips the progressive warm-up. Lead outcomes stay
    unknown to both (they are random per call), so they still plan in
    expectation and keep the same abandon-budget feedback as ours.
    """

    name = "oracle"

    def __init__(self, sc: Scenario, free_at: dict[int, float], omniscient: bool = False) -> None:
        super().__init__(abandon_cap=sc.cap, amd=sc.amd, grace=sc.grace)
        self._omniscient = omniscient
        if omniscient:
            self.name = "oracle+"
        self._sc = sc
        self._free_at = free_at
        self._now = 0.0

    def _warm(self) -> bool:
        return True if self._omniscient else super()._warm()

    def _plan_rate(self) -> float:
        if not self._omniscient:
            return super()._plan_rate()
        p = self._sc.answer_rate_at(self._now)
        if self._sc.amd:
            p *= 1.0 - self._sc.amd_false_positive
        return p

    def lines_to_dial(self, now: float, floor: FloorView) -> int:
        self._now = now
        return super().lines_to_dial(now, floor)

    def _supply(self, now: float, floor: FloorView) -> tuple[float, float]:
        # an agent ready at time f takes a call answered at now + D (+ grace)
        # iff D + grace >= f - now: probability = survival of D at f - now - grace
        s = self._s_live
        last = len(s) - 1
        g2 = 2.0 * (now + self.grace)
        # survival index of (f - now - grace) in 0.5 s bins; <= 0 means ready in time
        idx = [int(2.0 * f - g2) for f in self._free_at.values()]
        qs = [s[i] if 0 < i <= last else (1.0 if i <= 0 else s[last]) for i in idx]
        mean = float(floor.ready) + sum(qs)
        var = sum(q * (1.0 - q) for q in qs)
        return mean, var


def make_policy(name: str, sc: Scenario, free_at: dict[int, float] | None = None) -> PacingPolicy:
    if name == "progressive":
        return ProgressivePolicy()
    if name == "power":
        return PowerPolicy(POWER_LINES_PER_AGENT)
    if name == "vicidial":
        return VicidialAdaptTapered(abandon_cap=sc.cap, shift_seconds=sc.seconds)
    if name == "ours":
        return CampaignPacer(abandon_cap=sc.cap, amd=sc.amd, grace=sc.grace)
    if name in ("oracle", "oracle+"):
        if free_at is None:
            raise ValueError("the oracle needs the simulator's free_at map")
        return OraclePolicy(sc, free_at, omniscient=name == "oracle+")
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
