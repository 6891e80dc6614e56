"""app_queue: named queues, their callers in order, members, and the AMI queue events and
actions, as recorded on Asterisk 22.10.1 (asterisk-traces/narrow/queue_placeholder,
surprises 37-39) and, where the traces show nothing, as app_queue.c does it.

What a caller sees (`Queue(name,options,URL,announce,timeout,AGI,gosub,rule,position)`):

* it joins at the end, or at `position` (the 9th argument, 1-based: the callers from
  there on move down one; a 10th argument is ignored, surprise 37): QueueCallerJoin
  with Position and Count, then music on hold;
* every second (app_queue's RECHECK) it looks for its turn: with autofill, the first N
  callers not already ringing someone, N being the members available (not paused, free
  unless ringinuse, not wrapping up);
* at its turn it rings one member (rrmemory: the next one after the last one rung) for
  the queue's `timeout`; no answer: AgentRingNoAnswer and DialEnd NOANSWER, `retry`
  seconds of waiting, and again;
* the member answers: DialEnd ANSWER, QueueCallerLeave, QUEUEPOSITION, QUEUEWAIT,
  AgentConnect, a basic bridge (AMI only: the app hears no bridge, surprise 38) until
  one side hangs up: AgentComplete (Reason caller or agent), and the caller hangs up;
* a key that is an extension of the queue's `context` leaves the queue there
  (QueueCallerLeave, QUEUEPOSITION = the place it held; [dialer-callback-offer] on 1);
* hanging up while waiting is an abandon: ABANDONED=TRUE, QueueCallerAbandon,
  QueueCallerLeave.

Members are phones, rung like any call pbxsim makes: `Local/<exten>@<context>` (a Local
pair whose ;2 half runs that extension: [dialer-agents]' agent phones answer at once) or
`PJSIP/<endpoint>`. A member's Status is its device state, read from pbxsim's channels:
in use while a channel of that device lives. `ringinuse` is off in pbxsim's queues, so a
member takes one caller at a time: queues.conf does not set it and Asterisk's default
(on) lets one Local member take every waiting caller at once (surprise 39).

Not modelled: announcements (position, periodic), penalties and rules, priorities
(QUEUE_PRIO), strategies other than rrmemory, multi-digit exit extensions, AgentDump,
DeviceStateChange events (pbxsim sends none), AMI permissions (QueueAdd needs `agent`
write access on a real Asterisk).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pbxsim.channels import PRESENTATION_ALLOWED, Channels, kind_of
from pbxsim.dialplan import KNOWN_CONTEXTS, Step, program_for
from pbxsim.dialplan_run import DialplanRunner, Next
from pbxsim.hangup import Hangups
from pbxsim.model import AriError, Channel, subscribers_of
from pbxsim.state import PbxState

#: the queues of asterisk-conf/queues.conf (any other name is made alike on first use)
CONFIGURED_QUEUES = ("support",)
RECHECK_S = 1.0
"""app_queue's RECHECK: a waiting caller checks for its turn once a second."""
DTMF_QUIET_S = 0.1
"""ast_dtmf_stream's quiet time before the first digit (the trace: DTMFBegin 100 ms
after POST /channels/{id}/dtmf)."""
DTMF_DURATION_MS = 100
DTMF_BETWEEN_MS = 100
DTMF_KEYS = set("0123456789*#ABCD")
#: Queue() empties these when it starts and fills them when the caller leaves
TIMING_VARS = ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "QUEUEWAIT",
               "QUEUEWAIT_MS")
#: ast_device_state: a member's Status
DEVICE_STATES = {0: "UNKNOWN", 1: "NOT_INUSE", 2: "INUSE", 3: "BUSY", 4: "INVALID",
                 5: "UNAVAILABLE", 6: "RINGING", 7: "RINGINUSE", 8: "ONHOLD"}
NOT_INUSE, INUSE, INVALID, RINGING = 1, 2, 4, 6
TRUE_WORDS = ("yes", "true", "y", "t", "1", "on")
"""ast_true()."""


@dataclass(frozen=True)
class QueueConfig:
    """A queues.conf block ([support] of asterisk-conf, ringinuse off: see the module doc)."""

    strategy: str = "rrmemory"
    timeout: float = 20.0
    retry: float = 2.0
    context: str = "dialer-callback-offer"
    ringinuse: bool = False
    autofill: bool = True
    wrapuptime: int = 0
    servicelevel: int = 0
    musicclass: str = "default"


@dataclass
class Member:
    interface: str
    name: str
    state_interface: str
    ringinuse: bool
    login_time: float
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    wrapuptime: int = 0
    dynamic: bool = True
    calls: int = 0
    last_call: float = 0.0
    last_pause: float = 0.0
    status: int = NOT_INUSE
    in_call_since: float | None = None
    """app_queue's starttime: set while connected to a caller (InCall)."""


@dataclass
class Leg:
    """One call from a queue caller to a member."""

    member: Member
    channel: Channel
    """The member's channel the queue dials (a Local ;1 half, or PJSIP)."""
    far: Channel
    rung_at: float
    bridge_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    connected_at: float | None = None


@dataclass
class Entry:
    """A caller in a queue (app_queue's queue_ent)."""

    channel: Channel
    queue: Queue
    start: float
    app_data: str
    options: str
    expire: float | None
    position: int = 0
    original_position: int = 0
    digits: list[str] = field(default_factory=list)
    """Keys received and not yet looked at."""
    keys: str = ""
    """Keys collected towards an extension of the queue's context."""
    exit_to: tuple[str, str] | None = None
    pending: bool = False
    """Ringing a member: not counted when the callers behind look for their turn."""
    reached_head: bool = False
    leg: Leg | None = None


