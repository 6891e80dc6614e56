"""The worker processes that run the row checks (RowChecker) of a large file's chunks,
while the main process finishes the previous chunks and the COPY writer sends them."""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import resource
from collections.abc import Sequence
from typing import Any

from orchestrator.ledger.importer.columns import ContactColumns
from orchestrator.ledger.importer.row_checks import CheckedBatch, RowChecker

PARALLEL_MIN_BYTES = 2_000_000
"""Below this file size phones are analyzed in-process (worker start-up is not worth it)."""

_WORKER_CHECKER: RowChecker | None = None


def _worker_init(cols: ContactColumns, region: str | None) -> None:
    global _WORKER_CHECKER
    _WORKER_CHECKER = RowChecker(cols, region)


def _worker_check(first_line: int, text: str, ids: Sequence[int], campaign_id: int,
                  max_attempts: int) -> CheckedBatch:
    assert _WORKER_CHECKER is not None
    return _WORKER_CHECKER.check(first_line, text, ids, campaign_id, max_attempts)


class _Done:
    """An already computed result with the interface of multiprocessing's AsyncResult."""

    def __init__(self, value: CheckedBatch) -> None:
        self._value = value

    def get(self) -> CheckedBatch:
        return self._value


class RowCheckPool:
    """Runs RowChecker.check in `jobs` worker processes, or in-process when jobs is 0.

    Create it before opening database connections or threads: workers are forked, and
    a forked child must not inherit a live connection.
    """

    def __init__(self, jobs: int, cols: ContactColumns, region: str | None) -> None:
        self._pool: multiprocessing.pool.Pool | None = None
        self._local: RowChecker | None = None
        if jobs > 0:
            self._pool = multiprocessing.get_context("fork").Pool(
                jobs, initializer=_worker_init, initargs=(cols, region))
        else:
            self._local = RowChecker(cols, region)

    def submit(self, first_line: int, text: str, ids: Sequence[int], campaign_id: int,
               max_attempts: int) -> _Done | multiprocessing.pool.AsyncResult[Any]:
        if self._pool is None:
            assert self._local is not None
            return _Done(self._local.check(first_line, text, ids, campaign_id, max_attempts))
        return self._pool.apply_async(_worker_check,
                                      (first_line, text, ids, campaign_id, max_attempts))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def finish(self) -> float | None:
        """Let the workers exit after their last task; returns the CPU seconds the worker
        processes used in all (task transfer included), None when unknown."""
        if self._pool is None:
            return None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._pool.close()
        self._pool.join()
        self._pool = None
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    def __enter__(self) -> RowCheckPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def jobs_for(size: int, jobs: int | None) -> int:
    """Worker processes for a file of `size` bytes: `jobs` if given, else none for a small
    file (starting them is not worth it), one per CPU for a large one."""
    if jobs is not None:
        return max(0, jobs)
    if size < PARALLEL_MIN_BYTES:
        return 0
    return os.cpu_count() or 1
