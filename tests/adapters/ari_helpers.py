"""Helpers shared by the ARI adapter tests: a recording handler and a running stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio

from orchestrator.ari import AriClient, AriConfig, AriEvent, AriEventStream, AriSnapshot
from tests.support.pbxsim import PbxSim, run_pbxsim


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[PbxSim]:
    """One pbxsim per test module (tests use distinct channel ids): saves a start per test."""
    async with run_pbxsim(speed=10) as pbx:
        yield pbx


def ari_config(pbx: PbxSim, **kw: Any) -> AriConfig:
    """Fast timings for tests."""
    defaults: dict[str, Any] = dict(
        heartbeat=0.5, liveness_timeout=1.5, quiet_period=0.1, close_timeout=2.0,
        backoff_initial=0.05, backoff_max=0.5, request_timeout=3.0, connect_timeout=2.0,
    )
    defaults.update(kw)
    return AriConfig(base_url=pbx.ari_url, app="dialer", username=pbx.user,
                     password=pbx.password, **defaults)


@dataclass
class Recorder:
    """Handler that records events and lets tests wait for one."""

    events: list[AriEvent] = field(default_factory=list)
    snapshots: list[AriSnapshot] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, event: AriEvent) -> None:
        self.events.append(event)
        async with self._changed:
            self._changed.notify_all()

    async def resync(self, snap: AriSnapshot) -> None:
        self.snapshots.append(snap)
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, pred: Callable[[AriEvent], bool], within: float = 5.0) -> AriEvent:
        async with asyncio.timeout(within):
            async with self._changed:
                while True:
                    for ev in self.events:
                        if pred(ev):
                            return ev
                    await self._changed.wait()

    async def wait_snapshot(self, generation: int, within: float = 5.0) -> AriSnapshot:
        async with asyncio.timeout(within):
            async with self._changed:
                while True:
                    for s in self.snapshots:
                        if s.generation == generation:
                            return s
                    await self._changed.wait()

    def of(self, key: str) -> list[AriEvent]:
        return [e for e in self.events if e.ordering_key == key]


def is_(type_name: str, key: str, **attrs: Any) -> Callable[[AriEvent], bool]:
    def pred(ev: AriEvent) -> bool:
        return ev.type == type_name and ev.ordering_key == key and all(
            getattr(ev, k, None) == v for k, v in attrs.items())
    return pred


@contextlib.asynccontextmanager
async def running_stream(
    pbx: PbxSim, handler: Any = None, *, resync: Any = None, **cfg: Any
) -> AsyncIterator[tuple[AriClient, AriEventStream, Recorder]]:
    """An AriClient plus a running AriEventStream (synced) against pbxsim."""
    rec = Recorder()
    async with AriClient(ari_config(pbx, **cfg)) as ari:
        stream = AriEventStream(ari, handler or rec, resync=resync or rec.resync)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(stream.run())
            async with asyncio.timeout(5):
                await stream.wait_synced()
            try:
                yield ari, stream, rec
            finally:
                await stream.close()
