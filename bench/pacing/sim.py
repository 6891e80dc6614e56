"""Discrete-event simulation of one dialing day driving a real pacing policy.

Virtual clock, a heap of events, no sockets, no database. The policy objects
are the production ones from ``orchestrator.core.pacing`` (next to the bench's
own baselines, ``vicidial.py`` and the oracle); the simulator plays the PBX
(calls resolve after their pre-drawn delays) and the agents.

Event flow of one call: originate -> (post-dial delay + ring) -> live answer,
or no answer / busy / failed / machine. A live answer goes to the agent ready
longest; if none is ready it waits up to the grace (2 s) for one, else it is
abandoned (silent-call message). With AMD, the verdict comes 1.5-3 s after the
pickup; a human AMD calls a machine (false positive) is hung up and counted as
an abandon. A policy with ``dial_with_amd`` (ours, the oracle) chooses per
dial whether AMD runs; a call placed without AMD has no false positive, and
its machine pickup looks like a live answer to the dialer: it goes to an agent
who spends 6-18 s on the greeting plus a 2 s disposition (not counted as talk,
wrap-up or occupancy), or, with no agent within the grace, the dialer counts
an abandon that is not one (no person was there). Connected: talk, then
wrap-up, then the agent is ready again (or takes its pending pause, on the
pauses day).

Multi-day runs (:func:`run_days`) carry the policy over the night through
``snapshot()``/``restore()``, as the service does; day ``d`` runs on the
clock from ``d * 86400`` s, so the pacer's 24 h window sees yesterday.

The policy is asked how many calls to place on every 1 s tick, whenever an
agent becomes ready, and when a call resolves without reaching an agent while
some ready agent has no call coming (so progressive redials at once).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from orchestrator.core.pacing import FloorView, PacingPolicy

from .model import LeadStream, Scenario, pause_schedule

# event kinds
_RESOLVE, _GRACE, _TALK_END, _WRAP_END, _PAUSE_REQ, _PAUSE_END, _TICK = range(7)
# resolution codes
_LIVE, _FP, _MACHINE, _NOANSWER, _BUSY, _FAILED, _MLIVE = range(7)
_OUTCOME_NAME = {
    _LIVE: "human",
    _FP: "machine",
    _MACHINE: "machine",
    _NOANSWER: "no_answer",
    _BUSY: "busy",
    _FAILED: "failed",
    _MLIVE: "human",  # a machine on a call without AMD: the dialer sees a pickup
}

WAIT_BIN = 1.0
WAIT_BINS = 900


@dataclass
class DayResult:
    """Totals of one simulated day (sums, so days pool by adding)."""

    policy: str
    scenario: Scenario
    staffed_time: float = 0.0
    busy_time: float = 0.0
    talk_time: float = 0.0
    connects: int = 0
    live_answers: int = 0
    answered: int = 0
    abandons: int = 0
    false_positives: int = 0
    amd_dials: int = 0
    machines_to_agents: int = 0
    machine_time: float = 0.0
    """Agent time spent on machines (calls placed without AMD): not occupancy."""
    dials: int = 0
    wait_sum: float = 0.0
    wait_n: int = 0
    wait_hist: list[int] = field(default_factory=lambda: [0] * WAIT_BINS)
    peak_lines: int = 0
    series: list[tuple[float, float, float]] = field(default_factory=list)
    """(time, dial level, abandon rate so far) every minute, when recorded."""
    minutes: dict[int, list[int]] = field(default_factory=dict)
    """Absolute minute -> [answered, abandons], when recorded (rolling windows)."""

    @property
    def occupancy(self) -> float:
        return self.busy_time / self.staffed_time if self.staffed_time else 0.0

    @property
    def abandon_rate(self) -> float:
        return self.abandons / self.answered if self.answered else 0.0


class DaySim:
    """One day of one policy on one scenario."""

    def __init__(
        self,
        sc: Scenario,
        policy: PacingPolicy,
        *,
        record_series: bool = False,
        record_minutes: bool = False,
        oracle_free_at: dict[int, float] | None = None,
    ) -> None:
        self.sc = sc
        self.policy = policy
        self.record_series = record_series
        self.record_minutes = record_minutes
        self.start = sc.day * 86_400.0
        # the oracle reads this dict: agent -> exact time it will be ready
        self.free_at = oracle_free_at
        self.leads = LeadStream(sc)

    def run(self) -> DayResult:  # noqa: C901 - one tight event loop on purpose
        sc = self.sc
        pol = self.policy
        start = self.start
        end = start + sc.seconds
        choose_amd = getattr(pol, "dial_with_amd", None) if sc.amd else None
        h_min, h_span = sc.machine_handle_min, sc.machine_handle_max - sc.machine_handle_min
        m_wrap = sc.machine_wrap
        grace = sc.grace
        amd = sc.amd
        mix = sc.non_live
        th_machine = mix["machine"]
        th_noans = th_machine + mix["no_answer"]
        th_busy = th_noans + mix["busy"]
        timeout = sc.timeout
        fp_rate = sc.amd_false_positive
        res = DayResult(pol.name, sc)
        n = sc.agents
        free_at = self.free_at

        heap: list[tuple[float, int, int, int]] = []
        seq = 0
        push = heapq.heappush
        pop = heapq.heappop

        ready: deque[int] = deque(range(n))
        ready_since = [start] * n
        # the agent's call is a machine it dispositions with one click ("Answering
        # machine"): the dialer then keeps it out of the talk and wrap-up fits
        on_machine = [False] * n
        talking: dict[int, float] = {}
        wrapping: dict[int, float] = {}
        in_flight: dict[int, float] = {}
        waiting: dict[int, tuple[float, bool]] = {}  # call -> (answered at, a machine)
        call_lead: dict[int, int] = {}
        agent_lead = [0] * n
        paused = [False] * n
        pending_pause = [0.0] * n  # duration of a pause to take when free, 0 = none
        staffed = n
        next_call = 0

        pauses = [pause_schedule(sc, a) for a in range(n)]
        for a, sched in enumerate(pauses):
            for i, (t, _) in enumerate(sched):
                push(heap, (start + t, seq, _PAUSE_REQ, a * 100_000 + i))
                seq += 1
        push(heap, (start, seq, _TICK, 0))
        seq += 1

        get_lead = self.leads.get
        wait_hist = res.wait_hist
        series = res.series
        next_sample = start
        minutes = res.minutes if self.record_minutes else None

        def ans_rate_at(t: float) -> float:
            return sc.answer_rate_at(t - start)

        def count(now: float, abandoned: int) -> None:
            res.answered += 1
            res.abandons += abandoned
            if minutes is not None:
                m = minutes.setdefault(int(now // 60.0), [0, 0])
                m[0] += 1
                m[1] += abandoned

        def floor() -> FloorView:
            return FloorView(
                ready=len(ready),
                staffed=staffed,
                talking_since=talking.values(),
                wrapping_since=wrapping.values(),
                dials_in_flight=in_flight.values(),
                waiting_calls=len(waiting),
            )

        def pace(now: float) -> None:
            nonlocal seq, next_call
            if now >= end:
                return
            k = pol.lines_to_dial(now, floor())
            if k <= 0:
                return
            for _ in range(k):
                call = next_call
                next_call += 1
                lead = get_lead(call)
                u, kind, pdd, ring, _talk, _wrap, amd_d, u_fp, quick = lead
                use_amd = amd and (choose_amd is None or choose_amd(now))
                res.amd_dials += use_amd
                if u < ans_rate_at(now):
                    if ring <= timeout:
                        if use_amd:
                            t = now + pdd + ring + amd_d
                            code = _FP if u_fp < fp_rate else _LIVE
                        else:
                            t = now + pdd + ring
                            code = _LIVE
                    else:
                        t = now + pdd + timeout
                        code = _NOANSWER
                elif kind < th_machine:
                    if ring <= timeout:
                        if use_amd:
                            t = now + pdd + ring + amd_d
                            code = _MACHINE
                        else:
                            t = now + pdd + ring
                            code = _MLIVE
                    else:
                        t = now + pdd + timeout
                        code = _NOANSWER
                elif kind < th_noans:
                    t = now + pdd + timeout
                    code = _NOANSWER
                elif kind < th_busy:
                    t = now + pdd + quick
                    code = _BUSY
                else:
                    t = now + quick
                    code = _FAILED
                in_flight[call] = now
                call_lead[call] = call
                push(heap, (t, seq, _RESOLVE, call * 8 + code))
                seq += 1
                pol.observe_dial(now)
            res.dials += k
            lines = len(in_flight) + len(waiting)
            if lines > res.peak_lines:
                res.peak_lines = lines

        def connect(now: float, agent: int, call: int, answered_at: float) -> None:
            nonlocal seq
            lead = get_lead(call)
            talk, wrap = lead[4], lead[5]
            talking[agent] = now
            agent_lead[agent] = call
            w = now - ready_since[agent]
            res.wait_sum += w
            res.wait_n += 1
            wait_hist[min(int(w / WAIT_BIN), WAIT_BINS - 1)] += 1
            if now < end:
                res.connects += 1
                res.busy_time += min(now + talk + wrap, end) - now
                res.talk_time += min(now + talk, end) - now
            push(heap, (now + talk, seq, _TALK_END, agent))
            seq += 1
            if free_at is not None:
                free_at[agent] = now + talk + wrap
            pol.observe_connect(now, now - answered_at)

        def handle_machine(now: float, agent: int, call: int, answered_at: float) -> None:
            # a machine on a call without AMD: the agent hears the greeting and
            # clicks Answering machine; the dialer saw an ordinary connect
            nonlocal seq
            handle = h_min + h_span * get_lead(call)[7]
            talking[agent] = now
            on_machine[agent] = True
            agent_lead[agent] = -1
            w = now - ready_since[agent]
            res.wait_sum += w
            res.wait_n += 1
            wait_hist[min(int(w / WAIT_BIN), WAIT_BINS - 1)] += 1
            res.machines_to_agents += 1
            if now < end:
                res.machine_time += min(now + handle + m_wrap, end) - now
            push(heap, (now + handle, seq, _TALK_END, agent))
            seq += 1
            if free_at is not None:
                free_at[agent] = now + handle + m_wrap
            pol.observe_connect(now, now - answered_at)

        def agent_ready(now: float, agent: int) -> None:
            nonlocal seq, staffed
            d = pending_pause[agent]
            if d > 0.0:
                pending_pause[agent] = 0.0
                start_pause(now, agent, d)
                return
            ready_since[agent] = now
            if waiting:
                call = next(iter(waiting))
                answered_at, is_machine = waiting.pop(call)
                if is_machine:
                    handle_machine(now, agent, call, answered_at)
                else:
                    connect(now, agent, call, answered_at)
                return
            ready.append(agent)
            if free_at is not None:
                free_at.pop(agent, None)

        def start_pause(now: float, agent: int, d: float) -> None:
            nonlocal seq, staffed
            paused[agent] = True
            staffed -= 1
            if now < end:
                res.staffed_time -= min(now + d, end) - now
            push(heap, (now + d, seq, _PAUSE_END, agent))
            seq += 1
            if free_at is not None:
                free_at[agent] = now + d

        res.staffed_time = n * sc.seconds
        while heap:
            now, _, kind, arg = pop(heap)
            if kind == _RESOLVE:
                call, code = divmod(arg, 8)
                t0 = in_flight.pop(call)
                pol.observe_outcome(now, _OUTCOME_NAME[code], now - t0)  # type: ignore[arg-type]
                if code == _LIVE or code == _MLIVE:
                    machine = code == _MLIVE
                    if not machine:
                        res.live_answers += 1
                    count(now, 0)
                    if ready:
                        agent = ready.popleft()
                        if machine:
                            handle_machine(now, agent, call, now)
                        else:
                            connect(now, agent, call, now)
                    else:
                        waiting[call] = (now, machine)
                        push(heap, (now + grace, seq, _GRACE, call))
                        seq += 1
                    continue
                if code == _FP:
                    res.live_answers += 1
                    count(now, 1)
                    res.false_positives += 1
                elif code == _MACHINE:
                    count(now, 0)
                if len(ready) > len(in_flight) + len(waiting):
                    # a ready agent has no call coming: decide now, not at the tick
                    pace(now)
            elif kind == _GRACE:
                if arg in waiting:
                    _, machine = waiting.pop(arg)
                    if not machine:
                        res.abandons += 1
                        if minutes is not None:
                            minutes.setdefault(int(now // 60.0), [0, 0])[1] += 1
                    # the dialer cannot tell a machine from a person here: it counts one
                    pol.observe_abandon(now)
                    pace(now)
            elif kind == _TALK_END:
                began = talking.pop(arg)
                wrapping[arg] = now
                if agent_lead[arg] < 0:
                    push(heap, (now + m_wrap, seq, _WRAP_END, arg))
                else:
                    push(heap, (now + get_lead(agent_lead[arg])[5], seq, _WRAP_END, arg))
                seq += 1
                if not on_machine[arg]:
                    pol.observe_call_end(now, now - began)
            elif kind == _WRAP_END:
                began = wrapping.pop(arg)
                if on_machine[arg]:
                    on_machine[arg] = False
                else:
                    pol.observe_wrap_end(now, now - began)
                agent_ready(now, arg)
                pace(now)
            elif kind == _TICK:
                if self.record_series and now >= next_sample:
                    lines = len(in_flight) + len(waiting) + len(talking)
                    series.append((now - start, lines / max(staffed, 1), res.abandon_rate))
                    next_sample += 60.0
                pace(now)
                if now + 1.0 < end:
                    push(heap, (now + 1.0, seq, _TICK, 0))
                    seq += 1
            elif kind == _PAUSE_REQ:
                agent, i = divmod(arg, 100_000)
                d = pauses[agent][i][1]
                if paused[agent] or pending_pause[agent] > 0.0:
                    continue
                if agent in talking or agent in wrapping:
                    pending_pause[agent] = d
                    if free_at is not None and agent in free_at:
                        free_at[agent] += d
                else:
                    ready.remove(agent)
                    start_pause(now, agent, d)
            elif kind == _PAUSE_END:
                paused[arg] = False
                staffed += 1
                agent_ready(now, arg)
                pace(now)
        return res


def run_day(sc: Scenario, policy_name: str, *, record_series: bool = False) -> DayResult:
    """Build the named policy for this scenario and simulate the day."""
    from .policies import make_policy

    free_at: dict[int, float] | None = {} if policy_name in ("oracle", "oracle+") else None
    pol = make_policy(policy_name, sc, free_at)
    return DaySim(sc, pol, record_series=record_series, oracle_free_at=free_at).run()


def run_days(
    sc: Scenario, policy_name: str, days: int, *, record_minutes: bool = True
) -> list[DayResult]:
    """Consecutive days of one campaign: the policy's state crosses each night
    through ``snapshot()``/``restore()`` (JSON round trip, as the service stores
    it); policies without a snapshot (the baselines) start each day afresh."""
    import json

    from .policies import make_policy

    out: list[DayResult] = []
    state: dict[str, Any] | None = None
    for d in range(days):
        day = sc.with_(day=d)
        free_at: dict[int, float] | None = {} if policy_name in ("oracle", "oracle+") else None
        pol = make_policy(policy_name, day, free_at)
        restore = getattr(pol, "restore", None)
        if state is not None and restore is not None:
            restore(state)
        out.append(
            DaySim(day, pol, record_minutes=record_minutes, oracle_free_at=free_at).run()
        )
        snapshot = getattr(pol, "snapshot", None)
        if snapshot is not None:
            state = json.loads(json.dumps(snapshot()))
    return out


def worst_rolling_window(results: list[DayResult], span_minutes: int = 1440) -> float:
    """Highest abandon rate over any full 24 h window of consecutive days
    (windows ending at every minute from 24 h after the first day's start)."""
    counts: dict[int, list[int]] = {}
    for r in results:
        for m, (a, d) in r.minutes.items():
            c = counts.setdefault(m, [0, 0])
            c[0] += a
            c[1] += d
    if not counts:
        return 0.0
    first = min(r.scenario.day for r in results) * 1440
    last = max(counts)
    worst = 0.0
    ans = ab = 0
    for m in range(first, last + 1):
        new = counts.get(m)
        if new:
            ans += new[0]
            ab += new[1]
        old = counts.get(m - span_minutes)
        if old:
            ans -= old[0]
            ab -= old[1]
        if m >= first + span_minutes - 1 and ans:
            worst = max(worst, ab / ans)
    return worst


def summarize(results: list[DayResult]) -> dict[str, Any]:
    """Pool days (same policy and grid cell) into the reported metrics."""
    staffed = sum(r.staffed_time for r in results)
    hours = staffed / 3600.0
    answered = sum(r.answered for r in results)
    abandons = sum(r.abandons for r in results)
    connects = sum(r.connects for r in results)
    dials = sum(r.dials for r in results)
    wait_n = sum(r.wait_n for r in results)
    hist = [sum(col) for col in zip(*(r.wait_hist for r in results), strict=True)]
    p90 = 0.0
    if wait_n:
        acc = 0
        for i, c in enumerate(hist):
            acc += c
            if acc >= 0.9 * wait_n:
                p90 = (i + 0.5) * WAIT_BIN
                break
    day_rates = [r.abandon_rate for r in results]
    return {
        "occupancy": sum(r.busy_time for r in results) / staffed if staffed else 0.0,
        "talk_min_per_hour": sum(r.talk_time for r in results) / 60.0 / hours if hours else 0.0,
        "connects_per_hour": connects / hours if hours else 0.0,
        "abandon_rate": abandons / answered if answered else 0.0,
        "abandon_max_day": max(day_rates) if day_rates else 0.0,
        "wait_mean": sum(r.wait_sum for r in results) / wait_n if wait_n else 0.0,
        "wait_p90": p90,
        "dials_per_connect": dials / connects if connects else 0.0,
        "peak_lines": max(r.peak_lines for r in results) if results else 0,
        "amd_dial_share": (sum(r.amd_dials for r in results) / dials) if dials else 0.0,
        "machine_min_per_hour": sum(r.machine_time for r in results) / 60.0 / hours if hours else 0.0,
        "days": len(results),
    }
