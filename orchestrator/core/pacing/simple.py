"""The fixed-ratio policies: progressive (1:1) and power (n:1)."""

from __future__ import annotations

import math

from .protocol import FloorView, Observer


def progressive_lines(floor: FloorView) -> int:
    """One line per ready agent not already covered by a line or a waiting call."""
    return max(0, floor.ready - len(floor.dials_in_flight) - floor.waiting_calls)


class ProgressivePolicy(Observer):
    """Progressive 1:1: each ready agent gets exactly one line; never abandons."""

    name = "progressive"

    def lines_to_dial(self, now: float, floor: FloorView) -> int:
        return progressive_lines(floor)


class PowerPolicy(Observer):
    """Power dialing: keep ``lines_per_agent`` lines per ready agent."""

    name = "power"

    def __init__(self, lines_per_agent: float = 2.0) -> None:
        if lines_per_agent < 1.0:
            raise ValueError(f"lines_per_agent must be >= 1, got {lines_per_agent}")
        self.lines_per_agent = lines_per_agent
        self.name = f"power {lines_per_agent:g}"

    def lines_to_dial(self, now: float, floor: FloorView) -> int:
        goal = math.ceil(self.lines_per_agent * floor.ready - 1e-9)
        return max(0, goal - len(floor.dials_in_flight) - floor.waiting_calls)
