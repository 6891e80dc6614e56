"""ARI REST client against pbxsim (real sockets): round-trips and typed errors."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from orchestrator.ari import (
    AriBadRequest,
    AriChannelExists,
    AriClient,
    AriConfig,
    AriConflict,
    AriEventStream,
    AriNotConnected,
    AriNotFound,
    AriServerError,
    AriUnauthorized,
    AriUnprocessable,
    ChannelDestroyed,
    PlaybackFinished,
    StasisStart,
)
from tests.adapters.ari_helpers import (
    ari_config,
    is_,
    running_stream,
    sim,  # noqa: F401  (module-scoped pbxsim fixture)
)
from tests.support.pbxsim import PbxSim

pytestmark = [pytest.mark.timeout(30), pytest.mark.asyncio(loop_scope="module")]


async def test_channel_round_trip(sim: PbxSim) -> None:  # noqa: F811
    async with running_stream(sim) as (ari, stream, rec):
        ch = await ari.originate("rt-cust", "Local/1001@customers", ring_timeout=30,
                                 variables={"ATTEMPT": "rt-cust"}, caller_id="Dialer <5550001>")
        assert ch.id == "rt-cust" and ch.name.startswith("Local/1001@customers")
        start = await rec.wait_for(is_("StasisStart", "rt-cust"))
        assert isinstance(start, StasisStart) and start.channel.id == "rt-cust"

        got = await ari.get_channel("rt-cust")
        assert got.state == "Up"
        assert "rt-cust" in {c.id for c in await ari.list_channels()}

        await ari.set_variable("rt-cust", "CAD_NOTE", "hello ☎")
        assert await ari.get_variable("rt-cust", "CAD_NOTE") == "hello ☎"
        long_value = "x" * 5000  # too long for a query string: goes as a JSON body
        await ari.set_variable("rt-cust", "CAD_LONG", long_value)
        assert await ari.get_variable("rt-cust", "CAD_LONG") == long_value
        await ari.set_variable("rt-cust", "CAD_NOTE", None)
        with pytest.raises(AriNotFound):
            await ari.get_variable("rt-cust", "CAD_NOTE")

        for op in (ari.answer, ari.hold, ari.unhold, ari.ring, ari.stop_ring, ari.stop_moh):
            await op("rt-cust")
        await ari.start_moh("rt-cust", "default")
        await ari.stop_moh("rt-cust")

        pb = await ari.play("rt-cust", "pb-1", "sound:lab/beep")
        assert pb.id == "pb-1" and pb.target_uri == "channel:rt-cust"
        fin = await rec.wait_for(is_("PlaybackFinished", "rt-cust"))
        assert isinstance(fin, PlaybackFinished) and fin.playback.state == "done"

        await ari.hangup("rt-cust", reason="normal")
        gone = await rec.wait_for(
            lambda e: isinstance(e, ChannelDestroyed) and e.channel.id == "rt-cust")
        assert isinstance(gone, ChannelDestroyed) and gone.cause == 16
        with pytest.raises(AriNotFound):
            await ari.get_channel("rt-cust")


async def test_create_dial_and_bridge_round_trip(sim: PbxSim) -> None:  # noqa: F811
    async with running_stream(sim) as (ari, stream, rec):
        await ari.originate("br-agent", "Local/agent1@agents")
        await rec.wait_for(is_("StasisStart", "br-agent"))
        cust = await ari.create_channel("br-cust", "Local/1002@customers", app_args="dial")
        assert cust.state == "Down"
        await rec.wait_for(is_("StasisStart", "br-cust"))

        bridge = await ari.create_bridge("br-1", type="mixing", name="call-br")
        assert bridge.id == "br-1" and bridge.bridge_type == "mixing"
        await ari.add_to_bridge("br-1", ["br-agent", "br-cust"])
        await ari.play_on_bridge("br-1", "ringback", "tone:ring;tonezone=us")
        await ari.dial("br-cust", ring_timeout=20)
        await rec.wait_for(is_("Dial", "br-cust", dialstatus="ANSWER"))
        await ari.stop_playback("ringback")
        assert set((await ari.get_bridge("br-1")).channels) == {"br-agent", "br-cust"}

        rec_ = await ari.record_bridge("br-1", "call-br-rec", format="wav")
        assert rec_.name == "call-br-rec"
        await rec.wait_for(lambda e: e.type == "RecordingStarted")
        await ari.pause_recording("call-br-rec")
        assert (await ari.get_live_recording("call-br-rec")).state == "paused"
        await ari.unpause_recording("call-br-rec")
        await ari.stop_recording("call-br-rec")
        await rec.wait_for(lambda e: e.type == "RecordingFinished")
        stored = await ari.get_stored_recording("call-br-rec")
        assert stored.name == "call-br-rec"
        await ari.delete_stored_recording("call-br-rec")
        with pytest.raises(AriNotFound):
            await ari.get_stored_recording("call-br-rec")

        await ari.start_bridge_moh("br-1")
        await ari.stop_bridge_moh("br-1")
        await ari.remove_from_bridge("br-1", "br-cust")
        await rec.wait_for(is_("ChannelLeftBridge", "br-cust"))

        app = await ari.get_application()
        assert {"br-agent", "br-cust"} <= app.channel_ids
        assert "br-1" in (await ari.subscribe("bridge:br-1")).bridge_ids

        await ari.destroy_bridge("br-1")
        await rec.wait_for(is_("BridgeDestroyed", "bridge:br-1"))
        await ari.hangup("br-cust")
        await ari.hangup("br-agent")


async def test_typed_errors(sim: PbxSim) -> None:  # noqa: F811
    async with running_stream(sim) as (ari, stream, rec):
        with pytest.raises(AriNotFound) as nf:
            await ari.get_channel("no-such-channel")
        assert nf.value.status == 404 and nf.value.message == "Channel not found"
        with pytest.raises(AriNotFound):
            await ari.hangup("no-such-channel")

        await ari.originate("er-cust", "Local/1001@customers")
        await rec.wait_for(is_("StasisStart", "er-cust"))
        with pytest.raises(AriChannelExists) as dup:
            await ari.originate("er-cust", "Local/1002@customers")
        assert dup.value.status == 409 and dup.value.duplicate_confirmed is True

        await ari.create_bridge("er-bridge")
        with pytest.raises(AriConflict) as bdup:
            await ari.create_bridge("er-bridge")
        assert "already exists" in bdup.value.message

        # the ;2 half is not in Stasis (surprise 19)
        with pytest.raises(AriUnprocessable) as half:
            await ari.add_to_bridge("er-bridge", "er-cust;2")
        assert half.value.status == 422
        # an unknown channel is 400, not 404, and none of the list is added
        with pytest.raises(AriBadRequest) as unknown:
            await ari.add_to_bridge("er-bridge", ["er-cust", "nope"])
        assert unknown.value.status == 400
        assert (await ari.get_bridge("er-bridge")).channels == ()
        with pytest.raises(AriBadRequest):
            await ari.request("DELETE", "/channels/er-cust", params={"reason": "foo"})
        with pytest.raises(AriServerError) as alloc:
            await ari.originate("er-bad", "Foo/bar")
        assert alloc.value.status == 500 and alloc.value.message == "Allocation failed"
        with pytest.raises(ValueError, match="hangup reason"):
            await ari.hangup("er-cust", reason="because")
        await ari.hangup("er-cust")
        await ari.destroy_bridge("er-bridge")


async def test_bad_credentials_are_401_and_never_leak(sim: PbxSim) -> None:  # noqa: F811
    cfg = AriConfig(base_url=sim.ari_url, app="dialer", username=sim.user,
                    password="wrong-password-xyz")
    assert "wrong-password-xyz" not in repr(cfg) and "***" in repr(cfg)
    async with AriClient(cfg) as ari:
        with pytest.raises(AriUnauthorized) as exc:
            await ari.list_channels()
        assert exc.value.status == 401
        assert "wrong-password-xyz" not in str(exc.value)
        stream = AriEventStream(ari, lambda e: asyncio.sleep(0))
        with pytest.raises(AriUnauthorized):
            async with asyncio.timeout(5):
                await stream.run()
    with pytest.raises(ValueError, match="credentials"):
        AriConfig(base_url="http://u:p@127.0.0.1:8088/ari", app="dialer", username="u",
                  password="p")


async def test_originate_refused_while_socket_down(sim: PbxSim) -> None:  # noqa: F811
    async with AriClient(ari_config(sim)) as ari:
        with pytest.raises(AriNotConnected):
            await ari.originate("nc-1", "Local/1001@customers")
        stream = AriEventStream(ari, lambda e: asyncio.sleep(0))
        with pytest.raises(AriNotConnected):
            await ari.create_channel("nc-2", "Local/1001@customers")
        async with asyncio.TaskGroup() as tg:
            tg.create_task(stream.run())
            async with asyncio.timeout(5):
                await stream.wait_connected()
            await ari.originate("nc-3", "Local/1001@customers")
            await stream.close()
        assert not stream.connected.is_set()
        with pytest.raises(AriNotConnected):
            await ari.originate("nc-4", "Local/1001@customers")
        # Explicitly sending it to the dialplan (not our app) is allowed.
        await ari.originate("nc-5", "Local/1001@customers", context="dialer-amd", extension="s",
                            priority=1)
        ids = {c.id for c in await ari.list_channels()}
    assert {"nc-3", "nc-5"} <= ids and not ids & {"nc-1", "nc-2", "nc-4"}


async def test_stale_409_on_keepalive_connection_does_not_mislead() -> None:
    """Surprise 15 at the protocol boundary: Asterisk's errno is per HTTP connection.

    The fake answers like Asterisk 22.10.1: after a genuine id clash on a keep-alive
    connection, a failed allocation on that same connection reports 409; on a fresh
    connection it is 500. The client drops the connection after a 409 on channel
    creation, so the next failure is reported truthfully.
    """
    poisoned: set[object] = set()
    existing = {"dup-1"}

    async def originate(request: web.Request) -> web.Response:
        assert request.transport is not None
        conn = request.transport.get_extra_info("peername")
        cid = request.match_info["cid"]
        if cid in existing:
            poisoned.add(conn)
            return web.json_response(
                {"message": "Channel with given unique ID already exists"}, status=409)
        if request.query["endpoint"].startswith("Foo/"):
            if conn in poisoned:
                return web.json_response(
                    {"message": "Channel with given unique ID already exists"}, status=409)
            return web.json_response({"error": "Allocation failed"}, status=500)
        existing.add(cid)
        return web.json_response({"id": cid, "name": "Local/x", "state": "Down"})

    async def get_channel(request: web.Request) -> web.Response:
        if request.match_info["cid"] in existing:
            return web.json_response({"id": request.match_info["cid"], "state": "Up"})
        return web.json_response({"message": "Channel not found"}, status=404)

    app = web.Application()
    app.router.add_post("/ari/channels/{cid}", originate)
    app.router.add_get("/ari/channels/{cid}", get_channel)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        cfg = AriConfig(base_url=f"http://127.0.0.1:{port}/ari", app="dialer", username="u",
                        password="p")
        # one connection at a time, as a keep-alive client would reuse it
        async with aiohttp.ClientSession(
                headers={"Authorization": cfg.authorization_header()},
                connector=aiohttp.TCPConnector(limit=1)) as session:
            ari = AriClient(cfg, session=session)
            with pytest.raises(AriChannelExists):
                await ari.originate("dup-1", "Local/1@x", allow_disconnected=True)
            with pytest.raises(AriServerError) as exc:
                await ari.originate("new-1", "Foo/bar", allow_disconnected=True)
            assert exc.value.status == 500
    finally:
        await runner.cleanup()
