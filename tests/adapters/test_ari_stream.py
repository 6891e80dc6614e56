"""ARI WebSocket reader against pbxsim: reconnect, half-open, re-sync, per-channel dispatch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest

from orchestrator.ari import (
    AriClient,
    AriEvent,
    AriEventStream,
    Channel,
    ChannelDestroyed,
    Dial,
    StasisStart,
)
from tests.adapters.ari_helpers import (
    Recorder,
    ari_config,
    is_,
    running_stream,
    sim,  # noqa: F401  (module-scoped pbxsim fixture)
)
from tests.support.pbxsim import PbxSim

pytestmark = [pytest.mark.timeout(30), pytest.mark.asyncio(loop_scope="module")]


async def test_reconnect_after_cut_keeps_stasis_channels(sim: PbxSim) -> None:  # noqa: F811
    async with running_stream(sim) as (ari, stream, rec):
        await ari.originate("cut-a", "Local/1001@customers")
        await rec.wait_for(is_("StasisStart", "cut-a"))
        assert stream.generation == 1

        await sim.cut_ws()
        snap = await rec.wait_snapshot(2)
        assert stream.connected.is_set() and stream.stats.connects == 2
        # Channels in Stasis stay there while the socket is down (surprise 12).
        assert "cut-a" in snap.app_channel_ids and "cut-a" in snap.channels
        assert snap.channels["cut-a"].state == "Up"

        # Events flow on the new socket.
        await ari.hangup("cut-a")
        await rec.wait_for(lambda e: isinstance(e, ChannelDestroyed) and e.channel.id == "cut-a")


async def test_resync_after_half_open_misses_channel_that_hung_up(sim: PbxSim) -> None:  # noqa: F811
    async with running_stream(sim) as (ari, stream, rec):
        for cid, number in (("ho-stays", "1001"), ("ho-gone", "1002")):
            await ari.originate(cid, f"Local/{number}@customers")
        for cid in ("ho-stays", "ho-gone"):
            await rec.wait_for(is_("StasisStart", cid))

        t0 = time.monotonic()
        await sim.stall_ws(5)  # half-open: no frames, no pongs
        await sim.far_end_hangup("ho-gone")  # its events are lost with the stalled socket
        snap = await rec.wait_snapshot(2, within=6)
        detected_after = time.monotonic() - t0
        assert detected_after < 3.0, detected_after  # heartbeat 0.5 s, liveness 1.5 s

        assert "ho-stays" in snap.app_channel_ids and "ho-stays" in snap.channels
        assert "ho-gone" not in snap.app_channel_ids and "ho-gone" not in snap.channels
        # It was never announced: only the re-sync tells us it ended.
        assert not [e for e in rec.of("ho-gone") if isinstance(e, ChannelDestroyed)]
        await ari.hangup("ho-stays")


async def test_watchdog_detects_half_open_before_heartbeat(sim: PbxSim) -> None:  # noqa: F811
    # liveness just above the ping interval: the application-level watchdog fires
    # before aiohttp's own pong timeout (heartbeat * 1.5).
    async with running_stream(sim, heartbeat=1.0, liveness_timeout=1.2) as (ari, stream, rec):
        await sim.stall_ws(4)
        await rec.wait_snapshot(2, within=5)
        assert stream.stats.half_open == 1


async def test_slow_handler_never_stalls_other_channels(sim: PbxSim) -> None:  # noqa: F811
    release = asyncio.Event()
    rec = Recorder()
    handled_at: dict[str, float] = {}

    async def handler(ev: AriEvent) -> None:
        if ev.ordering_key == "slow" and isinstance(ev, StasisStart):
            await release.wait()  # e.g. a handler stuck on the database
        if isinstance(ev, ChannelDestroyed):
            handled_at.setdefault(ev.ordering_key, time.monotonic())
        await rec(ev)

    async with running_stream(sim, handler, resync=rec.resync) as (ari, stream, _):
        await ari.originate("slow", "Local/1001@customers")
        await rec.wait_for(lambda e: e.ordering_key == "slow" and e.type == "Dial"
                           and getattr(e, "dialstatus", "") == "ANSWER")
        # The slow channel's worker is now blocked on StasisStart.
        fast = [f"fast-{i}" for i in range(8)]
        started = time.monotonic()
        for i, cid in enumerate(fast):
            # ..9: answers then hangs up after 1 s of simulated time (0.1 s at speed 10)
            await ari.originate(cid, f"Local/10{i}9@customers")
        await ari.hangup("slow")
        for cid in fast:
            await rec.wait_for(lambda e, c=cid: isinstance(e, ChannelDestroyed)
                               and e.channel.id == c, within=5)
        latest = max(handled_at[c] for c in fast) - started
        assert latest < 2.0, latest
        # Nothing of the slow channel after its StasisStart was handled yet.
        handled_slow = [e.type for e in rec.of("slow")]
        assert "StasisStart" not in handled_slow and "ChannelDestroyed" not in handled_slow
        assert stream.pending > 0

        release.set()
        await rec.wait_for(lambda e: isinstance(e, ChannelDestroyed) and e.channel.id == "slow")
        slow_types = [e.type for e in rec.of("slow")]
        assert slow_types.index("StasisStart") < slow_types.index("StasisEnd")
        assert slow_types.index("StasisEnd") < slow_types.index("ChannelDestroyed")


async def test_events_in_order_per_channel_with_jittery_handlers(sim: PbxSim) -> None:  # noqa: F811
    rec = Recorder()
    arrival: list[str] = []

    async def handler(ev: AriEvent) -> None:
        # deterministic pseudo-random delays make keys overtake each other
        await asyncio.sleep((hash(ev.raw.get("timestamp", "")) % 7) / 1000)
        arrival.append(ev.ordering_key)
        await rec(ev)

    def destroyed(cid: str) -> Callable[[AriEvent], bool]:
        return lambda e: isinstance(e, ChannelDestroyed) and e.channel.id == cid

    async with running_stream(sim, handler, resync=rec.resync) as (ari, stream, _):
        ids = [f"ord-{i}" for i in range(6)]
        for i, cid in enumerate(ids):
            await ari.originate(cid, f"Local/20{i}9@customers")  # answers, hangs up after 1 s
        for cid in ids:
            await rec.wait_for(destroyed(cid), within=5)
            await rec.wait_for(destroyed(cid + ";2"), within=5)
    for cid in ids:
        events = rec.of(cid)
        # the ;2 half's events come under the same key as the ;1 half's (surprise 6)
        for chan in (cid, cid + ";2"):
            mine = [e for e in events if isinstance(getattr(e, "channel", None), Channel)
                    and e.channel.id == chan]  # type: ignore[attr-defined]
            assert mine and isinstance(mine[-1], ChannelDestroyed), chan  # always last
        types = [e.type for e in events if getattr(e, "channel", None) is not None
                 and e.channel.id == cid]  # type: ignore[attr-defined]
        assert types.index("StasisStart") < types.index("StasisEnd")
        assert types.index("ChannelHangupRequest") < types.index("ChannelDestroyed")
        dials = [e.dialstatus for e in events if isinstance(e, Dial)]
        assert dials.index("") < dials.index("ANSWER")  # dial begins before the answer
    # and the keys really were interleaved with each other
    first_seen = sorted(set(arrival), key=arrival.index)
    assert arrival != sorted(arrival, key=first_seen.index)


async def test_application_replaced_then_taken_back(sim: PbxSim) -> None:  # noqa: F811
    async with running_stream(sim, backoff_max=0.3) as (ari, stream, rec):
        headers = {"Authorization": ari.config.authorization_header()}
        async with aiohttp.ClientSession(headers=headers) as s, \
                s.ws_connect(ari.config.events_url, params={"app": "dialer"}) as other:
            await rec.wait_for(lambda e: e.type == "ApplicationReplaced")
            # We took the app back after a pause; the other socket is told so.
            await rec.wait_snapshot(2, within=5)
            msg = await asyncio.wait_for(other.receive(), 5)
            assert "ApplicationReplaced" in msg.data
        assert stream.connected.is_set()


async def test_connect_retries_with_backoff_and_close_interrupts() -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    from orchestrator.ari import AriConfig

    cfg = AriConfig(base_url=f"http://127.0.0.1:{port}/ari", app="dialer", username="u",
                    password="p", backoff_initial=0.02, backoff_max=0.1, attention_after=2)
    async with AriClient(cfg) as ari:
        stream = AriEventStream(ari, lambda e: asyncio.sleep(0))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(stream.run())
            await asyncio.sleep(0.6)
            assert stream.stats.connect_failures >= 3
            assert not stream.connected.is_set()
            t0 = time.monotonic()
            await stream.close()
            assert time.monotonic() - t0 < 1.0


async def test_graceful_close_waits_for_a_quiet_moment(sim: PbxSim) -> None:  # noqa: F811
    rec = Recorder()
    async with AriClient(ari_config(sim, quiet_period=0.3)) as ari:
        stream = AriEventStream(ari, rec, resync=rec.resync)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(stream.run())
            async with asyncio.timeout(5):
                await stream.wait_synced()
            await ari.originate("q-1", "Local/1001@customers")
            await ari.hangup("q-1")  # a burst of events follows
            t0 = time.monotonic()
            await stream.close()
            elapsed = time.monotonic() - t0
    assert elapsed >= 0.3
    # the burst was read to its end before closing
    assert any(isinstance(e, ChannelDestroyed) and e.channel.id == "q-1" for e in rec.events)
    assert not stream.connected.is_set()
