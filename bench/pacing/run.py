"""Run the pacing grid (in parallel) and write the report."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .model import Scenario, progressive_analytic
from .policies import POLICIES
from .report import write_report
from .sim import DayResult, run_day, run_days, summarize, worst_rolling_window

STRESSES = ("answer_drop", "pauses", "amd")
# relative CPU cost per agent-day, to start the longest jobs first
_COST = {"progressive": 1.0, "power": 1.0, "vicidial": 1.2, "ours": 6.0, "oracle": 6.0, "oracle+": 6.0}
#: policies of the main grid; "oracle+" (also told the answer rate) runs on the headline cells only
GRID_POLICIES = ("progressive", "power", "vicidial", "ours", "oracle")
#: multi-day runs: consecutive days with the pacer carried over each night
MULTI_DAY_POLICIES = ("progressive", "ours", "oracle")
MULTI_DAY_STRESSES = ("none", "amd")


def build_grid(
    agents: list[int],
    answer_rates: list[float],
    timeouts: list[float],
    stresses: list[str],
    seeds: int,
) -> list[Scenario]:
    cells: list[Scenario] = []
    for n in agents:
        for p in answer_rates:
            for to in timeouts:
                cells.append(Scenario(agents=n, answer_rate=p, timeout=to))
        for st in stresses:
            # stress days at the headline point: answer rate 0.3, timeout 26 s
            cells.append(Scenario(agents=n, answer_rate=0.3, timeout=26.0, stress=st))  # type: ignore[arg-type]
    return [c.with_(seed=s) for c in cells for s in range(seeds)]


def _job(args: tuple[Scenario, str, bool, int]) -> list[DayResult]:
    sc, pol, series, days = args
    if days > 1:
        return run_days(sc, pol, days)
    return [run_day(sc, pol, record_series=series)]


def cell_key(sc: Scenario) -> tuple[int, float, float, str]:
    return (sc.agents, sc.answer_rate, sc.timeout, sc.stress)


def time_one_day(agents: int = 100, policy: str = "ours") -> float:
    """CPU seconds to simulate one 8-hour day (headline scenario)."""
    t = time.process_time()
    run_day(Scenario(agents=agents, answer_rate=0.3, timeout=26.0, seed=12345), policy)
    return time.process_time() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pacing", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small grid (< 1 min)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per grid cell (default 20)")
    ap.add_argument("--agents", type=str, default=None, help="comma list, e.g. 5,20,100,200")
    ap.add_argument("--answer-rates", type=str, default=None, help="comma list, e.g. 0.2,0.3")
    ap.add_argument("--timeouts", type=str, default=None, help="comma list, e.g. 15,26")
    ap.add_argument("--no-stress", action="store_true", help="skip the stress days")
    ap.add_argument("--policies", type=str, default=",".join(GRID_POLICIES))
    ap.add_argument("--days", type=int, default=None, help="days per multi-day run (default 3, 0 = none)")
    ap.add_argument(
        "--multi-day-agents", type=str, default=None, help="team sizes of the multi-day runs (default 5,20,100)"
    )
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    ap.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the report from the last run's bench/out/pacing.json",
    )
    ap.add_argument(
        "--multi-day-only",
        action="store_true",
        help="rerun only the multi-day runs and update the last full run's bench/out/pacing.json",
    )
    a = ap.parse_args(argv)
    if a.report_only:
        return _report_only(a.out, plots=not a.no_plots)

    def floats(s: str) -> list[float]:
        try:
            return [float(x) for x in s.split(",") if x.strip()]
        except ValueError as exc:
            ap.error(f"bad number list {s!r}: {exc}")
            raise

    if a.quick:
        agents, rates, timeouts, seeds, n_days = [5, 20, 100], [0.3], [26.0], 1, 2
        md_agents = [5, 20]
    else:
        agents, rates, timeouts, seeds, n_days = [5, 20, 100, 200], [0.2, 0.3, 0.35], [15.0, 26.0], 20, 3
        md_agents = [5, 20, 100]
    if a.days is not None:
        n_days = a.days
    if a.multi_day_agents:
        md_agents = [int(x) for x in floats(a.multi_day_agents)]
    if a.agents:
        agents = [int(x) for x in floats(a.agents)]
    if a.answer_rates:
        rates = floats(a.answer_rates)
    if a.timeouts:
        timeouts = floats(a.timeouts)
    if a.seeds is not None:
        seeds = a.seeds
    if seeds < 1 or any(n < 1 for n in agents):
        ap.error("--seeds and --agents must be positive")
    policies = [p.strip() for p in a.policies.split(",") if p.strip()]
    for p in policies:
        if p not in POLICIES:
            ap.error(f"--policies: unknown policy {p!r} (choose from {', '.join(POLICIES)})")
    stresses = [] if a.no_stress else list(STRESSES)

    grid = build_grid(agents, rates, timeouts, stresses, seeds)
    series_agents = max((n for n in agents if n <= 100), default=agents[0])
    jobs = [
        (sc, pol, sc.seed == 0 and sc.agents == series_agents and sc.stress != "none", 1)
        for sc in grid
        for pol in policies
    ]
    if "oracle" in policies:
        jobs += [
            (sc, "oracle+", False, 1)
            for sc in grid
            if sc.stress == "none" and sc.answer_rate == 0.3 and sc.timeout == 26.0
        ]
    md_policies = [p for p in MULTI_DAY_POLICIES if p in policies]
    if n_days > 1:
        jobs += [
            (Scenario(agents=n, answer_rate=0.3, timeout=26.0, stress=st, seed=s), pol, False, n_days)  # type: ignore[arg-type]
            for n in md_agents
            for st in MULTI_DAY_STRESSES
            if st == "none" or not a.no_stress
            for pol in md_policies
            for s in range(seeds)
        ]
    if a.multi_day_only:
        jobs = [j for j in jobs if j[3] > 1]
    jobs.sort(key=lambda j: -j[0].agents * j[3] * _COST.get(j[1], 1.0))
    print(
        f"pacing bench: {len(grid)} days x {len(policies)} policies = {len(jobs)} runs "
        f"on {a.workers} worker(s)",
        file=sys.stderr,
    )
    t0 = time.monotonic()
    results: list[DayResult] = []
    runs: list[list[DayResult]] = []  # the multi-day runs, each a list of consecutive days
    if a.workers > 1:
        with mp.get_context("fork").Pool(a.workers) as pool:
            for i, days_run in enumerate(pool.imap_unordered(_job, jobs, chunksize=1), 1):
                (runs.append(days_run) if len(days_run) > 1 else results.extend(days_run))
                if i % 100 == 0:
                    print(f"  {i}/{len(jobs)} runs, {time.monotonic() - t0:.0f} s", file=sys.stderr)
    else:
        for j in jobs:
            days_run = _job(j)
            (runs.append(days_run) if len(days_run) > 1 else results.extend(days_run))
    wall = time.monotonic() - t0
    if a.multi_day_only:
        return _update_multi_day(a.out, _summarize_runs(runs), wall, plots=not a.no_plots)
    day_cpu = time_one_day(100, "ours") if "ours" in policies else float("nan")

    cells: dict[tuple[Any, ...], dict[str, list[DayResult]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        cells[cell_key(r.scenario)][r.policy].append(r)
    summary: list[dict[str, Any]] = []
    series: dict[str, dict[str, list[tuple[float, float, float]]]] = defaultdict(dict)
    for key in sorted(cells):
        for pol, days in cells[key].items():
            row = {
                "agents": key[0],
                "answer_rate": key[1],
                "timeout": key[2],
                "stress": key[3],
                "policy": pol,
                **summarize(days),
            }
            if pol == "progressive" and key[3] in ("none", "amd"):
                row["analytic"] = progressive_analytic(days[0].scenario)
            summary.append(row)
            for d in days:
                if d.series:
                    series[key[3]][pol] = d.series
    meta = {
        "seeds": seeds,
        "agents": agents,
        "answer_rates": rates,
        "timeouts": timeouts,
        "stresses": stresses,
        "policies": policies,
        "workers": a.workers,
        "wall_seconds": wall,
        "day_cpu_seconds_100_agents_ours": day_cpu,
        "series_agents": series_agents,
        "days": n_days,
        "multi_day_agents": md_agents if n_days > 1 else [],
        "scenario_defaults": asdict(Scenario()),
    }
    multi_day = _summarize_runs(runs)
    a.out.mkdir(parents=True, exist_ok=True)
    raw = Path("bench/out")
    raw.mkdir(parents=True, exist_ok=True)
    # the quick grid must not overwrite the full run's data (--report-only reads it)
    (raw / ("pacing-quick.json" if a.quick else "pacing.json")).write_text(
        json.dumps({"meta": meta, "summary": summary, "series": series, "multi_day": multi_day}, indent=1)
    )
    write_report(a.out, meta, summary, series, multi_day, plots=not a.no_plots)
    print(
        f"done in {wall:.0f} s wall; one 8-hour day of 100 agents (ours): {day_cpu:.2f} s CPU; "
        f"report in {a.out / 'pacing.md'}",
        file=sys.stderr,
    )
    return 0


def _summarize_runs(runs: list[list[DayResult]]) -> list[dict[str, Any]]:
    """Per (agents, stress, policy): pooled metrics over every day of every run,
    the worst single day, the worst day after the first, the worst 24 h window."""
    groups: dict[tuple[int, str, str], list[list[DayResult]]] = defaultdict(list)
    for run in runs:
        sc = run[0].scenario
        groups[(sc.agents, sc.stress, run[0].policy)].append(run)
    out: list[dict[str, Any]] = []
    for (n, stress, pol), group in sorted(groups.items()):
        days = [d for run in group for d in run]
        later = [d.abandon_rate for d in days if d.scenario.day > 0]
        out.append({
            "agents": n,
            "stress": stress,
            "policy": pol,
            "runs": len(group),
            "days_per_run": len(group[0]),
            **summarize(days),
            "abandon_max_later_day": max(later) if later else 0.0,
            "abandon_max_window": max(worst_rolling_window(run) for run in group),
        })
    return out


def _update_multi_day(out: Path, multi_day: list[dict[str, Any]], wall: float, *, plots: bool) -> int:
    raw = Path("bench/out/pacing.json")
    if not raw.exists():
        print(f"{raw} not found: run the full benchmark first", file=sys.stderr)
        return 2
    data = json.loads(raw.read_text())
    data["multi_day"] = multi_day
    data["meta"]["multi_day_wall_seconds"] = wall
    raw.write_text(json.dumps(data, indent=1))
    return _report_only(out, plots=plots)


def _report_only(out: Path, *, plots: bool) -> int:
    raw = Path("bench/out/pacing.json")
    if not raw.exists():
        print(f"{raw} not found: run the benchmark first", file=sys.stderr)
        return 2
    data = json.loads(raw.read_text())
    series = data.get("series") or {}
    out.mkdir(parents=True, exist_ok=True)
    write_report(out, data["meta"], data["summary"], series, data.get("multi_day") or [], plots=plots)
    print(f"report rewritten in {out / 'pacing.md'}", file=sys.stderr)
    return 0
