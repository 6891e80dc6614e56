"""The PBX: one facade over the rooms that simulate Asterisk 22, one per resource.

The engine is wire-agnostic: ARI, AMI and the control endpoint call its methods and
listen to its `SimEvent`s. Every channel runs one task (its "PBX thread"); timers go
through `SimClock`, so the whole PBX runs `speed` times faster than real time. Event order
follows the traces recorded on a real Asterisk 22 (shared/asterisk-traces); the comments
cite the surprises by number.

The rooms share one `PbxState` (state.py) and call each other directly; each is built
once its collaborators exist, in this order (each room names what it needs):

    Playbacks, Recordings, MusicOnHold   media.py      media on channels and bridges
    Bridges                              bridges.py    bridges and their members
    Stasis                               stasis.py     apps, Stasis(), user events
    Channels                             channels.py   allocation, channel ops, variables
    CallLog                              calllog.py    placed calls and their outcomes
    Hangups                              hangup.py     hangup requests, teardown
    DialplanRunner                       dialplan_run.py  the PBX threads' dialplan apps
    Dialing                              dialing.py    originate, create, dial
    Snoops                               snoop.py      snoop channels
    Queues                               queues.py     app_queue: Queue(), members, DTMF in
"""

from __future__ import annotations

from typing import Any, TextIO

from pbxsim.bridges import Bridges
from pbxsim.calllog import CallLog
from pbxsim.channels import Channels
from pbxsim.clock import SimClock
from pbxsim.dialing import Dialing
from pbxsim.dialplan_run import DialplanRunner
from pbxsim.hangup import Hangups
from pbxsim.media import MusicOnHold, Playbacks, Recordings
from pbxsim.model import Bridge, Channel
from pbxsim.parties import PartyDirectory
from pbxsim.queues import Queues
from pbxsim.snoop import Snoops
from pbxsim.stasis import Stasis
from pbxsim.state import Listener, PbxState

ASTERISK_ID = "02:fc:00:00:00:01"


