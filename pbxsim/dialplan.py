"""The lab dialplan (shared/asterisk-traces/lab-config/extensions.conf) as data.

A program is a list of `Step`s: priority n is `steps[n-1]`. Data may depend on the
channel (its variables, its party plan), so it is a callable evaluated when the step runs,
like Asterisk substitutes `${...}` at execution time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pbxsim.model import Channel
from pbxsim.parties import GREETING_SECONDS, PartyDirectory, PartyPlan

#: the contexts whose called party follows the customer rules
CUSTOMER_CONTEXTS = ("customers", "dialer-out", "dialer-amd", "customers-long")
#: the contexts whose extension is an agent phone that answers at once
AGENT_CONTEXTS = ("agents", "dialer-agents", "agents-talk")
#: asterisk-conf's opt-in test lines: customers by last digit and test agent phones
TESTLINES = "dialer-testlines"
#: asterisk-conf's [dialer-transfer]: numbers agents consult or transfer to, dialled over
#: the trunk like [dialer-out] (issue 12); here they follow the customer rules
TRANSFER = "dialer-transfer"
#: asterisk-conf's [dialer-entry]: named entry points agents consult or transfer to
ENTRY = "dialer-entry"
#: asterisk-conf's [dialer-opt-out]: the dialer sends a customer who pressed the opt-out key
#: here; AGI(${DIALER_AGI}/opt-out,${DIALER_ATTEMPT}) puts the number on the DNC list
OPT_OUT = "dialer-opt-out"
#: asterisk-conf's [globals] DIALER_AGI (a channel variable of that name overrides it)
DEFAULT_AGI = "agi://127.0.0.1:4573"
#: asterisk-conf's [dialer-queue] (a caller joins queue <exten>) and [dialer-callback-offer]
#: (the queues' `context`: key 1 asks for a courtesy callback over FastAGI)
QUEUE = "dialer-queue"
CALLBACK_OFFER = "dialer-callback-offer"
#: the lab's runtime contexts of narrow/queue_placeholder: Queue(support,...) with the
#: position <exten> as the 9th argument (lab-qpos) or, ignored, the 10th (lab-qpos10)
LAB_QPOS = ("lab-qpos", "lab-qpos10")
QUEUE_CONTEXTS = (QUEUE, CALLBACK_OFFER, *LAB_QPOS)
KNOWN_CONTEXTS = (*CUSTOMER_CONTEXTS, *AGENT_CONTEXTS, TESTLINES, TRANSFER, ENTRY, OPT_OUT,
                  "dialer-stasis", "lab-userevent", "default", *QUEUE_CONTEXTS)
#: asterisk-conf's [globals], which a channel variable of the same name shadows, as in
#: Asterisk (`pbxsim --agi-url` sets DIALER_AGI)
GLOBALS: dict[str, str] = {"DIALER_APP": "dialer", "DIALER_AGI": DEFAULT_AGI}


def global_var(c: Channel, name: str) -> str:
    """${name} on `c`: its channel variable, else the [globals] one."""
    return c.vars[name] if name in c.vars else GLOBALS.get(name, "")

Data = str | Callable[[Channel], str]


@dataclass(frozen=True)
class Step:
    app: str
    data: Data = ""
    label: str | None = None

    def render(self, chan: Channel) -> str:
        return self.data(chan) if callable(self.data) else self.data


def fmt_seconds(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def customer_program(number: str, plan: PartyPlan) -> list[Step]:
    """[customers]: the outcome branch is chosen by the plan (the lab: by the last digit)."""
    talk = plan.talk_seconds
    d = plan.digit
    steps = [
        Step("NoOp", f"LAB customer {number} outcome digit {d}"),
        Step("Set", f"DIGIT={d}"),
        Step("GotoIf", "1?answer" if plan.outcome == "answer" else "0?answer"),
        Step("Goto", "d" + d),
        # answer: ring, answer, hello, talk, hang up
        Step("Ringing", "", "answer"),
        Step("Wait", fmt_seconds(plan.ring_seconds)),
        Step("Answer"),
        Step("Playback", "lab/hello"),
        Step("Wait", "20" if talk is None else fmt_seconds(max(0.0, talk - 2.6))),
        Step("Hangup", "16"),
        Step("Busy", "20", "d5"),
        Step("Hangup", "17"),
        Step("Congestion", "20", "d6"),
        Step("Hangup", "34"),
        Step("Ringing", "", "d7"),
        Step("Wait", "60" if plan.outcome != "noanswer" else fmt_seconds(plan.ring_seconds)),
        Step("Hangup", "19"),
        Step("Ringing", "", "d8"),
        Step("Wait", fmt_seconds(plan.ring_seconds) if plan.outcome == "machine" else "1"),
        Step("Answer"),
        Step("Playback", "lab/machine-greeting"),
        Step("Playback", "lab/beep"),
        Step(
            "Wait",
            "20" if talk is None or plan.outcome != "machine"
            else fmt_seconds(max(0.0, talk - GREETING_SECONDS - 1.0)),
        ),
        Step("Hangup", "16"),
    ]
    if plan.outcome == "hangup_early" and plan.ring_seconds > 0:
        steps += [
            Step("Ringing", "", "d9"),
            Step("Wait", fmt_seconds(plan.ring_seconds)),
            Step("Answer"),
            Step("Wait", fmt_seconds(1.0 if talk is None else talk)),
            Step("Hangup", "16"),
        ]
    else:
        steps += [
            Step("Answer", "", "d9"),
            Step("Wait", fmt_seconds(1.0 if talk is None else talk)),
            Step("Hangup", "16"),
        ]
    steps += [
        Step("Ringing", "", "dF"),
        Step("Wait", fmt_seconds(plan.ring_seconds)),
        Step("Answer"),
        Step("Playback", "lab/fax-ced"),
        Step("Wait", fmt_seconds(30.0 if talk is None else talk)),
        Step("Hangup", "16"),
    ]
    return steps


def customer_long_program(number: str) -> list[Step]:
    """[customers-long]: ring 1 s (..6: 6 s), answer, silent, hang up after 120 s (..8: 10, ..9: 3)."""
    d = number[-1:] or "1"
    ring = "6" if d == "6" else "1"
    talk = "3" if d == "9" else ("10" if d == "8" else "120")
    return [
        Step("NoOp", f"LAB long customer {number} outcome digit {d}"),
        Step("Set", f"DIGIT={d}"),
        Step("Set", f"RINGSECS={ring}"),
        Step("Set", f"TALKSECS={talk}"),
        Step("Ringing"),
        Step("Wait", ring),
        Step("Answer"),
        Step("Wait", talk),
        Step("Hangup", "16"),
    ]


def agent_program(exten: str, talking: bool = False) -> list[Step]:
    """[agents]: answer at once, wait 10 minutes."""
    if talking:
        return [
            Step("NoOp", f"LAB talking agent {exten}"),
            Step("Answer"),
            Step("PlayTones", "440/300,0/700"),
            Step("Wait", "600"),
            Step("Hangup", "16"),
        ]
    return [
        Step("NoOp", f"LAB agent {exten}"),
        Step("Answer"),
        Step("Wait", "600"),
        Step("Hangup", "16"),
    ]


def testline_phone_program(exten: str) -> list[Step] | None:
    """[dialer-testlines]' phones (asterisk-conf/extensions.conf): testagent<N> answers at
    once, testnoanswer rings for ever (RONA), testunreachable never rings (congestion)."""
    if exten.startswith("testagent") and len(exten) > len("testagent"):
        return [Step("NoOp", f"dialer test agent phone {exten}"), Step("Answer"),
                Step("Playtones", "0/1000"), Step("Wait", "3600"), Step("Hangup", "16")]
    if exten == "testnoanswer":
        return [Step("NoOp", "dialer test phone that never answers"), Step("Ringing"),
                Step("Wait", "120"), Step("Hangup", "19")]
    if exten == "testunreachable":
        return [Step("NoOp", "dialer test phone that is unreachable"), Step("Congestion", "3"),
                Step("Hangup", "34")]
    return None


def entry_point_program(name: str) -> list[Step] | None:
    """[dialer-entry]: the entry points asterisk-conf defines (survey: answer, a tone,
    30 s, hang up); any other name is no such extension."""
    if name != "survey":
        return None
    return [Step("NoOp", "dialer: entry point survey"), Step("Answer"),
            Step("Playtones", "440/500,0/500"), Step("Wait", "30"), Step("Hangup")]


def amd_program(app: str, *, project: bool = False) -> list[Step]:
    """[dialer-amd],s: AMD() on the answered channel, then Stasis(app,amd,STATUS,CAUSE).

    The lab's (lab-config/extensions.conf) logs the verdict in a NoOp; the project's
    (asterisk-conf/extensions.conf, ``project``) does not, and has an ``h`` extension that
    the engine runs."""
    if project:
        head = [Step("NoOp", lambda c: f"dialer: AMD on {c.name}"), Step("AMD")]
    else:
        head = [
            Step("NoOp", lambda c: f"LAB AMD on {c.name}"),
            Step("AMD"),
            Step(
                "NoOp",
                lambda c: f"LAB AMDSTATUS={c.vars.get('AMDSTATUS', '')} "
                          f"AMDCAUSE={c.vars.get('AMDCAUSE', '')}",
            ),
        ]
    return [
        *head,
        Step(
            "Stasis",
            lambda c: f"{app},amd,{c.vars.get('AMDSTATUS', '')},{c.vars.get('AMDCAUSE', '')}",
        ),
        Step("Hangup"),
    ]


def opt_out_program() -> list[Step]:
    """[dialer-opt-out],s: the opt-out hook over FastAGI, a confirmation, hang up; when the
    service could not record it, a WARNING in Asterisk's log says so."""
    def agi(c: Channel) -> str:
        return f"{global_var(c, 'DIALER_AGI')}/opt-out,{c.vars.get('DIALER_ATTEMPT', '')}"

    return [
        Step("NoOp", lambda c: f"dialer: opt-out for attempt {c.vars.get('DIALER_ATTEMPT', '')}"),
        Step("AGI", agi),
        Step("GotoIf", lambda c: ("1" if c.vars.get("DIALER_OPT_OUT") == "done" else "0") + "?done"),
        Step("Log", lambda c: f"WARNING,dialer: opt-out for attempt {c.vars.get('DIALER_ATTEMPT', '')}"
                              f" NOT recorded (AGISTATUS={c.vars.get('AGISTATUS', '')})"),
        Step("Hangup", "16"),
        Step("Playback", "dialer/opt-out-confirmed", "done"),
        Step("Hangup", "16"),
    ]