@dataclass
class Queue:
    name: str
    config: QueueConfig
    callers: list[Entry] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    connected: list[Entry] = field(default_factory=list)
    rrpos: int = 0
    holdtime: int = 0
    talktime: int = 0
    completed: int = 0
    completed_in_sl: int = 0
    abandoned: int = 0
    abandoned_in_sl: int = 0

    def member(self, interface: str) -> Member | None:
        low = interface.lower()  # interface_exists() compares without case
        return next((m for m in self.members if m.interface.lower() == low), None)

    def renumber(self) -> None:
        for i, e in enumerate(self.callers):
            e.position = i + 1


class Queues:
    """The queues, Queue() on the PBX threads, the AMI queue actions, and DTMF into
    channels (the keys a queued caller presses)."""

    def __init__(self, pbx: PbxState, channels: Channels, hangups: Hangups,
                 runner: DialplanRunner, config: QueueConfig | None = None) -> None:
        self.pbx = pbx
        self.channels = channels
        self.hangups = hangups
        self.runner = runner
        self.config = config or QueueConfig()
        self.queues: dict[str, Queue] = {}
        self.waiting: dict[str, Entry] = {}
        """channel id -> its entry, while it waits in a queue (where its keys go)."""
        for name in CONFIGURED_QUEUES:
            self.queue(name)
        self._actions: dict[str, Callable[[dict[str, str], list[tuple[str, str]]],
                                          list[list[tuple[str, str]]]]] = {
            "queueadd": self._ami_add,
            "queueremove": self._ami_remove,
            "queuepause": self._ami_pause,
            "queuememberringinuse": self._ami_ringinuse,
            "queuestatus": self._ami_status,
            "queuesummary": self._ami_summary,
        }

    def queue(self, name: str) -> Queue:
        """The queue of that name, made from the configured block on first use."""
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = Queue(name, self.config)
        return q

    def find(self, name: str) -> Queue | None:
        low = name.lower()
        return next((q for q in self.queues.values() if q.name.lower() == low), None)

    def reset(self) -> None:
        """A PBX restart: the callers are gone; members stay (persistentmembers = yes)."""
        self.waiting.clear()
        for q in self.queues.values():
            q.callers.clear()
            q.connected.clear()
            for m in q.members:
                m.in_call_since = None
                m.status = NOT_INUSE

    # ------------------------------------------------------------------ Queue()
    async def app_Queue(self, c: Channel, data: str, program: list[Step]) -> Next:
        for name in TIMING_VARS:
            self.pbx.set_var(c, name, "")
        args = data.split(",")
        if not args[0].strip():
            return "end"  # "Queue requires an argument": the channel hangs up
        e = self._join(c, args, data)
        outcome = await self._run(e)
        return self._finish(e, outcome, program)

    def _join(self, c: Channel, args: list[str], data: str) -> Entry:
        q = self.queue(args[0].strip())
        now = self.pbx.clock.now()
        timeout = _atoi(_arg(args, 4))
        e = Entry(channel=c, queue=q, start=now, app_data=data, options=_arg(args, 1),
                  expire=now + timeout if timeout > 0 else None)
        position = max(0, _atoi(_arg(args, 8)))
        # join_queue(): before the caller at `position`, else at the end
        at = next((i for i in range(len(q.callers)) if position and position <= i + 1),
                  len(q.callers))
        q.callers.insert(at, e)
        q.renumber()
        e.original_position = e.position
        self.waiting[c.id] = e
        self._ami("QueueCallerJoin", [("Queue", q.name), ("Position", str(e.position)),
                                      ("Count", str(len(q.callers)))], chan=c)
        if "r" not in e.options:  # r: ringing instead of music on hold
            c.moh = True
            self.pbx.emit("MusicOnHoldStart", channel=c, data={"class": q.config.musicclass},
                          ari=False)
        return e

    async def _run(self, e: Entry) -> str:
        """Wait for the turn, then ring members until connected or gone: "completed",
        "completed-agent", "hangup", "digit" or "timeout"."""
        while True:
            outcome = await self._wait_turn(e)
            if outcome:
                return outcome
            e.reached_head = True
            while True:
                outcome = await self._try_calling(e)
                if outcome:
                    return outcome
                outcome = await self._pause(e, e.queue.config.retry)
                if outcome:
                    return outcome
                if not self._our_turn(e):
                    break

    async def _wait_turn(self, e: Entry) -> str | None:
        while not self._our_turn(e):
            outcome = await self._pause(e, RECHECK_S)
            if outcome:
                return outcome
        return None

    def _finish(self, e: Entry, outcome: str, program: list[Step]) -> Next:
        """Queue() ends: what the caller does next (the stop: section of queue_exec)."""
        c = e.channel
        if outcome == "completed":
            return "end"  # the caller is hung up when the bridge ends
        if outcome == "completed-agent":
            return None if "c" in e.options else "end"
        if outcome == "timeout" and e.reached_head:
            self._abandon(e)
        self._stop_vars(e)
        if outcome == "hangup":
            self._abandon(e)
            self._leave(e)
            return "end"
        if outcome == "timeout":
            self._moh_stop(c)
            self._leave(e)
            self.pbx.set_var(c, "QUEUESTATUS", "TIMEOUT")
            return None
        # a key of the queue's context: on at <key>,1 there (priority 0 until then)
        assert e.exit_to is not None
        ctx, exten = e.exit_to
        c.context, c.exten, c.priority = ctx, exten, 0
        self.pbx.dialplan(c, "Queue", e.app_data)
        self._moh_stop(c)
        self._leave(e)
        return self.runner.goto(c, ctx, exten, "1", program)

    def _stop_vars(self, e: Entry) -> None:
        c, now = e.channel, self.pbx.clock.now()
        if not c.vars.get("QUEUEWAIT"):
            self._duration(c, "QUEUEWAIT", (int(now) - int(e.start)) * 1000)
        if not c.vars.get("DIALEDTIME"):
            self._duration(c, "DIALEDTIME", int((now - _created(c)) * 1000))
        if not c.vars.get("ANSWEREDTIME"):
            self._duration(c, "ANSWEREDTIME", 0)

    def _duration(self, c: Channel, name: str, ms: int) -> None:
        """set_duration_var(): NAME in whole seconds, NAME_MS in ms."""
        self.pbx.set_var(c, name, str(ms // 1000))
        self.pbx.set_var(c, name + "_MS", str(ms))

    def _abandon(self, e: Entry) -> None:
        """record_abandoned()."""
        q, now = e.queue, self.pbx.clock.now()
        self.pbx.set_var(e.channel, "ABANDONED", "TRUE")
        held = int(now) - int(e.start)
        q.abandoned += 1
        if held <= q.config.servicelevel:
            q.abandoned_in_sl += 1
        self._ami("QueueCallerAbandon", [
            ("Queue", q.name), ("Position", str(e.position)),
            ("OriginalPosition", str(e.original_position)), ("HoldTime", str(held))],
            chan=e.channel)

    def _leave(self, e: Entry) -> None:
        """leave_queue(): the callers behind move up; QUEUEPOSITION = the place it held."""
        q, c = e.queue, e.channel
        self.waiting.pop(c.id, None)
        if e not in q.callers:
            return
        q.callers.remove(e)
        q.renumber()
        self._ami("QueueCallerLeave", [("Queue", q.name), ("Position", str(e.position)),
                                       ("Count", str(len(q.callers)))], chan=c)
        self.pbx.set_var(c, "QUEUEPOSITION", str(e.position))

    def _moh_stop(self, c: Channel) -> None:
        if c.moh:
            c.moh = False
            self.pbx.emit("MusicOnHoldStop", channel=c, ari=False)

    # ------------------------------------------------------------------ waiting
    async def _pause(self, e: Entry, seconds: float) -> str | None:
        """ast_waitfordigit(): None once `seconds` passed; "hangup", "digit" (an extension
        of the queue's context) or "timeout" (Queue()'s own) before that."""
        c, clock = e.channel, self.pbx.clock
        end = clock.now() + seconds
        while True:
            left = end - clock.now()
            if e.expire is not None:
                left = min(left, e.expire - clock.now())
            await self._wait_any([c], lambda: c.hangup_requested or bool(e.digits), left)
            if c.hangup_requested:
                return "hangup"
            if self._exit_key(e):
                return "digit"
            if e.expire is not None and clock.now() >= e.expire:
                return "timeout"
            if clock.now() >= end:
                return None

    def _exit_key(self, e: Entry) -> bool:
        """valid_exit(): the keys so far name an extension of the queue's context."""
        ctx = e.queue.config.context
        while e.digits:
            e.keys += e.digits.pop(0)
            if ctx and program_for(ctx, e.keys, e.channel, self.pbx.parties) is not None:
                e.exit_to = (ctx, e.keys)
                return True
            e.keys = ""  # no such extension: the keys are forgotten
        return False

    async def _wait_any(self, chans: list[Channel], pred: Callable[[], bool],
                        sim_seconds: float | None) -> bool:
        """Wait until pred() holds, woken by any of `chans`; False when time ran out."""
        loop = asyncio.get_running_loop()
        deadline = None if sim_seconds is None else loop.time() + self.pbx.clock.real(sim_seconds)
        while True:
            for x in chans:
                x.wake.clear()
            if pred():
                return True
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            waiters = [asyncio.ensure_future(x.wake.wait()) for x in chans]
            try:
                await asyncio.wait(waiters, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()

    # ------------------------------------------------------------------ members' turn
    def _our_turn(self, e: Entry) -> bool:
        """is_our_turn(): among the first `available` callers not ringing anyone."""
        q = e.queue
        available = sum(1 for m in q.members if self._available(q, m))
        if not q.config.autofill:
            available = min(available, 1)
        counted = 0
        for x in q.callers:
            if counted >= available:
                return False
            if x is e:
                return q.config.autofill or e.position == 1
            if not x.pending:
                counted += 1
        return False

    def _available(self, q: Queue, m: Member) -> bool:
        """is_member_available()."""
        status = self._refresh(q, m)
        if status in (INVALID, 5) or m.paused:
            return False
        if status not in (0, NOT_INUSE) and not m.ringinuse:
            return False
        wrapup = m.wrapuptime or q.config.wrapuptime
        return not (m.last_call and wrapup and self.pbx.clock.now() - wrapup < m.last_call)

    def _pick(self, q: Queue) -> Member | None:
        """rrmemory: the first member available from the one after the last one rung."""
        n = len(q.members)
        for k in range(n):
            i = (q.rrpos + k) % n
            if self._available(q, q.members[i]):
                q.rrpos = i + 1
                return q.members[i]
        return None

    def _refresh(self, q: Queue, m: Member) -> int:
        """The member's device state now; QueueMemberStatus when it changed."""
        status = self._device_state(m.state_interface)
        if status != m.status:
            m.status = status
            self._ami("QueueMemberStatus", self._member_fields(q, m))
        return status

    def _device_state(self, interface: str) -> int:
        """In use while a channel of the device lives (a Local one from its creation, a
        PJSIP one once up; ringing before); INVALID for what pbxsim cannot dial."""
        tech, _, rest = interface.partition("/")
        where = rest.split("/")[0]
        if tech == "Local":
            if (where.partition("@")[2] or "default") not in KNOWN_CONTEXTS:
                return INVALID
        elif tech != "PJSIP" or not where:
            return INVALID
        prefix = f"{tech}/{where}-"
        live = [x for x in self.pbx.channel_list() if x.name.startswith(prefix)]
        if not live:
            return NOT_INUSE
        if tech == "Local" or any(x.state == "Up" for x in live):
            return INUSE
        return RINGING

    # ------------------------------------------------------------------ ringing a member
    async def _try_calling(self, e: Entry) -> str | None:
        member = self._pick(e.queue)
        if member is None:
            return None
        leg = self._dial(e, member)
        if leg is None:
            return None
        return await self._ring(e, leg)

    def _dial(self, e: Entry, m: Member) -> Leg | None:
        c, q = e.channel, e.queue
        made = self._member_channels(c, m.interface)
        if made is None:
            return None
        m1, far = made
        leg = e.leg = Leg(member=m, channel=m1, far=far, rung_at=self.pbx.clock.now())
        self._ami("AgentCalled", self._agent_fields(q, m), chan=c, dest=m1)
        self._refresh(q, m)
        self._dial_event(e, leg, "", first=True)
        self._start(far)
        return leg

    async def _ring(self, e: Entry, leg: Leg) -> str | None:
        timeout = e.queue.config.timeout
        e.pending = True
        try:
            outcome = await self._await_answer(e, leg, timeout)
        finally:
            e.pending = False
        if outcome == "answer":
            return await self._connect(e, leg)
        if outcome in ("hangup", "digit"):
            self._dial_event(e, leg, "CANCEL")
            await self._drop(e, leg, 0)
            return outcome
        fields = self._agent_fields(e.queue, leg.member)
        if outcome == "noanswer":
            # the ring timeout: AgentRingNoAnswer, then DialEnd (wait_for_answer)
            self._ami("AgentRingNoAnswer", fields + [("RingTime", str(int(timeout * 1000)))],
                      chan=e.channel, dest=leg.channel)
            self._dial_event(e, leg, "NOANSWER")
        else:
            # the member's side went away (busy, unreachable, hung up)
            self._dial_event(e, leg, _dial_status(leg.channel.hangupcause))
            rang = int(self.pbx.clock.now()) - int(leg.rung_at)
            self._ami("AgentRingNoAnswer", fields + [("RingTime", str(rang * 1000))],
                      chan=e.channel, dest=leg.channel)
        await self._drop(e, leg, 0)
        return None

    async def _await_answer(self, e: Entry, leg: Leg, ring_s: float) -> str:
        c, m1, clock = e.channel, leg.channel, self.pbx.clock
        end = clock.now() + ring_s
        while True:
            await self._wait_any(
                [c, m1], lambda: (c.hangup_requested or bool(e.digits) or m1.answered
                                  or m1.hangup_requested or m1.destroyed),
                end - clock.now())
            if c.hangup_requested:
                return "hangup"
            if m1.hangup_requested or m1.destroyed:
                return "failed"
            if m1.answered:
                return "answer"
            if self._exit_key(e):
                return "digit"
            if clock.now() >= end:
                return "noanswer"

    async def _drop(self, e: Entry, leg: Leg, cause: int) -> None:
        """Hang up the member's channel (app_queue's ast_hangup: no hangup request)."""
        m1 = leg.channel
        e.leg = None
        if not m1.destroyed:
            if not m1.hangup_requested:
                m1.hangupcause = cause
                m1.hangup_requested = True
            await self.hangups.teardown(m1)
        if leg.member in e.queue.members:  # (QueueRemove may have taken it meanwhile)
            self._refresh(e.queue, leg.member)

    def _member_channels(self, caller: Channel,
                         interface: str) -> tuple[Channel, Channel] | None:
        """The member's channel (and the far side that answers it), or None when pbxsim
        cannot dial that interface."""
        tech, _, rest = interface.partition("/")
        where = rest.split("/")[0]
        if tech == "Local" and "@" in where:
            exten, _, ctx = where.partition("@")
            if ctx not in KNOWN_CONTEXTS:
                return None
            return self._local_member(caller, interface, exten, ctx)
        if tech == "PJSIP" and where:
            return self._pjsip_member(caller, interface)
        return None

    def _local_member(self, caller: Channel, interface: str, exten: str,
                      ctx: str) -> tuple[Channel, Channel]:
        """A Local pair as app_queue's ast_request makes it (narrow queue_placeholder):
        Newchannel x2, ;1 in AppQueue with the caller's id, DIALEDPEERNUMBER on both,
        ;2's caller and connected line, LocalBridge."""
        pbx = self.pbx
        base = f"Local/{exten}@{ctx}-{pbx.next_seq()}"
        halves = []
        for half, state in ((1, "Down"), (2, "Ring")):
            x = Channel(id=pbx.new_uid(), name=f"{base};{half}", tech="Local", state=state,
                        context=ctx, exten=exten, priority=1, creationtime=pbx.clock.iso(),
                        linkedid=caller.linkedid, half=half, endpoint=interface,
                        kind=kind_of(ctx, exten), number=exten)
            pbx.channels[x.id] = x
            halves.append(x)
        m1, m2 = halves
        m1.peer, m2.peer = m2, m1
        pbx.stats["channels_created"] += 2
        pbx.emit("ChannelCreated", channel=m1)
        pbx.emit("ChannelCreated", channel=m2)
        m1.caller_name, m1.caller_number = caller.caller_name, caller.caller_number
        pbx.dialplan(m1, "AppQueue", "(Outgoing Line)")
        pbx.emit("ChannelCallerId", channel=m1, data=dict(PRESENTATION_ALLOWED))
        pbx.set_var(m1, "DIALEDPEERNUMBER", f"{exten}@{ctx}")
        pbx.set_var(m2, "DIALEDPEERNUMBER", f"{exten}@{ctx}")
        m2.caller_name, m2.caller_number = caller.caller_name, caller.caller_number
        m2.connected_name, m2.connected_number = caller.caller_name, caller.caller_number
        pbx.emit("ChannelCallerId", channel=m2, data=dict(PRESENTATION_ALLOWED))
        pbx.emit("ChannelConnectedLine", channel=m2)
        pbx.emit("LocalBridge", channel=m1, data={"peer": m2.snap()}, ari=False)
        return m1, m2

    def _pjsip_member(self, caller: Channel, interface: str) -> tuple[Channel, Channel] | None:
        try:
            _, resource, where = self.channels.parse_endpoint(interface)
            m1 = self.channels.new_pjsip_out(interface, resource, where, None, None)
        except AriError:
            return None
        m1.linkedid = caller.linkedid
        m1.caller_name, m1.caller_number = caller.caller_name, caller.caller_number
        self.pbx.dialplan(m1, "AppQueue", "(Outgoing Line)")
        self.pbx.emit("ChannelCallerId", channel=m1, data=dict(PRESENTATION_ALLOWED))
        return m1, self.channels.new_pjsip_in(m1)

    def _start(self, far: Channel) -> None:
        """The member's phone rings: its side runs its dialplan (an agent phone answers)."""
        far.started = True
        program = program_for(far.context, far.exten, far, self.pbx.parties)
        if program is None:
            far.hangupcause = 1  # no such extension: the member cannot be reached
            self.pbx.spawn(self.hangups.teardown(far))
            return
        self.pbx.spawn(self.runner.run_program(far, program, 1))

    def _dial_event(self, e: Entry, leg: Leg, status: str, *, first: bool = False) -> None:
        """Dial from the caller to the member: ARI Dial (caller and peer, to the caller's
        app: surprise 38) and AMI DialBegin/DialEnd."""
        c, m1, iface = e.channel, leg.channel, leg.member.interface
        self.pbx.emit("Dial", channel=m1, ami=False, targets=subscribers_of([c, m1]),
                      data={"dialstatus": status, "forward": "", "dialstring": iface,
                            "caller": c.snap()})
        if first:
            self._ami("DialBegin", [("DialString", iface)], chan=c, dest=m1,
                      privilege="call,all")
        else:
            self._ami("DialEnd", [("DialStatus", status)], chan=c, dest=m1,
                      privilege="call,all")

    # ------------------------------------------------------------------ connected
    async def _connect(self, e: Entry, leg: Leg) -> str:
        """The member answered: the caller leaves the queue into a bridge with it, until
        one of them hangs up."""
        c, m1, q, m = e.channel, leg.channel, e.queue, leg.member
        now = self.pbx.clock.now()
        m1.exten = c.exten  # as recorded: the member's ;1 shows the caller's extension
        m1.connected_name, m1.connected_number = c.caller_name, c.caller_number
        self.pbx.dialplan(m1, "AppQueue", "(Outgoing Line)")
        self.pbx.emit("ChannelConnectedLine", channel=m1)
        self._dial_event(e, leg, "ANSWER")
        self._moh_stop(c)
        self._leave(e)
        self._duration(c, "QUEUEWAIT", (int(now) - int(e.start)) * 1000)
        held = int(now) - int(e.start)
        q.holdtime = (q.holdtime * 3 + held) >> 2  # recalc_holdtime()
        m.in_call_since = leg.connected_at = now
        q.connected.append(e)
        self._ami("AgentConnect", self._agent_fields(q, m) + [
            ("HoldTime", str(held)), ("RingTime", str(int(now) - int(leg.rung_at)))],
            chan=c, dest=m1)
        self._bridge(leg, [m1, c])
        await self._wait_any([c, m1], lambda: (c.hangup_requested or m1.hangup_requested
                                               or m1.destroyed), None)
        reason = "caller" if c.hangup_requested else "agent"
        await self._complete(e, leg, held, reason)
        return "completed" if reason == "caller" else "completed-agent"

    def _bridge(self, leg: Leg, members: list[Channel]) -> None:
        self._ami("BridgeCreate", [], head=self._bridge_head(leg, 0), privilege="call,all")
        for n, x in enumerate(members, 1):
            self._ami("BridgeEnter", [], chan=x, head=self._bridge_head(leg, n),
                      privilege="call,all")
        m1, c = members
        self.pbx.set_var(m1, "BRIDGEPEER", c.name)
        self.pbx.set_var(c, "BRIDGEPEER", m1.name)

    async def _complete(self, e: Entry, leg: Leg, held: int, reason: str) -> None:
        """AgentComplete, the bridge ends, the member's call ends (update_queue())."""
        c, m1, q, m = e.channel, leg.channel, e.queue, leg.member
        now = self.pbx.clock.now()
        assert leg.connected_at is not None
        talk = now - leg.connected_at
        self._ami("AgentComplete", self._agent_fields(q, m) + [
            ("HoldTime", str(held)), ("TalkTime", str(int(talk))), ("Reason", reason)],
            chan=c, dest=m1)
        first, second = (c, m1) if reason == "caller" else (m1, c)
        for x in (first, second):
            self.pbx.set_var(x, "BRIDGEPEER", "")
        for n, x in ((1, first), (0, second)):
            self._ami("BridgeLeave", [], chan=x, head=self._bridge_head(leg, n),
                      privilege="call,all")
        self._ami("BridgeDestroy", [], head=self._bridge_head(leg, 0), privilege="call,all")
        self._duration(c, "ANSWEREDTIME", int(talk * 1000))
        self._duration(c, "DIALEDTIME", int((now - _created(c)) * 1000))
        m.calls += 1
        m.last_call, m.in_call_since = now, None
        q.completed += 1
        q.completed_in_sl += int(held <= q.config.servicelevel)
        q.talktime = int(talk) if q.completed == 1 else (q.talktime * 3 + int(talk)) >> 2
        if e in q.connected:
            q.connected.remove(e)
        await self._drop(e, leg, 16)
        if not c.hangupcause:
            c.hangupcause = 16

    @staticmethod
    def _bridge_head(leg: Leg, count: int) -> list[tuple[str, str]]:
        return [("BridgeUniqueid", leg.bridge_id), ("BridgeType", "basic"),
                ("BridgeTechnology", "simple_bridge"), ("BridgeCreator", "<unknown>"),
                ("BridgeName", "<unknown>"), ("BridgeNumChannels", str(count)),
                ("BridgeVideoSourceMode", "none")]

    # ------------------------------------------------------------------ events
    def _ami(self, event: str, fields: list[tuple[str, str]], *, chan: Channel | None = None,
             dest: Channel | None = None, head: list[tuple[str, str]] | None = None,
             privilege: str = "agent,all") -> None:
        """An AMI-only event: head, the channel's headers, Dest's, then the fields."""
        self.pbx.emit("AmiEvent", channel=chan, ari=False, targets=frozenset(), data={
            "event": event, "privilege": privilege, "head": head or [],
            "dest": dest.snap() if dest is not None else None, "fields": fields})

    @staticmethod
    def _agent_fields(q: Queue, m: Member) -> list[tuple[str, str]]:
        return [("Queue", q.name), ("Interface", m.interface), ("MemberName", m.name)]

    @staticmethod
    def _member_fields(q: Queue, m: Member) -> list[tuple[str, str]]:
        """queue_member_blob_create(): QueueMemberAdded/Removed/Status/Pause/Ringinuse."""
        return [
            ("Queue", q.name), ("MemberName", m.name), ("Interface", m.interface),
            ("StateInterface", m.state_interface),
            ("Membership", "dynamic" if m.dynamic else "static"), ("Penalty", str(m.penalty)),
            ("CallsTaken", str(m.calls)), ("LastCall", str(int(m.last_call))),
            ("LastPause", str(int(m.last_pause))), ("LoginTime", str(int(m.login_time))),
            ("InCall", "1" if m.in_call_since else "0"), ("Status", str(m.status)),
            ("Paused", "1" if m.paused else "0"), ("PausedReason", m.paused_reason),
            ("Ringinuse", "1" if m.ringinuse else "0"), ("Wrapuptime", str(m.wrapuptime)),
        ]

    # ------------------------------------------------------------------ members
    def add_member(self, queue: str, interface: str, *, member_name: str = "",
                   penalty: int = 0, paused: bool = False, state_interface: str = "",
                   reason: str = "", wrapuptime: int = 0) -> bool:
        """add_to_queue(): False when the interface is there already."""
        if not queue:
            raise ValueError("queue: required")
        if not interface:
            raise ValueError("interface: required")
        q = self.queue(queue)
        if q.member(interface) is not None:
            return False
        m = Member(interface=interface, name=member_name or interface,
                   state_interface=state_interface or interface, ringinuse=q.config.ringinuse,
                   login_time=self.pbx.clock.now(), penalty=max(0, penalty), paused=paused,
                   paused_reason=reason, wrapuptime=max(0, wrapuptime))
        m.status = self._device_state(m.state_interface)
        q.members.append(m)
        self._ami("QueueMemberAdded", self._member_fields(q, m))
        return True

    def remove_member(self, queue: str, interface: str) -> str:
        """remove_from_queue(): "removed", "no such queue" or "not there"."""
        q = self.find(queue)
        if q is None:
            return "no such queue"
        m = q.member(interface)
        if m is None:
            return "not there"
        q.members.remove(m)
        self._ami("QueueMemberRemoved", self._member_fields(q, m))
        return "removed"

    def pause_member(self, queue: str, interface: str, paused: bool, reason: str = "") -> bool:
        """set_member_paused(): in that queue, or every queue when `queue` is empty;
        False when the interface is in none of them."""
        found = False
        for q in self.queues.values():
            m = q.member(interface)
            if m is None or (queue and q.name.lower() != queue.lower()):
                continue
            found = True
            m.paused = paused
            if paused:
                m.last_pause = self.pbx.clock.now()
            # an unpause names its reason in the event only
            m.paused_reason = reason
            self._ami("QueueMemberPause", self._member_fields(q, m))
            if not paused:
                m.paused_reason = ""
        return found

    # ------------------------------------------------------------------ AMI actions
    def ami_action(self, action: str, h: dict[str, str],
                   aid: list[tuple[str, str]]) -> list[list[tuple[str, str]]] | None:
        """The reply blocks of a queue action (`h`: its headers, lower-case names), or
        None when `action` is not one of them."""
        handler = self._actions.get(action)
        return None if handler is None else handler(h, aid)

    @staticmethod
    def _ack(aid: list[tuple[str, str]], message: str) -> list[list[tuple[str, str]]]:
        return [[("Response", "Success"), *aid, ("Message", message)]]

    @staticmethod
    def _error(aid: list[tuple[str, str]], message: str) -> list[list[tuple[str, str]]]:
        return [[("Response", "Error"), *aid, ("Message", message)]]

    def _ami_add(self, h: dict[str, str],
                 aid: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        queue, interface = h.get("queue", ""), h.get("interface", "")
        if not queue:
            return self._error(aid, "'Queue' not specified.")
        if not interface:
            return self._error(aid, "'Interface' not specified.")
        added = self.add_member(
            queue, interface, member_name=h.get("membername", ""),
            penalty=max(0, _atoi(h.get("penalty", ""))),
            paused=_true(h.get("paused", "")), state_interface=h.get("stateinterface", ""),
            reason=h.get("reason", ""), wrapuptime=max(0, _atoi(h.get("wrapuptime", ""))))
        if not added:
            return self._error(aid, "Unable to add interface: Already there")
        return self._ack(aid, "Added interface to queue")

    def _ami_remove(self, h: dict[str, str],
                    aid: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        queue, interface = h.get("queue", ""), h.get("interface", "")
        if not queue or not interface:
            return self._error(aid, "Need 'Queue' and 'Interface' parameters.")
        outcome = self.remove_member(queue, interface)
        if outcome == "no such queue":
            return self._error(aid, "Unable to remove interface from queue: No such queue")
        if outcome == "not there":
            return self._error(aid, "Unable to remove interface: Not there")
        return self._ack(aid, "Removed interface from queue")

    def _ami_pause(self, h: dict[str, str],
                   aid: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        interface, paused_s = h.get("interface", ""), h.get("paused", "")
        if not interface or not paused_s:
            return self._error(aid, "Need 'Interface' and 'Paused' parameters.")
        paused = _true(paused_s)
        if not self.pause_member(h.get("queue", ""), interface, paused, h.get("reason", "")):
            return self._error(aid, "Interface not found")
        return self._ack(aid, "Interface paused successfully" if paused
                         else "Interface unpaused successfully")

    def _ami_ringinuse(self, h: dict[str, str],
                       aid: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        interface, value = h.get("interface", ""), h.get("ringinuse", "")
        if not interface or not value:
            return self._error(aid, "Need 'Interface' and 'RingInUse' parameters.")
        if value.lower() not in (*TRUE_WORDS, "no", "false", "n", "f", "0", "off"):
            return self._error(aid, "'RingInUse' parameter must be a truth value "
                                    "(yes/no, on/off, 0/1, etc)")
        queue, found = h.get("queue", ""), False
        for q in self.queues.values():
            m = q.member(interface)
            if m is not None and (not queue or q.name.lower() == queue.lower()):
                found, m.ringinuse = True, _true(value)
                self._ami("QueueMemberRinginuse", self._member_fields(q, m))
        if not found:
            return self._error(aid, "Invalid interface, queuename, or ringinuse value\n")
        return self._ack(aid, "Interface ringinuse set successfully")

    def _ami_status(self, h: dict[str, str],
                    aid: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        """QueueStatus: QueueParams, QueueMember and QueueEntry per queue (fields as
        manager_queues_status() writes them: no Privilege, ActionID last)."""
        queue, member = h.get("queue", ""), h.get("member", "")
        blocks = [[("Response", "Success"), *aid, ("EventList", "start"),
                   ("Message", "Queue status will follow")]]
        for q in self._selected(queue):
            blocks.append([("Event", "QueueParams"), *self._params_fields(q), *aid])
            for m in q.members:
                if not member or member in (m.interface, m.name):
                    self._refresh(q, m)
                    blocks.append([("Event", "QueueMember"), *self._status_member(q, m), *aid])
            for e in q.callers:
                blocks.append([("Event", "QueueEntry"), *self._entry_fields(e), *aid])
        blocks.append([("Event", "QueueStatusComplete"), *aid, ("EventList", "Complete"),
                       ("ListItems", str(len(blocks) - 1))])
        return blocks

    def _ami_summary(self, h: dict[str, str],
                     aid: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        blocks = [[("Response", "Success"), *aid, ("EventList", "start"),
                   ("Message", "Queue summary will follow")]]
        now = self.pbx.clock.now()
        for q in self._selected(h.get("queue", "")):
            statuses = [(self._refresh(q, m), m) for m in q.members]
            logged_in = [m for s, m in statuses if s not in (INVALID, 5)]
            available = [m for s, m in statuses if s in (0, NOT_INUSE) and not m.paused]
            longest = max((int(now) - int(e.start) for e in q.callers), default=0)
            blocks.append([
                ("Event", "QueueSummary"), ("Queue", q.name), ("LoggedIn", str(len(logged_in))),
                ("Available", str(len(available))), ("Callers", str(len(q.callers))),
                ("HoldTime", str(q.holdtime)), ("TalkTime", str(q.talktime)),
                ("LongestHoldTime", str(longest)), *aid])
        blocks.append([("Event", "QueueSummaryComplete"), *aid, ("EventList", "Complete"),
                       ("ListItems", str(len(blocks) - 1))])
        return blocks

    def _selected(self, name: str) -> list[Queue]:
        return [q for q in self.queues.values() if not name or q.name.lower() == name.lower()]

    @staticmethod
    def _params_fields(q: Queue) -> list[tuple[str, str]]:
        done = q.completed + q.abandoned
        sl = 100.0 * q.completed_in_sl / q.completed if q.completed else 0.0
        sl2 = 100.0 * (q.abandoned_in_sl + q.completed_in_sl) / done if done else 0.0
        return [("Queue", q.name), ("Max", "0"), ("Strategy", q.config.strategy),
                ("Calls", str(len(q.callers))), ("Holdtime", str(q.holdtime)),
                ("TalkTime", str(q.talktime)), ("Completed", str(q.completed)),
                ("Abandoned", str(q.abandoned)), ("ServiceLevel", str(q.config.servicelevel)),
                ("ServicelevelPerf", f"{sl:2.1f}"), ("ServicelevelPerf2", f"{sl2:2.1f}"),
                ("Weight", "0")]

    @staticmethod
    def _status_member(q: Queue, m: Member) -> list[tuple[str, str]]:
        return [("Queue", q.name), ("Name", m.name), ("Location", m.interface),
                ("StateInterface", m.state_interface),
                ("Membership", "dynamic" if m.dynamic else "static"),
                ("Penalty", str(m.penalty)), ("CallsTaken", str(m.calls)),
                ("LastCall", str(int(m.last_call))), ("LastPause", str(int(m.last_pause))),
                ("LoginTime", str(int(m.login_time))),
                ("InCall", "1" if m.in_call_since else "0"), ("Status", str(m.status)),
                ("Paused", "1" if m.paused else "0"), ("PausedReason", m.paused_reason),
                ("Wrapuptime", str(m.wrapuptime))]

    def _entry_fields(self, e: Entry) -> list[tuple[str, str]]:
        c = e.channel
        return [("Queue", e.queue.name), ("Position", str(e.position)), ("Channel", c.name),
                ("Uniqueid", c.id), ("CallerIDNum", c.caller_number or "unknown"),
                ("CallerIDName", c.caller_name or "unknown"),
                ("ConnectedLineNum", c.connected_number or "unknown"),
                ("ConnectedLineName", c.connected_name or "unknown"),
                ("Wait", str(int(self.pbx.clock.now()) - int(e.start))), ("Priority", "0")]

    # ------------------------------------------------------------------ the control endpoint
    def state_json(self) -> dict[str, Any]:
        """GET /_pbxsim/queues: each queue's callers (in order), members and calls."""
        now = self.pbx.clock.now()
        return {"queues": [self._queue_json(q, now) for q in self.queues.values()]}

    def _queue_json(self, q: Queue, now: float) -> dict[str, Any]:
        for m in q.members:
            self._refresh(q, m)
        return {
            "name": q.name, "strategy": q.config.strategy, "timeout": q.config.timeout,
            "retry": q.config.retry, "context": q.config.context,
            "ringinuse": q.config.ringinuse, "completed": q.completed,
            "abandoned": q.abandoned, "holdtime": q.holdtime, "talktime": q.talktime,
            "callers": [{
                "position": e.position, "channel_id": e.channel.id, "channel": e.channel.name,
                "caller_number": e.channel.caller_number, "caller_name": e.channel.caller_name,
                "wait": int(now - e.start),
                "ringing": e.leg.member.interface if e.pending and e.leg else None,
            } for e in q.callers],
            "members": [{
                "interface": m.interface, "name": m.name, "state_interface": m.state_interface,
                "status": m.status, "state": DEVICE_STATES.get(m.status, "UNKNOWN"),
                "paused": m.paused, "paused_reason": m.paused_reason,
                "in_call": m.in_call_since is not None, "calls_taken": m.calls,
                "ringinuse": m.ringinuse, "penalty": m.penalty,
                "membership": "dynamic" if m.dynamic else "static",
            } for m in q.members],
            "connected": [{
                "caller_channel_id": e.channel.id, "member_channel_id": e.leg.channel.id,
                "interface": e.leg.member.interface,
            } for e in q.connected if e.leg is not None],
        }

    # ------------------------------------------------------------------ DTMF
    def send_dtmf(self, cid: str, dtmf: str | None, before_ms: int, between_ms: int,
                  duration_ms: int, after_ms: int) -> None:
        """POST /channels/{id}/dtmf: the keys go out of the channel; a Local ;1 half's
        reach its ;2 half, which receives them (narrow queue_placeholder: they make the
        ;2 half's Queue() exit)."""
        if not dtmf:
            raise AriError(400, "DTMF is required")
        c = self.pbx.stasis_channel(cid)
        del after_ms  # nothing follows the keys in pbxsim
        far = c.peer if c.tech == "Local" else None
        if far is None or far.destroyed:
            return
        self.pbx.spawn(self._keys(far, dtmf, before_ms / 1000 + DTMF_QUIET_S, duration_ms,
                                  between_ms))

    def receive_dtmf(self, cid: str, digits: str, duration_ms: int = DTMF_DURATION_MS) -> Channel:
        """The control endpoint: the channel receives the keys, as if its far end pressed
        them (a queued caller pressing 1)."""
        if not digits or any(d.upper() not in DTMF_KEYS for d in digits):
            raise ValueError("digit: one or more of 0-9 * # A-D")
        if duration_ms <= 0:
            raise ValueError("duration_ms: must be > 0")
        c = self.pbx.get_channel(cid)
        self.pbx.spawn(self._keys(c, digits.upper(), 0.0, duration_ms, DTMF_BETWEEN_MS))
        return c

    async def _keys(self, c: Channel, digits: str, quiet_s: float, duration_ms: int,
                    between_ms: int) -> None:
        clock = self.pbx.clock
        await clock.sleep(quiet_s)
        for i, d in enumerate(digits):
            if i:
                await clock.sleep(between_ms / 1000)
            if c.destroyed:
                return
            self._ami("DTMFBegin", [("Digit", d), ("Direction", "Received")], chan=c,
                      privilege="dtmf,all")
            await clock.sleep(duration_ms / 1000)
            if c.destroyed:
                return
            self._ami("DTMFEnd", [("Digit", d), ("DurationMs", str(duration_ms)),
                                  ("Direction", "Received")], chan=c, privilege="dtmf,all")
            self.pbx.emit("ChannelDtmfReceived", channel=c, ami=False,
                          data={"digit": d, "duration_ms": duration_ms})
            e = self.waiting.get(c.id)
            if e is not None:
                e.digits.append(d)
                c.poke()


def _arg(args: list[str], i: int) -> str:
    return args[i].strip() if i < len(args) else ""


def _atoi(s: str) -> int:
    """C's atoi(): the leading integer, 0 when there is none."""
    m = re.match(r"\s*([+-]?\d+)", s)
    return int(m.group(1)) if m else 0


def _true(s: str) -> bool:
    return s.strip().lower() in TRUE_WORDS


def _created(c: Channel) -> float:
    """The channel's creation time (ast_channel_get_duration_ms() counts from it)."""
    return datetime.strptime(c.creationtime, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def _dial_status(cause: int) -> str:
    """ast_hangup_cause_to_dial_status(): busy, congestion, no route or unregistered,
    and NOANSWER for anything else."""
    return {17: "BUSY", 34: "CONGESTION", 3: "CHANUNAVAIL", 20: "CHANUNAVAIL"}.get(
        cause, "NOANSWER")
