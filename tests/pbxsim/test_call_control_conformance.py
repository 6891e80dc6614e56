"""Conformance of what call control needs (issue 12): bridges, moves, hold, bridge
recording, snoop, and Local channels into the project's transfer and entry contexts.

test_conformance.py replays whole recordings; these check, one request at a time, the
refusals and events a replay does not reach: the error cases of more/errors (not
replayed), and what Asterisk 22.10.1's source does where no recording says. Each test
names its evidence: a trace, or the source file and function.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.pbxsim.helpers import Ami, Ari, ari_client, is_
from tests.support.pbxsim import PbxSim, pbxsim

__all__ = ["pbxsim"]

pytestmark = pytest.mark.timeout(30)


async def agents(ari: Ari, *ids: str) -> None:
    """Agents (Local/agentN@agents answers at once) in Stasis, one per id."""
    for i, cid in enumerate(ids):
        st, _ = await ari.request("POST", "/channels", endpoint=f"Local/agent{i + 1}@agents",
                                  channelId=cid, app="dialer", appArgs="t")
        assert st == 200
    for cid in ids:
        await ari.wait_for(is_("StasisStart", cid))


async def bridge(ari: Ari, bid: str, *members: str) -> None:
    st, _ = await ari.request("POST", "/bridges", type="mixing", bridgeId=bid)
    assert st == 200
    if members:
        st, _ = await ari.request("POST", f"/bridges/{bid}/addChannel", channel=",".join(members))
        assert st == 204
        for m in members:
            await ari.wait_for(lambda e, m=m: e["type"] == "ChannelEnteredBridge"
                               and e["channel"]["id"] == m and e["bridge"]["id"] == bid)


def bridge_moves(ari: Ari, cid: str) -> list[tuple[str, str]]:
    return [(e["type"], e["bridge"]["id"]) for e in ari.of(cid)
            if e["type"] in ("ChannelEnteredBridge", "ChannelLeftBridge")]


async def control(sim: PbxSim, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(method, sim.control_url + path,
                                                       **kw) as r:
        return r.status, await r.json(content_type=None)


# ---------------------------------------------------------------------------- bridges


async def test_adding_a_member_to_its_own_bridge_leaves_and_enters_again(
        pbxsim: PbxSim) -> None:
    # res/stasis/control.c control_swap_channel_in_bridge: Stasis departs whatever bridge
    # the channel is in, the same one included, then imparts it
    async with ari_client(pbxsim) as ari:
        await agents(ari, "m1", "m2")
        await bridge(ari, "b", "m1", "m2")
        st, _ = await ari.request("POST", "/bridges/b/addChannel", channel="m1")
        assert st == 204
        await ari.wait_for(lambda e: e["type"] == "ChannelEnteredBridge"
                           and len(bridge_moves(ari, "m1")) == 3)
        assert bridge_moves(ari, "m1") == [("ChannelEnteredBridge", "b"),
                                           ("ChannelLeftBridge", "b"),
                                           ("ChannelEnteredBridge", "b")]


async def test_nine_members_are_accepted(pbxsim: PbxSim) -> None:
    # Asterisk has no member limit (8 is the dialer's rule): a 9th joins, softmix
    async with ari_client(pbxsim) as ari:
        ids = [f"c{i}" for i in range(9)]
        await agents(ari, *ids)
        await bridge(ari, "conf", *ids)
        st, b = await ari.request("GET", "/bridges/conf")
        assert st == 200 and sorted(b["channels"]) == ids and b["technology"] == "softmix"


async def test_add_and_remove_check_the_channels_in_the_order_given(pbxsim: PbxSim) -> None:
    # resource_bridges.c control_list_create: each channel in turn, 400 "Channel not
    # found" or 422 "Channel not in Stasis application" for the first that fails
    # (more/errors (b): a ;2 half is not in Stasis)
    async with ari_client(pbxsim) as ari:
        await agents(ari, "o1")
        await bridge(ari, "b")
        not_in_stasis = (422, {"message": "Channel not in Stasis application"})
        unknown = (400, {"message": "Channel not found"})
        assert await ari.request("POST", "/bridges/b/addChannel",
                                 channel="o1;2,nosuch") == not_in_stasis
        assert await ari.request("POST", "/bridges/b/addChannel",
                                 channel="nosuch,o1;2") == unknown
        assert await ari.request("POST", "/bridges/b/removeChannel",
                                 channel="o1;2,nosuch") == not_in_stasis
        assert await ari.request("POST", "/bridges/b/removeChannel", channel="o1") == (
            422, {"message": "Channel not in this bridge"})
        st, b = await ari.request("GET", "/bridges/b")
        assert b["channels"] == []


async def test_a_channel_being_recorded_is_refused_where_the_list_reaches_it(
        pbxsim: PbxSim) -> None:
    # res_stasis_recording.c: the "currently recording" add rule holds from the record
    # request until the recording ends, paused included; resource_bridges.c adds the
    # channels before the refused one (it stops at the first refusal)
    async with ari_client(pbxsim) as ari:
        await agents(ari, "r1", "r2")
        await bridge(ari, "b")
        st, _ = await ari.request("POST", "/channels/r2/record", name="rec-r2", format="wav")
        assert st == 201
        await ari.wait_for(is_("RecordingStarted"))
        assert (await ari.request("POST", "/recordings/live/rec-r2/pause"))[0] == 204
        st, body = await ari.request("POST", "/bridges/b/addChannel", channel="r1,r2")
        assert (st, body) == (409, {"message": "Channel r2 currently recording"})
        await ari.wait_for(is_("ChannelEnteredBridge", "r1"))
        st, b = await ari.request("GET", "/bridges/b")
        assert b["channels"] == ["r1"]


async def test_the_last_member_leaving_takes_the_helpers_along(pbxsim: PbxSim) -> None:
    # bridge_channel.c: the Recorder, Announcer and MOH channels join "lonely" and leave
    # once only lonely ones are left: the recording ends done (more/recording_bridge,
    # rb-bridge-rec2), the Announcer is hung up under the playback, which fails as a
    # channel playback cut by a hangup does (more/playback_then_hangup), and the MOH
    # is gone: DELETE moh is then 409 (resource_bridges.c ast_ari_bridges_stop_moh)
    async with ari_client(pbxsim) as ari:
        await agents(ari, "h1", "h2")
        await bridge(ari, "b", "h1", "h2")
        assert (await ari.request("POST", "/bridges/b/record", name="rec-b",
                                  format="wav"))[0] == 201
        assert (await ari.request("POST", "/bridges/b/play/ring",
                                  media="tone:ring"))[0] == 201
        assert (await ari.request("POST", "/bridges/b/moh"))[0] == 204
        await ari.wait_for(is_("RecordingStarted"))
        await ari.wait_for(is_("PlaybackStarted"))
        assert (await ari.request("POST", "/bridges/b/removeChannel",
                                  channel="h1,h2"))[0] == 204
        done = await ari.wait_for(is_("RecordingFinished"))
        assert done["recording"]["state"] == "done"
        failed = await ari.wait_for(is_("PlaybackFinished"))
        assert failed["playback"]["state"] == "failed"
        assert (await ari.request("GET", "/playbacks/ring"))[0] == 404
        assert (await ari.request("GET", "/recordings/stored/rec-b"))[0] == 200
        assert await ari.request("DELETE", "/bridges/b/moh") == (
            409, {"message": "Bridge isn't playing music"})


async def test_destroying_an_empty_bridge_ends_its_recording(pbxsim: PbxSim) -> None:
    # An empty bridge records (nobody left it, so nothing kicked the Recorder);
    # dissolving it kicks the Recorder: RecordingFinished done, the file kept
    async with ari_client(pbxsim) as ari:
        await bridge(ari, "b")
        assert (await ari.request("POST", "/bridges/b/record", name="rec-e",
                                  format="wav"))[0] == 201
        await ari.wait_for(is_("RecordingStarted"))
        st, live = await ari.request("GET", "/recordings/live/rec-e")
        assert live["state"] == "recording"
        assert (await ari.request("DELETE", "/bridges/b"))[0] == 204
        finished = await ari.wait_for(is_("RecordingFinished"))
        assert finished["recording"]["state"] == "done"
        await ari.wait_for(is_("BridgeDestroyed"))
        st, stored = await ari.request("GET", "/recordings/stored")
        assert stored == [{"name": "rec-e", "format": "wav"}]


# ---------------------------------------------------------------------------- hold


async def test_hold_shows_on_ami_only_and_ends_around_the_bridge(pbxsim: PbxSim) -> None:
    # more/hold_unhold_bridged: no ARI event for hold; AMI MusicOnHoldStart/Stop on ;1.
    # Re-added while held: BridgeEnter, then MusicOnHoldStop; hung up while held:
    # MusicOnHoldStop, then BridgeLeave (ami_hold_unhold_bridged.log)
    ami = await Ami.connect(pbxsim)
    await ami.banner()
    ami.send(("Action", "Login"), ("Username", pbxsim.user), ("Secret", pbxsim.password))
    async with ari_client(pbxsim) as ari:
        await agents(ari, "ha", "hc")
        await bridge(ari, "b", "ha", "hc")
        await ari.request("POST", "/bridges/b/removeChannel", channel="hc")
        await ari.wait_for(is_("ChannelLeftBridge", "hc"))
        mark = len(ari.events)
        assert (await ari.request("POST", "/channels/hc/hold"))[0] == 204
        assert (await ari.request("POST", "/bridges/b/addChannel", channel="hc"))[0] == 204
        await ari.wait_for(is_("ChannelEnteredBridge", "hc"), start=mark)
        assert (await ari.request("DELETE", "/channels/hc/hold"))[0] == 204
        assert (await ari.request("POST", "/channels/hc/hold"))[0] == 204
        assert (await ari.request("DELETE", "/channels/hc"))[0] == 204
        await ari.wait_for(is_("ChannelDestroyed", "hc"))
        assert not [e for e in ari.events if e["type"] in ("ChannelHold", "ChannelUnhold")]
        seen: list[str] = []
        while "Hangup" not in seen:
            b = dict(await ami.block())
            if b.get("Channel", "").startswith("Local/agent2@agents") and b.get("Event") in (
                    "MusicOnHoldStart", "MusicOnHoldStop", "BridgeEnter", "BridgeLeave",
                    "Hangup"):
                seen.append(b["Event"])
    await ami.close()
    assert seen == ["BridgeEnter", "BridgeLeave", "MusicOnHoldStart", "BridgeEnter",
                    "MusicOnHoldStop", "MusicOnHoldStart", "MusicOnHoldStop", "BridgeLeave",
                    "Hangup"]


# ---------------------------------------------------------------------------- recording


@pytest.mark.parametrize(("target", "params", "status", "message"), [
    # resource_bridges.c ast_ari_bridges_record: format first, then terminateOn, ifExists
    ("bridges/b", {"name": "x", "format": "mp3", "ifExists": "bogus"}, 422,
     "specified format is unknown on this system"),
    ("bridges/b", {"name": "x", "format": "wav", "terminateOn": "bogus"}, 400,
     "terminateOn invalid"),
    ("bridges/b", {"name": "x", "format": "wav", "ifExists": "bogus"}, 400,
     "ifExists invalid"),
    # stasis_app_control_record's EINVAL (no name, negative limits): 500
    ("bridges/b", {"format": "wav"}, 500, "Error parsing request"),
    ("bridges/b", {"name": "x", "format": "wav", "maxDurationSeconds": "-1"}, 500,
     "Error parsing request"),
    # resource_channels.c ast_ari_channels_record: limits, channel, options, then format
    ("channels/k1", {"name": "x", "format": "wav", "maxDurationSeconds": "-1"}, 400,
     "max_duration_seconds cannot be negative"),
    ("channels/k1", {"name": "x", "format": "mp3", "ifExists": "bogus"}, 400,
     "ifExists invalid"),
    ("channels/k1", {"format": "wav"}, 500, "Error parsing request"),
])
async def test_record_requests_are_refused_like_asterisk(
        pbxsim: PbxSim, target: str, params: dict[str, str], status: int, message: str) -> None:
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await agents(ari, "k1")
        await bridge(ari, "b")
        st, body = await ari.request("POST", f"/{target}/record", **params)
        assert (st, body) == (status, {"message": message})
        assert (await ari.request("GET", "/recordings/live/x"))[0] == 404


async def test_a_channel_records_one_recording_after_the_other(pbxsim: PbxSim) -> None:
    # The channel's control thread runs one record command at a time: the second waits
    # "queued", and a queued recording has no pause (res_stasis_recording.c operations
    # table: 409 "Recording not in session"); it starts when the first one ends
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await agents(ari, "q1")
        assert (await ari.request("POST", "/channels/q1/record", name="first",
                                  format="wav"))[0] == 201
        await ari.wait_for(is_("RecordingStarted"))
        assert (await ari.request("POST", "/channels/q1/record", name="second",
                                  format="wav"))[0] == 201
        await asyncio.sleep(0.1)
        st, live = await ari.request("GET", "/recordings/live/second")
        assert (st, live["state"]) == (200, "queued")
        assert await ari.request("POST", "/recordings/live/second/pause") == (
            409, {"message": "Recording not in session"})
        assert (await ari.request("POST", "/recordings/live/first/stop"))[0] == 204
        started = await ari.wait_for(lambda e: e["type"] == "RecordingStarted"
                                     and e["recording"]["name"] == "second")
        assert started["recording"]["state"] == "recording"
        assert (await ari.request("POST", "/recordings/live/second/pause"))[0] == 204


async def test_a_canceled_recording_finishes_done_and_leaves_no_file(pbxsim: PbxSim) -> None:
    # res_stasis_recording.c: cancel deletes the file, then record_file still ends by
    # setting COMPLETE, which publishes RecordingFinished with state "done"
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await agents(ari, "x1")
        await ari.request("POST", "/channels/x1/record", name="gone", format="wav")
        await ari.wait_for(is_("RecordingStarted"))
        assert (await ari.request("DELETE", "/recordings/live/gone"))[0] == 204
        finished = await ari.wait_for(is_("RecordingFinished"))
        assert finished["recording"]["state"] == "done"
        assert (await ari.request("GET", "/recordings/stored/gone"))[0] == 404


async def test_a_recording_told_to_fail_answers_201_then_fails(pbxsim: PbxSim) -> None:
    # The control switch: a matching name is accepted and then RecordingFailed, as
    # Asterisk does with a bridged channel's recording (surprise 20), never started
    st, body = await control(pbxsim, "POST", "/_pbxsim/recordings/fail",
                             json={"name": "call-*"})
    assert st == 200 and body == {"failing": {"call-*": "Failed to answer channel"}}
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await agents(ari, "f1", "f2")
        await bridge(ari, "b", "f1", "f2")
        st, rec = await ari.request("POST", "/bridges/b/record", name="call-1", format="wav")
        assert (st, rec["state"]) == (201, "queued")
        failed = await ari.wait_for(is_("RecordingFailed"))
        assert failed["recording"] == {"name": "call-1", "format": "wav", "state": "failed",
                                       "target_uri": "bridge:b",
                                       "cause": "Failed to answer channel"}
        assert (await ari.request("GET", "/recordings/live/call-1"))[0] == 404
        assert (await ari.request("GET", "/recordings/stored/call-1"))[0] == 404
        assert [e["type"] for e in ari.events if e["type"].startswith("Recording")] == [
            "RecordingFailed"]
        # another name records; after DELETE the pattern records too
        await ari.request("POST", "/bridges/b/record", name="other", format="wav")
        await ari.wait_for(is_("RecordingStarted"))
        assert (await control(pbxsim, "DELETE", "/_pbxsim/recordings/fail")) == (
            200, {"failing": {}})
        await ari.request("POST", "/bridges/b/record", name="call-2", format="wav")
        await ari.wait_for(lambda e: e["type"] == "RecordingStarted"
                           and e["recording"]["name"] == "call-2")


async def test_a_recording_told_to_be_refused_answers_500_and_nothing_follows(
        pbxsim: PbxSim) -> None:
    # Found on a real Asterisk 22.10.1 whose spool/recording directory was missing:
    # POST /bridges/{id}/record -> 500 "Internal Server Error" (log: "Unrecognized
    # recording error: No such file or directory"), no Recording* event at all.
    st, _ = await control(pbxsim, "POST", "/_pbxsim/recordings/fail",
                          json={"name": "call-*", "refuse": True})
    assert st == 200
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await agents(ari, "r1", "r2")
        await bridge(ari, "b", "r1", "r2")
        st, body = await ari.request("POST", "/bridges/b/record", name="call-1", format="wav")
        assert (st, body) == (500, {"message": "Internal Server Error"})
        assert (await ari.request("GET", "/recordings/live/call-1"))[0] == 404
        await asyncio.sleep(0.05)
        assert not [e for e in ari.events if e["type"].startswith("Recording")]


async def test_the_recording_failure_switch_rejects_bad_input(pbxsim: PbxSim) -> None:
    for body in ({}, {"name": ""}, {"name": 3}, {"name": "x", "cause": ""}, [1],
                 {"name": "x", "refuse": "yes"}):
        st, reply = await control(pbxsim, "POST", "/_pbxsim/recordings/fail", json=body)
        assert st == 400 and reply["error"].split(":")[0] in ("name", "cause", "body", "refuse")
    st, reply = await control(pbxsim, "DELETE", "/_pbxsim/recordings/fail",
                              params={"name": ""})
    assert st == 400 and reply["error"].startswith("name:")


# ---------------------------------------------------------------------------- snoop


async def test_snoop_names_count_on_their_own_and_ids_clash_by_prefix(pbxsim: PbxSim) -> None:
    # res_stasis_snoop.c: "Snoop/<target id>-%08x" from the driver's own counter (the lab's
    # first snoop was -00000000), taken before the allocation, which refuses an id
    # that prefixes a live one (narrow surprise 31) with 500; the refused one used up
    # -00000001 in more/snoop_spy
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await agents(ari, "sp-agent")
        st, s1 = await ari.request("POST", "/channels/sp-agent/snoop", spy="both",
                                   app="dialer", snoopId="sn-1")
        assert (st, s1["name"]) == (200, "Snoop/sp-agent-00000000")
        st, body = await ari.request("POST", "/channels/sp-agent/snoop", spy="both",
                                     app="dialer", snoopId="sp")
        assert (st, body) == (500, {"message": "Snoop channel could not be created"})
        st, s2 = await ari.request("POST", "/channels/sp-agent/snoop", whisper="out",
                                   app="dialer", appArgs="a,b", snoopId="sn-2")
        assert (st, s2["name"]) == (200, "Snoop/sp-agent-00000002")
        start = await ari.wait_for(is_("StasisStart", "sn-2"))
        assert start["args"] == ["a", "b"]
        assert start["channel"]["dialplan"]["app_data"] == "dialer,a,b"


# ---------------------------------------------------------------------------- originate


async def test_an_originate_to_a_missing_context_dies_without_a_hangup_request(
        pbxsim: PbxSim) -> None:
    # more/errors (e) er-noctx: 200 with AppDial2, ChannelDialplan AppDial2, then ;2 and
    # ;1 ChannelDestroyed cause 0, no Dial and no ChannelHangupRequest
    async with ari_client(pbxsim) as ari:
        st, body = await ari.request("POST", "/channels", endpoint="Local/1001@nosuchcontext",
                                     channelId="nc", app="dialer", timeout=10)
        assert st == 200 and body["dialplan"]["app_name"] == "AppDial2"
        await ari.wait_for(is_("ChannelDestroyed", "nc"))
        await ari.wait_for(is_("ChannelDestroyed", "nc;2"))
        assert [(e["type"], e.get("cause")) for e in ari.of("nc")] == [
            ("ChannelCreated", None), ("ChannelDialplan", None), ("ChannelDestroyed", 0)]
        assert [(e["type"], e.get("cause")) for e in ari.of("nc;2")] == [
            ("ChannelCreated", None), ("ChannelDestroyed", 0)]
        order = [e["channel"]["id"] for e in ari.events if e["type"] == "ChannelDestroyed"]
        assert order == ["nc;2", "nc"]


async def test_a_created_channel_dialled_to_a_missing_context_is_hung_up(
        pbxsim: PbxSim) -> None:
    # more/errors (e2) er-noctx2: the create reply shows no dialplan app yet; /dial 204,
    # then StasisEnd and ChannelDestroyed cause 16 (;2: 0), no Dial, no hangup request
    # (control.c app_control_dial: ast_call fails, a soft hangup)
    async with ari_client(pbxsim) as ari:
        st, body = await ari.request("POST", "/channels/create", channelId="nd", app="dialer",
                                     endpoint="Local/1001@nosuchcontext")
        assert st == 200 and body["dialplan"]["app_name"] == ""
        await ari.wait_for(is_("StasisStart", "nd"))
        assert (await ari.request("POST", "/channels/nd/dial", timeout=10))[0] == 204
        gone = await ari.wait_for(is_("ChannelDestroyed", "nd"))
        assert gone["cause"] == 16
        assert (await ari.wait_for(is_("ChannelDestroyed", "nd;2")))["cause"] == 0
        assert [e["type"] for e in ari.of("nd")
                if e["type"] in ("Dial", "ChannelHangupRequest", "StasisEnd")] == ["StasisEnd"]


async def test_transfer_and_entry_point_contexts_are_dialled(pbxsim: PbxSim) -> None:
    # asterisk-conf [dialer-transfer] dials the number over the trunk (the customer
    # rules by last digit), [dialer-entry] has "survey" (answers) and nothing else (an
    # unknown name dies like an unknown context)
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        for cid, endpoint in (("t-ok", "Local/+4930123451@dialer-transfer/n"),
                              ("t-busy", "Local/4930123455@dialer-transfer/n"),
                              ("e-ok", "Local/survey@dialer-entry/n"),
                              ("e-no", "Local/nosuch@dialer-entry/n")):
            st, _ = await ari.request("POST", "/channels", endpoint=endpoint, channelId=cid,
                                      app="dialer", timeout=10)
            assert st == 200
        await ari.wait_for(is_("StasisStart", "t-ok"), within=10)
        await ari.wait_for(is_("StasisStart", "e-ok"), within=10)
        busy = await ari.wait_for(lambda e: e["type"] == "Dial"
                                  and e["peer"]["id"] == "t-busy" and e["dialstatus"])
        assert busy["dialstatus"] == "BUSY"
        assert (await ari.wait_for(is_("ChannelDestroyed", "e-no")))["cause"] == 0
        assert not ari.of("e-no", "Dial")
        # a consulted number is no campaign customer in the PBX's counts
        stats = await pbxsim.stats()
        assert stats["customer_calls"] == 0


# ---------------------------------------------------------------------------- messages


async def test_error_messages_read_as_asterisk_writes_them(pbxsim: PbxSim) -> None:
    # more/errors (c) and (f)
    async with ari_client(pbxsim, subscribe_all=False) as ari:
        await agents(ari, "g1")
        assert await ari.request("DELETE", "/channels/g1", reason_code="abc") == (
            400, {"message": "Invalid reason for hangup reason code provided"})
        assert await ari.request("POST", "/channels", endpoint="Local/1001@customers",
                                 app="dialer", formats="foo") == (
            400, {"message": "Provided format (foo) was not found"})
