"""What every room of the PBX shares: the live objects, the tasks, ids and the event stream.

The engine is split per Asterisk resource (channels, dialing, dialplan, Stasis, bridges,
media); each room works on this one `PbxState`, so they all see the same channels and
bridges and publish through one `emit`. ARI and AMI listen to that one stream, so they
cannot disagree. The helpers here are the few that several rooms need: looking objects
up, the one-line events that change a channel and say so, the BRIDGEPEER bookkeeping a
hidden helper channel changes as much as a member does, and a channel's waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import time
from collections.abc import Callable, Coroutine
from typing import Any

from pbxsim.clock import SimClock
from pbxsim.model import (
    AriError,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    SimEvent,
    subscribers_of,
)
from pbxsim.parties import PartyDirectory

Listener = Callable[[SimEvent], None]

MAX_ID_LEN = 149

#: Real seconds between the reply to POST /channels/create, or an originated channel's
#: answer, and the channel's StasisStart (a thread's start: not scaled by the speed).
STASIS_ENTRY_DELAY_S = 0.005


REFUSE_RECORDING = "\0refuse"
"""The failure 'cause' that makes a record request answer 500 instead of 201."""


class PbxState:
    """The one state of a simulated Asterisk: channels, bridges, media, apps, counters."""

    def __init__(self, clock: SimClock, parties: PartyDirectory) -> None:
        self.clock = clock
        self.parties = parties
        self.listeners: list[Listener] = []
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, list[Playback]] = {}
        """playback id -> playbacks under that id (a reused id queues; notes 3)."""
        self.live_recordings: dict[str, LiveRecording] = {}
        self.stored_recordings: dict[str, dict[str, Any]] = {}
        self.stored_durations: dict[str, float] = {}
        self.failing_recordings: dict[str, str] = {}
        """Recording-name patterns (fnmatch) the control endpoint said fail -> the cause
        of their RecordingFailed."""
        self.apps: dict[str, bool] = {}
        """Registered Stasis apps (a WebSocket is connected) -> subscribeAll."""
        self.inactive_apps: set[str] = set()
        """Narrow apps whose socket closed while they had channels (narrow surprise 33):
        still listed by GET /applications, but a channel entering Stasis() for them is
        dropped ("Stasis app not active")."""
        self.shutting_down = False
        """`core stop gracefully` in progress: no channel can be allocated (surprise 32)."""
        self.stasis_entry_s = STASIS_ENTRY_DELAY_S
        """Real seconds from a create reply or an answer to the StasisStart (--stasis-entry-ms)."""
        self.stats: dict[str, int] = {
            "originates": 0,
            "customer_calls": 0,
            "agent_calls": 0,
            "answered": 0,
            "channels_created": 0,
            "rest_requests": 0,
        }
        self.outcomes: dict[str, int] = {}
        self.started = time.time()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counter = itertools.count(1)
        self._snoop_counter = itertools.count(0)
        self._uid = itertools.count(100)

    # ------------------------------------------------------------------ tasks
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def reset(self) -> None:
        """Forget every object at once (a PBX restart; the tasks are closed first)."""
        self.channels.clear()
        self.bridges.clear()
        self.playbacks.clear()
        self.live_recordings.clear()
        self.apps.clear()
        self.inactive_apps.clear()
        self.failing_recordings.clear()
        self.shutting_down = False
        self.parties.scripts.clear()
        self._counter = itertools.count(1)
        self._snoop_counter = itertools.count(0)

    # ------------------------------------------------------------------ the event stream
    def emit(
        self,
        kind: str,
        *,
        channel: Channel | None = None,
        bridge: Bridge | None = None,
        data: dict[str, Any] | None = None,
        targets: frozenset[str] | None = None,
        to_all: bool = True,
        ari: bool = True,
        ami: bool = True,
        dup_for_all: bool = False,
    ) -> None:
        ev = SimEvent(
            kind=kind,
            timestamp=self.clock.now(),
            channel=channel.snap() if channel is not None else None,
            bridge=bridge.snap() if bridge is not None else None,
            data=data or {},
            targets=targets if targets is not None else subscribers_of([channel, bridge]),
            to_all=to_all,
            ari=ari,
            ami=ami,
            dup_for_all=dup_for_all,
        )
        for listener in list(self.listeners):
            listener(ev)

    # ------------------------------------------------------------------ ids and lookups
    def next_seq(self) -> str:
        """The next name counter (`Local/...-0000002e;1`, `Announcer/ARI-...`)."""
        return f"{next(self._counter):08x}"

    def next_snoop_seq(self) -> str:
        """The Snoop driver's own name counter (`Snoop/<target>-00000000` first)."""
        return f"{next(self._snoop_counter):08x}"

    def new_uid(self) -> str:
        return f"{int(self.clock.now())}.{next(self._uid)}"

    def check_new_id(self, cid: str | None) -> None:
        if cid is None:
            return
        if len(cid) > MAX_ID_LEN:
            raise AriError(400, f"Uniqueid length exceeds maximum of {MAX_ID_LEN}")
        if self.id_taken(cid):
            raise AriError(409, "Channel with given unique ID already exists")

    def id_taken(self, cid: str) -> bool:
        """Asterisk 22's channel storage finds a uniqueid by a case-insensitive match over
        the NEW id's length: an id that is a prefix of a live channel's id is "taken"
        (narrow surprise 31: "X:agent" live -> "X" refused; "idc10" live -> "IDC10")."""
        low = cid.lower()
        return any(c.id.lower().startswith(low) for c in self.channels.values()
                   if not c.destroyed)

    def check_allocation(self) -> None:
        if self.shutting_down:
            # "Refusing due to active shutdown": before any channel exists (surprise 32)
            raise AriError(500, "Allocation failed", key="error")

    def recording_refused(self, name: str) -> bool:
        """True when a new recording of this name is refused outright (500), as Asterisk
        refuses one it cannot open (no recording directory: "Unrecognized recording
        error: No such file or directory")."""
        return self.recording_failure(name) == REFUSE_RECORDING

    def recording_failure(self, name: str) -> str | None:
        """The cause a new recording of this name is to fail with, if it is to fail."""
        for pattern, cause in self.failing_recordings.items():
            if fnmatch.fnmatchcase(name, pattern):
                return cause
        return None

    def get_channel(self, cid: str, *, message: str = "Channel not found") -> Channel:
        c = self.channels.get(cid)
        if c is None:
            # uniqueid lookups ignore case (narrow surprise 31: GET /channels/IDC10 -> idc10)
            low = cid.lower()
            c = next((x for x in self.channels.values() if x.id.lower() == low), None)
        if c is None or c.destroyed:
            raise AriError(404, message)
        return c

    def stasis_channel(self, cid: str, *, gone: str = "Channel not found") -> Channel:
        c = self.get_channel(cid, message=gone)
        if c.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        return c

    def get_bridge(self, bid: str) -> Bridge:
        b = self.bridges.get(bid)
        if b is None or b.destroyed:
            raise AriError(404, "Bridge not found")
        return b

    def channel_list(self) -> list[Channel]:
        return [c for c in self.channels.values() if not c.destroyed]

    # ------------------------------------------------------------------ channel events
    def set_state(self, c: Channel, state: str) -> None:
        if c.state == state:
            return
        c.state = state
        self.emit("ChannelStateChange", channel=c)
        if c.bridge is not None:
            poke_peers(c.bridge)  # a ;2 half in Answer() may now hear ringback

    def set_var(self, c: Channel, name: str, value: str, *, ari: bool = True) -> None:
        c.vars[name] = value
        self.emit("ChannelVarset", channel=c, data={"variable": name, "value": value}, ari=ari)

    def hangup_request(self, c: Channel, cause: int, soft: bool = False) -> None:
        """ChannelHangupRequest (the event only: the caller marks the channel)."""
        data: dict[str, Any] = {"cause": cause}
        if soft:
            data["soft"] = True
        if c.tech_cause is not None:
            data["tech_cause"] = c.tech_cause
        self.emit("ChannelHangupRequest", channel=c, data=data)

    def dialplan(self, c: Channel, app: str, data: str, *, unsubscribed: bool = False) -> None:
        """The channel runs dialplan app `app(data)` (ChannelDialplan)."""
        c.app_name, c.app_data = app, data
        self.emit("ChannelDialplan", channel=c, data={"dialplan_app": app, "dialplan_app_data": data},
                  targets=frozenset() if unsubscribed else None)

    def dial_event(self, c: Channel, status: str, *, first: bool = False) -> None:
        assert c.dial is not None
        dialstring = c.dial.dialstring if (c.dial.mode == "originate" or first) else ""
        self.emit(
            "Dial",
            channel=c,
            data={"dialstatus": status, "forward": "", "dialstring": dialstring, "first": first},
        )

    # ------------------------------------------------------------------ bridge members
    def bridgepeers(self, b: Bridge, entering: Channel | None) -> None:
        """BRIDGEPEER on every member of a mixing bridge: the others, hidden helpers first."""
        members = b.channels
        names = [c.name for c in members]
        if len(members) + len(b.hidden) < 2:
            return
        for c in members:
            others = [n for n in names if n != c.name]
            if c is not entering:
                others = list(reversed(others))
            hidden = [f"{h}" for h in b.hidden]
            self.set_var(c, "BRIDGEPEER", ",".join(hidden + others))

    def helpers_changed(self, b: Bridge) -> None:
        """A hidden Announcer or Recorder joined or left: it counts as a member (notes
        GENERAL), for the technology and for the members' BRIDGEPEER."""
        retech(b)
        if b.bridge_type == "mixing":
            self.bridgepeers(b, None)

    # ------------------------------------------------------------------ a channel's waits
    async def wait(self, c: Channel, sim_seconds: float | None) -> None:
        c.wake.clear()
        if sim_seconds is None:
            await c.wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(c.wake.wait(), self.clock.real(sim_seconds))

    async def wait_until(
        self, c: Channel, pred: Callable[[], bool], sim_seconds: float | None
    ) -> bool:
        """Wait until pred() holds; False when `sim_seconds` ran out first."""
        loop = asyncio.get_running_loop()
        deadline = None if sim_seconds is None else loop.time() + self.clock.real(sim_seconds)
        while not pred():
            c.wake.clear()
            if deadline is None:
                await c.wake.wait()
                continue
            left = deadline - loop.time()
            if left <= 0:
                return pred()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.wake.wait(), left)
        return True

    async def sleep_or_hangup(self, c: Channel, sim_seconds: float) -> bool:
        """Sleep; True if the full time passed, False if the channel was hung up."""
        done = await self.wait_until(c, lambda: c.hangup_requested, sim_seconds)
        return not done


def poke_peers(b: Bridge) -> None:
    """Wake the other halves of a bridge's members (see dialplan_run.hears_media)."""
    for x in b.channels:
        if x.peer is not None:
            x.peer.poke()


def retech(b: Bridge) -> None:
    """A mixing bridge is a simple_bridge up to 2 members and softmix from 3 (surprise 8)."""
    if b.bridge_type == "mixing":
        b.technology = "softmix" if b.member_count() >= 3 else "simple_bridge"
