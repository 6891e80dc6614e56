"""pbxsim behaviour over real sockets: ARI REST + WebSocket, AMI, control endpoint, call log."""

from __future__ import annotations

import asyncio

import pytest

from tests.pbxsim.helpers import Ami, ari_client, is_
from tests.support.pbxsim import PbxSim, pbxsim, run_pbxsim

__all__ = ["pbxsim"]

pytestmark = pytest.mark.timeout(30)


async def originate(ari, number: str, cid: str, context: str = "customers", **kw):
    return await ari.request("POST", "/channels", endpoint=f"Local/{number}@{context}",
                             channelId=cid, app="dialer", appArgs="t", timeout=kw.pop("timeout", 30),
                             **kw)


async def test_ready_line_and_auth(pbxsim: PbxSim) -> None:
    assert pbxsim.ari_url.startswith("http://127.0.0.1:")
    async with ari_client(pbxsim, app=None) as ari:
        st, body = await ari.request("GET", "/channels")
        assert (st, body) == (200, [])
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(pbxsim.ari_url + "/channels") as r:
        assert r.status == 401
    async with aiohttp.ClientSession() as s, s.get(
        pbxsim.ari_url + "/channels", params={"api_key": f"{pbxsim.user}:{pbxsim.password}"}
    ) as r:
        assert r.status == 200