def queue_program(exten: str) -> list[Step] | None:
    """[dialer-queue],_[a-z].: answer, remember the queue, wait in it (Queue() is priority 4,
    where [dialer-callback-offer] sends a caller back). DIALER_QUEUE_POSITION, when the
    channel has it (an originate's `variables`, which a Local channel copies to its ;2
    half), is Queue()'s 9th argument: the courtesy callback's placeholder joins at the
    place its caller held; unset, the argument is empty and the caller joins at the end."""
    if not re.fullmatch(r"[a-z].+", exten):
        return None
    return [
        Step("NoOp", f"dialer: queue {exten}"),
        Step("Answer"),
        Step("Set", f"DIALER_QUEUE={exten}"),
        Step("Queue", lambda c: f"{exten},t,,,3600,,,,{c.vars.get('DIALER_QUEUE_POSITION', '')}"),
        Step("Hangup"),
    ]


def callback_offer_program(exten: str) -> list[Step] | None:
    """[dialer-callback-offer]: Queue() exits here on key 1 (QUEUEPOSITION set); the
    callback-offer hook over FastAGI; accepted: a confirmation and hang up, otherwise back
    into the queue at priority 4 (the end of the line). `i`: any other key, back too."""
    def queue(c: Channel) -> str:
        return c.vars.get("DIALER_QUEUE", "")

    back = Step("Goto", lambda c: f"{QUEUE},{queue(c)},4")
    if exten == "i":
        return [back]
    if exten != "1":
        return None
    return [
        Step("NoOp", lambda c: f"dialer: callback requested from queue {queue(c)} "
                               f"pos {c.vars.get('QUEUEPOSITION', '')}"),
        Step("AGI", lambda c: f"{global_var(c, 'DIALER_AGI')}/callback-offer,{queue(c)},"
                              f"{c.vars.get('QUEUEPOSITION', '')},{c.caller_number}"),
        Step("GotoIf", lambda c: ("1" if c.vars.get("DIALER_CALLBACK") == "accepted" else "0")
                                 + "?done"),
        back,
        Step("Playback", "dialer/callback-confirmed", "done"),
        Step("Hangup", "16"),
    ]


