"""Our predictive pacer: how many calls to place so agents wait least within the cap."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, Literal

from .budget import AbandonBudget
from .protocol import OUTCOMES, FloorView, Observer, Outcome, PacerStats
from .simple import progressive_lines
from .stats import NBINS, Histogram, LogNormalFit, logit, norm_ppf, sigmoid


class CampaignPacer(Observer):
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
        self._live_delay = Histogram.prior(10.0, 4.0, 5.0, 400.0)
        self._other_delay = Histogram.prior(15.0, 8.0, 5.0, 800.0)
        self._talk = LogNormalFit.prior(120.0, 90.0, 3.0, 300.0)
        self._wrap = LogNormalFit.prior(10.0, 8.0, 3.0, 300.0)
        self._live_answers = 0
        self._calls_done = 0
        # learned threshold (logit of the marginal abandon probability allowed)
        self._theta = logit(0.02)
        self._last_answer_at = -math.inf
        self._answer_gap = 10.0
        self._z = norm_ppf(0.02)
        # answered calls and abandons in the regulatory windows: the rate still allowed
        self._budget = AbandonBudget(abandon_cap)
        self._humans_seen = 0.0
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
            self._budget.note_human(now)
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

    def _book(self, now: float, answered: float, abandoned: float) -> None:
        self._budget.book(now, answered, abandoned)
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
        self._theta = min(max(self._theta, logit(0.0005)), logit(0.6))
        self._z = norm_ppf(sigmoid(self._theta))

    # ----------------------------------------------------------------- budget

    def _window_budget(self) -> float:
        """Abandon rate allowed for the next answered calls (false positives included)."""
        return self._budget.allowed_rate(self._answer_gap)

    def _live_share(self) -> float:
        """Humans handed on per answered call (answered includes AMD machines)."""
        return self._budget.live_share()

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
        base = progressive_lines(floor)
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
        if self._budget.roll(now):
            self._target_dirty = True

    def stats(self, now: float) -> PacerStats:
        self._roll(now)
        budget = self._budget
        return PacerStats(
            dial_level=self._last_dial_level,
            answer_rate=self.answer_rate,
            abandon_rate_24h=budget.w24.rate(),
            abandon_rate_30d=budget.w30.rate(),
            answered_24h=budget.w24.answered,
            abandoned_24h=budget.w24.abandoned,
            drop_budget_24h=budget.drops_left(budget.w24),
            drop_budget_30d=budget.drops_left(budget.w30),
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
            **self._budget.snapshot(),
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
                if len(counts) != NBINS:
                    raise ValueError(f"pacer snapshot: {key} must have {NBINS} bins")
                hist.counts = counts
            for key, fit in (("talk", self._talk), ("wrap", self._wrap)):
                w, s1, s2, n = state[key]
                fit.w, fit.s1, fit.s2, fit.n = float(w), float(s1), float(s2), int(n)
            self._live_answers = int(state["live_answers"])
            self._calls_done = int(state["calls_done"])
            self._humans_seen = float(state["humans_seen"])
            self._theta = float(state["theta"])
            self._answer_gap = float(state["answer_gap"])
            self._z = norm_ppf(sigmoid(self._theta))
            self._budget.restore(state)
            # "amd_dials" came later: without it, every dial used AMD
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
