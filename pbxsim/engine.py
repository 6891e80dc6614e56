"""The PBX: channels, Local and PJSIP dialing, the lab dialplan, Stasis, bridges, media.

The engine is wire-agnostic: ARI and AMI call its methods and listen to its `SimEvent`s.
Every channel runs one task (its "PBX thread"); timers go through `SimClock`, so the whole
PBX runs `speed` times faster than real time. Event order follows the traces recorded on
a real Asterisk 22 (shared/asterisk-traces); the comments cite the surprises by number.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TextIO

from pbxsim.clock import SimClock
from pbxsim.dialplan import (
    AGENT_CONTEXTS,
    CUSTOMER_CONTEXTS,
    KNOWN_CONTEXTS,
    TESTLINES,
    Step,
    agent_program,
    amd_program,
    customer_long_program,
    customer_program,
    label_priority,
    stasis_program,
    testline_phone_program,
    userevent_program,
)
from pbxsim.model import (
    CAUSE_TEXT,
    HANGUP_REASONS,
    AriError,
    Bridge,
    Channel,
    DialInfo,
    LiveRecording,
    Playback,
    SimEvent,
    subscribers_of,
)
from pbxsim.parties import BEEP_SECONDS, GREETING_SECONDS, HELLO_SECONDS, PartyDirectory, PartyPlan

Listener = Callable[[SimEvent], None]

#: how long known sounds play (the lab's generated tones)
SOUND_SECONDS = {
    "lab/hello": HELLO_SECONDS,
    "lab/beep": BEEP_SECONDS,
    "lab/machine-greeting": GREETING_SECONDS,
    "lab/fax-ced": 3.0,
    "beep": BEEP_SECONDS,
    "silence/1": 1.0,
}
#: AMD results: (status, cause, seconds of analysis) per party behaviour
AMD_RESULT = {
    "human": ("HUMAN", "HUMAN-800-800", 1.9),
    "machine": ("MACHINE", "MAXWORDS-3-2", 2.38),
    "fax": ("MACHINE", "MAXWORDLENGTH-5001-5000", 5.0),
    "silent": ("NOTSURE", "TOOLONG-4900", 5.0),
}
MAX_ID_LEN = 149
ASTERISK_ID = "02:fc:00:00:00:01"


@dataclass
class CallLogEntry:
    endpoint: str
    number: str
    channel_id: str
    kind: str


class Engine:
    """A simulated Asterisk 22 PBX."""

    def __init__(
        self,
        clock: SimClock,
        parties: PartyDirectory,
        call_log: TextIO | None = None,
        recordings_dir: str | None = None,
    ) -> None:
        self.clock = clock
        self.parties = parties
        self.call_log = call_log
        self.listeners: list[Listener] = []
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, list[Playback]] = {}
        """playback id -> playbacks under that id (a reused id queues; notes 3)."""
        self.live_recordings: dict[str, LiveRecording] = {}
        self.stored_recordings: dict[str, dict[str, Any]] = {}
        self.stored_durations: dict[str, float] = {}
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
        self.app_subscriptions: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counter = itertools.count(1)
        self._uid = itertools.count(100)
        self.stats: dict[str, int] = {
            "originates": 0,
            "customer_calls": 0,
            "agent_calls": 0,
            "answered": 0,
            "channels_created": 0,
            "rest_requests": 0,
        }
        self.outcomes: dict[str, int] = {}
        self.call_entries: dict[str, CallLogEntry] = {}
        self.started = time.time()

    # ------------------------------------------------------------------ plumbing
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

    async def restart(self) -> None:
        """Drop every channel and bridge at once, like a PBX restart (no events)."""
        await self.close()
        for c in list(self.channels.values()):
            c.destroyed = True
            self._log_call(c, "restart")
        self.channels.clear()
        self.bridges.clear()
        self.playbacks.clear()
        self.live_recordings.clear()
        self.apps.clear()
        self.inactive_apps.clear()
        self.shutting_down = False
        self.parties.scripts.clear()
        self._counter = itertools.count(1)

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

    def _next_seq(self) -> str:
        return f"{next(self._counter):08x}"

    def _new_uid(self) -> str:
        return f"{int(self.clock.now())}.{next(self._uid)}"

    def _check_new_id(self, cid: str | None) -> None:
        if cid is None:
            return
        if len(cid) > MAX_ID_LEN:
            raise AriError(400, f"Uniqueid length exceeds maximum of {MAX_ID_LEN}")
        # Asterisk 22's channel storage finds a uniqueid by a case-insensitive match over
        # the NEW id's length: an id that is a prefix of a live channel's id is "taken"
        # (narrow surprise 31: "X:agent" live -> "X" refused; "idc10" live -> "IDC10").
        low = cid.lower()
        if any(c.id.lower().startswith(low) for c in self.channels.values()
               if not c.destroyed):
            raise AriError(409, "Channel with given unique ID already exists")

    def _check_allocation(self) -> None:
        if self.shutting_down:
            # "Refusing due to active shutdown": before any channel exists (surprise 32)
            raise AriError(500, "Allocation failed", key="error")

    def shutdown(self, mode: str) -> None:
        """`core stop gracefully` (refuse new channels, keep the live ones) or `core abort
        shutdown` (accept again). Asterisk stops once the last channel is gone; the
        long-running lab instance never did (surprise 32), and pbxsim stays up the same way."""
        if mode not in ("graceful", "abort"):
            raise ValueError("mode: graceful or abort")
        self.shutting_down = mode == "graceful"

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

    # ------------------------------------------------------------------ events helpers
    def _state(self, c: Channel, state: str) -> None:
        if c.state == state:
            return
        c.state = state
        self.emit("ChannelStateChange", channel=c)
        if c.bridge is not None:
            self._poke_peers(c.bridge)  # a ;2 half in Answer() may now hear ringback

    def _var(self, c: Channel, name: str, value: str, *, ari: bool = True) -> None:
        c.vars[name] = value
        self.emit("ChannelVarset", channel=c, data={"variable": name, "value": value}, ari=ari)

    def _hr(self, c: Channel, cause: int, soft: bool = False) -> None:
        data: dict[str, Any] = {"cause": cause}
        if soft:
            data["soft"] = True
        if c.tech_cause is not None:
            data["tech_cause"] = c.tech_cause
        self.emit("ChannelHangupRequest", channel=c, data=data)

    def _dialplan(self, c: Channel, app: str, data: str, *, unsubscribed: bool = False) -> None:
        c.app_name, c.app_data = app, data
        self.emit("ChannelDialplan", channel=c, data={"dialplan_app": app, "dialplan_app_data": data},
                  targets=frozenset() if unsubscribed else None)

    def _dial_event(self, c: Channel, status: str, *, first: bool = False) -> None:
        assert c.dial is not None
        dialstring = c.dial.dialstring if (c.dial.mode == "originate" or first) else ""
        self.emit(
            "Dial",
            channel=c,
            data={"dialstatus": status, "forward": "", "dialstring": dialstring, "first": first},
        )

    def _device(self, device: str, state: str) -> None:
        self.emit(
            "DeviceStateChanged",
            data={"device_state": {"name": device, "state": state}},
            targets=frozenset(),
            ami=False,
        )

    # ------------------------------------------------------------------ endpoints
    def _parse_endpoint(self, endpoint: str) -> tuple[str, str, str]:
        """-> (tech, resource, context or PJSIP endpoint)."""
        if "/" not in endpoint:
            raise AriError(400, "Invalid endpoint specified")
        tech, _, rest = endpoint.partition("/")
        if tech not in ("Local", "PJSIP"):
            raise AriError(500, "Allocation failed", key="error")
        resource, _, where = rest.partition("@")
        if tech == "Local":
            resource = resource.split("/")[0]
            return tech, resource, where.split("/")[0] or "default"
        return tech, resource, where

    def _new_local(
        self, endpoint: str, cid: str | None, other_id: str | None, creator_app: str | None
    ) -> tuple[Channel, Channel]:
        _, exten, context = self._parse_endpoint(endpoint)
        self._check_new_id(cid)
        if other_id is not None:
            self._check_new_id(other_id)
        seq = self._next_seq()
        now_iso = self.clock.iso()
        id1 = cid or self._new_uid()
        id2 = other_id or (f"{cid};2" if cid else self._new_uid())
        if id2 in self.channels:
            raise AriError(409, "Channel with given unique ID already exists")
        base = f"Local/{exten}@{context}-{seq}"
        c1 = Channel(
            id=id1, name=base + ";1", tech="Local", state="Down", context=context, exten=exten,
            priority=1, creationtime=now_iso, linkedid=id1, half=1, endpoint=endpoint,
        )
        c2 = Channel(
            id=id2, name=base + ";2", tech="Local", state="Ring", context=context, exten=exten,
            priority=1, creationtime=now_iso, linkedid=id1, half=2, endpoint=endpoint,
        )
        c1.peer, c2.peer = c2, c1
        kind = self._kind_of(context, exten)
        for c in (c1, c2):
            c.kind, c.number = kind, exten
        self.channels[c1.id] = c1
        self.channels[c2.id] = c2
        self.stats["channels_created"] += 2
        self.emit("ChannelCreated", channel=c1)
        self.emit("ChannelCreated", channel=c2)
        if creator_app:
            # the app is subscribed to what it creates (surprise 25), after ChannelCreated
            c1.subscribers.add(creator_app)
            c2.subscribers.add(creator_app)
        return c1, c2

    @staticmethod
    def _kind_of(context: str, exten: str) -> str:
        if context in AGENT_CONTEXTS:
            return "agent"
        if context == TESTLINES:
            return "customer" if re.fullmatch(r"\+?[0-9]{2,}", exten) else "agent"
        if context in CUSTOMER_CONTEXTS:
            return "customer"
        return "other"

    def _program_for(self, context: str, exten: str, c: Channel) -> list[Step] | None:
        """The dialplan a channel runs when it enters `context,exten` (None: no such exten)."""
        if context in ("customers", "dialer-out", "dialer-amd"):
            if not re.fullmatch(r"\+?[0-9]+", exten):
                return None
            plan = c.plan or self.parties.plan_for(exten)
            c.plan = plan
            return customer_program(exten, plan)
        if context == "customers-long":
            if not re.fullmatch(r"\+?[0-9]+", exten):
                return None
            return customer_long_program(exten)
        if context == TESTLINES:
            # the same outcomes by last digit as the lab's [customers] (its audio differs:
            # tones instead of sound files, which pbxsim does not play anyway)
            if re.fullmatch(r"\+?[0-9]{2,}", exten):
                plan = c.plan or self.parties.plan_for(exten)
                c.plan = plan
                return customer_program(exten, plan)
            return testline_phone_program(exten)
        if context in AGENT_CONTEXTS:
            if not exten.startswith("agent") or len(exten) <= len("agent"):
                return None
            return agent_program(exten, talking=context == "agents-talk")
        if context == "dialer-stasis":
            return stasis_program(c.vars.get("DIALER_APP", "dialer"), exten)
        if context == "lab-userevent":
            return userevent_program(c.vars.get("DIALER_APP", "dialer"))
        if context == "default":
            return [Step("Hangup", "1")]
        return None

    # ------------------------------------------------------------------ originate / create
    def originate(self, p: dict[str, Any]) -> Channel:
        endpoint = p.get("endpoint") or ""
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        app = p.get("app") or None
        extension = p.get("extension") or None
        context = p.get("context") or None
        if not app and not extension and not context:
            raise AriError(400, "Application or extension must be specified")
        self._check_formats(p)
        self._check_allocation()
        cid = p.get("channelId") or None
        other = p.get("otherChannelId") or None
        timeout = _int_or(p.get("timeout"), 30)
        priority = _int_or(p.get("priority"), 1)
        app_args = _split_args(p.get("appArgs"))
        tech, resource, where = self._parse_endpoint(endpoint)
        self.stats["originates"] += 1
        if tech == "PJSIP":
            c1 = self._new_pjsip_out(endpoint, resource, where, cid, app)
        else:
            c1, _ = self._new_local(endpoint, cid, other, app)
        self._apply_originate_vars(c1, p)
        c1.dial = DialInfo(
            dialstring=_dialstring(endpoint, resource, where),
            mode="originate",
            timeout=None if timeout is not None and timeout < 0 else float(timeout or 30),
        )
        target = None
        if not app:
            target = (context or "default", extension or "s", priority or 1)
        self._register_call(c1)
        if c1.tech != "Local" or c1.context in KNOWN_CONTEXTS:
            # the 200 reply already shows AppDial2 (originate traces); it is published
            # before the originating app subscribes, so a narrow app never sees it
            self._dialplan(c1, "AppDial2", "(Outgoing Line)", unsubscribed=True)
        self.spawn(self._run_originated(c1, app, app_args, target))
        return c1

    def _check_formats(self, p: dict[str, Any]) -> None:
        formats, originator = p.get("formats"), p.get("originator")
        if formats and originator:
            raise AriError(400, "Originator and formats can't both be specified")
        if formats:
            known = {"ulaw", "alaw", "gsm", "g722", "slin", "slin16", "opus", "g729", "ilbc"}
            for f in str(formats).split(","):
                if f not in known:
                    raise AriError(400, f"No such format '{f}'")
        if originator and originator not in self.channels:
            raise AriError(400, "Provided originator channel was not found")

    def _apply_originate_vars(self, c1: Channel, p: dict[str, Any]) -> None:
        caller = p.get("callerId")
        if caller:
            c1.callerid_param = True
            name, number = _parse_callerid(str(caller))
            for c in (c1, c1.peer):
                if c is None:
                    continue
                c.caller_name, c.caller_number = name, number
        variables = p.get("variables")
        if isinstance(variables, dict):
            c1.originate_vars = {str(k): str(v) for k, v in variables.items()}

    def create(self, p: dict[str, Any]) -> Channel:
        endpoint = p.get("endpoint") or ""
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        app = p.get("app") or ""
        if not app:
            raise AriError(400, "Application name is required")
        self._check_allocation()
        cid = p.get("channelId") or None
        other = p.get("otherChannelId") or None
        app_args = _split_args(p.get("appArgs"))
        tech, resource, where = self._parse_endpoint(endpoint)
        if tech == "PJSIP":
            c1 = self._new_pjsip_out(endpoint, resource, where, cid, app)
        else:
            c1, _ = self._new_local(endpoint, cid, other, app)
        self._apply_originate_vars(c1, p)
        c1.dial = DialInfo(dialstring=_dialstring(endpoint, resource, where), mode="dial",
                           timeout=None)
        self._register_call(c1)
        # the created channel enters Stasis at once, still Down (create_dial_*)
        self._dialplan(c1, "Stasis", ",".join([app, *app_args]))
        self.spawn(self._run_created(c1, app, app_args))
        return c1

    def dial(self, cid: str, timeout: int | None) -> None:
        c = self.stasis_channel(cid)
        if c.dial is None or c.dial.mode != "dial" or c.state != "Down" or c.dial.status:
            raise AriError(409, "Channel is not in the 'Down' state")
        c.dial.timeout = float(timeout) if timeout and timeout > 0 else None
        c.dial.status = "dialing"
        c.poke()

    async def _run_created(self, c1: Channel, app: str, args: list[str]) -> None:
        try:
            # Asterisk answers POST /channels/create before the channel is in the app: a
            # thread of its own runs Stasis() for it a moment later, and until then
            # addChannel is 422 and /dial 409 "Channel not in Stasis application" (1 in
            # 6 on an idle Asterisk 22.10.1 when sent at once). In real time, not
            # simulated time: it is a thread's start, whatever the speed.
            await asyncio.sleep(self.stasis_entry_s)
            await self._stasis(c1, app, args, wait=False)
            if c1.stasis_app is None:
                return await self._teardown(c1)
            # wait for /dial, a hangup, or the end of Stasis
            while not c1.hangup_requested and c1.dial is not None and c1.dial.status != "dialing":
                await self._wait(c1, None)
            if not c1.hangup_requested and c1.dial is not None:
                c1.dial.status = ""
                await self._dial_out(c1)
            await self._stasis_wait(c1)
            await self._after_stasis(c1)
        except asyncio.CancelledError:
            raise
        await self._teardown(c1)

    async def _dial_out(self, c1: Channel) -> None:
        """Start the far side of a created channel (the /dial request)."""
        assert c1.dial is not None
        peer = c1.peer
        if c1.tech == "Local" and peer is not None:
            # the ;2 half inherits these as it starts (create_dial_* traces)
            if c1.vars.get("BRIDGEPEER"):
                self._var(peer, "BRIDGEPEER", c1.vars["BRIDGEPEER"])
            if "STASISSTATUS" in c1.vars:
                self._var(peer, "STASISSTATUS", c1.vars["STASISSTATUS"])
        self._dial_event(c1, "", first=True)
        self._start_far(c1)
        if c1.dial.timeout is not None:
            self.spawn(self._dial_timer(c1, c1.dial.timeout))

    async def _dial_timer(self, c1: Channel, sim_seconds: float) -> None:
        # the dial timeout runs even after BUSY: it hides the busy (surprise 5)
        ok = await self._wait_until(
            c1, lambda: c1.hangup_requested or c1.destroyed or c1.state == "Up", sim_seconds
        )
        if not ok and not c1.hangup_requested and not c1.destroyed:
            c1.hangupcause = 19
            self._hr(c1, 32, soft=True)
            c1.hangup_requested = True
            c1.poke()

    # ------------------------------------------------------------------ PJSIP
    def _new_pjsip_out(
        self, endpoint: str, resource: str, where: str, cid: str | None, app: str | None
    ) -> Channel:
        self._check_new_id(cid)
        ep = where or resource
        number = resource if where else ""
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", ep):
            raise AriError(500, "Allocation failed", key="error")
        seq = self._next_seq()
        c = Channel(
            id=cid or self._new_uid(), name=f"PJSIP/{ep}-{seq}", tech="PJSIP", state="Down",
            context="customers" if number else "default", exten="s", priority=1,
            creationtime=self.clock.iso(), linkedid=cid or "", protocol_id=str(uuid.uuid4()),
            endpoint=endpoint, number=number or ep,
        )
        c.linkedid = c.id
        c.kind = "agent" if (number or ep).startswith("agent") else "customer"
        self.channels[c.id] = c
        self.stats["channels_created"] += 1
        self.emit("ChannelCreated", channel=c)
        if app:
            c.subscribers.add(app)
        return c

    def _new_pjsip_in(self, out: Channel) -> Channel:
        ep = out.name.split("/", 1)[1].rsplit("-", 1)[0]
        seq = self._next_seq()
        number = out.number
        context = "agents" if out.kind == "agent" else "customers"
        c = Channel(
            id=self._new_uid(), name=f"PJSIP/{ep}-{seq}", tech="PJSIP", state="Ring",
            context=context, exten=number, priority=1, creationtime=self.clock.iso(),
            linkedid="", protocol_id=str(uuid.uuid4()), endpoint=out.endpoint, number=number,
            kind=out.kind,
        )
        c.linkedid = c.id
        c.peer, out.peer = out, c
        self.channels[c.id] = c
        self.stats["channels_created"] += 1
        self.emit("ChannelCreated", channel=c)
        self._var(c, "SIPDOMAIN", "127.0.0.1")
        return c

    # ------------------------------------------------------------------ the originated channel
    def _start_far(self, c1: Channel) -> None:
        """Start the called side: the ;2 half's dialplan, or the PJSIP callee."""
        if c1.tech == "PJSIP":
            far = self._new_pjsip_in(c1)
        else:
            assert c1.peer is not None
            far = c1.peer
        far.started = True
        program = self._program_for(far.context, far.exten, far)
        if program is None:
            self.spawn(self._run_missing_exten(far))
            return
        if far.tech == "Local" and far.context in TRUNK_CONTEXTS:
            self.spawn(self._run_program_after(far, program, TRUNK_SETUP_S))
            return
        self.spawn(self._run_program(far, program, 1))

    async def _run_program_after(self, far: Channel, program: list[Step], delay: float) -> None:
        # The project's [dialer-out] dials the customer over a SIP trunk: nothing is
        # heard of the called side until the carrier answers the INVITE. The lab's
        # loopback carrier took 4-6 ms (narrow amd_context_*), a real one 0.1-0.5 s.
        if await self._sleep_or_hangup(far, delay):
            await self._run_program(far, program, 1)
        else:
            await self._finish_thread(far)

    async def _run_missing_exten(self, far: Channel) -> None:
        # Local/1001@nosuchcontext: both halves vanish at once with cause 0 (errors trace)
        await asyncio.sleep(0)
        await self._finish_thread(far)

    async def _run_originated(
        self,
        c1: Channel,
        app: str | None,
        args: list[str],
        target: tuple[str, str, int] | None,
    ) -> None:
        assert c1.dial is not None
        if c1.tech == "Local" and (c1.context not in KNOWN_CONTEXTS or (
                c1.peer is not None
                and self._program_for(c1.peer.context, c1.peer.exten, c1.peer) is None)):
            # unknown context or extension: the Local channel's call fails before the dial
            # starts (local_call: "No such extension/context"): ChannelDestroyed cause 0
            # within 1 ms, no Dial (errors trace)
            peer = c1.peer
            await self._teardown(c1)
            if peer is not None:
                await self._teardown(peer)
            return
        self._originate_vars(c1)
        if c1.callerid_param:
            pres = {"caller_presentation": 0,
                    "caller_presentation_txt": "Presentation Allowed, Not Screened"}
            c1.connected_name, c1.connected_number = c1.caller_name, c1.caller_number
            # ;1's are published before the originating app subscribes to it (narrow
            # traces: only ;2's reach a narrow app)
            self.emit("ChannelCallerId", channel=c1, data=pres, targets=frozenset())
            self.emit("ChannelConnectedLine", channel=c1, targets=frozenset())
            if c1.peer is not None:
                c1.peer.connected_name = c1.caller_name
                c1.peer.connected_number = c1.caller_number
                self.emit("ChannelCallerId", channel=c1.peer, data=pres)
                self.emit("ChannelConnectedLine", channel=c1.peer)
        if c1.tech == "Local" and c1.peer is not None:
            self.emit("LocalBridge", channel=c1, data={"peer": c1.peer.snap()}, ari=False)
        self._dial_event(c1, "", first=True)
        self._start_far(c1)
        answered = await self._wait_until(
            c1, lambda: c1.hangup_requested or (c1.dial is not None and c1.dial.done),
            c1.dial.timeout,
        )
        if not answered:
            # originate timeout: no final Dial, cause 19 (surprise 2)
            c1.hangupcause = 19
            if c1.tech == "PJSIP":
                c1.tech_cause = 480
            c1.dial.done = True
            return await self._teardown(c1)
        if c1.dial.status != "ANSWER":
            if c1.hangup_requested and not c1.dial.done:
                c1.dial.done = True
                c1.dial.status = "NOANSWER"
                self._dial_event(c1, "NOANSWER")
                if not c1.hangupcause:
                    c1.hangupcause = 16
            elif c1.tech == "Local":
                # busy/congestion over Local: ;1 dies with cause 0 (surprise 1)
                c1.hangupcause = 0
            return await self._teardown(c1)
        self.stats["answered"] += 1
        if c1.hangup_requested:
            return await self._teardown(c1)
        amd_endpoint = c1.tech == "Local" and c1.context == "dialer-amd" and app is not None
        if amd_endpoint and app is not None:
            # production [dialer-amd]: AMD on the answered call, then Stasis(app,amd,...)
            c1.pbx_thread = True
            c1.context, c1.exten = "dialer-amd", "s"
            await self._run_program_inline(c1, amd_program(app), 1)
        elif app is not None:
            # the answer is published before the channel is in the app (a thread's hop):
            # a bridge join sent on the Dial ANSWER meets "Channel not in Stasis" (found on
            # Asterisk 22.10.1 by the e2e suite)
            await asyncio.sleep(self.stasis_entry_s)
            if c1.hangup_requested:
                return await self._teardown(c1)
            await self._stasis(c1, app, args)
            await self._after_stasis(c1)
        elif target is not None:
            ctx, exten, prio = target
            c1.pbx_thread = True
            c1.context, c1.exten = ctx, exten
            program = self._ctx_program(ctx, exten, c1)
            if program is None:
                c1.hangupcause = c1.hangupcause or 0
            else:
                await self._run_program_inline(c1, program, prio)
                if ctx == "dialer-amd" and _project_dialplan(c1):
                    # exten => h,1,NoOp(dialer: hung up during AMD, AMDSTATUS=...), run
                    # once the channel has left the app (hung up in Stasis: StasisEnd first)
                    if c1.stasis_app is not None:
                        if c1.bridge is not None:
                            self._leave_bridge(c1, keep_subscription=True)
                        self._end_stasis_hung_up(c1)
                    c1.exten, c1.priority = "h", 1
                    self._dialplan(c1, "NoOp", "dialer: hung up during AMD, AMDSTATUS="
                                   + c1.vars.get("AMDSTATUS", ""))
                    c1.late_dialplan = True  # AppDial2 after ChannelDestroyed (trace)
        await self._teardown(c1)

    def _originate_vars(self, c1: Channel) -> None:
        """originate {"variables": ...}: set on ;1 in order (CALLERID() gives a
        ChannelCallerId), then copied to ;2 (channel_variables trace)."""
        pres = {"caller_presentation": 0,
                "caller_presentation_txt": "Presentation Allowed, Not Screened"}
        items = list(c1.originate_vars.items())
        if not items:
            return
        callerid = False
        for k, v in items:
            if k.upper().startswith("CALLERID(NAME"):
                c1.caller_name = v
                callerid = True
                self.emit("ChannelCallerId", channel=c1, data=pres)
            elif k.upper().startswith("CALLERID(NUM"):
                c1.caller_number = v
                callerid = True
                self.emit("ChannelCallerId", channel=c1, data=pres)
            else:
                self._var(c1, k, v)
        peer = c1.peer
        if peer is not None and c1.tech == "Local":
            plain = [(k, v) for k, v in items if not k.upper().startswith("CALLERID(")]
            for k, v in sorted(plain, key=lambda kv: not kv[0].startswith("_")):
                self._var(peer, k, v)
            if callerid:
                peer.connected_name, peer.connected_number = c1.caller_name, c1.caller_number
                self.emit("ChannelConnectedLine", channel=peer)

    def _ctx_program(self, ctx: str, exten: str, c: Channel) -> list[Step] | None:
        if ctx == "dialer-amd":
            app = c.vars.get("DIALER_APP", "dialer")
            return amd_program(app, project=_project_dialplan(c))
        return self._program_for(ctx, exten, c)

    async def _after_stasis(self, c1: Channel) -> None:
        """Leaving Stasis by /continue: run the dialplan there (the channel gets a thread)."""
        while c1.leave_stasis_to is not None and not c1.hangup_requested:
            ctx, exten, prio = c1.leave_stasis_to
            c1.leave_stasis_to = None
            c1.pbx_thread = True
            c1.context, c1.exten, c1.priority = ctx, exten, prio
            program = self._ctx_program(ctx, exten, c1)
            if program is None or prio > len(program):
                c1.hangupcause = 0
                c1.pbx_thread = False
                # its last ChannelDialplan even arrives after ChannelDestroyed (notes 8)
                c1.late_dialplan = True
                return
            await self._run_program_inline(c1, program, prio)

    # ------------------------------------------------------------------ far-side notifications
    def _caller_of(self, far: Channel) -> Channel | None:
        p = far.peer
        if p is None or p.destroyed:
            return None
        return p

    def _far_ringing(self, far: Channel) -> None:
        c1 = self._caller_of(far)
        if c1 is None or c1.dial is None or c1.dial.done:
            return
        if c1.state == "Down":
            self._state(c1, "Ringing")
        c1.dial.status = "RINGING"
        self._dial_event(c1, "RINGING")

    def _far_answered(self, far: Channel) -> None:
        c1 = self._caller_of(far)
        if c1 is None:
            return
        c1.answered = True
        self._state(c1, "Up")
        if c1.dial is not None and not c1.dial.done:
            c1.dial.status = "ANSWER"
            c1.dial.done = True
            self._dial_event(c1, "ANSWER")
        self._set_outcome(c1, "answer")
        c1.poke()

    def _far_failed(self, far: Channel, status: str) -> None:
        c1 = self._caller_of(far)
        if c1 is None or c1.dial is None or c1.dial.done:
            return
        c1.dial.status = status
        c1.dial.done = True
        self._dial_event(c1, status)
        self._set_outcome(c1, status.lower())
        c1.poke()

    # ------------------------------------------------------------------ waiting
    async def _wait(self, c: Channel, sim_seconds: float | None) -> None:
        c.wake.clear()
        if sim_seconds is None:
            await c.wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(c.wake.wait(), self.clock.real(sim_seconds))

    async def _wait_until(
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

    @staticmethod
    def _poke_peers(b: Bridge) -> None:
        """Wake the other halves of a bridge's members (see _hears_media)."""
        for x in b.channels:
            if x.peer is not None:
                x.peer.poke()

    @staticmethod
    def _hears_media(c: Channel) -> bool:
        p = c.peer if c.tech == "Local" and c.half == 2 else None
        # 3+ members (softmix) send frames all the time; a 2-party simple_bridge only
        # relays what the other side plays (a customer's greeting, MOH: narrow
        # blind_transfer_narrow), an agent's silent line gives nothing (narrow consult)
        if p is None or p.bridge is None:
            return False
        b = p.bridge
        if len(b.channels) >= 3 or b.moh:
            return True
        # ... and a ringing member's ringback (more/create_dial_into_bridge_early)
        return any(x is not p and (x.state == "Ringing" or (
            x.peer is not None and x.peer.app_name in ("Playback", "PlayTones")))
            for x in b.channels)

    async def _sleep_or_hangup(self, c: Channel, sim_seconds: float) -> bool:
        """Sleep; True if the full time passed, False if the channel was hung up."""
        done = await self._wait_until(c, lambda: c.hangup_requested, sim_seconds)
        return not done

    # ------------------------------------------------------------------ dialplan execution
    async def _run_program(self, c: Channel, program: list[Step], priority: int) -> None:
        c.pbx_thread = True
        try:
            await self._run_program_inline(c, program, priority)
        finally:
            if not c.destroyed:
                await self._finish_thread(c)

    async def _finish_thread(self, c: Channel) -> None:
        await self._teardown(c)

    async def _run_program_inline(self, c: Channel, program: list[Step], priority: int) -> None:
        prio = max(1, priority)
        while not c.hangup_requested and 1 <= prio <= len(program):
            step = program[prio - 1]
            c.priority = prio
            data = step.render(c)
            self._dialplan(c, step.app, data)
            nxt = await self._exec(c, step.app, data, program)
            if nxt == "end":
                return
            if isinstance(nxt, int):
                prio = nxt
            else:
                prio += 1

    async def _exec(self, c: Channel, app: str, data: str, program: list[Step]) -> int | str | None:
        if app in ("NoOp", "Playtones"):
            return None
        if app == "Set":
            name, _, value = data.partition("=")
            self._var(c, name, value)
            return None
        if app == "GotoIf":
            cond, _, labels = data.partition("?")
            yes, _, no = labels.partition(":")
            label = yes if cond.strip() not in ("", "0") else no
            if not label:
                return None
            return label_priority(program, label) or None
        if app == "Goto":
            return label_priority(program, data) or "end"
        if app == "Ringing":
            if c.tech == "Local" or (c.tech == "PJSIP" and c.peer is not None):
                self._far_ringing(c)
            return None
        if app == "Wait":
            await self._sleep_or_hangup(c, float(data or 0))
            return None
        if app == "Answer":
            if c.state != "Up":
                self._state(c, "Up")
                self._far_answered(c)
                # Answer() waits up to 500 ms for the first media frame before the next app
                # (traces): a ;2 half whose ;1 sits in Stasis or a quiet 2-party bridge
                # waits it all; one whose ;1 is in a softmix bridge goes on at once
                # (narrow conference_8_narrow)
                await self._wait_until(
                    c, lambda: c.hangup_requested or self._hears_media(c), 0.5)
            return None
        if app == "Playback":
            await self._sleep_or_hangup(c, SOUND_SECONDS.get(data, 1.0))
            self._var(c, "PLAYBACKSTATUS", "SUCCESS")
            return None
        if app in ("Busy", "Congestion"):
            cause, status = (17, "BUSY") if app == "Busy" else (34, "CONGESTION")
            self._state(c, "Busy")
            c.hangupcause = cause
            if c.tech == "PJSIP":
                # the callee answers the INVITE with 486/503 and is gone at once
                c.tech_cause = 486 if app == "Busy" else 503
                self._hr(c, cause)
                return "end"
            self._far_failed(c, status)
            await self._sleep_or_hangup(c, float(data or 0))
            # Busy()/Congestion() hang up when their time is over (no next priority)
            return "end"
        if app == "Hangup":
            if data:
                c.hangupcause = int(data)
                self._hr(c, c.hangupcause, soft=True)
                c.hr_done = True
            else:
                if not c.hangupcause:
                    c.hangupcause = 16
                if c.half == 1 and _project_dialplan(c) and c.context == "dialer-amd":
                    # Hangup() soft-hangs the channel (narrow amd_context_subscribed_human)
                    self._hr(c, c.hangupcause, soft=True)
                    c.hr_done = True
            return "end"
        if app == "AMD":
            await self._amd(c)
            return None
        if app == "Stasis":
            parts = data.split(",")
            await self._stasis(c, parts[0], parts[1:])
            if c.leave_stasis_to is not None:
                ctx, exten, prio = c.leave_stasis_to
                c.leave_stasis_to = None
                prog = self._ctx_program(ctx, exten, c)
                c.context, c.exten = ctx, exten
                if prog is None:
                    c.hangupcause = 0
                    return "end"
                program[:] = prog
                return prio
            return None
        if app == "UserEvent":
            name, *fields = data.split(",")
            ue: dict[str, str] = {"eventname": name}
            for f in fields:
                k, _, v = f.partition(":")
                ue[k.strip()] = v.strip()
            self.emit("ChannelUserevent", channel=c, data={"eventname": name, "userevent": ue})
            return None
        return None

    async def _amd(self, c: Channel) -> None:
        far = c.peer
        plan: PartyPlan | None = far.plan if far is not None else None
        if far is not None and far.context == "customers-long":
            kind = "silent"
        elif plan is None:
            kind = "human"
        elif plan.outcome == "machine":
            kind = "machine"
        elif plan.outcome == "fax":
            kind = "fax"
        else:
            kind = "human"
        status, cause, secs = AMD_RESULT[kind]
        if not await self._sleep_or_hangup(c, secs):
            status, cause = "HANGUP", ""
        self._var(c, "AMDSTATUS", status)
        self._var(c, "AMDCAUSE", cause)
        if status == "MACHINE":
            self._set_outcome(c, "fax" if kind == "fax" else "machine")

    # ------------------------------------------------------------------ Stasis
    async def _stasis(self, c: Channel, app: str, args: list[str], wait: bool = True,
                      moved: bool = False) -> None:
        if not moved:
            self._var(c, "STASISSTATUS", "")
        if app not in self.apps or app in self.inactive_apps:
            # no WebSocket for the app: the call is dropped (surprise 14; narrow 33)
            self._var(c, "STASISSTATUS", "FAILED")
            c.hangupcause = 0
            c.hangup_requested = True
            return
        c.stasis_app = app
        c.stasis_args = list(args)
        # Stasis() subscribes the app for as long as the channel stays in it (res_stasis
        # subscribe/unsubscribe around the app): see subscribers_of. StasisStart goes to
        # that app only, never to other apps, subscribeAll or not (an observer app sees
        # the channel go Up but no StasisStart on a real Asterisk).
        self.emit("StasisStart", channel=c, data={"args": list(args)},
                  targets=frozenset({app}), to_all=False)
        if wait:
            await self._stasis_wait(c)

    async def _stasis_wait(self, c: Channel) -> None:
        while c.stasis_app is not None and not c.hangup_requested:
            if c.leave_stasis_to is not None:
                self._leave_stasis(c)
                return
            if c.move_to is not None:
                app, args = c.move_to
                c.move_to = None
                self._leave_stasis(c)
                await self._stasis(c, app, args, wait=False, moved=True)
                continue
            await self._wait(c, None)

    def _stasis_end(self, c: Channel) -> None:
        """StasisEnd, to the app the channel leaves only (as StasisStart)."""
        app = c.stasis_app
        self.emit("StasisEnd", channel=c,
                  targets=frozenset({app}) if app else None, to_all=app is None)

    def _end_stasis_hung_up(self, c: Channel) -> None:
        """The channel is hung up while in Stasis: StasisEnd, then Stasis() returns."""
        c.hung_in_stasis = True
        self._stasis_end(c)
        c.stasis_app = None
        self._var(c, "STASISSTATUS", "SUCCESS")

    def _leave_stasis(self, c: Channel) -> None:
        if c.stasis_app is None:
            return
        if c.bridge is not None:
            self._leave_bridge(c)
        self._stasis_end(c)
        c.stasis_app = None
        if c.pbx_thread:
            # the Stasis() dialplan app returns and sets its status
            self._var(c, "STASISSTATUS", "SUCCESS")
        else:
            # entered by originate: the status is only set when the channel ends
            # (continue_and_redirect trace)
            c.stasis_status_pending = True

    # ------------------------------------------------------------------ hangup
    def hangup(self, cid: str, reason: str | None, reason_code: str | None) -> None:
        c = self.get_channel(cid)
        cause = 16
        if reason_code is not None and reason_code != "":
            try:
                cause = int(reason_code)
            except ValueError as exc:
                raise AriError(400, "Invalid reason for hangup reason_code provided") from exc
        elif reason:
            if reason not in HANGUP_REASONS:
                raise AriError(400, "Invalid reason for hangup reason provided")
            cause = HANGUP_REASONS[reason]
        self.request_hangup(c, cause, explicit=True)

    def request_hangup(self, c: Channel, cause: int, *, explicit: bool) -> None:
        if c.destroyed or c.hangup_requested:
            return
        if not c.hangupcause:
            c.hangupcause = cause
        # DELETE: the event says 32 soft, Asterisk's "explicit" flag (surprise 3)
        self._hr(c, 32 if explicit else cause, soft=explicit)
        c.hangup_requested = True
        c.poke()

    def far_end_hangup(self, cid: str) -> None:
        """The party at the far end hangs up (cause 16), as the control endpoint asks."""
        c = self.get_channel(cid)
        far = c.peer if c.half == 1 or (c.tech == "PJSIP" and c.peer is not None) else c
        if far is None or far.destroyed:
            far = c
        if not far.hangupcause:
            far.hangupcause = 16
        if far.pbx_thread:
            self._hr(far, 16, soft=True)
            far.hr_done = True
        else:
            self._hr(far, 16)
        far.hangup_requested = True
        far.poke()

    async def _teardown(self, c: Channel) -> None:
        if c.destroyed:
            return
        c.hangup_requested = True
        if c.bridge is not None:
            self._leave_bridge(c, keep_subscription=True)
        for pb in list(c.playbacks):
            self._finish_playback(pb, "failed")
        if c.recording is not None:
            self._finish_recording(c.recording, "done")
        if c.moh or c.holding:
            c.moh = c.holding = False
            self.emit("MusicOnHoldStop", channel=c, ari=False)
        if c.stasis_app is not None:
            self._end_stasis_hung_up(c)
        elif c.stasis_status_pending:
            c.stasis_status_pending = False
            self._var(c, "STASISSTATUS", "SUCCESS")
        callee = c.half == 2 or (c.tech == "PJSIP" and c.dial is None)
        if c.pbx_thread and not c.hr_done and (callee or c.hung_in_stasis):
            self._hr(c, 16, soft=True)
        peer = c.peer
        propagate_first = c.tech == "Local"
        if (c.tech == "Local" and c.half == 1 and peer is not None and not peer.started
                and not peer.destroyed and c.dial is not None and c.dial.mode == "dial"):
            # created and never dialed: the ;2 half never ran and goes with ;1, silently
            # (narrow id_prefix_clash: DELETE of a created channel, no event for ;2)
            peer.destroyed = True
            self.channels.pop(peer.id, None)
            peer = None
        if propagate_first:
            self._propagate(c, peer)
        c.destroyed = True
        data: dict[str, Any] = {"cause": c.hangupcause,
                                "cause_txt": CAUSE_TEXT.get(c.hangupcause, "Unknown")}
        if c.tech_cause is not None:
            data["tech_cause"] = c.tech_cause
        self.emit("ChannelDestroyed", channel=c, data=data)
        self.channels.pop(c.id, None)
        if c.late_dialplan:
            self._dialplan(c, "AppDial2", "(Outgoing Line)")
        if not propagate_first:
            self._propagate(c, peer)
        for s in list(c.snoops):
            if not s.destroyed:
                s.hangupcause = 16
                s.hangup_requested = True
                s.poke()
        self._log_call(c, None)

    def _propagate(self, c: Channel, peer: Channel | None) -> None:
        if peer is None or peer.destroyed or peer.hangup_requested:
            return
        if c.tech == "PJSIP":
            if peer.dial is not None and not peer.dial.done and c.hangupcause in (17, 34):
                peer.hangupcause = c.hangupcause
                peer.tech_cause = c.tech_cause
                self._hr(peer, c.hangupcause)
                peer.dial.done = True
                status = "BUSY" if c.hangupcause == 17 else "CONGESTION"
                peer.dial.status = status
                self._dial_event(peer, status)
                self._set_outcome(peer, status.lower())
                peer.hangup_requested = True
                peer.poke()
                return
            if c.tech_cause == 480:
                peer.tech_cause = 487
            elif c.tech_cause is None and peer.tech_cause is not None:
                pass
        if c.hangupcause or not peer.hangupcause:
            peer.hangupcause = c.hangupcause
        self._hr(peer, c.hangupcause)
        peer.hangup_requested = True
        peer.poke()

    # ------------------------------------------------------------------ call log
    def _register_call(self, c1: Channel) -> None:
        if c1.kind == "customer":
            self.stats["customer_calls"] += 1
        elif c1.kind == "agent":
            self.stats["agent_calls"] += 1
        number = c1.number
        self.call_entries[c1.id] = CallLogEntry(c1.endpoint, number, c1.id, c1.kind)

    def _set_outcome(self, c1: Channel, outcome: str) -> None:
        if not c1.outcome or (c1.outcome == "answer" and outcome in ("machine", "fax")):
            c1.outcome = outcome

    def _log_call(self, c: Channel, forced: str | None) -> None:
        entry = self.call_entries.pop(c.id, None)
        if entry is None:
            return
        outcome = forced or self._final_outcome(c)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if self.call_log is None:
            return
        rec: dict[str, Any] = {
            "time": round(self.clock.now(), 3),
            "endpoint": entry.endpoint,
            "number": entry.number,
            "channel_id": entry.channel_id,
            "outcome": outcome,
        }
        if entry.kind != "customer":
            rec["kind"] = entry.kind
        self.call_log.write(json.dumps(rec) + "\n")
        self.call_log.flush()

    @staticmethod
    def _final_outcome(c: Channel) -> str:
        if c.outcome:
            if c.outcome == "answer" and c.plan is None and c.peer is not None and c.peer.plan:
                p = c.peer.plan.outcome
                return p if p in ("machine", "fax") else "answer"
            return c.outcome
        if c.hangupcause == 19:
            return "noanswer"
        if c.dial is not None and c.dial.status == "NOANSWER":
            return "cancelled"
        return "failed"

    # ------------------------------------------------------------------ channel operations
    def answer(self, cid: str) -> None:
        c = self.stasis_channel(cid)
        if c.state != "Up":
            self._state(c, "Up")

    def ring(self, cid: str, on: bool) -> None:
        c = self.stasis_channel(cid)
        if on and c.state not in ("Up", "Ringing"):
            self._state(c, "Ringing")

    def hold(self, cid: str, on: bool) -> None:
        c = self.stasis_channel(cid)
        # hold on a Local channel = MOH class default on ;1, AMI only (surprise 9, 24)
        self._moh(c, on, "default", hold=True)

    def moh(self, cid: str, on: bool, moh_class: str | None) -> None:
        c = self.stasis_channel(cid)
        self._moh(c, on, moh_class or "default", hold=False)

    def _moh(self, c: Channel, on: bool, moh_class: str, hold: bool) -> None:
        playing = c.moh or c.holding
        if on:
            if hold:
                c.holding = True
            else:
                c.moh = True
            if not playing:
                # an unknown class falls back to default (surprise 24)
                self.emit("MusicOnHoldStart", channel=c, data={"class": "default"}, ari=False)
        else:
            if hold:
                if not c.holding:
                    return
                c.holding = False
                if playing and not c.moh:
                    self.emit("MusicOnHoldStop", channel=c, ari=False)
            else:
                # DELETE moh stops the MOH of a hold too (notes 11)
                if playing:
                    c.moh = c.holding = False
                    self.emit("MusicOnHoldStop", channel=c, ari=False)

    def silence(self, cid: str) -> None:
        self.stasis_channel(cid)

    def get_var(self, cid: str, name: str | None) -> str:
        if not name:
            raise AriError(400, "Variable name is required")
        c = self.get_channel(cid, message="Provided channel was not found")
        key = name
        if key.startswith("CALLERID(") or key.startswith("CHANNEL("):
            return _func_value(c, key)
        if re.fullmatch(r"[A-Z_]+\(.*\)", key):
            raise AriError(500, "Unable to read provided function")
        for k in (key, "_" + key, "__" + key):
            if k in c.vars:
                return c.vars[k]
        raise AriError(404, "Provided variable was not found")

    def set_var(self, cid: str, name: str | None, value: str | None, report: bool) -> None:
        if not name:
            raise AriError(400, "Variable name is required")
        c = self.get_channel(cid)
        if c.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        if re.fullmatch(r"[A-Z_]+\(.*\)", name):
            if name.upper().startswith("CALLERID("):
                if name.upper().startswith("CALLERID(NAME"):
                    c.caller_name = value or ""
                elif name.upper().startswith("CALLERID(NUM"):
                    c.caller_number = value or ""
                self.emit("ChannelCallerId", channel=c, data={
                    "caller_presentation": 0,
                    "caller_presentation_txt": "Presentation Allowed, Not Screened"})
            return
        if value is None:
            c.vars.pop(name, None)
            self.emit("ChannelVarset", channel=c, data={"variable": name, "value": ""})
        else:
            c.vars[name] = value
            # report_events is false unless given on each set (surprise 21)
            if report:
                if c.reported_vars is None:
                    c.reported_vars = {}
                c.reported_vars[name] = value
            self.emit("ChannelVarset", channel=c, data={"variable": name, "value": value})

    def set_vars(self, cid: str, variables: Any) -> None:
        c = self.get_channel(cid, message="Provided channel was not found")
        if c.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        if not isinstance(variables, dict):
            raise AriError(400, "Missing parameter variables")
        for k, v in variables.items():
            if isinstance(v, dict):
                self.set_var(cid, str(k), None if v.get("value") is None else str(v["value"]),
                             bool(v.get("report_events")))
            else:
                self.set_var(cid, str(k), str(v), False)

    def get_vars(self, cid: str, names: list[str]) -> dict[str, str]:
        if not names:
            raise AriError(400, "Variable names are required")
        return {n: self.get_var(cid, n) for n in names}

    def continue_(self, cid: str, context: str | None, extension: str | None,
                  priority: int | None) -> None:
        c = self.stasis_channel(cid)
        ctx = context or c.context
        exten = extension or c.exten
        prio = priority if priority else (1 if (context or extension) else c.priority + 1)
        c.leave_stasis_to = (ctx, exten, prio)
        c.poke()

    def move(self, cid: str, app: str, args: list[str]) -> None:
        c = self.stasis_channel(cid)
        if app not in self.apps:
            self.emit("ApplicationMoveFailed", channel=c,
                      data={"destination": app, "args": args})
            return
        c.move_to = (app, args)
        c.poke()

    def redirect(self, cid: str, endpoint: str | None) -> None:
        c = self.stasis_channel(cid)
        if not endpoint:
            raise AriError(400, "Required parameter 'endpoint' not provided.")
        if c.tech == "Local" and endpoint.startswith("PJSIP/"):
            raise AriError(422, "Endpoint technology 'PJSIP' does not match channel technology 'Local'")
        # a Local channel ignores the redirect (notes 8: "Unsupported transfer requested")

    def snoop(self, cid: str, p: dict[str, Any]) -> Channel:
        spy = p.get("spy") or "none"
        whisper = p.get("whisper") or "none"
        for name, v in (("spy", spy), ("whisper", whisper)):
            if v not in ("none", "both", "out", "in"):
                raise AriError(400, f"Invalid direction specified for {name}")
        if spy == "none" and whisper == "none":
            raise AriError(400, "Direction must be specified for at least spy or whisper")
        app = p.get("app") or ""
        if not app:
            raise AriError(400, "Application name is required")
        target = self.get_channel(cid, message="Provided channel was not found")
        sid = p.get("snoopId") or None
        if sid is not None and sid in self.channels:
            raise AriError(500, "Snoop channel could not be created")
        seq = self._next_seq()
        s = Channel(
            id=sid or self._new_uid(), name=f"Snoop/{target.id}-{seq}", tech="Snoop", state="Up",
            context="default", exten="s", priority=1, creationtime=self.clock.iso(), linkedid="",
            kind="snoop",
        )
        s.linkedid = s.id
        s.snoop_target = target
        target.snoops.append(s)
        self.channels[s.id] = s
        self.emit("ChannelCreated", channel=s)
        args = _split_args(p.get("appArgs"))
        self._dialplan(s, "Stasis", ",".join([app, *args]))
        self.spawn(self._run_snoop(s, app, args))
        return s

    async def _run_snoop(self, s: Channel, app: str, args: list[str]) -> None:
        await self._stasis(s, app, args)
        await self._after_stasis(s)
        if not s.hangupcause:
            s.hangupcause = 16
        await self._teardown(s)
        t = s.snoop_target
        if t is not None and s in t.snoops:
            t.snoops.remove(s)


    def channel_list(self) -> list[Channel]:
        return [c for c in self.channels.values() if not c.destroyed]

    # ------------------------------------------------------------------ bridges
    def create_bridge(self, btype: str | None, bid: str | None, name: str | None) -> Bridge:
        types = [t.strip() for t in (btype or "mixing").split(",") if t.strip()]
        if bid and bid in self.bridges:
            raise AriError(409, f"Bridge with id '{bid}' already exists")
        allowed = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single",
                   "sdp_label"}
        if any(t not in allowed for t in types):
            raise AriError(500, f"Unable to create bridge. Possible duplicate bridge id '{bid or ''}'")
        holding = "holding" in types
        b = Bridge(
            id=bid or str(uuid.uuid4()),
            bridge_type="holding" if holding else "mixing",
            name=name or "",
            creationtime=self.clock.iso(),
            technology="holding_bridge" if holding else "simple_bridge",
            video_mode="none" if holding else "talker",
        )
        self.bridges[b.id] = b
        # A REST-created bridge is announced to subscribeAll apps only, even to the app
        # that created it: an app is subscribed to a bridge while one of its channels is
        # in it (narrow surprise 34).
        self.emit("BridgeCreated", bridge=b)
        return b

    def get_bridge(self, bid: str) -> Bridge:
        b = self.bridges.get(bid)
        if b is None or b.destroyed:
            raise AriError(404, "Bridge not found")
        return b

    def add_to_bridge(self, bid: str, channel_param: str | None, role: str | None) -> None:
        b = self.get_bridge(bid)
        ids = [x for x in (channel_param or "").split(",") if x]
        if not ids:
            raise AriError(400, "Missing parameter channel")
        chans: list[Channel] = []
        for cid in ids:
            c = self.channels.get(cid)
            if c is None or c.destroyed:
                # unknown channel: 400, and none of the list is added (surprise 19)
                raise AriError(400, "Channel not found")
            chans.append(c)
        for c in chans:
            if c.stasis_app is None:
                raise AriError(422, "Channel not in Stasis application")
            if c.recording is not None and c.recording.state == "recording":
                raise AriError(409, f"Channel {c.id} currently recording")
        for c in chans:
            if c.bridge is b:
                continue
            if c.bridge is not None:
                self._leave_bridge(c)
            self._enter_bridge(c, b, role)

    def _enter_bridge(self, c: Channel, b: Bridge, role: str | None) -> None:
        if (c.moh or c.holding) and b.bridge_type == "mixing":
            # joining a bridge stops the channel's MOH (notes 11)
            c.moh = c.holding = False
            self.emit("MusicOnHoldStop", channel=c, ari=False)
        before = b.technology
        b.channels.append(c)
        c.bridge = b
        if c.stasis_app is not None:
            b.subscribers.add(c.stasis_app)
            b.member_refs[c.stasis_app] = b.member_refs.get(c.stasis_app, 0) + 1
        # the event reports the technology before the switch (notes GENERAL)
        b.technology = before
        self.emit("ChannelEnteredBridge", channel=c, bridge=b, data={"role": role})
        self._poke_peers(b)  # a ;2 half in Answer() may now hear media
        self._retech(b)
        if b.bridge_type == "mixing":
            self._bridgepeers(b, entering=c)
        if b.bridge_type == "holding" and role == "holding_participant":
            self.emit("MusicOnHoldStart", channel=c, data={"class": "default"}, ari=False)
            c.moh = True

    def _retech(self, b: Bridge) -> None:
        if b.bridge_type == "mixing":
            b.technology = "softmix" if b.member_count() >= 3 else "simple_bridge"

    def _bridgepeers(self, b: Bridge, entering: Channel | None) -> None:
        members = b.channels
        names = [c.name for c in members]
        if len(members) + len(b.hidden) < 2:
            return
        for c in members:
            others = [n for n in names if n != c.name]
            if c is not entering:
                others = list(reversed(others))
            hidden = [f"{h}" for h in b.hidden]
            self._var(c, "BRIDGEPEER", ",".join(hidden + others))

    def _leave_bridge(self, c: Channel, *, keep_subscription: bool = False) -> None:
        b = c.bridge
        if b is None:
            return
        if b.bridge_type == "mixing":
            self._var(c, "BRIDGEPEER", "")
        if c.moh and b.bridge_type == "holding":
            c.moh = False
            self.emit("MusicOnHoldStop", channel=c, ari=False)
        b.channels.remove(c)
        c.bridge = None
        self.emit("ChannelLeftBridge", channel=c, bridge=b)
        app = c.stasis_app
        if not keep_subscription and app is not None and app in b.member_refs:
            # Moved out: the subscription Stasis took for this member is given back; a
            # member that hung up keeps its share. A bridge emptied by moves therefore
            # gives no BridgeDestroyed, one a member of which hung up does (surprise 34).
            b.member_refs[app] -= 1
            if b.member_refs[app] <= 0:
                del b.member_refs[app]
                b.subscribers.discard(app)
        self._retech(b)
        if b.bridge_type == "mixing" and b.channels and b.member_count() >= 2:
            self._bridgepeers(b, entering=None)
        if not b.channels and b.recording is not None:
            # a bridge recording ends when the last member leaves (notes 2)
            self._finish_recording(b.recording, "done")

    def remove_from_bridge(self, bid: str, channel_param: str | None) -> None:
        b = self.get_bridge(bid)
        ids = [x for x in (channel_param or "").split(",") if x]
        if not ids:
            raise AriError(400, "Missing parameter channel")
        chans = []
        for cid in ids:
            c = self.channels.get(cid)
            if c is None or c.destroyed:
                raise AriError(400, "Channel not found")
            chans.append(c)
        for c in chans:
            if c.stasis_app is None:
                raise AriError(422, "Channel not in Stasis application")
            if c.bridge is not b:
                raise AriError(422, "Channel not in this bridge")
        for c in chans:
            self._leave_bridge(c)

    def destroy_bridge(self, bid: str) -> None:
        b = self.get_bridge(bid)
        b.destroyed = True
        self.bridges.pop(b.id, None)

        async def later() -> None:
            # DELETE answers 204 at once; BridgeDestroyed comes later (surprise 10)
            await self.clock.sleep(0.002)
            for c in list(b.channels):
                self._leave_bridge(c, keep_subscription=True)
            for pb in list(b.playbacks):
                self._finish_playback(pb, "done")
            self.emit("BridgeDestroyed", bridge=b)

        self.spawn(later())

    def bridge_moh(self, bid: str, on: bool) -> None:
        b = self.get_bridge(bid)
        if on and not b.moh:
            b.moh = True
            b.hidden.append(f"Announcer/ARI_MOH-{self._next_seq()};2")
            self._retech(b)
            if b.bridge_type == "mixing":
                self._bridgepeers(b, None)
        elif not on and b.moh:
            b.moh = False
            b.hidden = [h for h in b.hidden if not h.startswith("Announcer/ARI_MOH")]
            self._retech(b)
            if b.bridge_type == "mixing":
                self._bridgepeers(b, None)

    # ------------------------------------------------------------------ playbacks
    def play(self, target_kind: str, target_id: str, media: list[str], pid: str | None,
             lang: str | None) -> Playback:
        if not media:
            raise AriError(400, "Missing parameter media")
        if target_kind == "channel":
            c = self.get_channel(target_id)
            if c.stasis_app is None:
                raise AriError(409, "Channel not in Stasis application")
            owner: Channel | Bridge = c
        else:
            owner = self.get_bridge(target_id)
        pb = Playback(id=pid or str(uuid.uuid4()), media=media,
                      target_uri=f"{target_kind}:{target_id}", language=lang or "en", owner=owner)
        self.playbacks.setdefault(pb.id, []).append(pb)
        owner.playbacks.append(pb)
        self.spawn(self._run_playback(owner, pb))
        return pb

    async def _run_playback(self, owner: Channel | Bridge, pb: Playback) -> None:
        # playbacks on one target play one after the other
        while owner.playbacks and owner.playbacks[0] is not pb:
            if pb.state != "queued":
                return
            await asyncio.sleep(self.clock.real(0.01))
        if pb.state != "queued":
            return
        if isinstance(owner, Bridge) and not any(h.startswith("Announcer/ARI-")
                                                 for h in owner.hidden):
            # bridge playbacks run on one hidden Announcer channel (notes GENERAL)
            owner.hidden.append(f"Announcer/ARI-{self._next_seq()};2")
            self._retech(owner)
            if owner.bridge_type == "mixing":
                self._bridgepeers(owner, None)
        try:
            await self._play_items(owner, pb)
        finally:
            if isinstance(owner, Bridge) and not owner.destroyed and not owner.playbacks:
                owner.hidden = [h for h in owner.hidden if not h.startswith("Announcer/ARI-")]
                self._retech(owner)
                if owner.bridge_type == "mixing":
                    self._bridgepeers(owner, None)

    async def _play_items(self, owner: Channel | Bridge, pb: Playback) -> None:
        while pb.index < len(pb.media):
            uri = pb.media[pb.index]
            pb.state = "playing"
            self._pb_event("PlaybackStarted", owner, pb)
            scheme, _, rest = uri.partition(":")
            duration: float | None
            if scheme == "sound":
                duration = SOUND_SECONDS.get(rest)
                if duration is None:
                    # missing sound file: fails at once (playback trace: sound:hello-world)
                    await asyncio.sleep(self.clock.real(0.001))
                    self._finish_playback(pb, "failed")
                    return
            elif scheme == "tone":
                duration = None
            elif scheme == "silence":
                duration = float(rest or 1)
            elif scheme in ("digits", "characters", "number"):
                duration = 0.5 * max(1, len(rest))
            elif scheme == "recording":
                duration = 2.0
            else:
                # unsupported scheme: PlaybackStarted, never Finished, gone (errors trace)
                self._forget_playback(pb)
                if pb in owner.playbacks:
                    owner.playbacks.remove(pb)
                return
            pb.stop.clear()
            if duration is None:
                await pb.stop.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pb.stop.wait(), self.clock.real(duration))
            if pb.state in ("done", "failed", "canceled"):
                return
            if pb.stop.is_set():
                self._finish_playback(pb, "done")
                return
            if pb.index + 1 < len(pb.media):
                pb.state = "continuing"
                self._pb_event("PlaybackContinuing", owner, pb)
                pb.index += 1
                continue
            self._finish_playback(pb, "done")
            return

    def _pb_event(self, kind: str, owner: Channel | Bridge, pb: Playback) -> None:
        is_bridge = isinstance(owner, Bridge)
        self.emit(kind, channel=owner if isinstance(owner, Channel) else None,
                  bridge=owner if isinstance(owner, Bridge) else None,
                  data={"playback": pb.ari()}, ami=False, dup_for_all=is_bridge)

    def _finish_playback(self, pb: Playback, state: str) -> None:
        if pb.state in ("done", "failed"):
            return
        owner = pb.owner
        was_playing = pb.state in ("playing", "paused")
        pb.state = state
        pb.stop.set()
        self._forget_playback(pb)
        if owner is not None and pb in owner.playbacks:
            owner.playbacks.remove(pb)
        if was_playing and owner is not None:
            self._pb_event("PlaybackFinished", owner, pb)
        elif was_playing:
            self.emit("PlaybackFinished", data={"playback": pb.ari()}, ami=False)

    def _forget_playback(self, pb: Playback) -> None:
        same = self.playbacks.get(pb.id, [])
        if pb in same:
            same.remove(pb)
        if not same:
            self.playbacks.pop(pb.id, None)

    def get_playback(self, pid: str) -> Playback:
        same = self.playbacks.get(pid)
        if not same:
            raise AriError(404, "Playback not found")
        return same[0]

    def stop_playback(self, pid: str) -> None:
        pb = self.get_playback(pid)
        if pb.state == "queued":
            pb.state = "done"
            self._forget_playback(pb)
            if pb.owner is not None and pb in pb.owner.playbacks:
                pb.owner.playbacks.remove(pb)
            return
        # a stopped playback ends "done" (notes 3)
        pb.stop.set()

    def control_playback(self, pid: str, operation: str | None) -> None:
        pb = self.get_playback(pid)
        if operation not in ("restart", "pause", "unpause", "reverse", "forward"):
            raise AriError(400, "Invalid operation")
        if pb.state == "queued":
            raise AriError(409, "Playback not currently playing")
        if operation == "pause":
            pb.state = "paused"
        elif operation == "unpause" and pb.state == "paused":
            pb.state = "playing"
            if pb.owner is not None:
                self._pb_event("PlaybackStarted", pb.owner, pb)

    # ------------------------------------------------------------------ recordings
    def record(self, target_kind: str, target_id: str, p: dict[str, Any]) -> LiveRecording:
        name = p.get("name") or ""
        fmt = p.get("format") or ""
        if not name:
            raise AriError(400, "Recording name is required")
        if not fmt:
            raise AriError(400, "Recording format is required")
        owner: Channel | Bridge
        if target_kind == "channel":
            c = self.get_channel(target_id)
            if c.stasis_app is None:
                raise AriError(409, "Channel not in Stasis application")
            owner = c
        else:
            owner = self.get_bridge(target_id)
        if fmt not in ("wav", "gsm", "ulaw", "alaw", "sln", "g722", "wav49"):
            raise AriError(422, "specified format is unknown on this system")
        if name in self.live_recordings:
            raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
        if_exists = p.get("ifExists") or "fail"
        if name in self.stored_recordings and if_exists == "fail":
            raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
        rec = LiveRecording(name=name, format=fmt, target_uri=f"{target_kind}:{target_id}")
        md = _int_or(p.get("maxDurationSeconds"), 0)
        rec.max_duration = float(md) if md else None
        self.live_recordings[name] = rec
        owner.recording = rec
        self.spawn(self._run_recording(owner, rec))
        return rec

    async def _run_recording(self, owner: Channel | Bridge, rec: LiveRecording) -> None:
        await asyncio.sleep(self.clock.real(0.01))
        if isinstance(owner, Channel) and owner.bridge is not None:
            # recording a bridged channel fails after 201 (surprise 20)
            await self.clock.sleep(0.5)
            rec.state = "failed"
            rec.cause = "Cannot record channel while in bridge"
            self.live_recordings.pop(rec.name, None)
            owner.recording = None
            self._rec_event("RecordingFailed", owner, rec)
            return
        if rec.state != "queued":
            return
        rec.state = "recording"
        rec.started_at = self.clock.now()
        if isinstance(owner, Bridge):
            rec.helper = f"Recorder/ARI-{self._next_seq()};2"
            owner.hidden.append(rec.helper)
            self._retech(owner)
            if owner.bridge_type == "mixing":
                self._bridgepeers(owner, None)
        self._rec_event("RecordingStarted", owner, rec)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                rec.stop.wait(),
                None if rec.max_duration is None else self.clock.real(rec.max_duration + 0.9),
            )
        self._finish_recording(rec, "done")

    def _rec_event(self, kind: str, owner: Channel | Bridge, rec: LiveRecording) -> None:
        is_bridge = isinstance(owner, Bridge)
        self.emit(kind, channel=owner if isinstance(owner, Channel) else None,
                  bridge=owner if isinstance(owner, Bridge) else None,
                  data={"recording": rec.ari()}, ami=False, dup_for_all=is_bridge)

    def _finish_recording(self, rec: LiveRecording, state: str) -> None:
        if rec.state in ("done", "failed", "canceled"):
            return
        kind, _, oid = rec.target_uri.partition(":")
        owner: Channel | Bridge | None = (
            self.channels.get(oid) if kind == "channel" else self.bridges.get(oid)
        )
        was = rec.state
        now = self.clock.now()
        if rec.paused_at is not None:
            rec.paused_total += now - rec.paused_at
            rec.paused_at = None
        rec.state = state
        rec.stop.set()
        self.live_recordings.pop(rec.name, None)
        if owner is not None:
            if owner.recording is rec:
                owner.recording = None
            if isinstance(owner, Bridge) and rec.helper in owner.hidden:
                owner.hidden.remove(rec.helper)
                self._retech(owner)
                if owner.bridge_type == "mixing" and owner.channels:
                    self._bridgepeers(owner, None)
        if was in ("recording", "paused"):
            dur = now - rec.started_at - rec.paused_total
            if rec.max_duration is not None:
                dur = min(dur, rec.max_duration)
            rec.duration = max(0, int(dur))
            if state == "done":
                self.stored_recordings[rec.name] = {"name": rec.name, "format": rec.format}
                self.stored_durations[rec.name] = float(rec.duration)
            if owner is not None:
                self._rec_event("RecordingFinished", owner, rec)

    def get_live(self, name: str) -> LiveRecording:
        rec = self.live_recordings.get(name)
        if rec is None:
            raise AriError(404, "Recording not found")
        return rec

    def recording_op(self, name: str, op: str) -> None:
        rec = self.get_live(name)
        now = self.clock.now()
        if op == "stop":
            rec.stop.set()
            self._finish_recording(rec, "done")
        elif op == "cancel":
            self._finish_recording(rec, "canceled")
            self.stored_recordings.pop(name, None)
        elif op == "pause":
            if rec.paused_at is None:
                rec.paused_at = now
                rec.state = "paused"
        elif op == "unpause":
            if rec.paused_at is not None:
                rec.paused_total += now - rec.paused_at
                rec.paused_at = None
                rec.state = "recording"
        elif op == "mute":
            rec.muted = True
        elif op == "unmute":
            rec.muted = False

    # ------------------------------------------------------------------ apps and user events
    def register_app(self, app: str, subscribe_all: bool) -> None:
        self.apps[app] = subscribe_all
        self.inactive_apps.discard(app)

    def unregister_app(self, app: str) -> None:
        narrow = not self.apps.get(app, True)
        if narrow and any(app in c.subscribers or c.stasis_app == app
                          for c in self.channel_list()):
            # kept "inactive" while it has subscriptions (narrow surprise 33)
            self.inactive_apps.add(app)
            return
        self.apps.pop(app, None)
        self.inactive_apps.discard(app)

    def app_json(self, app: str) -> dict[str, Any]:
        if app not in self.apps:
            raise AriError(404, "Application not found")
        if self.apps[app]:
            return {
                "name": app,
                "channel_ids": ["__AST_CHANNEL_ALL_TOPIC"],
                "bridge_ids": ["__AST_BRIDGE_ALL_TOPIC"],
                "endpoint_ids": ["__AST_ENDPOINT_ALL_TOPIC"],
                "device_names": ["__AST_DEVICE_STATE_ALL_TOPIC"],
                "events_allowed": [],
                "events_disallowed": [],
            }
        return {
            "name": app,
            "channel_ids": [c.id for c in self.channel_list()
                            if app in c.subscribers or c.stasis_app == app],
            "bridge_ids": [b.id for b in self.bridges.values() if app in b.subscribers],
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }

    def user_event(self, name: str, application: str | None, source: list[str],
                   variables: dict[str, Any]) -> None:
        if not application:
            raise AriError(400, "Missing parameter application")
        if application not in self.apps:
            raise AriError(404, "Application not found")
        chan: Channel | None = None
        for s in source:
            kind, _, sid = s.partition(":")
            if kind == "channel":
                chan = self.channels.get(sid)
                if chan is None:
                    raise AriError(422, "Channel not found")
        ue = {k: str(v) for k, v in variables.items()}
        self.emit("ChannelUserevent", channel=chan,
                  data={"eventname": name, "userevent": ue, "application": application},
                  targets=frozenset([application]), to_all=False, ami=chan is not None)

    def ami_user_event(self, headers: list[tuple[str, str]]) -> None:
        self.emit("UserEvent", data={"headers": headers}, ari=False, targets=frozenset())

    def calls_summary(self) -> list[dict[str, Any]]:
        out = []
        for c in self.channel_list():
            out.append({
                "id": c.id, "name": c.name, "state": c.state, "kind": c.kind,
                "number": c.number, "stasis_app": c.stasis_app,
                "bridge": c.bridge.id if c.bridge else None,
                "outcome": c.outcome or None,
            })
        return out