def lab_queue_position_program(context: str, exten: str) -> list[Step] | None:
    """lab-qpos / lab-qpos10 (narrow/queue_placeholder): queue `support` with the position
    <exten> in the 9th argument (honoured) or the 10th (ignored: the caller is appended)."""
    if not exten.isdigit():
        return None
    position = ("," * (4 if context == "lab-qpos" else 5)) + exten
    return [
        Step("NoOp", f"lab queue position {exten}"),
        Step("Answer"),
        Step("Set", "DIALER_QUEUE=support"),
        Step("Queue", f"support,t,,,3600{position}"),
        Step("Hangup"),
    ]


def stasis_program(app: str, exten: str) -> list[Step]:
    """[dialer-stasis]: Stasis(dialer,<exten>) then Hangup()."""
    return [Step("Stasis", f"{app},{exten}" if exten != "s" else app), Step("Hangup")]


def userevent_program(app: str) -> list[Step]:
    """[lab-userevent],s: a channel UserEvent, then back into Stasis."""
    return [
        Step("UserEvent", "DialerAgentState,Agent: 1001,State: Available,Source: dialplan"),
        Step("Stasis", f"{app},back-from-userevent"),
        Step("Hangup"),
    ]


def label_priority(steps: list[Step], label: str) -> int | None:
    for i, s in enumerate(steps):
        if s.label == label:
            return i + 1
    return None