class Engine:
    """A simulated Asterisk 22 PBX."""

    def __init__(
        self, clock: SimClock, parties: PartyDirectory, call_log: TextIO | None = None
    ) -> None:
        self.clock = clock
        self.parties = parties
        pbx = self.pbx = PbxState(clock, parties)
        playbacks = Playbacks(pbx)
        recordings = Recordings(pbx)
        music = MusicOnHold(pbx)
        bridges = Bridges(pbx, playbacks, recordings)
        stasis = Stasis(pbx, bridges)
        channels = Channels(pbx)
        self.calls = CallLog(pbx, call_log)
        hangups = Hangups(pbx, bridges, playbacks, recordings, stasis, self.calls)
        runner = DialplanRunner(pbx, hangups, stasis)
        dialing = Dialing(pbx, channels, hangups, runner, stasis, bridges, self.calls)
        snoops = Snoops(pbx, stasis, runner, hangups)
        # Queue() is a dialplan application of its own room (it rings members, so it is
        # built once channels, hangups and the runner exist)
        self.queues = Queues(pbx, channels, hangups, runner)
        runner.apps["Queue"] = self.queues.app_Queue

        # What ARI, AMI and the control endpoint ask of the PBX, by resource: each is
        # the method of the room that does it.
        self.close = pbx.close
        self.get_channel = pbx.get_channel
        self.channel_list = pbx.channel_list
        self.get_bridge = pbx.get_bridge
        # /channels
        self.originate = dialing.originate
        self.create = dialing.create
        self.dial = dialing.dial
        self.hangup = hangups.hangup
        self.far_end_hangup = hangups.far_end
        self.answer = channels.answer
        self.ring = channels.ring
        self.silence = channels.silence
        self.redirect = channels.redirect
        self.get_var = channels.get_var
        self.set_var = channels.set_var
        self.get_vars = channels.get_vars
        self.set_vars = channels.set_vars
        self.calls_summary = channels.calls_summary
        self.continue_ = stasis.continue_
        self.move = stasis.move
        self.hold = music.hold
        self.moh = music.moh
        self.snoop = snoops.snoop
        self.send_dtmf = self.queues.send_dtmf
        self.receive_dtmf = self.queues.receive_dtmf
        # /bridges
        self.create_bridge = bridges.create
        self.add_to_bridge = bridges.add
        self.remove_from_bridge = bridges.remove
        self.destroy_bridge = bridges.destroy
        self.bridge_moh = bridges.moh
        # /playbacks, /recordings (and the play/record requests of channels and bridges)
        self.play = playbacks.play
        self.get_playback = playbacks.get
        self.stop_playback = playbacks.stop
        self.control_playback = playbacks.control
        self.record = recordings.record
        self.get_live = recordings.get_live
        self.recording_op = recordings.operate
        # /applications, /events/user (the WebSocket side registers the apps)
        self.register_app = stasis.register_app
        self.unregister_app = stasis.unregister_app
        self.app_json = stasis.app_json
        self.user_event = stasis.user_event

    # ------------------------------------------------------------------ the whole PBX
    async def restart(self) -> None:
        """Drop every channel and bridge at once, like a PBX restart (no events)."""
        await self.pbx.close()
        for c in list(self.pbx.channels.values()):
            c.destroyed = True
            self.calls.log(c, "restart")
        self.pbx.reset()
        self.queues.reset()

    def shutdown(self, mode: str) -> None:
        """`core stop gracefully` (refuse new channels, keep the live ones) or `core abort
        shutdown` (accept again). Asterisk stops once the last channel is gone; the
        long-running lab instance never did (surprise 32), and pbxsim stays up the same way."""
        if mode not in ("graceful", "abort"):
            raise ValueError("mode: graceful or abort")
        self.pbx.shutting_down = mode == "graceful"

    def fail_recordings(self, pattern: str, cause: str) -> dict[str, str]:
        """Recordings whose name matches `pattern` (fnmatch) are accepted (201) and then
        fail with RecordingFailed(cause), as Asterisk reports a recording that could not
        start: for the dialer's "RecordingFailed is reported, not assumed"."""
        self.pbx.failing_recordings[pattern] = cause
        return dict(self.pbx.failing_recordings)

    def clear_recording_failures(self, pattern: str | None) -> dict[str, str]:
        """Forget one pattern, or all of them (None)."""
        if pattern is None:
            self.pbx.failing_recordings.clear()
        else:
            self.pbx.failing_recordings.pop(pattern, None)
        return dict(self.pbx.failing_recordings)

    def ami_user_event(self, headers: list[tuple[str, str]]) -> None:
        """AMI UserEvent: to every AMI session, never to ARI."""
        self.pbx.emit("UserEvent", data={"headers": headers}, ari=False, targets=frozenset())

    # ------------------------------------------------------------------ state, read by the wire
    @property
    def listeners(self) -> list[Listener]:
        return self.pbx.listeners

    @property
    def channels(self) -> dict[str, Channel]:
        return self.pbx.channels

    @property
    def bridges(self) -> dict[str, Bridge]:
        return self.pbx.bridges

    @property
    def apps(self) -> dict[str, bool]:
        return self.pbx.apps

    @property
    def stored_recordings(self) -> dict[str, dict[str, Any]]:
        return self.pbx.stored_recordings

    @property
    def stored_durations(self) -> dict[str, float]:
        return self.pbx.stored_durations

    @property
    def stats(self) -> dict[str, int]:
        return self.pbx.stats

    @property
    def outcomes(self) -> dict[str, int]:
        return self.pbx.outcomes

    @property
    def started(self) -> float:
        return self.pbx.started

    @property
    def shutting_down(self) -> bool:
        return self.pbx.shutting_down

    @property
    def stasis_entry_s(self) -> float:
        return self.pbx.stasis_entry_s

    @stasis_entry_s.setter
    def stasis_entry_s(self, seconds: float) -> None:
        self.pbx.stasis_entry_s = seconds
