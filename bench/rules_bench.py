"""Micro-benchmark of phone normalization and the dialing rule (pure core, one core).

Run: .venv/bin/python -m bench.rules_bench [--n 100000]
Prints µs per call for the importer's per-row work (analyze_phone) and for
rules.evaluate() in its common cases.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import phonenumbers
from phonenumbers import timezone as pn_timezone

from orchestrator.core import phones
from orchestrator.core.rules import DialingPolicy, TargetFacts, evaluate

US = ["212", "415", "312", "305", "617", "713", "206", "602", "303", "404"]
CA = ["416", "514", "604", "403", "613"]


def sample_numbers(n: int, seed: int = 1) -> list[tuple[str, str | None]]:
    """A realistic list: 60 % US, 10 % Canada, 15 % UK, 15 % Australia; half in
    national format with a default region, half already E.164."""
    rng = random.Random(seed)
    rows: list[tuple[str, str | None]] = []
    for _ in range(n):
        k = rng.random()
        national = rng.random() < 0.5
        sub = f"{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if k < 0.6:
            ac = rng.choice(US)
            rows.append((f"({ac}) {sub[:3]}-{sub[3:]}", "US") if national else (f"+1{ac}{sub}", None))
        elif k < 0.7:
            ac = rng.choice(CA)
            rows.append((f"{ac}-{sub[:3]}-{sub[3:]}", "CA") if national else (f"+1{ac}{sub}", None))
        elif k < 0.85:
            body = f"7{rng.randint(400000000, 999999999)}" if rng.random() < 0.5 else f"20{rng.randint(30000000, 89999999)}"
            rows.append((f"0{body}", "GB") if national else (f"+44{body}", None))
        else:
            body = f"4{rng.randint(10000000, 99999999)}" if rng.random() < 0.5 else f"2{rng.randint(80000000, 99999999)}"
            rows.append((f"0{body}", "AU") if national else (f"+61{body}", None))
    return rows


def timed(label: str, n: int, fn: Callable[[], object], repeat: int = 3) -> float:
    """Best of ``repeat`` runs, in CPU time of this process (the machine is shared: other
    processes inflate wall time; the minimum is the least noisy)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    us = best / n * 1e6
    print(f"{label:<58} {us:8.2f} µs/call  ({1e6 / us:,.0f}/s)")
    return us


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    n = parser.parse_args().n
    rows = sample_numbers(n)

    def normalize_all() -> None:
        for raw, region in rows:
            try:
                phones.analyze_phone(raw, region)
            except phones.PhoneError:
                pass

    timed("analyze_phone (normalize + type + zones), mixed input", n, normalize_all)
    for kind, subset in (
        ("national format + region", [r for r in rows if r[1] is not None]),
        ("already E.164", [r for r in rows if r[1] is None]),
    ):

        def run(rs: list[tuple[str, str | None]] = subset) -> None:
            for raw, region in rs:
                try:
                    phones.analyze_phone(raw, region)
                except phones.PhoneError:
                    pass

        timed(f"  of which {kind}", len(subset), run)

    def library_only() -> None:
        for raw, region in rows:
            try:
                num = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(num):
                phonenumbers.number_type(num)
                phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
                pn_timezone.time_zones_for_number(num)

    timed("for comparison: plain phonenumbers calls, same rows", n, library_only)
    e164s = []
    for raw, region in rows:
        try:
            e164s.append(phones.normalize_e164(raw, region))
        except phones.PhoneError:
            pass
    print(f"  ({len(e164s)} of {n} valid)")
    def zones_cold() -> None:
        phones.candidate_time_zones.cache_clear()
        for e in e164s:
            phones.candidate_time_zones(e)

    timed("candidate_time_zones(e164), not cached", len(e164s), zones_cold)
    few = e164s[:10_000]
    timed("candidate_time_zones(e164), cached", len(few), lambda: [phones.candidate_time_zones(e) for e in few])

    policy = DialingPolicy()
    day = datetime(2026, 6, 17, 17, 0, tzinfo=UTC)  # 13:00 New York
    night = datetime(2026, 6, 17, 6, 0, tzinfo=UTC)
    m = 20_000
    cases = {
        "NY fixed line": "+12125551234",
        "AU mobile (8 zones)": "+61412345678",
        "US toll-free (42 zones)": "+18002345678",
    }
    for label, e164 in cases.items():
        facts = TargetFacts(e164=e164, number_time_zones=phones.candidate_time_zones(e164))
        timed(f"evaluate, {label}, at {day:%H:%M} UTC", m, lambda f=facts: [evaluate(f, policy, day) for _ in range(m)])
        # Closed window: next opening is computed (per-zone offset segments are cached per UTC day).
        instants = [night + timedelta(seconds=37 * i) for i in range(m // 10)]
        timed(
            f"evaluate, {label}, closed -> next opening",
            len(instants),
            lambda f=facts, xs=instants: [evaluate(f, policy, t) for t in xs],
        )


if __name__ == "__main__":
    main()
