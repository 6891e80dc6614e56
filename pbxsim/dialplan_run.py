"""Running the dialplan: a channel's PBX thread steps through its program, one dialplan
application per priority, as Asterisk's pbx.c does.

The applications are a table from name to handler (`app_Answer` runs `Answer()`); a new
one (Queue, AGI) is a handler and a line in the table. What the called side's Ringing(),
Answer() and Busy() make the calling side hear (its Dial events) is here too: that is
where they happen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pbxsim.agi import AgiChannel, run_agi
from pbxsim.calllog import note_outcome
from pbxsim.dialplan import Step, entry_program, label_priority, project_dialplan
from pbxsim.hangup import Hangups
from pbxsim.media import SOUND_SECONDS
from pbxsim.model import Channel
from pbxsim.parties import PartyPlan
from pbxsim.stasis import Stasis
from pbxsim.state import PbxState

#: AMD results: (status, cause, seconds of analysis) per party behaviour
AMD_RESULT = {
    "human": ("HUMAN", "HUMAN-800-800", 1.9),
    "machine": ("MACHINE", "MAXWORDS-3-2", 2.38),
    "fax": ("MACHINE", "MAXWORDLENGTH-5001-5000", 5.0),
    "silent": ("NOTSURE", "TOOLONG-4900", 5.0),
}

#: What an application tells the thread to do next: None the next priority, an int that
#: priority, "end" stop (the channel hangs up).
Next = int | str | None
App = Callable[[Channel, str, list[Step]], Awaitable[Next]]


class DialplanRunner:
    """The PBX threads' dialplan execution."""

    def __init__(self, pbx: PbxState, hangups: Hangups, stasis: Stasis) -> None:
        self.pbx = pbx
        self.hangups = hangups
        self.stasis = stasis
        self.apps: dict[str, App] = {
            "NoOp": self.app_NoOp,
            "Playtones": self.app_NoOp,
            "Set": self.app_Set,
            "GotoIf": self.app_GotoIf,
            "Goto": self.app_Goto,
            "Ringing": self.app_Ringing,
            "Wait": self.app_Wait,
            "Answer": self.app_Answer,
            "Playback": self.app_Playback,
            "Busy": self.app_Busy,
            "Congestion": self.app_Congestion,
            "Hangup": self.app_Hangup,
            "AMD": self.app_AMD,
            "Stasis": self.app_Stasis,
            "UserEvent": self.app_UserEvent,
            "AGI": self.app_AGI,
        }
        """Dialplan applications pbxsim runs; any other does nothing and goes on."""

    def entry_program(self, ctx: str, exten: str, c: Channel) -> list[Step] | None:
        return entry_program(ctx, exten, c, self.pbx.parties)

    # ------------------------------------------------------------------ the thread
    async def run_program(self, c: Channel, program: list[Step], priority: int) -> None:
        """A thread of its own: run the program, then the channel hangs up."""
        c.pbx_thread = True
        try:
            await self.run_inline(c, program, priority)
        finally:
            if not c.destroyed:
                await self.hangups.teardown(c)

    async def run_inline(self, c: Channel, program: list[Step], priority: int) -> None:
        """Run the program on the caller's thread (it goes on when the program ends)."""
        prio = max(1, priority)
        while not c.hangup_requested and 1 <= prio <= len(program):
            step = program[prio - 1]
            c.priority = prio
            data = step.render(c)
            self.pbx.dialplan(c, step.app, data)
            app = self.apps.get(step.app)
            nxt = None if app is None else await app(c, data, program)
            if nxt == "end":
                return
            if isinstance(nxt, int):
                prio = nxt
            else:
                prio += 1

    async def after_stasis(self, c1: Channel) -> None:
        """Leaving Stasis by /continue: run the dialplan there (the channel gets a thread)."""
        while c1.leave_stasis_to is not None and not c1.hangup_requested:
            ctx, exten, prio = c1.leave_stasis_to
            c1.leave_stasis_to = None
            c1.pbx_thread = True
            c1.context, c1.exten, c1.priority = ctx, exten, prio
            program = self.entry_program(ctx, exten, c1)
            if program is None or prio > len(program):
                c1.hangupcause = 0
                c1.pbx_thread = False
                # its last ChannelDialplan even arrives after ChannelDestroyed (notes 8)
                c1.late_dialplan = True
                return
            await self.run_inline(c1, program, prio)

    # ------------------------------------------------------------------ applications
    async def app_NoOp(self, c: Channel, data: str, program: list[Step]) -> Next:
        return None

    async def app_Set(self, c: Channel, data: str, program: list[Step]) -> Next:
        name, _, value = data.partition("=")
        self.pbx.set_var(c, name, value)
        return None

    async def app_GotoIf(self, c: Channel, data: str, program: list[Step]) -> Next:
        cond, _, labels = data.partition("?")
        yes, _, no = labels.partition(":")
        label = yes if cond.strip() not in ("", "0") else no
        if not label:
            return None
        return label_priority(program, label) or None

    async def app_Goto(self, c: Channel, data: str, program: list[Step]) -> Next:
        parts = data.split(",")
        if len(parts) == 3:
            # Goto(context,exten,priority): another extension's program from there on
            # ([dialer-callback-offer] sends a caller back into Queue() at priority 4)
            return self.goto(c, parts[0], parts[1], parts[2].strip() or "1", program)
        return label_priority(program, data) or "end"

    def goto(self, c: Channel, ctx: str, exten: str, where: str, program: list[Step]) -> Next:
        """Continue the thread at ctx,exten and a priority or label there (the program is
        swapped in place, as app_Stasis does for /continue); none: the channel hangs up."""
        prog = self.entry_program(ctx, exten, c)
        c.context, c.exten = ctx, exten
        prio = int(where) if where.isdigit() else (label_priority(prog, where) if prog else None)
        if prog is None or prio is None:
            c.hangupcause = 0
            return "end"
        program[:] = prog
        return prio

    async def app_Ringing(self, c: Channel, data: str, program: list[Step]) -> Next:
        if c.tech == "Local" or (c.tech == "PJSIP" and c.peer is not None):
            self._far_ringing(c)
        return None

    async def app_Wait(self, c: Channel, data: str, program: list[Step]) -> Next:
        await self.pbx.sleep_or_hangup(c, float(data or 0))
        return None

    async def app_Answer(self, c: Channel, data: str, program: list[Step]) -> Next:
        if c.state != "Up":
            self.pbx.set_state(c, "Up")
            self._far_answered(c)
            # Answer() waits up to 500 ms for the first media frame before the next app
            # (traces): a ;2 half whose ;1 sits in Stasis or a quiet 2-party bridge
            # waits it all; one whose ;1 is in a softmix bridge goes on at once
            # (narrow conference_8_narrow)
            await self.pbx.wait_until(
                c, lambda: c.hangup_requested or hears_media(c), 0.5)
        return None

    async def app_Playback(self, c: Channel, data: str, program: list[Step]) -> Next:
        await self.pbx.sleep_or_hangup(c, SOUND_SECONDS.get(data, 1.0))
        self.pbx.set_var(c, "PLAYBACKSTATUS", "SUCCESS")
        return None

    async def app_Busy(self, c: Channel, data: str, program: list[Step]) -> Next:
        return await self._refuse(c, data, 17, "BUSY", 486)

    async def app_Congestion(self, c: Channel, data: str, program: list[Step]) -> Next:
        return await self._refuse(c, data, 34, "CONGESTION", 503)

    async def _refuse(self, c: Channel, data: str, cause: int, status: str,
                      sip_code: int) -> Next:
        self.pbx.set_state(c, "Busy")
        c.hangupcause = cause
        if c.tech == "PJSIP":
            # the callee answers the INVITE with 486/503 and is gone at once
            c.tech_cause = sip_code
            self.pbx.hangup_request(c, cause)
            return "end"
        self._far_failed(c, status)
        await self.pbx.sleep_or_hangup(c, float(data or 0))
        # Busy()/Congestion() hang up when their time is over (no next priority)
        return "end"

    async def app_Hangup(self, c: Channel, data: str, program: list[Step]) -> Next:
        if data:
            c.hangupcause = int(data)
            self.pbx.hangup_request(c, c.hangupcause, soft=True)
            c.hr_done = True
        else:
            if not c.hangupcause:
                c.hangupcause = 16
            if c.half == 1 and project_dialplan(c) and c.context == "dialer-amd":
                # Hangup() soft-hangs the channel (narrow amd_context_subscribed_human)
                self.pbx.hangup_request(c, c.hangupcause, soft=True)
                c.hr_done = True
        return "end"

    async def app_AMD(self, c: Channel, data: str, program: list[Step]) -> Next:
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
        if not await self.pbx.sleep_or_hangup(c, secs):
            status, cause = "HANGUP", ""
        self.pbx.set_var(c, "AMDSTATUS", status)
        self.pbx.set_var(c, "AMDCAUSE", cause)
        if status == "MACHINE":
            note_outcome(c, "fax" if kind == "fax" else "machine")
        return None

    async def app_Stasis(self, c: Channel, data: str, program: list[Step]) -> Next:
        parts = data.split(",")
        await self.stasis.enter(c, parts[0], parts[1:])
        if c.leave_stasis_to is not None:
            # /continue: Stasis() returns and the dialplan goes on where it was sent
            ctx, exten, prio = c.leave_stasis_to
            c.leave_stasis_to = None
            prog = self.entry_program(ctx, exten, c)
            c.context, c.exten = ctx, exten
            if prog is None:
                c.hangupcause = 0
                return "end"
            program[:] = prog
            return prio
        return None

    async def app_UserEvent(self, c: Channel, data: str, program: list[Step]) -> Next:
        name, *fields = data.split(",")
        ue: dict[str, str] = {"eventname": name}
        for f in fields:
            k, _, v = f.partition(":")
            ue[k.strip()] = v.strip()
        self.pbx.emit("ChannelUserevent", channel=c, data={"eventname": name, "userevent": ue})
        return None

    async def app_AGI(self, c: Channel, data: str, program: list[Step]) -> Next:
        """AGI(agi://host:port/script,args...): pbxsim's FastAGI client (agi.py) on this
        channel; its SET VARIABLEs are ChannelVarsets, AGISTATUS is set, and the dialplan
        goes on unless the channel hung up meanwhile (AGISTATUS=HANGUP)."""
        url, *args = data.split(",")
        chan = AgiChannel(name=c.name, uniqueid=c.id, type=c.tech, language=c.language,
                          callerid=c.caller_number, calleridname=c.caller_name, context=c.context,
                          extension=c.exten, priority=c.priority, accountcode=c.accountcode,
                          state=c.state, variables=dict(c.vars))
        out = await run_agi(url, args, chan, on_set=lambda name, value: self.pbx.set_var(c, name, value),
                            hangup=lambda: self.pbx.wait_until(c, lambda: c.hangup_requested, None))
        self.pbx.set_var(c, "AGISTATUS", out.status)
        return None if out.dialplan_continues else "end"

    # ------------------------------------------------------------------ what the caller hears
    @staticmethod
    def _caller_of(far: Channel) -> Channel | None:
        p = far.peer
        if p is None or p.destroyed:
            return None
        return p

    def _far_ringing(self, far: Channel) -> None:
        c1 = self._caller_of(far)
        if c1 is None or c1.dial is None or c1.dial.done:
            return
        if c1.state == "Down":
            self.pbx.set_state(c1, "Ringing")
        c1.dial.status = "RINGING"
        self.pbx.dial_event(c1, "RINGING")

    def _far_answered(self, far: Channel) -> None:
        c1 = self._caller_of(far)
        if c1 is None:
            return
        c1.answered = True
        self.pbx.set_state(c1, "Up")
        if c1.dial is not None and not c1.dial.done:
            c1.dial.status = "ANSWER"
            c1.dial.done = True
            self.pbx.dial_event(c1, "ANSWER")
        note_outcome(c1, "answer")
        c1.poke()

    def _far_failed(self, far: Channel, status: str) -> None:
        c1 = self._caller_of(far)
        if c1 is None or c1.dial is None or c1.dial.done:
            return
        c1.dial.status = status
        c1.dial.done = True
        self.pbx.dial_event(c1, status)
        note_outcome(c1, status.lower())
        c1.poke()


def hears_media(c: Channel) -> bool:
    """Whether a ;2 half in Answer() gets its first media frame from its ;1 side."""
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
