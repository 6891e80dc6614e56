"""Dial pacing: how many new calls to place right now.

Pure policy objects: they take observations stamped with ``now`` (seconds, any
monotonic origin; the runtime passes ``time.time()``, the simulator its virtual
clock) and answer :meth:`PacingPolicy.lines_to_dial`. Nothing here reads a
clock, sleeps or touches I/O, so the same code runs in production, in unit
tests and in ``bench/pacing``'s discrete-event simulation of whole days.

Abandon accounting (MISSION B): an *answered call* is a human pickup (live
answer) or, when AMD is on, a pickup AMD classed as a machine. An *abandon* is
a live answer not connected to an agent within the grace (2 s), plus every AMD
false positive (a human AMD hung up on). Abandon rate = abandons / answered
calls, over a rolling 24 h window (UK Ofcom) and a rolling 30-day window (US
FTC). AMD false positives are unobservable, so the pacer books a reasoned
estimate of them (``amd_false_positive_rate`` of the humans AMD let through,
scaled up) as Ofcom requires.

Policies:

* :class:`CampaignPacer` - ours (predictive, self-tuning, budget-aware).
* :class:`ProgressivePolicy` - one line per available agent.
* :class:`PowerPolicy` - a fixed number of lines per available agent.
* :class:`VicidialAdaptTapered` - an emulation of VICIdial's adaptive dial
  level (``AST_VDadapt.pl`` + ``AST_VDauto_dial.pl``, dial method
  ADAPT_TAPERED); see its docstring for what is modelled.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Outcome = Literal["human", "machine", "no_answer", "busy", "failed"]
"""Resolution of one dial as the pacer sees it. ``human`` = live answer handed
on for an agent; ``machine`` = answering machine detected by AMD (including
AMD false positives, which the dialer cannot tell apart)."""

OUTCOMES: tuple[Outcome, ...] = ("human", "machine", "no_answer", "busy", "failed")

_DAY = 86_400.0
_MONTH = 30 * _DAY
_SQRT2 = math.sqrt(2.0)


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


class _Observer:
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


def _progressive_lines(floor: FloorView) -> int:
    """One line per ready agent not already covered by a line or a waiting call."""
    return max(0, floor.ready - len(floor.dials_in_flight) - floor.waiting_calls)


class ProgressivePolicy(_Observer):
    """Progressive 1:1: each ready agent gets exactly one line; never abandons."""

    name = "progressive"

    def lines_to_dial(self, now: float, floor: FloorView) -> int:
        return _progressive_lines(floor)


class PowerPolicy(_Observer):
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


class VicidialAdaptTapered(_Observer):
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


# --------------------------------------------------------------------------
# Small numerical helpers (pure Python; the core has no numpy).


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def _norm_ppf(p: float) -> float:
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
        return -_norm_ppf(1 - p)
    q = p - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (
        ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1
    )


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(slots=True)
class _LogNormalFit:
    """Exponentially forgetting fit of a lognormal (moments of log x)."""

    half_life: float
    w: float
    s1: float
    s2: float
    n: int = 0

    @classmethod
    def prior(cls, mean: float, sd: float, weight: float, half_life: float) -> _LogNormalFit:
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
        return _norm_cdf((math.log(x) - self.mu) / self.sigma)

    def quantile(self, q: float) -> float:
        return math.exp(self.mu + self.sigma * _norm_ppf(q))


_BIN = 0.5  # seconds per histogram bin of dial-to-resolution times
_NBINS = 180  # 90 s


@dataclass(slots=True)
class _Histogram:
    """Exponentially forgetting histogram of delays (seconds since dial)."""

    half_life: float
    counts: list[float]
    n: int = 0

    @classmethod
    def prior(cls, mean: float, sd: float, weight: float, half_life: float) -> _Histogram:
        fit = _LogNormalFit.prior(mean, sd, 1.0, 1.0)
        counts = []
        prev = 0.0
        for i in range(_NBINS):
            cur = fit.cdf((i + 1) * _BIN)
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
        self.counts[min(int(x / _BIN), _NBINS - 1)] += 1.0

    def survival(self) -> list[float]:
        """S[i] = P(X > i * _BIN), for i in 0.._NBINS."""
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
                    res.append((i + frac) * _BIN)
                    break
                acc += c
            else:
                res.append(_NBINS * _BIN)
        return res


@dataclass(slots=True)
class _Window:
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


class CampaignPacer(_Observer):
    """Our predictive pacer: learns the campaign as it runs, no hand tuning.

    Learned, with priors and exponential forgetting: the live-answer rate per
    dial (Beta), the dial-to-live-answer and dial-to-other-outcome delay
    distributions (histograms), talk and wrap-up times (lognormal fits).

    Each decision predicts, for the moment new calls would be answered:

    * supply - ready agents plus, for every busy agent, the probability that
      it frees up before a new call placed now is answered (+ the grace),
      given how long it has already talked or wrapped up;
    * demand - live answers waiting, plus for every call in flight the
      probability that it still turns into a live answer given its age, plus
      ``n * p`` for ``n`` new calls;

    and dials the largest ``n`` for which the marginal new answer's chance of
    meeting no agent (normal approximation of demand - supply) stays under a
    threshold. The threshold is learned online (stochastic approximation on
    every live answer: up on connects, down on abandons) so the realised
    abandon rate tracks a target; the target comes from the budget left in
    both the rolling 24 h and 30-day windows, minus a small-sample safety
    margin. It dials progressively until enough has been observed, never
    dials less than progressive would, and dials nothing when nobody is
    staffed or about to be ready.
    """

    name = "ours"

    #: live answers and finished calls needed before predictive dialing starts
    WARMUP_ANSWERS = 12
    WARMUP_CALLS = 6
    #: safety margin under the cap, in standard errors of the window's rate
    MARGIN_SE = 1.0
    #: an idle stretch this long (s) starts a new session (a new shift)
    SESSION_GAP = 3600.0
    #: how far ahead (s) the 24 h window is checked as its oldest calls leave it
    LOOKAHEAD = (1800.0, 3600.0, 7200.0, 14400.0, 28800.0)

    def __init__(
        self,
        *,
        abandon_cap: float = 0.03,
        mode: Literal["predictive", "progressive"] = "predictive",
        amd: bool = False,
        amd_false_positive_rate: float = 0.05,
        grace: float = 2.0,
    ) -> None:
        if not 0.0 < abandon_cap < 1.0:
            raise ValueError(f"abandon_cap must be in (0, 1), got {abandon_cap}")
        if mode not in ("predictive", "progressive"):
            raise ValueError(f"mode must be 'predictive' or 'progressive', got {mode!r}")
        if not 0.0 <= amd_false_positive_rate < 1.0:
            raise ValueError(
                f"amd_false_positive_rate must be in [0, 1), got {amd_false_positive_rate}"
            )
        if grace < 0.0:
            raise ValueError(f"grace must be >= 0, got {grace}")
        self.cap = abandon_cap
        self.mode = mode
        self.amd = amd
        self.fp_rate = amd_false_positive_rate if amd else 0.0
        self.grace = grace
        # answer rate: Beta with forgetting (half-life in dials)
        self._ans_half_life = 400.0
        self._alpha = 1.0
        self._beta = 2.0
        self._resolved = 0
        self._live_delay = _Histogram.prior(10.0, 4.0, 5.0, 400.0)
        self._other_delay = _Histogram.prior(15.0, 8.0, 5.0, 800.0)
        self._talk = _LogNormalFit.prior(120.0, 90.0, 3.0, 300.0)
        self._wrap = _LogNormalFit.prior(10.0, 8.0, 3.0, 300.0)
        self._live_answers = 0
        self._calls_done = 0
        # learned threshold (logit of the marginal abandon probability allowed)
        self._theta = _logit(0.02)
        self._last_answer_at = -math.inf
        self._answer_gap = 10.0
        self._z = _norm_ppf(0.02)
        self._w24 = _Window(_DAY, 60.0)
        self._w30 = _Window(_MONTH, 3600.0)
        # humans handed on by AMD in the 24 h window (answered = humans): the live share
        # of answered calls must be measured over the same window as the budget
        self._h24 = _Window(_DAY, 60.0)
        self._humans_seen = 0.0
        # The current session: answered calls and abandons since the campaign last
        # dialed after an idle stretch (overnight). Yesterday's calls leave the 24 h
        # window during today's shift, so room they leave must not be spent today.
        self._session_answered = 0.0
        self._session_abandoned = 0.0
        self._session_last = -math.inf
        self._ahead: list[tuple[float, float, float]] = []
        self._ahead_at = -math.inf
        # share of dials placed through AMD (with forgetting): only those can
        # produce false positives
        self._amd_dials = 1.0
        self._all_dials = 1.0
        self._last_dial_level = 0.0
        self._target = abandon_cap
        self._target_dirty = True
        # prediction tables, rebuilt as the estimates move
        self._tables_at = -math.inf
        self._tables_obs = -1
        self._talk_step = 10.0
        self._q_talk: list[float] = []
        self._wrap_step = 0.5
        self._q_wrap: list[float] = []
        self._v_talk: list[float] = []
        self._v_wrap: list[float] = []
        self._s_live: list[float] = []
        self._s_other: list[float] = []
        self._q_line: list[float] = []
        self._v_line: list[float] = []
        self._q_line_p = -1.0
        # last exact sum over agents on a call (see _talk_supply)
        self._talk_at = -math.inf
        self._talk_n = 0
        self._talk_mean = 0.0
        self._talk_var = 0.0

    # ------------------------------------------------------------ observations

    def observe_outcome(self, now: float, outcome: Outcome, since_dial: float) -> None:
        """A dial resolved ``since_dial`` seconds after it was originated."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        lam = 0.5 ** (1.0 / self._ans_half_life)
        live = outcome == "human"
        self._alpha = self._alpha * lam + (1.0 if live else 0.0)
        self._beta = self._beta * lam + (0.0 if live else 1.0)
        self._resolved += 1
        if live:
            self._live_delay.add(since_dial)
            self._humans_seen += 1.0
            self._h24.add(now, 1.0, 0.0)
            if self.fp_rate:
                # For every human AMD let through, fp / (1 - fp) more were
                # classed as machines and hung up on: book that estimate as
                # abandons (they are already in the answered count below, as
                # machine verdicts).
                self._book(now, answered=0.0, abandoned=self._fp_per_human() * self._amd_share)
        else:
            self._other_delay.add(since_dial)
        if outcome == "machine" and self.amd:
            # the answered-call denominator includes AMD-detected machines
            self._book(now, answered=1.0, abandoned=0.0)

    @property
    def _amd_share(self) -> float:
        return self._amd_dials / self._all_dials

    def dial_with_amd(self, now: float) -> bool:
        """Whether the next call is placed through AMD (call once per dial).

        AMD calls some people machines (false positives); hanging up on them is an
        abandon nobody sees, only estimated, and at 5 % of people it costs about as
        much as the whole 3 % cap. So AMD gets at most half of the abandon target
        and the rest of the calls go out without it: their machines reach agents,
        who spend a few seconds on the greeting, but no person is hung up on. The
        share is met by error diffusion over the dials (no randomness). Without AMD
        on the campaign this is always False.
        """
        if not self.amd:
            return False
        target = self._window_budget()
        # false positives per answered call if every call went through AMD
        fp_full = self._live_share() * self._fp_per_human()
        share = 1.0 if fp_full <= 0.0 else min(1.0, max(0.0, 0.5 * target / fp_full))
        use = self._amd_dials + 1.0 <= share * (self._all_dials + 1.0)
        lam = 0.5 ** (1.0 / 400.0)
        self._all_dials = self._all_dials * lam + 1.0
        self._amd_dials = self._amd_dials * lam + (1.0 if use else 0.0)
        return use

    def _fp_per_human(self) -> float:
        # false positives per human let through: f / (1 - f)
        return self.fp_rate / (1.0 - self.fp_rate) if self.fp_rate else 0.0

    def observe_connect(self, now: float, wait: float) -> None:
        """A live answer reached an agent ``wait`` seconds after the answer."""
        if wait > self.grace:
            # late connect: the caller heard the silent-call message first
            self.observe_abandon(now)
            return
        self._live_answers += 1
        self._book(now, answered=1.0, abandoned=0.0)
        self._learn(now, abandoned=False)

    def observe_abandon(self, now: float) -> None:
        """A live answer found no agent within the grace (silent-call message played)."""
        self._live_answers += 1
        self._book(now, answered=1.0, abandoned=1.0)
        self._learn(now, abandoned=True)

    def observe_call_end(self, now: float, talk: float) -> None:
        self._talk.add(talk)
        self._calls_done += 1

    def observe_wrap_end(self, now: float, wrap: float) -> None:
        self._wrap.add(wrap)

    def _end_idle_session(self, now: float) -> None:
        """After an idle stretch (overnight) the next call opens a new session."""
        if now - self._session_last >= self.SESSION_GAP and (
            self._session_answered or self._session_abandoned
        ):
            self._session_answered = self._session_abandoned = 0.0
            self._target_dirty = True

    def _book(self, now: float, answered: float, abandoned: float) -> None:
        self._end_idle_session(now)
        self._session_last = now
        self._session_answered += answered
        self._session_abandoned += abandoned
        self._w24.add(now, answered, abandoned)
        self._w30.add(now, answered, abandoned)
        self._target_dirty = True

    def _learn(self, now: float, abandoned: bool) -> None:
        # Robbins-Monro on the threshold's logit: at equilibrium the share of
        # abandoned live answers equals the target. The step grows for small
        # campaigns (few answers per hour) so the threshold still moves within
        # the day; big campaigns take smaller, less noisy steps.
        if self._last_answer_at > -math.inf:
            gap = min(max(now - self._last_answer_at, 0.0), 600.0)
            self._answer_gap += 0.05 * (gap - self._answer_gap)
        self._last_answer_at = now
        per_hour = 3600.0 / max(self._answer_gap, 0.5)
        step = 0.08 * min(3.0, max(1.0, math.sqrt(400.0 / per_hour)))
        target = self._pacing_target()
        self._theta += step * (target - (1.0 if abandoned else 0.0))
        self._theta = min(max(self._theta, _logit(0.0005)), _logit(0.6))
        self._z = _norm_ppf(_sigmoid(self._theta))

    # ----------------------------------------------------------------- budget

    def _window_target(self, n: float, abandoned: float) -> float:
        """Abandon rate allowed for the next answers so a window holding ``n``
        answered calls and ``abandoned`` abandons ends under the cap."""
        horizon = max(200.0, 0.5 * n)
        # The margin is that of the window this target fills (n + horizon answers), not of
        # the window so far: at a shift's start (n = 0) the latter left under 1 % to spend.
        safe = self._safe_rate(n + horizon)
        return (safe * (n + horizon) - abandoned) / horizon

    def _safe_rate(self, n: float) -> float:
        """The cap less a small-sample margin for a window of ``n`` answered calls: a
        fraction of the standard error of a rate at the cap (the feedback on the
        window's own count does the rest)."""
        return self.cap - self.MARGIN_SE * math.sqrt(self.cap * (1.0 - self.cap) / max(n, 60.0))

    def _lookahead_target(self) -> float:
        """The 24 h window as it will be in the coming hours.

        Calls leave the rolling window oldest first, so the window of a few hours
        from now keeps only the newer part of today's (and yesterday's) calls plus
        what is dialed meanwhile. Each such future window must end under the cap
        too; the answers still to come are estimated from the current pace.
        """
        per_s = 1.0 / max(self._answer_gap, 0.5)
        w = self._w24
        out = math.inf
        for h, n_old, a_old in self._ahead:
            n_keep = max(0.0, w.answered - n_old)
            a_keep = max(0.0, w.abandoned - a_old)
            future = max(per_s * h, 50.0)
            n = n_keep + future
            out = min(out, (self._safe_rate(n) * n - a_keep) / future)
        return out

    def _refresh_ahead(self, now: float) -> None:
        """Per lookahead horizon: what of the 24 h window will have left by then."""
        self._ahead_at = now
        buckets = self._w24.buckets
        size = self._w24.bucket
        ahead = []
        i = 0
        n_old = a_old = 0.0
        for h in self.LOOKAHEAD:
            cutoff = math.floor((now + h - _DAY) / size)
            while i < len(buckets) and buckets[i][0] <= cutoff:
                n_old += buckets[i][1]
                a_old += buckets[i][2]
                i += 1
            ahead.append((h, n_old, a_old))
        self._ahead = ahead
        self._target_dirty = True

    def _window_budget(self) -> float:
        """Abandon rate allowed for the next answered calls (false positives included)."""
        # The session's own count too: at shift start the 24 h window still holds
        # yesterday's calls, and they drop out as today's come in, so room they
        # leave would be gone by the end of the shift (today alone over the cap).
        return min(
            self._window_target(self._w24.answered, self._w24.abandoned),
            self._window_target(self._w30.answered, self._w30.abandoned),
            self._window_target(self._session_answered, self._session_abandoned),
            self._lookahead_target(),
            # never aim above the cap: room banked earlier in the day, spent at a
            # higher rate late, would put a 24 h window that starts mid-shift over
            self.cap,
        )

    def _live_share(self) -> float:
        """Humans handed on per answered call (answered includes AMD machines)."""
        w = self._w24
        humans = max(self._h24.answered, 1.0)
        return min(1.0, humans / w.answered) if w.answered > 0 else 0.5

    def _pacing_target(self) -> float:
        """Target abandon rate among live answers handed to agents."""
        if not self._target_dirty:
            return self._target
        self._target_dirty = False
        target = self._window_budget()
        if self.amd and self.fp_rate:
            # estimated false positives per handed-on human eat into the budget;
            # convert the per-answered-call target into a per-live-answer one
            target = target / max(self._live_share(), 0.05) - self._fp_per_human() * self._amd_share
        self._target = max(0.0, min(target, 0.5))
        return self._target

    # ------------------------------------------------------------ prediction

    @property
    def answer_rate(self) -> float:
        return self._alpha / (self._alpha + self._beta)

    def _plan_rate(self) -> float:
        """Answer rate used for planning: the estimate plus one posterior sd
        (overestimating answers is the safe side)."""
        a, b = self._alpha, self._beta
        n = a + b
        p = a / n
        return min(0.99, p + math.sqrt(p * (1 - p) / (n + 1)))

    def _warm(self) -> bool:
        return (
            self._live_answers >= self.WARMUP_ANSWERS and self._calls_done >= self.WARMUP_CALLS
        )

    def _maybe_rebuild(self, now: float) -> None:
        obs = self._calls_done
        due = now - self._tables_at >= 600.0 or (
            obs >= 2 * max(self._tables_obs, 8) and now - self._tables_at >= 30.0
        )
        if self._q_talk and not due:
            return
        self._tables_at = now
        self._tables_obs = obs
        self._s_live = self._live_delay.survival()
        self._s_other = self._other_delay.survival()
        qs = (1 / 6, 0.5, 5 / 6)
        reach = [d + self.grace for d in self._live_delay.quantiles(qs)]
        wraps = [self._wrap.quantile(q) for q in qs]
        # talk agents: free before the answer iff T - e + W <= D + grace
        zs = [y - w for y in reach for w in wraps]
        talk = self._talk
        q_talk = []
        step = self._talk_step
        for k in range(int(2400 / step) + 1):
            e = k * step
            f0 = talk.cdf(e)
            surv = 1.0 - f0
            if surv < 1e-9:
                q_talk.append(1.0)
                continue
            acc = 0.0
            for z in zs:
                if z > 0:
                    acc += talk.cdf(e + z) - f0
            q_talk.append(acc / (len(zs) * surv))
        self._q_talk = q_talk
        self._v_talk = [q * (1.0 - q) for q in q_talk]
        wrap = self._wrap
        q_wrap = []
        wstep = self._wrap_step
        for k in range(int(150 / wstep) + 1):
            e = k * wstep
            f0 = wrap.cdf(e)
            surv = 1.0 - f0
            if surv < 1e-9:
                q_wrap.append(1.0)
                continue
            acc = sum(wrap.cdf(e + y) - f0 for y in reach)
            q_wrap.append(acc / (len(reach) * surv))
        self._q_wrap = q_wrap
        self._v_wrap = [q * (1.0 - q) for q in q_wrap]
        self._q_line_p = -1.0
        self._talk_at = -math.inf

    def _supply(self, now: float, floor: FloorView) -> tuple[float, float]:
        """Mean and variance of agents ready for a call placed now."""
        mean, var = self._talk_supply(now, floor.talking_since)
        if floor.wrapping_since:
            inv = 1.0 / self._wrap_step
            idx = [int((now - s) * inv) for s in floor.wrapping_since]
            last = len(self._q_wrap) - 1
            if max(idx) > last:
                idx = [i if i < last else last for i in idx]
            mean += sum(map(self._q_wrap.__getitem__, idx))
            var += sum(map(self._v_wrap.__getitem__, idx))
        return floor.ready + mean, var

    def _talk_supply(self, now: float, talking: Collection[float]) -> tuple[float, float]:
        """Agents on a call who will be free in time (mean, variance).

        This is the costly sum (most agents are talking), and each term moves
        slowly (the table has a 10 s step), so it is recomputed at most once a
        second; in between, agents who start or finish talking adjust it by
        the chance of a fresh call (joiners) or the average term (leavers).
        """
        n = len(talking)
        if now - self._talk_at < 1.0:
            dn = n - self._talk_n
            if dn > 0:
                q0 = self._q_talk[0]
                return self._talk_mean + dn * q0, self._talk_var + dn * q0 * (1.0 - q0)
            if dn < 0 and self._talk_n:
                keep = n / self._talk_n
                return self._talk_mean * keep, self._talk_var * keep
            return self._talk_mean, self._talk_var
        mean = var = 0.0
        if n:
            # list comprehension + map: this runs for every agent on a call
            inv = 1.0 / self._talk_step
            idx = [int((now - s) * inv) for s in talking]
            last = len(self._q_talk) - 1
            if max(idx) > last:
                idx = [i if i < last else last for i in idx]
            mean = sum(map(self._q_talk.__getitem__, idx))
            var = sum(map(self._v_talk.__getitem__, idx))
        self._talk_at, self._talk_n = now, n
        self._talk_mean, self._talk_var = mean, var
        return mean, var

    def _demand(self, now: float, floor: FloorView, p: float) -> tuple[float, float]:
        """Mean and variance of live answers already on their way."""
        mean = float(floor.waiting_calls)
        var = 0.0
        if floor.dials_in_flight:
            if abs(p - self._q_line_p) > 0.005:
                self._line_table(p)
            idx = [int((now - t0) * 2.0) for t0 in floor.dials_in_flight]
            last = len(self._q_line) - 1
            if max(idx) > last:
                idx = [i if i < last else last for i in idx]
            mean += sum(map(self._q_line.__getitem__, idx))
            var += sum(map(self._v_line.__getitem__, idx))
        return mean, var

    def _line_table(self, p: float) -> None:
        """P(a call in flight becomes a live answer | unresolved at its age)."""
        q_line = []
        for sl, so in zip(self._s_live, self._s_other, strict=True):
            a = p * sl
            b = (1.0 - p) * so
            q_line.append(a / (a + b) if a + b > 0.0 else 0.0)
        self._q_line = q_line
        self._v_line = [q * (1.0 - q) for q in q_line]
        self._q_line_p = p

    # --------------------------------------------------------------- decision

    def lines_to_dial(self, now: float, floor: FloorView) -> int:
        """How many new calls to originate now."""
        self._roll(now)
        if floor.staffed <= 0:
            self._last_dial_level = 0.0
            return 0
        base = _progressive_lines(floor)
        busy = len(floor.talking_since) + len(floor.wrapping_since)
        in_flight = len(floor.dials_in_flight)
        if self.mode == "progressive" or not self._warm():
            self._note_level(floor, base)
            return base
        target = self._pacing_target()
        if target < 0.1 * self.cap:
            # budget spent: dial progressively until it recovers
            self._note_level(floor, base)
            return base
        self._maybe_rebuild(now)
        p = self._plan_rate()
        s_mean, s_var = self._supply(now, floor)
        if floor.ready == 0 and s_mean < 0.05:
            self._note_level(floor, 0)
            return 0
        d_mean, d_var = self._demand(now, floor, p)
        z = self._z
        pq = p * (1.0 - p)
        limit = max(0, 4 * (floor.staffed + busy) - in_flight)
        n = 0
        m = d_mean - s_mean + 0.5
        v = d_var + s_var
        while n < limit:
            # the (n+1)-th new answer is abandoned if the others fill supply
            if m > z * math.sqrt(v if v > 1e-9 else 1e-9):
                break
            n += 1
            m += p
            v += pq
        n = max(n, base)
        self._note_level(floor, n)
        return n

    def _note_level(self, floor: FloorView, new: int) -> None:
        lines = len(floor.dials_in_flight) + new + floor.waiting_calls + len(floor.talking_since)
        self._last_dial_level = lines / max(floor.staffed, 1)

    # ------------------------------------------------------------- dashboard

    def _roll(self, now: float) -> None:
        if now - self._ahead_at >= 60.0:
            self._refresh_ahead(now)
        self._end_idle_session(now)
        self._h24.roll(now)
        if self._w24.roll(now) | self._w30.roll(now):
            self._target_dirty = True

    def stats(self, now: float) -> PacerStats:
        self._roll(now)
        return PacerStats(
            dial_level=self._last_dial_level,
            answer_rate=self.answer_rate,
            abandon_rate_24h=self._w24.rate(),
            abandon_rate_30d=self._w30.rate(),
            answered_24h=self._w24.answered,
            abandoned_24h=self._w24.abandoned,
            drop_budget_24h=max(0.0, self.cap * self._w24.answered - self._w24.abandoned),
            drop_budget_30d=max(0.0, self.cap * self._w30.answered - self._w30.abandoned),
            target_rate=self._pacing_target(),
            warming_up=not self._warm(),
        )

    # ----------------------------------------------------------- persistence

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state so a restart keeps what was learned and,
        above all, the abandon counts of the regulatory windows."""
        return {
            "version": 1,
            "cap": self.cap,
            "answer": [self._alpha, self._beta, self._resolved],
            "live_delay": list(self._live_delay.counts),
            "other_delay": list(self._other_delay.counts),
            "talk": [self._talk.w, self._talk.s1, self._talk.s2, self._talk.n],
            "wrap": [self._wrap.w, self._wrap.s1, self._wrap.s2, self._wrap.n],
            "live_answers": self._live_answers,
            "calls_done": self._calls_done,
            "humans_seen": self._humans_seen,
            "theta": self._theta,
            "answer_gap": self._answer_gap,
            "w24": [list(b) for b in self._w24.buckets],
            "w30": [list(b) for b in self._w30.buckets],
            "h24": [list(b) for b in self._h24.buckets],
            # -inf is not JSON (PostgreSQL's jsonb refuses "-Infinity")
            "session": [
                self._session_answered,
                self._session_abandoned,
                self._session_last if self._session_last > -math.inf else None,
            ],
            "amd_dials": [self._amd_dials, self._all_dials],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load a :meth:`snapshot`. Raises ValueError naming a bad field."""
        if state.get("version") != 1:
            raise ValueError(f"pacer snapshot: unsupported version {state.get('version')!r}")
        try:
            self._alpha, self._beta = float(state["answer"][0]), float(state["answer"][1])
            self._resolved = int(state["answer"][2])
            for key, hist in (("live_delay", self._live_delay), ("other_delay", self._other_delay)):
                counts = [float(c) for c in state[key]]
                if len(counts) != _NBINS:
                    raise ValueError(f"pacer snapshot: {key} must have {_NBINS} bins")
                hist.counts = counts
            for key, fit in (("talk", self._talk), ("wrap", self._wrap)):
                w, s1, s2, n = state[key]
                fit.w, fit.s1, fit.s2, fit.n = float(w), float(s1), float(s2), int(n)
            self._live_answers = int(state["live_answers"])
            self._calls_done = int(state["calls_done"])
            self._humans_seen = float(state["humans_seen"])
            self._theta = float(state["theta"])
            self._answer_gap = float(state["answer_gap"])
            self._z = _norm_ppf(_sigmoid(self._theta))
            # "h24" came later: a snapshot without it starts the count empty
            windows = (("w24", self._w24), ("w30", self._w30), ("h24", self._h24))
            for key, win in windows:
                rows = state.get(key, []) if key == "h24" else state[key]
                win.buckets = deque([float(b[0]), float(b[1]), float(b[2])] for b in rows)
                win.answered = sum(b[1] for b in win.buckets)
                win.abandoned = sum(b[2] for b in win.buckets)
            # "session" and "amd_dials" came later: without them, the session is
            # rebuilt from the 24 h window (the safe side) and every dial used AMD
            if "session" in state:
                sa, sd, sl = state["session"]
                self._session_answered, self._session_abandoned = float(sa), float(sd)
                self._session_last = float(sl) if sl is not None else -math.inf
            else:
                self._session_answered = self._w24.answered
                self._session_abandoned = self._w24.abandoned
                buckets = self._w24.buckets
                self._session_last = buckets[-1][0] * self._w24.bucket if buckets else -math.inf
            if "amd_dials" in state:
                amd, total = (float(x) for x in state["amd_dials"])
                if not 0.0 <= amd <= total or total <= 0.0:
                    raise ValueError("pacer snapshot: amd_dials must be 0 <= amd <= all, all > 0")
                self._amd_dials, self._all_dials = amd, total
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"pacer snapshot: missing or malformed field ({exc})") from exc
        self._tables_at = -math.inf
        self._q_talk = []
        self._target_dirty = True
