"""Build docs/benchmarks.md from the per-topic reports in docs/benchmarks/*.md.

Each benchmark writes (or its author keeps) its own fragment; this puts them in one
report in a fixed order, so a rerun of one benchmark never clobbers another's numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
ORDER = ["pacing", "import", "phones-rules", "ari", "ledger", "stats", "agi"]
HEADER = """# Benchmarks

Every number here was measured on the project's 2-core machine (shared with other
work while measured: compare ratios within one run, not across runs). Each section
says how to rerun it; `python scripts/stitch_benchmarks.py` rebuilds this page from
`docs/benchmarks/*.md`.

| topic | rerun |
|---|---|
| predictive pacing simulation | `make bench-pacing` |
| contact import | `make bench-import` |
| phone parsing and dialing rules | `.venv/bin/python -m bench.rules_bench` |
| ARI event reader | `make bench-ari` |
| ledger write-ahead | `.venv/bin/python bench/ledger_bench.py` |
| dashboard statistics under load | `make bench-stats` (needs `wrk`) |
| FastAGI screen-pop | `make bench-agi` |

"""


def main() -> None:
    parts = [HEADER]
    fragments = {p.stem: p for p in sorted((DOCS / "benchmarks").glob("*.md"))}
    for name in ORDER + sorted(set(fragments) - set(ORDER)):
        if name in fragments:
            text = fragments[name].read_text().strip()
            # Fragments link their plots relative to docs/benchmarks/.
            text = re.sub(r"\]\((?:\./)?(?!https?:|/|benchmarks/)([^)]+\.(?:png|svg))\)",
                          r"](benchmarks/\1)", text)
            parts.append(text + "\n")
    (DOCS / "benchmarks.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
