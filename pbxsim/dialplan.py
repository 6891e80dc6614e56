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
KNOWN_CONTEXTS = (*CUSTOMER_CONTEXTS, *AGENT_CONTEXTS, TESTLINES, TRANSFER, ENTRY,
                  "dialer-stasis", "lab-userevent", "default")

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
