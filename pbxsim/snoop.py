"""Snoop channels (`Snoop/<target>-N`): Up at once, straight into Stasis, hung up with
their target. pbxsim carries no audio, so spying and whispering change nothing else.
"""

from __future__ import annotations

from typing import Any

from pbxsim.dialplan_run import DialplanRunner
from pbxsim.hangup import Hangups
from pbxsim.model import AriError, Channel
from pbxsim.params import split_args
from pbxsim.stasis import Stasis
from pbxsim.state import MAX_ID_LEN, PbxState

DIRECTIONS = ("none", "both", "out", "in")


class Snoops:
    """POST /channels/{id}/snoop and the snoop channel's thread."""

    def __init__(self, pbx: PbxState, stasis: Stasis, runner: DialplanRunner,
                 hangups: Hangups) -> None:
        self.pbx = pbx
        self.stasis = stasis
        self.runner = runner
        self.hangups = hangups

    def snoop(self, cid: str, p: dict[str, Any]) -> Channel:
        spy = p.get("spy") or "none"
        whisper = p.get("whisper") or "none"
        for name, v in (("spy", spy), ("whisper", whisper)):
            if v not in DIRECTIONS:
                raise AriError(400, f"Invalid direction specified for {name}")
        if spy == "none" and whisper == "none":
            raise AriError(400, "Direction must be specified for at least spy or whisper")
        app = p.get("app") or ""
        if not app:
            raise AriError(400, "Application name is required")
        target = self.pbx.get_channel(cid, message="Provided channel was not found")
        sid = p.get("snoopId") or None
        # the driver's counter is taken before the channel allocation can fail (lab:
        # the refused snoopId=ss-sup used up -00000001)
        seq = self.pbx.next_snoop_seq()
        if sid is not None and (len(sid) > MAX_ID_LEN or self.pbx.id_taken(sid)):
            # an id clash (prefix rule of narrow surprise 31) fails the allocation: 500
            raise AriError(500, "Snoop channel could not be created")
        s = Channel(
            id=sid or self.pbx.new_uid(), name=f"Snoop/{target.id}-{seq}", tech="Snoop",
            state="Up", context="default", exten="s", priority=1,
            creationtime=self.pbx.clock.iso(), linkedid="", kind="snoop",
        )
        s.linkedid = s.id
        s.snoop_target = target
        target.snoops.append(s)
        self.pbx.channels[s.id] = s
        self.pbx.emit("ChannelCreated", channel=s)
        args = split_args(p.get("appArgs"))
        self.pbx.dialplan(s, "Stasis", ",".join([app, *args]))
        self.pbx.spawn(self._run(s, app, args))
        return s

    async def _run(self, s: Channel, app: str, args: list[str]) -> None:
        await self.stasis.enter(s, app, args)
        await self.runner.after_stasis(s)
        if not s.hangupcause:
            s.hangupcause = 16
        await self.hangups.teardown(s)
        t = s.snoop_target
        if t is not None and s in t.snoops:
            t.snoops.remove(s)
