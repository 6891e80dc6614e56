"""Hanging up: the requests (DELETE /channels/{id}, the far end), and the teardown every
channel's thread ends with.

A request only marks the channel and wakes its thread; the thread tears the channel
down, so the order of the last events (left bridge, media ended, StasisEnd, hangup
request, ChannelDestroyed, the other half) is explicit in one place.
"""

from __future__ import annotations

from typing import Any

from pbxsim.bridges import Bridges
from pbxsim.calllog import CallLog, note_outcome
from pbxsim.media import Playbacks, Recordings
from pbxsim.model import CAUSE_TEXT, HANGUP_REASONS, AriError, Channel
from pbxsim.stasis import Stasis
from pbxsim.state import PbxState


class Hangups:
    """Hangup requests and channel teardown."""

    def __init__(self, pbx: PbxState, bridges: Bridges, playbacks: Playbacks,
                 recordings: Recordings, stasis: Stasis, calls: CallLog) -> None:
        self.pbx = pbx
        self.bridges = bridges
        self.playbacks = playbacks
        self.recordings = recordings
        self.stasis = stasis
        self.calls = calls

    # ------------------------------------------------------------------ requests
    def hangup(self, cid: str, reason: str | None, reason_code: str | None) -> None:
        """DELETE /channels/{id}: `reason`/`reason_code` map to Q.850 causes."""
        c = self.pbx.get_channel(cid)
        cause = 16
        if reason_code is not None and reason_code != "":
            try:
                cause = int(reason_code)
            except ValueError as exc:
                raise AriError(400, "Invalid reason for hangup reason code provided") from exc
        elif reason:
            if reason not in HANGUP_REASONS:
                raise AriError(400, "Invalid reason for hangup reason provided")
            cause = HANGUP_REASONS[reason]
        self.request(c, cause, explicit=True)

    def request(self, c: Channel, cause: int, *, explicit: bool) -> None:
        if c.destroyed or c.hangup_requested:
            return
        if not c.hangupcause:
            c.hangupcause = cause
        # DELETE: the event says 32 soft, Asterisk's "explicit" flag (surprise 3)
        self.pbx.hangup_request(c, 32 if explicit else cause, soft=explicit)
        c.hangup_requested = True
        c.poke()

    def far_end(self, cid: str) -> None:
        """The party at the far end hangs up (cause 16), as the control endpoint asks."""
        c = self.pbx.get_channel(cid)
        far = c.peer if c.half == 1 or (c.tech == "PJSIP" and c.peer is not None) else c
        if far is None or far.destroyed:
            far = c
        if not far.hangupcause:
            far.hangupcause = 16
        if far.pbx_thread:
            self.pbx.hangup_request(far, 16, soft=True)
            far.hr_done = True
        else:
            self.pbx.hangup_request(far, 16)
        far.hangup_requested = True
        far.poke()

    # ------------------------------------------------------------------ teardown
    async def teardown(self, c: Channel) -> None:
        """The end of a channel's thread: it leaves everything, then is destroyed."""
        if c.destroyed:
            return
        c.hangup_requested = True
        self._leave_everything(c)
        callee = c.half == 2 or (c.tech == "PJSIP" and c.dial is None)
        if c.pbx_thread and not c.hr_done and (callee or c.hung_in_stasis):
            self.pbx.hangup_request(c, 16, soft=True)
        peer = c.peer
        propagate_first = c.tech == "Local"
        if (c.tech == "Local" and c.half == 1 and peer is not None and not peer.started
                and not peer.destroyed and c.dial is not None and c.dial.mode == "dial"):
            # created and never dialed: the ;2 half never ran and goes with ;1, silently
            # (narrow id_prefix_clash: DELETE of a created channel, no event for ;2)
            peer.destroyed = True
            self.pbx.channels.pop(peer.id, None)
            peer = None
        if propagate_first:
            self._propagate(c, peer)
        c.destroyed = True
        data: dict[str, Any] = {"cause": c.hangupcause,
                                "cause_txt": CAUSE_TEXT.get(c.hangupcause, "Unknown")}
        if c.tech_cause is not None:
            data["tech_cause"] = c.tech_cause
        self.pbx.emit("ChannelDestroyed", channel=c, data=data)
        self.pbx.channels.pop(c.id, None)
        if c.late_dialplan:
            self.pbx.dialplan(c, "AppDial2", "(Outgoing Line)")
        if not propagate_first:
            self._propagate(c, peer)
        for s in list(c.snoops):
            if not s.destroyed:
                s.hangupcause = 16
                s.hangup_requested = True
                s.poke()
        self.calls.log(c, None)

    def _leave_everything(self, c: Channel) -> None:
        """MOH, bridge, playbacks, recording, Stasis: in the order Asterisk ends them (MOH
        stops before BridgeLeave: ami_hold_unhold_bridged, ami_moh_on_channel)."""
        if c.moh or c.holding:
            c.moh = c.holding = False
            self.pbx.emit("MusicOnHoldStop", channel=c, ari=False)
        if c.bridge is not None:
            self.bridges.leave(c, keep_subscription=True)
        for pb in list(c.playbacks):
            self.playbacks.finish(pb, "failed")
        for rec in list(c.recordings):
            self.recordings.finish(rec, "done")
        if c.stasis_app is not None:
            self.stasis.end_hung_up(c)
        elif c.stasis_status_pending:
            c.stasis_status_pending = False
            self.pbx.set_var(c, "STASISSTATUS", "SUCCESS")

    def _propagate(self, c: Channel, peer: Channel | None) -> None:
        """The hangup reaches the other half (Local) or the other leg (PJSIP)."""
        if peer is None or peer.destroyed or peer.hangup_requested:
            return
        if c.tech == "PJSIP":
            if peer.dial is not None and not peer.dial.done and c.hangupcause in (17, 34):
                self._callee_refused(c, peer)
                return
            if c.tech_cause == 480:
                peer.tech_cause = 487
        if c.hangupcause or not peer.hangupcause:
            peer.hangupcause = c.hangupcause
        self.pbx.hangup_request(peer, c.hangupcause)
        peer.hangup_requested = True
        peer.poke()

    def _callee_refused(self, callee: Channel, caller: Channel) -> None:
        """A PJSIP callee answered the INVITE busy or congested: the dial ends so."""
        assert caller.dial is not None
        caller.hangupcause = callee.hangupcause
        caller.tech_cause = callee.tech_cause
        self.pbx.hangup_request(caller, callee.hangupcause)
        caller.dial.done = True
        status = "BUSY" if callee.hangupcause == 17 else "CONGESTION"
        caller.dial.status = status
        self.pbx.dial_event(caller, status)
        note_outcome(caller, status.lower())
        caller.hangup_requested = True
        caller.poke()
