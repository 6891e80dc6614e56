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
from .sim import DayResult, run_day, summarize

STRESSES = ("answer_drop", "pauses", "amd")
# relative CPU cost per agent-day, to start the longest jobs first
_COST = {"progressive": 1.0, "power": 1.0, "vicidial": 1.2, "ours": 6.0, "oracle": 6.0}


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


def _job(args: tuple[Scenario, str, bool]) -> DayResult:
    sc, pol, series = args
    return run_day(sc, pol, record_series=series)


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
    ap.add_argument("--policies", type=str, default=",".join(POLICIES))
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    ap.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the report from the last run's bench/out/pacing.json",
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
        agents, rates, timeouts, seeds = [5, 20, 100], [0.3], [26.0], 1
    else:
        agents, rates, timeouts, seeds = [5, 20, 100, 200], [0.2, 0.3, 0.35], [15.0, 26.0], 20
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
        (sc, pol, sc.seed == 0 and sc.agents == series_agents and sc.stress != "none")
        for sc in grid
        for pol in policies
    ]
    jobs.sort(key=lambda j: -j[0].agents * _COST.get(j[1], 1.0))
    print(
        f"pacing bench: {len(grid)} days x {len(policies)} policies = {len(jobs)} runs "
        f"on {a.workers} worker(s)",
        file=sys.stderr,
    )
    t0 = time.monotonic()
    results: list[DayResult] = []
    if a.workers > 1:
        with mp.get_context("fork").Pool(a.workers) as pool:
            for i, r in enumerate(pool.imap_unordered(_job, jobs, chunksize=1), 1):
                results.append(r)
                if i % 100 == 0:
                    print(f"  {i}/{len(jobs)} runs, {time.monotonic() - t0:.0f} s", file=sys.stderr)
    else:
        results = [_job(j) for j in jobs]
    wall = time.monotonic() - t0
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
        "scenario_defaults": asdict(Scenario()),
    }
    a.out.mkdir(parents=True, exist_ok=True)
    raw = Path("bench/out")
    raw.mkdir(parents=True, exist_ok=True)
    # the quick grid must not overwrite the full run's data (--report-only reads it)
    (raw / ("pacing-quick.json" if a.quick else "pacing.json")).write_text(
        json.dumps({"meta": meta, "summary": summary, "series": series}, indent=1)
    )
    write_report(a.out, meta, summary, series, plots=not a.no_plots)
    print(
        f"done in {wall:.0f} s wall; one 8-hour day of 100 agents (ours): {day_cpu:.2f} s CPU; "
        f"report in {a.out / 'pacing.md'}",
        file=sys.stderr,
    )
    return 0


def _report_only(out: Path, *, plots: bool) -> int:
    raw = Path("bench/out/pacing.json")
    if not raw.exists():
        print(f"{raw} not found: run the benchmark first", file=sys.stderr)
        return 2
    data = json.loads(raw.read_text())
    series = data.get("series") or {}
    out.mkdir(parents=True, exist_ok=True)
    write_report(out, data["meta"], data["summary"], series, plots=plots)
    print(f"report rewritten in {out / 'pacing.md'}", file=sys.stderr)
    return 0
