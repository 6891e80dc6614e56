"""Called-party behaviour: what the simulated customer does when a number is dialed.

A `PartyPlan` is chosen per call, in this order: a plan scripted for the number on the
control endpoint, else the profile: `digits` (the lab dialplan: last digit picks the
outcome) or `random` (a seeded random draw with configurable shares).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

OUTCOMES = ("answer", "busy", "congestion", "noanswer", "machine", "fax", "hangup_early")

#: seconds the lab's `Playback(lab/hello)` lasts on a real Asterisk (trace: 2.1 s)
HELLO_SECONDS = 2.1
#: the lab's answering-machine greeting and beep
GREETING_SECONDS = 7.0
BEEP_SECONDS = 0.5


@dataclass(frozen=True)
class PartyPlan:
    """What one called party does."""

    outcome: str
    """One of OUTCOMES."""
    ring_seconds: float = 2.0
    """Ringing time before answer (answer, machine, fax, hangup_early)."""
    talk_seconds: float | None = None
    """Time from answer until the party hangs up; None = the lab default."""
    digit: str = "1"
    """The digit shown in the lab-like dialplan (Set(DIGIT=...))."""


def validate_outcome(outcome: str) -> str:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    return outcome


_DIGIT_OF = {
    "answer": "1",
    "busy": "5",
    "congestion": "6",
    "noanswer": "7",
    "machine": "8",
    "hangup_early": "9",
    "fax": "F",
}


@dataclass
class RandomProfile:
    """Shares and distributions of the `random` profile (all shares of dialed calls)."""

    answer_rate: float = 0.55
    machine_share: float = 0.15
    fax_share: float = 0.02
    busy_share: float = 0.08
    congestion_share: float = 0.03
    early_hangup_share: float = 0.03
    ring_median: float = 7.0
    ring_sigma: float = 0.5
    talk_median: float = 60.0
    talk_sigma: float = 0.8

    def validate(self) -> None:
        shares = {
            "answer_rate": self.answer_rate,
            "machine_share": self.machine_share,
            "fax_share": self.fax_share,
            "busy_share": self.busy_share,
            "congestion_share": self.congestion_share,
            "early_hangup_share": self.early_hangup_share,
        }
        for name, value in shares.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if sum(shares.values()) > 1.0 + 1e-9:
            raise ValueError("answer_rate + machine/fax/busy/congestion/early-hangup shares exceed 1")
        for name in ("ring_median", "talk_median"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")


@dataclass
class PartyDirectory:
    """Chooses a PartyPlan for each dialed number."""

    profile: str = "digits"
    seed: int | None = None
    random_profile: RandomProfile = field(default_factory=RandomProfile)
    scripts: dict[str, PartyPlan] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.profile not in ("digits", "random"):
            raise ValueError(f"profile must be 'digits' or 'random', got {self.profile!r}")
        self.random_profile.validate()
        self._rng = random.Random(self.seed)

    def script(
        self,
        number: str,
        outcome: str,
        ring_seconds: float | None = None,
        talk_seconds: float | None = None,
    ) -> PartyPlan:
        """Script what `number` does on every later call (until restart)."""
        validate_outcome(outcome)
        if ring_seconds is not None and ring_seconds < 0:
            raise ValueError("ring_seconds must be >= 0")
        if talk_seconds is not None and talk_seconds < 0:
            raise ValueError("talk_seconds must be >= 0")
        plan = PartyPlan(
            outcome=outcome,
            ring_seconds=2.0 if ring_seconds is None else float(ring_seconds),
            talk_seconds=talk_seconds,
            digit=_digit_for(number, outcome),
        )
        self.scripts[normalize_number(number)] = plan
        return plan

    def plan_for(self, number: str) -> PartyPlan:
        scripted = self.scripts.get(normalize_number(number))
        if scripted is not None:
            return scripted
        if self.profile == "random":
            return self._random_plan(number)
        return self._digit_plan(number)

    def _digit_plan(self, number: str) -> PartyPlan:
        digit = number[-1:] if number[-1:].isdigit() else "1"
        d = int(digit)
        if d <= 4:
            # Wait(${RAND(1,3)}): a whole number of seconds, 1 to 3
            return PartyPlan("answer", ring_seconds=float(self._rng.randint(1, 3)), digit=digit)
        return {
            5: PartyPlan("busy", 0.0, digit=digit),
            6: PartyPlan("congestion", 0.0, digit=digit),
            7: PartyPlan("noanswer", 60.0, digit=digit),
            8: PartyPlan("machine", 1.0, digit=digit),
            9: PartyPlan("hangup_early", 0.0, talk_seconds=1.0, digit=digit),
        }[d]

    def _random_plan(self, number: str) -> PartyPlan:
        p = self.random_profile
        rng = self._rng
        ring = max(0.5, rng.lognormvariate(math.log(p.ring_median), p.ring_sigma))
        talk = max(1.0, rng.lognormvariate(math.log(p.talk_median), p.talk_sigma))
        x = rng.random()
        outcome = "noanswer"
        for candidate, share in (
            ("answer", p.answer_rate),
            ("machine", p.machine_share),
            ("fax", p.fax_share),
            ("busy", p.busy_share),
            ("congestion", p.congestion_share),
            ("hangup_early", p.early_hangup_share),
        ):
            if x < share:
                outcome = candidate
                break
            x -= share
        if outcome == "hangup_early":
            talk = min(talk, rng.uniform(0.5, 3.0))
        if outcome in ("busy", "congestion"):
            ring = 0.0
        if outcome == "noanswer":
            ring = 600.0
        return PartyPlan(
            outcome, round(ring, 3), round(talk, 3), digit=_digit_for(number, outcome)
        )


def _digit_for(number: str, outcome: str) -> str:
    if outcome == "answer" and number[-1:] in "01234" and number[-1:]:
        return number[-1]
    return _DIGIT_OF[outcome]


def normalize_number(number: str) -> str:
    """Numbers are matched with or without a leading '+'."""
    return number.strip().lstrip("+")
