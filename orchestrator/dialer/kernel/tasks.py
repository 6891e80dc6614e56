"""The process's tasks: every call, agent and loop of the dialer runs in one TaskGroup."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger("orchestrator.dialer")


class TaskRunner:
    """Spawns guarded tasks in the process TaskGroup once it is attached; `stopping` is set
    when the service stops (loops and retries watch it)."""

    def __init__(self) -> None:
        self._tg: asyncio.TaskGroup | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = asyncio.Event()

    def attach(self, tg: asyncio.TaskGroup) -> None:
        self._tg = tg

    @property
    def running(self) -> bool:
        """The tasks run (`spawn` works)."""
        return self._tg is not None

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Run a task in the process TaskGroup (tracked, cancelled at shutdown)."""
        if self._tg is None:
            raise RuntimeError("the dialer is not running")
        task = self._tg.create_task(_guarded(coro, name), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def cancel(self, *names: str) -> None:
        """Cancel the running tasks of these names (the endless loops, at shutdown)."""
        for task in list(self.tasks):
            if task.get_name() in names:
                task.cancel()


async def _guarded(coro: Coroutine[Any, Any, Any], name: str | None) -> Any:
    # One failing call, agent or loop must never take the whole service down with it
    # (an exception in a TaskGroup task cancels every other task).
    try:
        return await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("dialer.task_failed", task=name)
        return None