def project_dialplan(c: Channel) -> bool:
    """The channel was originated through the project's own dialplan (asterisk-conf's
    [dialer-out], as the dialer does) rather than the lab's [customers]."""
    return "@dialer-out" in (c.endpoint or "")


def program_for(context: str, exten: str, c: Channel, parties: PartyDirectory) -> list[Step] | None:
    """The dialplan a channel runs when it enters `context,exten` (None: no such exten).

    A customer's party plan is drawn once per channel and kept on it."""
    if context in ("customers", "dialer-out", "dialer-amd", TRANSFER):
        if not re.fullmatch(r"\+?[0-9]+", exten):
            return None
        plan = c.plan or parties.plan_for(exten)
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
            plan = c.plan or parties.plan_for(exten)
            c.plan = plan
            return customer_program(exten, plan)
        return testline_phone_program(exten)
    if context in AGENT_CONTEXTS:
        if not exten.startswith("agent") or len(exten) <= len("agent"):
            return None
        return agent_program(exten, talking=context == "agents-talk")
    if context == ENTRY:
        return entry_point_program(exten)
    if context == OPT_OUT:
        return opt_out_program() if exten == "s" else None
    if context == QUEUE:
        return queue_program(exten)
    if context == CALLBACK_OFFER:
        return callback_offer_program(exten)
    if context in LAB_QPOS:
        return lab_queue_position_program(context, exten)
    if context == "dialer-stasis":
        return stasis_program(c.vars.get("DIALER_APP", "dialer"), exten)
    if context == "lab-userevent":
        return userevent_program(c.vars.get("DIALER_APP", "dialer"))
    if context == "default":
        return [Step("Hangup", "1")]
    return None


def entry_program(context: str, exten: str, c: Channel,
                  parties: PartyDirectory) -> list[Step] | None:
    """What a channel already up runs when sent to `context,exten` (an originate's
    `context=`, /continue, Stasis() returning): [dialer-amd] is AMD on it, not a customer."""
    if context == "dialer-amd":
        app = c.vars.get("DIALER_APP", "dialer")
        return amd_program(app, project=project_dialplan(c))
    return program_for(context, exten, c, parties)
