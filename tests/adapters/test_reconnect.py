"""The reconnect supervisor shared by the ARI stream and the AMI listener, without a network."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from orchestrator.reconnect import ConnectFailure, ConnectionStats, ConnectionSupervisor

pytestmark = [pytest.mark.timeout(10)]


@dataclass(frozen=True)
class Settings:
    backoff_initial: float = 0.01
    backoff_max: float = 0.04
    attention_after: int = 3


class Refused(Exception):
    """A retryable open failure (like a refused TCP connect)."""


class BadCredentials(Exception):
    """A fatal open failure."""


class Link:
    """A supervisor with scripted opens: each entry is raised, or returned as the connection."""

    def __init__(self, script: list[object], settings: Settings | None = None) -> None:
        self.script = list(script)
        self.failures: list[ConnectFailure] = []
        self.served: list[tuple[object, int, bool]] = []
        self.discarded: list[object] = []
        self.stats = ConnectionStats()
        self.sup = ConnectionSupervisor[object](
            "Link", settings or Settings(), self.stats,
            retryable=lambda exc: isinstance(exc, Refused),
            on_connect_failed=self.failures.append)
        self.serve_hook: Callable[[object], Awaitable[None]] | None = None

    async def open(self) -> object:
        item = self.script.pop(0) if self.script else Refused("script exhausted")
        if isinstance(item, BaseException):
            raise item
        return item

    async def serve(self, conn: object, generation: int) -> None:
        self.served.append((conn, generation, self.sup.connected.is_set()))
        if self.serve_hook is not None:
            await self.serve_hook(conn)

    async def discard(self, conn: object) -> None:
        self.discarded.append(conn)

    async def body(self, tg: asyncio.TaskGroup) -> None:
        await self.sup.supervise(self.open, self.serve, self.discard)

    async def run(self) -> None:
        await self.sup.run(self.body, fatal=BadCredentials)


async def until(pred: Callable[[], bool], within: float = 3.0) -> None:
    for _ in range(int(within / 0.005)):
        if pred():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in time")


async def test_failures_are_counted_and_need_attention_from_the_threshold() -> None:
    link = Link([Refused("1"), Refused("2"), Refused("3"), Refused("4"), "conn-a"])
    stop = asyncio.Event()

    async def hold(conn: object) -> None:
        await stop.wait()

    link.serve_hook = hold
    async with asyncio.TaskGroup() as tg:
        tg.create_task(link.run())
        await until(link.sup.connected.is_set)
        assert [f.failures for f in link.failures] == [1, 2, 3, 4]
        assert [f.needs_attention for f in link.failures] == [False, False, True, True]
        assert link.failures[0].error == "Refused('1')"
        # jittered exponential: uniform in [0, min(max, initial * 2**n)]
        for n, f in enumerate(link.failures):
            assert 0 <= f.retry_in <= round(min(0.04, 0.01 * 2 ** n), 2) + 0.005
        assert (link.stats.connects, link.stats.connect_failures,
                link.stats.consecutive_failures) == (1, 4, 0)
        assert link.served == [("conn-a", 1, True)] and link.sup.generation == 1
        stop.set()
        await until(lambda: link.sup.generation == 1 and not link.sup.connected.is_set())
        assert await link.sup.close(within=1.0)
    assert not link.sup.connected.is_set()


async def test_each_served_connection_is_a_new_generation() -> None:
    link = Link(["a", "b", Refused("x"), "c"])
    async with asyncio.TaskGroup() as tg:
        tg.create_task(link.run())
        await until(lambda: len(link.served) == 3)
        await link.sup.close(within=1.0)
    assert link.served[:3] == [("a", 1, True), ("b", 2, True), ("c", 3, True)]
    # a success resets the run of failures, not the total
    assert link.stats.connects >= 3 and link.stats.connect_failures >= 1
    assert [f.failures for f in link.failures][:1] == [1]


async def test_close_interrupts_a_backoff_sleep() -> None:
    link = Link([Refused("down")], Settings(backoff_initial=30.0, backoff_max=60.0))
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(link.run())
        await until(lambda: len(link.failures) == 1)
        t0 = time.monotonic()
        assert await link.sup.close(within=1.0)
        assert time.monotonic() - t0 < 0.5
        assert runner.done()
    assert link.served == [] and link.sup.closing


async def test_a_connection_opened_after_close_is_discarded_not_served() -> None:
    gate = asyncio.Event()
    link = Link([])

    async def slow_open() -> object:
        await gate.wait()
        return "late"

    link.open = slow_open  # type: ignore[method-assign]
    async with asyncio.TaskGroup() as tg:
        tg.create_task(link.run())
        await asyncio.sleep(0.01)
        closing = tg.create_task(link.sup.close(within=1.0))
        await asyncio.sleep(0.01)
        gate.set()
        assert await closing
    assert link.discarded == ["late"] and link.served == []
    assert link.stats.connects == 0 and link.sup.generation == 0


async def test_a_fatal_error_ends_run_as_itself_without_retry() -> None:
    link = Link([BadCredentials("no")])
    with pytest.raises(BadCredentials):
        await link.run()
    assert link.failures == [] and link.stats.connect_failures == 0
    assert not link.sup.connected.is_set()
    # run() is over, so close() returns at once
    assert await link.sup.close(within=0.1)


async def test_run_twice_at_once_is_refused() -> None:
    link = Link([Refused("down")])
    async with asyncio.TaskGroup() as tg:
        tg.create_task(link.run())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match=r"Link.run\(\) is already running"):
            await link.run()
        await link.sup.close(within=1.0)


async def test_close_reports_a_run_that_does_not_end_in_time() -> None:
    link = Link(["conn"])
    release = asyncio.Event()

    async def ignore_close(conn: object) -> None:
        await release.wait()

    link.serve_hook = ignore_close
    async with asyncio.TaskGroup() as tg:
        tg.create_task(link.run())
        await until(link.sup.connected.is_set)
        assert not await link.sup.close(within=0.05)
        release.set()
    assert not link.sup.connected.is_set()


async def test_sleep_is_cut_short_by_close() -> None:
    sup = ConnectionSupervisor[object]("S", Settings(), ConnectionStats(),
                                       retryable=lambda exc: True,
                                       on_connect_failed=lambda f: None)
    sleeper = asyncio.create_task(sup.sleep(30))
    await asyncio.sleep(0)
    await sup.close(within=0.1)
    async with asyncio.timeout(0.5):
        await sleeper
