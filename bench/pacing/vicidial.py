"""The ``vicidial`` baseline: VICIdial's adaptive dial level as the bench runs it.

Bench-only: the service never dials this way; the simulator runs it next to
the production policies of ``orchestrator.core.pacing`` for comparison.
"""

from __future__ import annotations

from collections import deque

from orchestrator.core.pacing import FloorView, Observer, Outcome


class VicidialAdaptTapered(Observer):
    """Emulation of VICIdial's adaptive dial level, dial method ADAPT_TAPERED.

    Modelled from ``bin/AST_VDadapt.pl`` (``calculate_dial_level``) and
    ``bin/AST_VDauto_dial.pl`` with VICIdial's defaults (intensity 0,
    ``adaptive_dl_diff_target`` 0, ``adaptive_maximum_level`` 3.0, drop cap 3 %,
    ``available_only_ratio_tally`` N):

    * every second it samples ready agents, calls waiting for an agent and
      active agents (ready + in call); every 15 s it averages the last 15
      samples: ``differential = avg(ready) - avg(waiting)``;
    * ``dial_level *= 1 + differential / avg(active agents)``, clamped to
      [1.0, 3.0];
    * drops are recounted about once a minute; when more than 50 calls were
      placed today and drops / answers today exceed the cap, ADAPT_TAPERED
      multiplies the level by ``hours_left / 10`` (VICIdial's
      ``(latest_server_time - now_HHMM) / 1000``, i.e. lenient early in the
      shift, tight near its end; 1.0 after the latest time); then the floor
      of 1.0 applies again;
    * more than 50 % drops in the last minute (over 20 calls) halves it;
    * the auto-dialer (every second) places ``round(level * active agents)``
      minus the calls it already has (dialing, ringing, waiting, and live with
      agents). Agents in wrap-up (VICIdial's dispo screen) are paused, so they
      are not counted.
    """

    name = "vicidial"

    def __init__(
        self,
        *,
        abandon_cap: float = 0.03,
        shift_start: float = 0.0,
        shift_seconds: float = 8 * 3600.0,
        max_level: float = 3.0,
    ) -> None:
        self.cap = abandon_cap
        self.shift_start = shift_start
        self.shift_seconds = shift_seconds
        self.max_level = max_level
        self.dial_level = 1.0
        self._next_sample = shift_start
        self._samples: list[tuple[int, int, int]] = []
        self._last_adapt = shift_start
        self._answers = 0
        self._drops = 0
        self._dials = 0
        self._drop_pct = 0.0
        self._next_drop_calc = shift_start
        self._minute: deque[tuple[float, bool, bool]] = deque()

    def observe_dial(self, now: float) -> None:
        self._dials += 1
        self._minute.append((now, True, False))

    def observe_outcome(self, now: float, outcome: Outcome, since_dial: float) -> None:
        if outcome in ("human", "machine"):
            self._answers += 1

    def observe_abandon(self, now: float) -> None:
        self._drops += 1
        self._minute.append((now, False, True))

    def _adapt(self, now: float) -> None:
        if now >= self._next_drop_calc:
            self._drop_pct = self._drops / self._answers if self._answers else 0.0
            self._next_drop_calc = now + 60.0
        n = len(self._samples)
        if n == 0:
            return
        ready = sum(s[0] for s in self._samples) / n
        waiting = sum(s[1] for s in self._samples) / n
        agents = sum(s[2] for s in self._samples) / n
        self._samples.clear()
        level = self.dial_level
        if agents > 0:
            level *= 1.0 + (ready - waiting) / agents
        level = min(max(level, 1.0), self.max_level)
        while self._minute and self._minute[0][0] < now - 60.0:
            self._minute.popleft()
        calls_1m = sum(1 for e in self._minute if e[1])
        drops_1m = sum(1 for e in self._minute if e[2])
        if calls_1m > 20 and drops_1m > 0.5 * calls_1m:
            level /= 2.0
        if self._dials > 50 and self._drop_pct > self.cap:
            hours_left = (self.shift_start + self.shift_seconds - now) / 3600.0
            level = 1.0 if hours_left < 0 else level * min(1.0, hours_left / 10.0)
        self.dial_level = max(level, 1.0)

    def lines_to_dial(self, now: float, floor: FloorView) -> int:
        talking = len(floor.talking_since)
        while now >= self._next_sample:
            self._samples.append((floor.ready, floor.waiting_calls, floor.ready + talking))
            self._next_sample += 1.0
            if len(self._samples) >= 15:
                self._adapt(self._next_sample)
        if floor.staffed <= 0:
            return 0
        active = floor.ready + talking
        goal = int(self.dial_level * active + 0.5)
        existing = len(floor.dials_in_flight) + floor.waiting_calls + talking
        return max(0, goal - existing)
