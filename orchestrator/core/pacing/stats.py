"""Statistics the predictive pacer learns with (pure Python; the core has no numpy).

The normal distribution's cdf and inverse, the logit, a forgetting lognormal fit
(talk and wrap-up times), a forgetting histogram (dial-to-resolution delays)
and rolling windows of answered calls and abandons.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

_SQRT2 = math.sqrt(2.0)


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def norm_ppf(p: float) -> float:
    """Inverse standard normal CDF (Acklam's rational approximation, |err| < 1.2e-9)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {p}")
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687,
         138.3577518672690, -30.66479806614716, 2.506628277459239)  # fmt: skip
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866,
         66.80131188771972, -13.28068155288572)  # fmt: skip
    c = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838,
         -2.549732539343734, 4.374664141464968, 2.938163982698783)  # fmt: skip
    d = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    lo = 0.02425
    if p < lo:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    if p > 1 - lo:
        return -norm_ppf(1 - p)
    q = p - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (
        ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1
    )


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(slots=True)
class LogNormalFit:
    """Exponentially forgetting fit of a lognormal (moments of log x)."""

    half_life: float
    w: float
    s1: float
    s2: float
    n: int = 0

    @classmethod
    def prior(cls, mean: float, sd: float, weight: float, half_life: float) -> LogNormalFit:
        sigma2 = math.log(1.0 + (sd / mean) ** 2)
        mu = math.log(mean) - sigma2 / 2.0
        return cls(half_life, weight, weight * mu, weight * (sigma2 + mu * mu))

    def add(self, x: float) -> None:
        lam = 0.5 ** (1.0 / self.half_life)
        lx = math.log(max(x, 0.05))
        self.w = self.w * lam + 1.0
        self.s1 = self.s1 * lam + lx
        self.s2 = self.s2 * lam + lx * lx
        self.n += 1

    @property
    def mu(self) -> float:
        return self.s1 / self.w

    @property
    def sigma(self) -> float:
        var = self.s2 / self.w - self.mu**2
        return math.sqrt(max(var, 0.01))

    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2.0)

    def cdf(self, x: float) -> float:
        if x <= 0.0:
            return 0.0
        return norm_cdf((math.log(x) - self.mu) / self.sigma)

    def quantile(self, q: float) -> float:
        return math.exp(self.mu + self.sigma * norm_ppf(q))


BIN = 0.5  # seconds per histogram bin of dial-to-resolution times
NBINS = 180  # 90 s


@dataclass(slots=True)
class Histogram:
    """Exponentially forgetting histogram of delays (seconds since dial)."""

    half_life: float
    counts: list[float]
    n: int = 0

    @classmethod
    def prior(cls, mean: float, sd: float, weight: float, half_life: float) -> Histogram:
        fit = LogNormalFit.prior(mean, sd, 1.0, 1.0)
        counts = []
        prev = 0.0
        for i in range(NBINS):
            cur = fit.cdf((i + 1) * BIN)
            counts.append(weight * (cur - prev))
            prev = cur
        counts[-1] += weight * (1.0 - prev)
        return cls(half_life, counts)

    def add(self, x: float) -> None:
        self.n += 1
        # Decay lazily in blocks: a multiplicative decay of every bin per
        # observation would dominate the pacer's cost.
        if self.n % 32 == 0:
            lam = 0.5 ** (32.0 / self.half_life)
            self.counts = [c * lam for c in self.counts]
        self.counts[min(int(x / BIN), NBINS - 1)] += 1.0

    def survival(self) -> list[float]:
        """S[i] = P(X > i * BIN), for i in 0..NBINS."""
        total = sum(self.counts)
        out = [1.0]
        acc = 0.0
        for c in self.counts:
            acc += c
            out.append(max(0.0, 1.0 - acc / total))
        return out

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        total = sum(self.counts)
        res = []
        for q in qs:
            acc = 0.0
            target = q * total
            for i, c in enumerate(self.counts):
                if acc + c >= target:
                    frac = (target - acc) / c if c > 0 else 0.0
                    res.append((i + frac) * BIN)
                    break
                acc += c
            else:
                res.append(NBINS * BIN)
        return res


@dataclass(slots=True)
class Window:
    """Rolling counts of answered calls and abandons in time buckets."""

    span: float
    bucket: float
    buckets: deque[list[float]] = field(default_factory=deque)
    answered: float = 0.0
    abandoned: float = 0.0

    def add(self, now: float, answered: float, abandoned: float) -> None:
        key = math.floor(now / self.bucket)
        if self.buckets and self.buckets[-1][0] == key:
            b = self.buckets[-1]
            b[1] += answered
            b[2] += abandoned
        else:
            self.buckets.append([float(key), answered, abandoned])
        self.answered += answered
        self.abandoned += abandoned

    def roll(self, now: float) -> bool:
        """Drop buckets older than the span; True if anything was dropped."""
        buckets = self.buckets
        if not buckets or buckets[0][0] > (now - self.span) / self.bucket:
            return False
        oldest = math.floor((now - self.span) / self.bucket)
        dropped = False
        while buckets and buckets[0][0] <= oldest:
            _, a, d = buckets.popleft()
            self.answered -= a
            self.abandoned -= d
            dropped = True
        if not buckets:
            self.answered = self.abandoned = 0.0
        return dropped

    def rate(self) -> float:
        return self.abandoned / self.answered if self.answered > 0 else 0.0
