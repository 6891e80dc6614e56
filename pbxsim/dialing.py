"""Placing calls: POST /channels (originate), /channels/create and /dial, and the calling
channel's thread from the dial to the answer and on into Stasis or the dialplan.

The called side is the `;2` half of a Local channel (or a PJSIP callee) running the
party's dialplan (dialplan_run.py); what it does reaches the calling side as Dial events.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pbxsim.bridges import Bridges
from pbxsim.calllog import CallLog
from pbxsim.channels import PRESENTATION_ALLOWED, Channels
from pbxsim.dialplan import (
    KNOWN_CONTEXTS,
    TRANSFER,
    Step,
    amd_program,
    program_for,
    project_dialplan,
)
from pbxsim.dialplan_run import DialplanRunner
from pbxsim.hangup import Hangups
from pbxsim.model import AriError, Channel, DialInfo
from pbxsim.params import int_or, split_args
from pbxsim.stasis import Stasis
from pbxsim.state import PbxState

#: Contexts of the project's dialplan (asterisk-conf/) that reach the customer over the
#: SIP trunk; the lab's [customers] is reached directly.
TRUNK_CONTEXTS = ("dialer-out", TRANSFER)
#: The carrier's post-dial delay before anything is heard of the called side (sim s).
TRUNK_SETUP_S = 0.1
#: the formats an originate may ask for
KNOWN_FORMATS = {"ulaw", "alaw", "gsm", "g722", "slin", "slin16", "opus", "g729", "ilbc"}


class Dialing:
    """Originate, create and dial, and the calling channel's thread."""

    def __init__(self, pbx: PbxState, channels: Channels, hangups: Hangups,
                 runner: DialplanRunner, stasis: Stasis, bridges: Bridges,
                 calls: CallLog) -> None:
        self.pbx = pbx
        self.channels = channels
        self.hangups = hangups
        self.runner = runner
        self.stasis = stasis
        self.bridges = bridges
        self.calls = calls

    # ------------------------------------------------------------------ REST requests
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
        self.pbx.check_allocation()
        timeout = int_or(p.get("timeout"), 30)
        priority = int_or(p.get("priority"), 1)
        app_args = split_args(p.get("appArgs"))
        tech, resource, where = self.channels.parse_endpoint(endpoint)
        self.pbx.stats["originates"] += 1
        c1 = self._new_caller(p, endpoint, tech, resource, where, app)
        c1.dial = DialInfo(
            dialstring=dialstring(endpoint, resource, where),
            mode="originate",
            timeout=None if timeout is not None and timeout < 0 else float(timeout or 30),
        )
        target = None
        if not app:
            target = (context or "default", extension or "s", priority or 1)
        self.calls.register(c1)
        # the 200 reply already shows AppDial2 (originate traces, a context that does
        # not exist included: errors er-noctx); it is published before the originating
        # app subscribes, so a narrow app never sees it
        self.pbx.dialplan(c1, "AppDial2", "(Outgoing Line)", unsubscribed=True)
        self.pbx.spawn(self._run_originated(c1, app, app_args, target))
        return c1

    def create(self, p: dict[str, Any]) -> Channel:
        endpoint = p.get("endpoint") or ""
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        app = p.get("app") or ""
        if not app:
            raise AriError(400, "Application name is required")
        self.pbx.check_allocation()
        app_args = split_args(p.get("appArgs"))
        tech, resource, where = self.channels.parse_endpoint(endpoint)
        c1 = self._new_caller(p, endpoint, tech, resource, where, app)
        c1.dial = DialInfo(dialstring=dialstring(endpoint, resource, where), mode="dial",
                           timeout=None)
        self.calls.register(c1)
        self.pbx.spawn(self._run_created(c1, app, app_args))
        return c1

    def dial(self, cid: str, timeout: int | None) -> None:
        c = self.pbx.stasis_channel(cid)
        if c.dial is None or c.dial.mode != "dial" or c.state != "Down" or c.dial.status:
            raise AriError(409, "Channel is not in the 'Down' state")
        c.dial.timeout = float(timeout) if timeout and timeout > 0 else None
        c.dial.status = "dialing"
        c.poke()

    def _new_caller(self, p: dict[str, Any], endpoint: str, tech: str, resource: str,
                    where: str, app: str | None) -> Channel:
        """The calling channel: a Local ;1 half (with its ;2) or a PJSIP channel."""
        cid = p.get("channelId") or None
        other = p.get("otherChannelId") or None
        if tech == "PJSIP":
            c1 = self.channels.new_pjsip_out(endpoint, resource, where, cid, app)
        else:
            c1, _ = self.channels.new_local(endpoint, cid, other, app)
        self._apply_originate_vars(c1, p)
        return c1

    def _check_formats(self, p: dict[str, Any]) -> None:
        formats, originator = p.get("formats"), p.get("originator")
        if formats and originator:
            raise AriError(400, "Originator and formats can't both be specified")
        if formats:
            for f in str(formats).split(","):
                if f not in KNOWN_FORMATS:
                    raise AriError(400, f"Provided format ({f}) was not found")
        if originator and originator not in self.pbx.channels:
            raise AriError(400, "Provided originator channel was not found")

    def _apply_originate_vars(self, c1: Channel, p: dict[str, Any]) -> None:
        caller = p.get("callerId")
        if caller:
            c1.callerid_param = True
            name, number = parse_callerid(str(caller))
            for c in (c1, c1.peer):
                if c is None:
                    continue
                c.caller_name, c.caller_number = name, number
        variables = p.get("variables")
        if isinstance(variables, dict):
            c1.originate_vars = {str(k): str(v) for k, v in variables.items()}

    # ------------------------------------------------------------------ a created channel
    async def _run_created(self, c1: Channel, app: str, args: list[str]) -> None:
        # Asterisk answers POST /channels/create before the channel is in the app: a
        # thread of its own runs Stasis() for it a moment later, and until then
        # addChannel is 422 and /dial 409 "Channel not in Stasis application" (1 in
        # 6 on an idle Asterisk 22.10.1 when sent at once). In real time, not
        # simulated time: it is a thread's start, whatever the speed. The 200 reply
        # shows no dialplan app yet (create_dial_* traces).
        self.pbx.dialplan(c1, "Stasis", ",".join([app, *args]))
        await asyncio.sleep(self.pbx.stasis_entry_s)
        await self.stasis.enter(c1, app, args, wait=False)
        if c1.stasis_app is None:
            return await self.hangups.teardown(c1)
        # wait for /dial, a hangup, or the end of Stasis
        while not c1.hangup_requested and c1.dial is not None and c1.dial.status != "dialing":
            await self.pbx.wait(c1, None)
        if not c1.hangup_requested and c1.dial is not None:
            c1.dial.status = ""
            await self._dial_out(c1)
        await self.stasis.stay(c1)
        await self.runner.after_stasis(c1)
        await self.hangups.teardown(c1)

    async def _dial_out(self, c1: Channel) -> None:
        """Start the far side of a created channel (the /dial request)."""
        assert c1.dial is not None
        peer = c1.peer
        if c1.tech == "Local" and peer is not None:
            # the ;2 half inherits these as it starts (create_dial_* traces)
            if c1.vars.get("BRIDGEPEER"):
                self.pbx.set_var(peer, "BRIDGEPEER", c1.vars["BRIDGEPEER"])
            if "STASISSTATUS" in c1.vars:
                self.pbx.set_var(peer, "STASISSTATUS", c1.vars["STASISSTATUS"])
        if self._no_such_exten(c1) and peer is not None:
            # ast_call fails: Stasis soft-hangs the channel up, no Dial, no hangup
            # request; ;1 ends with cause 16, ;2 with 0 (errors trace, er-noctx2)
            peer.started = True
            peer.hangupcause, peer.hangup_requested = 0, True
            c1.hangupcause, c1.hangup_requested = 16, True
            c1.poke()
            self.pbx.spawn(self.hangups.teardown(peer))
            return
        self.pbx.dial_event(c1, "", first=True)
        self._start_far(c1)
        if c1.dial.timeout is not None:
            self.pbx.spawn(self._dial_timer(c1, c1.dial.timeout))

    async def _dial_timer(self, c1: Channel, sim_seconds: float) -> None:
        # the dial timeout runs even after BUSY: it hides the busy (surprise 5)
        ok = await self.pbx.wait_until(
            c1, lambda: c1.hangup_requested or c1.destroyed or c1.state == "Up", sim_seconds
        )
        if not ok and not c1.hangup_requested and not c1.destroyed:
            c1.hangupcause = 19
            self.pbx.hangup_request(c1, 32, soft=True)
            c1.hangup_requested = True
            c1.poke()

    # ------------------------------------------------------------------ the called side
    def _start_far(self, c1: Channel) -> None:
        """Start the called side: the ;2 half's dialplan, or the PJSIP callee."""
        if c1.tech == "PJSIP":
            far = self.channels.new_pjsip_in(c1)
        else:
            assert c1.peer is not None
            far = c1.peer
        far.started = True
        program = program_for(far.context, far.exten, far, self.pbx.parties)
        if program is None:
            self.pbx.spawn(self._run_missing_exten(far))
            return
        if far.tech == "Local" and far.context in TRUNK_CONTEXTS:
            self.pbx.spawn(self._run_program_after(far, program, TRUNK_SETUP_S))
            return
        self.pbx.spawn(self.runner.run_program(far, program, 1))

    async def _run_program_after(self, far: Channel, program: list[Step], delay: float) -> None:
        # The project's [dialer-out] dials the customer over a SIP trunk: nothing is
        # heard of the called side until the carrier answers the INVITE. The lab's
        # loopback carrier took 4-6 ms (narrow amd_context_*), a real one 0.1-0.5 s.
        if await self.pbx.sleep_or_hangup(far, delay):
            await self.runner.run_program(far, program, 1)
        else:
            await self.hangups.teardown(far)

    async def _run_missing_exten(self, far: Channel) -> None:
        # Local/1001@nosuchcontext: both halves vanish at once with cause 0 (errors trace)
        await asyncio.sleep(0)
        await self.hangups.teardown(far)

    # ------------------------------------------------------------------ an originated channel
    async def _run_originated(
        self,
        c1: Channel,
        app: str | None,
        args: list[str],
        target: tuple[str, str, int] | None,
    ) -> None:
        if self._no_such_exten(c1):
            # unknown context or extension: the Local channel's call fails before the dial
            # starts (local_call: "No such extension/context"): no Dial, no hangup
            # request, ChannelDestroyed cause 0 for ;2 then ;1 within 1 ms (errors
            # trace, er-noctx)
            halves = [x for x in (c1.peer, c1) if x is not None]
            for x in halves:
                x.hangupcause = 0
                x.hangup_requested = True
            for x in halves:
                await self.hangups.teardown(x)
            return
        self._originate_vars(c1)
        if c1.callerid_param:
            self._announce_caller_id(c1)
        if c1.tech == "Local" and c1.peer is not None:
            self.pbx.emit("LocalBridge", channel=c1, data={"peer": c1.peer.snap()}, ari=False)
        self.pbx.dial_event(c1, "", first=True)
        self._start_far(c1)
        if await self._await_answer(c1) and not c1.hangup_requested:
            await self._answered(c1, app, args, target)
        await self.hangups.teardown(c1)

    def _no_such_exten(self, c1: Channel) -> bool:
        if c1.tech != "Local":
            return False
        if c1.context not in KNOWN_CONTEXTS:
            return True
        peer = c1.peer
        return (peer is not None
                and program_for(peer.context, peer.exten, peer, self.pbx.parties) is None)

    async def _await_answer(self, c1: Channel) -> bool:
        """Wait for the dial's end; True if answered (else the cause is set for teardown)."""
        assert c1.dial is not None
        ended = await self.pbx.wait_until(
            c1, lambda: c1.hangup_requested or (c1.dial is not None and c1.dial.done),
            c1.dial.timeout,
        )
        if not ended:
            # originate timeout: no final Dial, cause 19 (surprise 2)
            c1.hangupcause = 19
            if c1.tech == "PJSIP":
                c1.tech_cause = 480
            c1.dial.done = True
            return False
        if c1.dial.status != "ANSWER":
            if c1.hangup_requested and not c1.dial.done:
                c1.dial.done = True
                c1.dial.status = "NOANSWER"
                self.pbx.dial_event(c1, "NOANSWER")
                if not c1.hangupcause:
                    c1.hangupcause = 16
            elif c1.tech == "Local":
                # busy/congestion over Local: ;1 dies with cause 0 (surprise 1)
                c1.hangupcause = 0
            return False
        self.pbx.stats["answered"] += 1
        return True

    async def _answered(self, c1: Channel, app: str | None, args: list[str],
                        target: tuple[str, str, int] | None) -> None:
        """The answered channel goes where the originate said: an app, or the dialplan."""
        if c1.tech == "Local" and c1.context == "dialer-amd" and app is not None:
            # production [dialer-amd]: AMD on the answered call, then Stasis(app,amd,...)
            c1.pbx_thread = True
            c1.context, c1.exten = "dialer-amd", "s"
            await self.runner.run_inline(c1, amd_program(app), 1)
        elif app is not None:
            # the answer is published before the channel is in the app (a thread's hop):
            # a bridge join sent on the Dial ANSWER meets "Channel not in Stasis" (found on
            # Asterisk 22.10.1 by the e2e suite)
            await asyncio.sleep(self.pbx.stasis_entry_s)
            if c1.hangup_requested:
                return
            await self.stasis.enter(c1, app, args)
            await self.runner.after_stasis(c1)
        elif target is not None:
            await self._run_target(c1, *target)

    async def _run_target(self, c1: Channel, ctx: str, exten: str, prio: int) -> None:
        """An originate with `context=`: the answered channel runs the dialplan there."""
        c1.pbx_thread = True
        c1.context, c1.exten = ctx, exten
        program = self.runner.entry_program(ctx, exten, c1)
        if program is None:
            c1.hangupcause = c1.hangupcause or 0
            return
        await self.runner.run_inline(c1, program, prio)
        if ctx == "dialer-amd" and project_dialplan(c1):
            # exten => h,1,NoOp(dialer: hung up during AMD, AMDSTATUS=...), run
            # once the channel has left the app (hung up in Stasis: StasisEnd first)
            if c1.stasis_app is not None:
                if c1.bridge is not None:
                    self.bridges.leave(c1, keep_subscription=True)
                self.stasis.end_hung_up(c1)
            c1.exten, c1.priority = "h", 1
            self.pbx.dialplan(c1, "NoOp", "dialer: hung up during AMD, AMDSTATUS="
                              + c1.vars.get("AMDSTATUS", ""))
            c1.late_dialplan = True  # AppDial2 after ChannelDestroyed (trace)

    def _announce_caller_id(self, c1: Channel) -> None:
        """originate {"callerId"}: ChannelCallerId and ChannelConnectedLine on both halves."""
        c1.connected_name, c1.connected_number = c1.caller_name, c1.caller_number
        # ;1's are published before the originating app subscribes to it (narrow
        # traces: only ;2's reach a narrow app)
        self.pbx.emit("ChannelCallerId", channel=c1, data=dict(PRESENTATION_ALLOWED),
                      targets=frozenset())
        self.pbx.emit("ChannelConnectedLine", channel=c1, targets=frozenset())
        if c1.peer is not None:
            c1.peer.connected_name = c1.caller_name
            c1.peer.connected_number = c1.caller_number
            self.pbx.emit("ChannelCallerId", channel=c1.peer, data=dict(PRESENTATION_ALLOWED))
            self.pbx.emit("ChannelConnectedLine", channel=c1.peer)

    def _originate_vars(self, c1: Channel) -> None:
        """originate {"variables": ...}: set on ;1 in order (CALLERID() gives a
        ChannelCallerId), then copied to ;2 (channel_variables trace)."""
        items = list(c1.originate_vars.items())
        if not items:
            return
        callerid = False
        for k, v in items:
            if k.upper().startswith("CALLERID(NAME"):
                c1.caller_name = v
                callerid = True
                self.pbx.emit("ChannelCallerId", channel=c1, data=dict(PRESENTATION_ALLOWED))
            elif k.upper().startswith("CALLERID(NUM"):
                c1.caller_number = v
                callerid = True
                self.pbx.emit("ChannelCallerId", channel=c1, data=dict(PRESENTATION_ALLOWED))
            else:
                self.pbx.set_var(c1, k, v)
        peer = c1.peer
        if peer is not None and c1.tech == "Local":
            plain = [(k, v) for k, v in items if not k.upper().startswith("CALLERID(")]
            for k, v in sorted(plain, key=lambda kv: not kv[0].startswith("_")):
                self.pbx.set_var(peer, k, v)
            if callerid:
                peer.connected_name, peer.connected_number = c1.caller_name, c1.caller_number
                self.pbx.emit("ChannelConnectedLine", channel=peer)


def dialstring(endpoint: str, resource: str, where: str) -> str:
    # Dial events carry what follows the technology, options included ("1000@dialer-out/n")
    if endpoint.startswith("Local/"):
        return endpoint[len("Local/"):]
    return f"{resource}@{where}" if where else resource


def parse_callerid(s: str) -> tuple[str, str]:
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