async def test_answer_then_delete(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        st, body = await originate(ari, "1001", "c1")
        assert st == 200 and body["id"] == "c1" and body["name"].endswith(";1")
        assert body["dialplan"]["app_name"] == "AppDial2"
        start = await ari.wait_for(is_("StasisStart", "c1"))
        assert start["args"] == ["t"] and start["channel"]["state"] == "Up"
        dials = [e["dialstatus"] for e in ari.of("c1", "Dial")]
        assert dials == ["", "RINGING", "ANSWER"]
        st, _ = await ari.request("DELETE", "/channels/c1")
        assert st == 204
        hr = await ari.wait_for(is_("ChannelHangupRequest", "c1"))
        assert hr["cause"] == 32 and hr["soft"] is True
        d1 = await ari.wait_for(is_("ChannelDestroyed", "c1"))
        d2 = await ari.wait_for(is_("ChannelDestroyed", "c1;2"))
        assert d1["cause"] == d2["cause"] == 16 and d1["cause_txt"] == "Normal Clearing"
        st, _ = await ari.request("DELETE", "/channels/c1")
        assert st == 404
    await asyncio.sleep(0.05)
    log = pbxsim.read_call_log()
    assert [(r["channel_id"], r["number"], r["outcome"]) for r in log] == [("c1", "1001", "answer")]


@pytest.mark.parametrize(
    ("number", "status", "cause2"),
    [("1005", "BUSY", 17), ("+15551236", "CONGESTION", 34)],
)
async def test_busy_and_congestion_over_local(pbxsim: PbxSim, number: str, status: str,
                                              cause2: int) -> None:
    async with ari_client(pbxsim) as ari:
        await originate(ari, number, "b1")
        d1 = await ari.wait_for(is_("ChannelDestroyed", "b1"))
        d2 = await ari.wait_for(is_("ChannelDestroyed", "b1;2"))
        assert (d1["cause"], d1["cause_txt"]) == (0, "Unknown")  # surprise 1
        assert d2["cause"] == cause2
        assert [e["dialstatus"] for e in ari.of("b1", "Dial")] == ["", status]
        assert not ari.of("b1", "StasisStart")


async def test_noanswer_by_originate_timeout(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        await originate(ari, "1007", "n1", timeout=10)
        d1 = await ari.wait_for(is_("ChannelDestroyed", "n1"), within=5)
        assert d1["cause"] == 19
        assert [e["dialstatus"] for e in ari.of("n1", "Dial")] == ["", "RINGING"]  # surprise 2


async def test_duplicate_channel_id_is_409(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        assert (await originate(ari, "1007", "dup"))[0] == 200
        st, body = await originate(ari, "1001", "dup")
        assert st == 409 and body == {"message": "Channel with given unique ID already exists"}
        st, body = await originate(ari, "1001", "dup;2")
        assert st == 409
        st, body = await ari.request("POST", "/channels")
        assert st == 400 and body["message"] == "Endpoint must be specified"


async def test_originate_without_websocket_answers_then_drops(pbxsim: PbxSim) -> None:
    ami = await Ami.connect(pbxsim)
    await ami.banner()
    ami.send(("Action", "Login"), ("Username", pbxsim.user), ("Secret", pbxsim.password))
    async with ari_client(pbxsim, app=None) as ari:
        st, _ = await originate(ari, "1001", "nows")  # surprise 14
        assert st == 200
        failed = await ami.until(lambda b: b.get("Variable") == "STASISSTATUS"
                                 and b.get("Value") == "FAILED")
        assert dict(failed)["Uniqueid"] == "nows"
        hangup = await ami.until(lambda b: b.get("Event") == "Hangup" and b.get("Uniqueid") == "nows")
        assert dict(hangup)["Cause"] == "0"
        st, _ = await ari.request("GET", "/applications/dialer")
        assert st == 404
    await ami.close()


async def test_bridge_customer_agent(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        await originate(ari, "agent1", "ag", context="agents")
        await originate(ari, "1002", "cu")
        await ari.wait_for(is_("StasisStart", "ag"))
        st, _ = await ari.request("POST", "/bridges/br/addChannel", channel="ag")
        assert st == 404
        st, b = await ari.request("POST", "/bridges", type="mixing", bridgeId="br")
        assert st == 200 and b["technology"] == "simple_bridge" and b["channels"] == []
        st, body = await ari.request("POST", "/bridges/br/addChannel", channel="cu;2")
        assert st == 422 and body["message"] == "Channel not in Stasis application"
        st, body = await ari.request("POST", "/bridges/br/addChannel", channel="ag,nosuch")
        assert st == 400 and body["message"] == "Channel not found"
        await ari.wait_for(is_("StasisStart", "cu"))
        st, _ = await ari.request("POST", "/bridges/br/addChannel", channel="ag,cu")
        assert st == 204
        await ari.wait_for(is_("ChannelEnteredBridge", "cu"))
        st, b = await ari.request("GET", "/bridges/br")
        assert b["channels"] == ["ag", "cu"]
        await ari.request("DELETE", "/channels/cu")
        left = await ari.wait_for(is_("ChannelLeftBridge", "cu"))
        assert left["bridge"]["channels"] == ["ag"]
        st, _ = await ari.request("DELETE", "/bridges/br")
        assert st == 204
        await ari.wait_for(is_("BridgeDestroyed"))
        st, _ = await ari.request("GET", "/bridges/br")
        assert st == 404


async def test_three_party_bridge_is_softmix(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        for n, cid in (("agent1", "a"), ("agent2", "b"), ("agent3", "c")):
            await originate(ari, n, cid, context="dialer-agents")
        for cid in "abc":
            await ari.wait_for(is_("StasisStart", cid))
        await ari.request("POST", "/bridges", bridgeId="conf")
        await ari.request("POST", "/bridges/conf/addChannel", channel="a,b,c")
        enter_c = await ari.wait_for(is_("ChannelEnteredBridge", "c"))
        assert enter_c["bridge"]["technology"] == "simple_bridge"  # value before the switch
        _, b = await ari.request("GET", "/bridges/conf")
        assert b["technology"] == "softmix"


async def test_control_script_and_far_end_hangup(pbxsim: PbxSim) -> None:
    await pbxsim.script("+15550001000", "machine", ring_seconds=1, talk_seconds=30)
    async with ari_client(pbxsim) as ari:
        await ari.request("POST", "/channels", endpoint="Local/+15550001000@dialer-amd",
                          channelId="amd1", app="dialer")
        start = await ari.wait_for(is_("StasisStart", "amd1"), within=10)
        assert start["args"] == ["amd", "MACHINE", "MAXWORDS-3-2"]
        st, v = await ari.request("GET", "/channels/amd1/variable", variable="AMDSTATUS")
        assert (st, v) == (200, {"value": "MACHINE"})
        await pbxsim.far_end_hangup("amd1")
        hr = await ari.wait_for(is_("ChannelHangupRequest", "amd1"))
        assert hr["cause"] == 16 and "soft" not in hr
        await ari.wait_for(is_("StasisEnd", "amd1"))
    await asyncio.sleep(0.05)
    assert pbxsim.read_call_log()[0]["outcome"] == "machine"


async def test_ws_cut_keeps_channels_in_stasis(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        await originate(ari, "agent1", "k1", context="agents")
        await ari.wait_for(is_("StasisStart", "k1"))
        assert (await pbxsim.cut_ws())["cut"] == 1
        await asyncio.sleep(0.1)
        st, _ = await ari.request("GET", "/applications/dialer")
        assert st == 404  # surprise 16
        st, ch = await ari.request("GET", "/channels/k1")
        assert st == 200 and ch["state"] == "Up"
    async with ari_client(pbxsim) as ari2:
        st, app = await ari2.request("GET", "/applications/dialer")
        assert st == 200
        await ari2.request("DELETE", "/channels/k1")
        end = await ari2.wait_for(is_("StasisEnd", "k1"))
        assert end["application"] == "dialer"


async def test_default_subscription_has_no_channel_created(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await originate(ari, "1005", "s1")
        await ari.wait_for(is_("ChannelDestroyed", "s1;2"))
        types = {e["type"] for e in ari.events}
        assert "ChannelCreated" not in types and "DeviceStateChanged" not in types  # surprise 25
        assert [e["dialstatus"] for e in ari.of("s1", "Dial")] == ["", "BUSY"]


async def test_application_replaced(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as first, ari_client(pbxsim) as second:
        ev = await first.wait_for(is_("ApplicationReplaced"))
        assert ev == {"type": "ApplicationReplaced", "timestamp": ev["timestamp"],
                      "application": "dialer", "asterisk_id": ev["asterisk_id"]}
        await originate(second, "agent1", "r1", context="agents")
        await second.wait_for(is_("StasisStart", "r1"))
        assert len(first.events) == 1


async def test_ami_login_events_and_userevent(pbxsim: PbxSim) -> None:
    ami = await Ami.connect(pbxsim)
    assert await ami.banner() == "Asterisk Call Manager/11.0.0\r\n"
    ami.send(("Action", "Login"), ("ActionID", "l1"), ("Username", pbxsim.user),
             ("Secret", "wrong"))
    assert dict(await ami.block())["Message"] == "Authentication failed"
    ami.send(("Action", "Login"), ("ActionID", "l2"), ("Username", pbxsim.user),
             ("Secret", pbxsim.password))
    assert dict(await ami.block())["Message"] == "Authentication accepted"
    assert dict(await ami.block())["Event"] == "FullyBooted"
    ami.send(("Action", "UserEvent"), ("ActionID", "ue-1"), ("UserEvent", "DialerAgentState"),
             ("Agent", "1001"), ("Tag", "a"), ("Tag", "b"))
    assert dict(await ami.block())["Message"] == "Event Sent"
    ev = await ami.block()
    assert [k for k, _ in ev][:5] == ["Event", "Privilege", "Timestamp", "UserEvent", "ActionID"]
    assert ev[3:] == [("UserEvent", "DialerAgentState"), ("ActionID", "ue-1"), ("Agent", "1001"),
                      ("Tag", "a"), ("Tag", "b")]
    async with ari_client(pbxsim) as ari:
        await originate(ari, "1005", "am1")
        names = []
        while "Hangup" not in names or names.count("Hangup") < 2:
            names.append(dict(await ami.block())["Event"])
        for expected in ("Newchannel", "LocalBridge", "DialBegin", "DialEnd", "Hangup"):
            assert expected in names
    ami.send(("Action", "Ping"), ("ActionID", "p"))
    assert dict(await ami.until(lambda b: b.get("ActionID") == "p"))["Ping"] == "Pong"
    ami.send(("Action", "Logoff"))
    assert dict(await ami.block())["Response"] == "Goodbye"
    await ami.close()


async def test_pjsip_busy_has_tech_cause(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        st, body = await ari.request("POST", "/channels", endpoint="PJSIP/1005@trunk",
                                     channelId="sip1", app="dialer")
        assert st == 200 and body["name"].startswith("PJSIP/trunk-")
        d = await ari.wait_for(is_("ChannelDestroyed", "sip1"))
        assert (d["cause"], d["tech_cause"]) == (17, 486)


async def test_random_profile_is_seeded() -> None:
    outcomes = []
    for _ in range(2):
        async with run_pbxsim(speed=50, seed=7, profile="random") as sim:
            async with ari_client(sim) as ari:
                for i in range(12):
                    await originate(ari, f"+1555000{i:04d}", f"r{i}", timeout=30)

                def settled(cid: str):
                    def pred(e: dict) -> bool:
                        ch = e.get("channel") or e.get("peer") or {}
                        return ch.get("id") == cid and (
                            e["type"] == "ChannelDestroyed"
                            or e.get("dialstatus") in ("ANSWER", "BUSY", "CONGESTION"))
                    return pred

                for i in range(12):
                    await ari.wait_for(settled(f"r{i}"), within=15)
                for i in range(12):
                    await ari.request("DELETE", f"/channels/r{i}")
            await asyncio.sleep(0.1)
            outcomes.append(sorted((r["channel_id"], r["outcome"]) for r in sim.read_call_log()))
    assert outcomes[0] == outcomes[1]
    assert len({o for _, o in outcomes[0]}) >= 2


async def test_stall_latency_and_restart(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        await pbxsim.set_latency(150)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        st, _ = await ari.request("GET", "/channels")
        assert st == 200 and loop.time() - t0 >= 0.14
        await pbxsim.set_latency(0)
        assert (await pbxsim.stall_ws(0.5))["stalled"] == 1
        await originate(ari, "agent1", "st1", context="agents")
        await asyncio.sleep(0.3)
        assert not ari.of("st1")  # nothing is sent while stalled
        await ari.wait_for(is_("StasisStart", "st1"), within=3)  # then it all arrives
        stats = await pbxsim.stats()
        assert stats["live_channels"] == 2 and stats["apps"] == ["dialer"]
        await pbxsim.restart()
        st, chans = await ari.request("GET", "/channels")
        assert (st, chans) == (200, [])
        st, _ = await ari.request("GET", "/applications/dialer")
        assert st == 404  # the restart closed the socket


async def test_control_rejects_bad_input(pbxsim: PbxSim) -> None:
    with pytest.raises(RuntimeError, match="outcome must be one of"):
        await pbxsim.script("+15550001111", "voicemail")
    with pytest.raises(RuntimeError, match="ring_seconds"):
        await pbxsim.script("+15550001111", "answer", ring_seconds="soon")
    with pytest.raises(RuntimeError, match="404"):
        await pbxsim.far_end_hangup("nosuch")


async def test_hangup_while_ringing_gives_noanswer_dial(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim) as ari:
        await originate(ari, "1007", "hr")
        await ari.wait_for(is_("Dial", "hr", dialstatus="RINGING"))
        st, _ = await ari.request("DELETE", "/channels/hr")
        assert st == 204
        d = await ari.wait_for(is_("ChannelDestroyed", "hr"))
        assert d["cause"] == 16
        assert [e["dialstatus"] for e in ari.of("hr", "Dial")] == ["", "RINGING", "NOANSWER"]
    await asyncio.sleep(0.05)
    assert pbxsim.read_call_log()[0]["outcome"] == "cancelled"


# ---------------------------------------------------------------- found on Asterisk 22.10.1
# (narrow/README.md surprises 31-33, and what the e2e suite met on a real Asterisk)


async def test_an_id_that_prefixes_a_live_one_is_refused(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        st, _ = await originate(ari, "agent1", "call7:agent", context="agents")
        assert st == 200
        for taken in ("call7", "call7:", "CALL7:AG", "c"):
            st, body = await originate(ari, "1001", taken)
            assert (st, body) == (409, {"message": "Channel with given unique ID already exists"})
        st, _ = await originate(ari, "1001", "call7:agent2")  # not a prefix: fine
        assert st == 200
        st, ch = await ari.request("GET", "/channels/CALL7:AGENT")  # lookups ignore case
        assert st == 200 and ch["id"] == "call7:agent"


async def test_a_graceful_shutdown_refuses_new_channels_only(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await originate(ari, "agent1", "g1", context="agents")
        await ari.wait_for(is_("StasisStart", "g1"))
        await pbxsim.shutdown("graceful")
        refused = (500, {"error": "Allocation failed"})
        assert await originate(ari, "1001", "g2") == refused
        assert await ari.request("POST", "/channels/create", endpoint="Local/1001@customers",
                                 channelId="g3", app="dialer") == refused
        st, _ = await ari.request("POST", "/bridges", type="mixing", bridgeId="gb")
        assert st == 200
        st, _ = await ari.request("POST", "/channels/g1/play/gp", media="sound:lab/beep")
        assert st == 201
        await pbxsim.shutdown("abort")
        st, _ = await originate(ari, "1001", "g4")
        assert st == 200


async def test_a_local_call_to_a_missing_extension_never_dials(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        st, _ = await originate(ari, "nosuchphone", "m1", context="dialer-agents")
        assert st == 200
        gone = await ari.wait_for(is_("ChannelDestroyed", "m1"))
        assert gone["cause"] == 0
        assert ari.of("m1", "Dial") == []  # a phone that never rang: not a RONA


async def test_a_created_channel_enters_stasis_after_the_reply() -> None:
    # 300 ms rather than the default 5: two requests must fit before the channel enters
    # Stasis, which a loaded 2-core machine could miss
    async with run_pbxsim(extra_args=["--stasis-entry-ms", "300"]) as sim, \
            ari_client(sim, subscribe_all=False) as ari:
        st, _ = await ari.request("POST", "/bridges", type="mixing", bridgeId="cb")
        st, _ = await ari.request("POST", "/channels/create", endpoint="Local/1001@customers",
                                  channelId="cr1", app="dialer")
        assert st == 200
        st, body = await ari.request("POST", "/bridges/cb/addChannel", channel="cr1")
        assert (st, body) == (422, {"message": "Channel not in Stasis application"})
        st, body = await ari.request("POST", "/channels/cr1/dial")
        assert (st, body) == (409, {"message": "Channel not in Stasis application"})
        await ari.wait_for(is_("StasisStart", "cr1"))
        st, _ = await ari.request("POST", "/bridges/cb/addChannel", channel="cr1")
        assert st == 204
        st, _ = await ari.request("POST", "/channels/cr1/dial")
        assert st == 204


async def test_stasis_start_reaches_only_the_app_entered(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim, app="observer") as observer, \
            ari_client(pbxsim, subscribe_all=False) as ari:
        await originate(ari, "agent1", "o1", context="agents")
        await ari.wait_for(is_("StasisStart", "o1"))
        await observer.wait_for(lambda e: e["type"] == "ChannelStateChange"
                                and e["channel"]["id"] == "o1" and e["channel"]["state"] == "Up")
        await ari.request("DELETE", "/channels/o1")
        await observer.wait_for(is_("ChannelDestroyed", "o1"))
        assert not [e for e in observer.events if e["type"] in ("StasisStart", "StasisEnd")]


async def test_a_narrow_app_hears_a_dialplan_channel_only_in_stasis(pbxsim: PbxSim) -> None:
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        st, _ = await ari.request("POST", "/channels", endpoint="Local/1001@dialer-out/n",
                                  channelId="d1", context="dialer-amd", extension="s")
        assert st == 200
        await ari.wait_for(is_("StasisStart", "d1"), within=10)
        assert [e["type"] for e in ari.events] == ["StasisStart"]  # nothing before
        st, app = await ari.request("GET", "/applications/dialer")
        assert app["channel_ids"] == ["d1"]
        await ari.request("POST", "/channels/d1/continue")
        await ari.wait_for(is_("StasisEnd", "d1"))
        await asyncio.sleep(0.3)
        assert [e["type"] for e in ari.events] == ["StasisStart", "StasisEnd"]  # nothing after
        # subscribed explicitly: the end is heard, even after StasisEnd
        st, _ = await ari.request("POST", "/channels", endpoint="Local/1001@dialer-out/n",
                                  channelId="d2", context="dialer-amd", extension="s")
        st, app = await ari.request("POST", "/applications/dialer/subscription",
                                    eventSource="channel:d2")
        assert st == 200 and app["channel_ids"] == ["d2"]
        await ari.wait_for(is_("StasisStart", "d2"), within=10)
        await ari.request("POST", "/channels/d2/continue")
        gone = await ari.wait_for(is_("ChannelDestroyed", "d2"))
        assert gone["cause"] == 16 and not ari.of("d2;2")
