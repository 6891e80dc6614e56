"""The --timings breakdown of a contacts import: where the time went (for benchmarks;
docs/benchmarks/import.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import psycopg

STAGES = (
    "csv", "checks_wait", "rows", "copy_wait", "commit", "copy_busy",
    "main_cpu", "workers_cpu", "checks_cpu", "phones_cpu", "server_cpu",
)
"""--timings. Wall seconds: the main thread reading the CSV (finding chunk ends),
waiting for the row checks, finishing rows (checks across rows, COPY data), waiting
for the COPY writer, committing; copy_busy: the writer thread in COPY. CPU seconds:
main_cpu of the main process (all its threads), workers_cpu of the worker processes
(all of it; in-process: as checks_cpu), checks_cpu of RowChecker.check (CSV parsing,
row checks, COPY text, phones), phones_cpu of phone analysis, server_cpu of the
PostgreSQL server processes of both connections (when local, else 0)."""


def server_cpu(conn: psycopg.Connection[Any]) -> Callable[[], float | None]:
    """CPU seconds used so far by the connection's server process, when PostgreSQL runs
    on this machine (read from /proc; for the --timings breakdown only)."""
    pid = conn.info.backend_pid
    host = conn.info.host
    if host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
        return lambda: None
    try:
        with open(f"/proc/{pid}/comm") as f:
            if "postgres" not in f.read():
                return lambda: None
    except OSError:
        return lambda: None
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            return None

    return read