def _int_or(v: Any, default: int | None) -> int | None:
    if v is None or v == "":
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _split_args(v: Any) -> list[str]:
    if v is None or v == "":
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    return str(v).split(",")


def _parse_callerid(s: str) -> tuple[str, str]:
    """'Name <number>' -> (name, number) the way ast_callerid_parse does it."""
    m = re.match(r'^\s*"?([^"<]*?)"?\s*<(.*)>\s*$', s)
    if m:
        return m.group(1).strip(), m.group(2)
    if "<" in s and ">" in s:
        i, j = s.find("<"), s.rfind(">")
        return s[:i].strip(), s[i + 1:j]
    if re.fullmatch(r"[0-9+*#]+", s.strip()):
        return "", s.strip()
    return s.strip(), ""


def _func_value(c: Channel, key: str) -> str:
    if key.startswith("CALLERID(name"):
        return c.caller_name
    if key.startswith("CALLERID(num"):
        return c.caller_number
    if key == "CALLERID(all)":
        return f'"{c.caller_name}" <{c.caller_number}>' if c.caller_number else f'"{c.caller_name}"'

    if key == "CHANNEL(name)":
        return c.name
    if key == "CHANNEL(state)":
        return c.state
    raise AriError(500, "Unable to read provided function")


#: Real seconds between the reply to POST /channels/create, or an originated channel's
#: answer, and the channel's StasisStart (a thread's start: not scaled by the speed).
STASIS_ENTRY_DELAY_S = 0.005

#: Contexts of the project's dialplan (asterisk-conf/) that reach the customer over the
#: SIP trunk; the lab's [customers] is reached directly.
TRUNK_CONTEXTS = ("dialer-out",)
#: The carrier's post-dial delay before anything is heard of the called side (sim s).
TRUNK_SETUP_S = 0.1


def _project_dialplan(c: Channel) -> bool:
    """The channel was originated through the project's own dialplan (asterisk-conf's
    [dialer-out], as the dialer does) rather than the lab's [customers]."""
    return "@dialer-out" in (c.endpoint or "")


def _dialstring(endpoint: str, resource: str, where: str) -> str:
    # Dial events carry what follows the technology, options included ("1000@dialer-out/n")
    if endpoint.startswith("Local/"):
        return endpoint[len("Local/"):]
    return f"{resource}@{where}" if where else resource
