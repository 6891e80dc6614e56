"""The simulated campaign: scenario parameters, pre-drawn leads, analytic values.

Every lead's fate is drawn from its own seeded stream in dial order, so every
policy run with the same seed meets the same leads: the k-th call any policy
places goes to lead k, whose post-dial delay, ring time, talk and wrap-up
times and outcome draws are fixed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Literal

Stress = Literal["none", "answer_drop", "pauses", "amd"]

# Non-live outcome mix among leads that are not live answers.
# Base days: no answering machines (their handling is the AMD day's subject).
NON_LIVE_BASE = {"machine": 0.0, "no_answer": 0.65, "busy": 0.20, "failed": 0.15}
NON_LIVE_AMD = {"machine": 0.35, "no_answer": 0.40, "busy": 0.15, "failed": 0.10}


def lognormal_params(mean: float, sd: float) -> tuple[float, float]:
    """(mu, sigma) of the underlying normal for a lognormal of this mean and sd."""
    sigma2 = math.log(1.0 + (sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


@dataclass(frozen=True)
class Scenario:
    """One simulated day."""

    agents: int = 20
    answer_rate: float = 0.3
    """Probability that a dial is picked up by a human (before the timeout cut)."""
    timeout: float = 26.0
    """No-answer timeout: ring time beyond it makes the call a no-answer."""
    stress: Stress = "none"
    seed: int = 0
    day: int = 0
    """Day of a multi-day run (0 = the first): each day meets fresh leads."""
    hours: float = 8.0
    grace: float = 2.0
    talk_mean: float = 180.0
    talk_cv: float = 0.7
    wrap_mean: float = 15.0
    wrap_sd: float = 10.0
    ring_mean: float = 7.0
    ring_sd: float = 3.5
    pdd_min: float = 1.5
    pdd_max: float = 3.5
    amd_min: float = 1.5
    amd_max: float = 3.0
    amd_false_positive: float = 0.05
    """Share of humans AMD classes as machines (hung up: counted as abandons)."""
    pause_share: float = 0.10
    """Pauses day: long-run share of agent time on pause."""
    pause_mean: float = 600.0
    machine_handle_min: float = 6.0
    machine_handle_max: float = 18.0
    """AMD day: an agent handed a machine verdict hears the greeting and clicks
    Answering machine after uniform 6-18 s (then 2 s to disposition)."""
    machine_wrap: float = 2.0
    cap: float = 0.03

    @property
    def seconds(self) -> float:
        return self.hours * 3600.0

    @property
    def amd(self) -> bool:
        return self.stress == "amd"

    @property
    def non_live(self) -> dict[str, float]:
        return NON_LIVE_AMD if self.amd else NON_LIVE_BASE

    def answer_rate_at(self, t: float) -> float:
        if self.stress == "answer_drop" and t >= 3 * 3600.0:
            return self.answer_rate / 2.0
        return self.answer_rate

    def with_(self, **kw: object) -> Scenario:
        return replace(self, **kw)  # type: ignore[arg-type]


class LeadStream:
    """Leads in dial order; lead k is identical for every policy with this seed.

    Each lead is a tuple: (u_live, u_kind, pdd, ring, talk, wrap, amd_delay,
    u_fp, quick) where ``quick`` is the busy/failed signalling time.
    """

    __slots__ = ("_rng", "_sc", "leads", "_p")

    def __init__(self, sc: Scenario) -> None:
        # day 0 keeps the single-day stream, so one-day results do not move
        tag = f"leads:{sc.seed}" if sc.day == 0 else f"leads:{sc.seed}:day{sc.day}"
        self._rng = random.Random(tag)
        self._sc = sc
        self.leads: list[tuple[float, ...]] = []
        self._p = (
            lognormal_params(sc.ring_mean, sc.ring_sd),
            lognormal_params(sc.talk_mean, sc.talk_cv * sc.talk_mean),
            lognormal_params(sc.wrap_mean, sc.wrap_sd),
        )

    def get(self, k: int) -> tuple[float, ...]:
        leads = self.leads
        while k >= len(leads):
            self._extend(2048)
        return leads[k]

    def _extend(self, n: int) -> None:
        r = self._rng
        sc = self._sc
        (rm, rs), (tm, ts), (wm, ws) = self._p
        rnd, uni, lgn = r.random, r.uniform, r.lognormvariate
        app = self.leads.append
        for _ in range(n):
            app(
                (
                    rnd(),
                    rnd(),
                    uni(sc.pdd_min, sc.pdd_max),
                    lgn(rm, rs),
                    lgn(tm, ts),
                    lgn(wm, ws),
                    uni(sc.amd_min, sc.amd_max),
                    rnd(),
                    uni(0.5, 2.5),
                )
            )


def pause_schedule(sc: Scenario, agent: int) -> list[tuple[float, float]]:
    """Pause requests for one agent on the pauses day: (request time, duration).

    Requests arrive as a Poisson process; a request waits for the agent to be
    free (no pause in the middle of a call). The rate makes the long-run paused
    share ``pause_share``. Same for every policy (own seeded stream).
    """
    if sc.stress != "pauses":
        return []
    tag = f"pauses:{sc.seed}:{agent}" if sc.day == 0 else f"pauses:{sc.seed}:{agent}:day{sc.day}"
    r = random.Random(tag)
    share = sc.pause_share
    # share = D / (1/rate + D)  ->  rate = share / ((1 - share) * D); the busy
    # stretch before a pause starts is negligible next to 1/rate.
    rate = share / ((1.0 - share) * sc.pause_mean)
    mu, sigma = lognormal_params(sc.pause_mean, sc.pause_mean * 0.5)
    out: list[tuple[float, float]] = []
    t = 0.0
    while True:
        t += r.expovariate(rate)
        if t >= sc.seconds:
            return out
        d = r.lognormvariate(mu, sigma)
        out.append((t, d))
        t += d


def _lognormal_partial(mu: float, sigma: float, x: float) -> tuple[float, float]:
    """(P(X <= x), E[X; X <= x]) for a lognormal."""
    if x <= 0:
        return 0.0, 0.0
    z = (math.log(x) - mu) / sigma
    cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    part = math.exp(mu + sigma**2 / 2) * 0.5 * (1 + math.erf((z - sigma) / math.sqrt(2)))
    return cdf, part


def progressive_analytic(sc: Scenario) -> float:
    """Occupancy of progressive 1:1 dialing, from first principles.

    An agent's cycle is: dial attempts until one becomes a live answer handed
    to it (each non-live attempt lasts post-dial delay + its ring/no-answer/
    busy/failed time, the live one post-dial delay + ring [+ AMD]), then talk,
    then wrap-up. Occupancy = E[talk + wrap] / E[cycle] (renewal-reward).
    Valid for days with a constant answer rate and no pauses.
    """
    if sc.stress in ("answer_drop", "pauses"):
        raise ValueError(f"no closed form for stress {sc.stress!r}")
    p = sc.answer_rate
    T = sc.timeout
    pdd = (sc.pdd_min + sc.pdd_max) / 2
    amd = (sc.amd_min + sc.amd_max) / 2 if sc.amd else 0.0
    rm, rs = lognormal_params(sc.ring_mean, sc.ring_sd)
    p_in, ring_in = _lognormal_partial(rm, rs, T)  # ring within the timeout
    quick = 1.5
    mix = sc.non_live
    fp = sc.amd_false_positive if sc.amd else 0.0
    # probabilities and expected durations (time from originate to resolution)
    p_live = p * p_in * (1 - fp)
    e_all = (
        p * (pdd + ring_in + amd * p_in + (1 - p_in) * T)  # humans: answered or timed out
        + (1 - p)
        * (
            mix["no_answer"] * (pdd + T)
            + mix["busy"] * (pdd + quick)
            + mix["failed"] * quick
            + mix["machine"] * (pdd + ring_in + amd * p_in + (1 - p_in) * T)
        )
    )
    # Wald: E[search] = E[attempts] * E[attempt duration] = e_all / p_live
    search = e_all / p_live
    work = sc.talk_mean + sc.wrap_mean
    return work / (search + work)
