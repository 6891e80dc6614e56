"""Bridges: create, join, leave, destroy, bridge MOH.

A mixing bridge is a `simple_bridge` up to 2 members and `softmix` from 3, the event
showing the value before the switch (surprise 8); hidden Announcer and Recorder channels
count. An app is subscribed to a bridge while one of its channels is in it (narrow
surprise 34).
"""

from __future__ import annotations

import uuid

from pbxsim.media import RECORDING_LIVE, Playbacks, Recordings
from pbxsim.model import AriError, Bridge, Channel
from pbxsim.state import PbxState, poke_peers, retech

BRIDGE_TYPES = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single",
                "sdp_label"}


class Bridges:
    """/bridges: the bridges and their members."""

    def __init__(self, pbx: PbxState, playbacks: Playbacks, recordings: Recordings) -> None:
        self.pbx = pbx
        self.playbacks = playbacks
        self.recordings = recordings

    def create(self, btype: str | None, bid: str | None, name: str | None) -> Bridge:
        types = [t.strip() for t in (btype or "mixing").split(",") if t.strip()]
        if bid and bid in self.pbx.bridges:
            raise AriError(409, f"Bridge with id '{bid}' already exists")
        if any(t not in BRIDGE_TYPES for t in types):
            raise AriError(500, f"Unable to create bridge. Possible duplicate bridge id '{bid or ''}'")
        holding = "holding" in types
        b = Bridge(
            id=bid or str(uuid.uuid4()),
            bridge_type="holding" if holding else "mixing",
            name=name or "",
            creationtime=self.pbx.clock.iso(),
            technology="holding_bridge" if holding else "simple_bridge",
            video_mode="none" if holding else "talker",
        )
        self.pbx.bridges[b.id] = b
        # A REST-created bridge is announced to subscribeAll apps only, even to the app
        # that created it: an app is subscribed to a bridge while one of its channels is
        # in it (narrow surprise 34).
        self.pbx.emit("BridgeCreated", bridge=b)
        return b

    def _members(self, channel_param: str | None) -> list[Channel]:
        """The channels of an addChannel/removeChannel request, each in Stasis.

        Checked one by one in the order given, as Asterisk's control_list_create does:
        the first unknown one is 400 (not 404), the first one not in Stasis 422, and
        then nothing is done (surprise 19)."""
        ids = [x for x in (channel_param or "").split(",") if x]
        if not ids:
            raise AriError(400, "Missing parameter channel")
        chans: list[Channel] = []
        for cid in ids:
            c = self.pbx.channels.get(cid)
            if c is None or c.destroyed:
                raise AriError(400, "Channel not found")
            if c.stasis_app is None:
                raise AriError(422, "Channel not in Stasis application")
            chans.append(c)
        return chans

    def add(self, bid: str, channel_param: str | None, role: str | None) -> None:
        b = self.pbx.get_bridge(bid)
        for c in self._members(channel_param):
            if any(r.state in RECORDING_LIVE for r in c.recordings):
                # the recording's add rule refuses it from the record request until the
                # recording ends; the channels before it in the list are already added
                # (resource_bridges.c stops at the first refusal)
                raise AriError(409, f"Channel {c.id} currently recording")
            if c.bridge is not None:
                # Stasis departs whatever bridge the channel is in, the same one
                # included, and imparts it again (control_swap_channel_in_bridge)
                self.leave(c)
            self._enter(c, b, role)

    def _enter(self, c: Channel, b: Bridge, role: str | None) -> None:
        b.channels.append(c)
        c.bridge = b
        if c.stasis_app is not None:
            b.subscribers.add(c.stasis_app)
            b.member_refs[c.stasis_app] = b.member_refs.get(c.stasis_app, 0) + 1
        # the event reports the technology before the switch (notes GENERAL)
        self.pbx.emit("ChannelEnteredBridge", channel=c, bridge=b, data={"role": role})
        if (c.moh or c.holding) and b.bridge_type == "mixing":
            # joining a bridge stops the channel's MOH, just after BridgeEnter (notes 11,
            # ami_hold_unhold_bridged)
            c.moh = c.holding = False
            self.pbx.emit("MusicOnHoldStop", channel=c, ari=False)
        poke_peers(b)  # a ;2 half in Answer() may now hear media
        retech(b)
        if b.bridge_type == "mixing":
            self.pbx.bridgepeers(b, entering=c)
        if b.bridge_type == "holding" and role == "holding_participant":
            self.pbx.emit("MusicOnHoldStart", channel=c, data={"class": "default"}, ari=False)
            c.moh = True

    def leave(self, c: Channel, *, keep_subscription: bool = False) -> None:
        """The channel leaves its bridge; `keep_subscription` when it hung up (see below)."""
        b = c.bridge
        if b is None:
            return
        if b.bridge_type == "mixing":
            self.pbx.set_var(c, "BRIDGEPEER", "")
        if c.moh and b.bridge_type == "holding":
            c.moh = False
            self.pbx.emit("MusicOnHoldStop", channel=c, ari=False)
        b.channels.remove(c)
        c.bridge = None
        self.pbx.emit("ChannelLeftBridge", channel=c, bridge=b)
        app = c.stasis_app
        if not keep_subscription and app is not None and app in b.member_refs:
            # Moved out: the subscription Stasis took for this member is given back; a
            # member that hung up keeps its share. A bridge emptied by moves therefore
            # gives no BridgeDestroyed, one a member of which hung up does (surprise 34).
            b.member_refs[app] -= 1
            if b.member_refs[app] <= 0:
                del b.member_refs[app]
                b.subscribers.discard(app)
        retech(b)
        if b.bridge_type == "mixing" and b.channels and b.member_count() >= 2:
            self.pbx.bridgepeers(b, entering=None)
        if not b.channels:
            self._kick_helpers(b)

    def _kick_helpers(self, b: Bridge) -> None:
        """The last real member left: the hidden helpers go too.

        Recorder, Announcer and the bridge MOH channel join as "lonely" channels, which
        leave when only lonely ones remain (bridge_channel.c). A bridge recording ends
        done with its file kept (notes 2: rb-bridge-rec2); a bridge playback's Announcer
        is hung up under it, so it ends failed, as a channel playback cut by a hangup
        does (notes 3)."""
        for rec in list(b.recordings):
            self.recordings.finish(rec, "done")
        for pb in list(b.playbacks):
            self.playbacks.finish(pb, "failed")
        self._set_moh(b, False)

    def remove(self, bid: str, channel_param: str | None) -> None:
        b = self.pbx.get_bridge(bid)
        chans = self._members(channel_param)
        if any(c.bridge is not b for c in chans):
            raise AriError(422, "Channel not in this bridge")
        for c in chans:
            self.leave(c)

    def destroy(self, bid: str) -> None:
        b = self.pbx.get_bridge(bid)
        b.destroyed = True
        self.pbx.bridges.pop(b.id, None)
        self.pbx.spawn(self._destroyed(b))

    async def _destroyed(self, b: Bridge) -> None:
        # DELETE answers 204 at once; BridgeDestroyed comes later (surprise 10)
        await self.pbx.clock.sleep(0.002)
        for c in list(b.channels):
            self.leave(c, keep_subscription=True)
        # dissolving kicks the helpers of an empty bridge as well
        self._kick_helpers(b)
        self.pbx.emit("BridgeDestroyed", bridge=b)

    def moh(self, bid: str, on: bool) -> None:
        """Bridge MOH plays on a hidden Announcer channel, a member like any other."""
        b = self.pbx.get_bridge(bid)
        if not on and not b.moh:
            raise AriError(409, "Bridge isn't playing music")
        self._set_moh(b, on)

    def _set_moh(self, b: Bridge, on: bool) -> None:
        if on and not b.moh:
            b.moh = True
            b.hidden.append(f"Announcer/ARI_MOH-{self.pbx.next_seq()};2")
            self.pbx.helpers_changed(b)
        elif not on and b.moh:
            b.moh = False
            b.hidden = [h for h in b.hidden if not h.startswith("Announcer/ARI_MOH")]
            self.pbx.helpers_changed(b)
