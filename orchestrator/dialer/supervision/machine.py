"""One supervision: a supervisor's phone leg, their bridge, and the snoop that lets them
hear (and whisper into) one live call; or, barging, the leg in the call's own bridge.

Pure like the core's machines (events in, commands out, no I/O, no clock), so the
directions and the order of the ARI requests are read and tested here. The layout follows
the lab's recording (asterisk-traces/narrow, ``snoop_whisper_barge_narrow``):

* the supervisor's phone is originated into our app (a leg of its own, ``sup:<id>``) and,
  once answered, put into a bridge of the supervision's own (``supervision:<id>``);
* listen: a snoop on the agent's channel with ``spy=both`` (what the agent says and what
  the agent hears: the customer) joins that bridge;
* whisper: the same with ``whisper=out``: the supervisor's voice goes out to the agent's
  party only, never into the call's bridge (the customer and a recording hear nothing);
* barge: the supervisor's leg moves into the call's bridge (one addChannel moves it out
  of its own bridge): a third party everybody hears.

A snoop's directions cannot be changed (more/README-NOTES 1), so switching between listen
and whisper hangs one snoop up and makes another; the phone leg stays up, never re-rung.
Ids put their distinguishing part first: Asterisk refuses a new channel id that prefixes
a live one, ignoring case (narrow surprise 31).
"""

from __future__ import annotations

from enum import StrEnum

from orchestrator.core.common import Command, Event
from orchestrator.core.telephony.commands import (
    AddToBridge,
    CreateBridge,
    DestroyBridge,
    Hangup,
    Originate,
)
from orchestrator.core.telephony.events import (
    CallAnswered,
    ChannelGone,
    DialFailed,
    OriginateRefused,
)
from orchestrator.dialer.supervision.commands import SnoopIntoBridge, SupervisionEnded
from orchestrator.dialer.supervision.events import (
    CallLeft,
    ModeRequested,
    SnoopRefused,
    StopRequested,
    SupervisedCall,
    SupervisionMode,
)

__all__ = ["BRIDGE_PREFIX", "LEG_PREFIX", "SNOOP_DIRECTIONS", "SNOOP_PREFIX",
           "SupervisionMachine", "SupervisionPhase"]

LEG_PREFIX = "sup:"
"The supervisor's leg is this plus the supervision id."
SNOOP_PREFIX = "snoop"
"A snoop channel is this, its number, ':' and the supervision id (``snoop2:<id>``)."
BRIDGE_PREFIX = "supervision:"
"The supervision's own bridge is this plus the supervision id."

SNOOP_DIRECTIONS: dict[SupervisionMode, tuple[str, str]] = {
    SupervisionMode.LISTEN: ("both", "none"),
    SupervisionMode.WHISPER: ("both", "out"),
}
"""(spy, whisper) of the snoop on the agent's channel. ``spy=both``: what the agent says
(in) and what the agent hears (out: the customer). ``whisper=out``: towards the agent only."""

RING_S = 30
"How long the supervisor's phone rings before Asterisk gives up."


class SupervisionPhase(StrEnum):
    RINGING = "ringing"
    "The supervisor's phone rings."
    ACTIVE = "active"
    "The supervisor is on the call (in the mode asked)."
    ENDED = "ended"


class SupervisionMachine:
    """One supervision; see the module docstring."""

    def __init__(self, supervision_id: str, call: SupervisedCall, endpoint: str,
                 mode: SupervisionMode) -> None:
        self.id = supervision_id
        self.call = call
        self.endpoint = endpoint
        self.mode = mode
        self.phase = SupervisionPhase.RINGING
        self.leg_id = f"{LEG_PREFIX}{supervision_id}"
        self.bridge_id = f"{BRIDGE_PREFIX}{supervision_id}"
        self.snoop_id: str | None = None
        "The snoop in use (listen, whisper)."
        self.snoop_ids: list[str] = []
        "Every snoop made, in order (their late events are still ours to ignore)."
        self.bridge_made = False
        self.leg_alive = True
        self.end_reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.phase is SupervisionPhase.ENDED

    @property
    def channel_ids(self) -> tuple[str, ...]:
        """Every channel id this supervision made."""
        return (self.leg_id, *self.snoop_ids)

    # ---------------------------------------------------------------- start

    def start(self) -> list[Command]:
        """Ring the supervisor's phone."""
        return [Originate(
            channel_id=self.leg_id, endpoint=self.endpoint, caller_id="supervision",
            timeout_s=RING_S, variables={"DIALER_SUPERVISION": self.id},
            app_args=("supervisor", self.id),
        )]

    # --------------------------------------------------------------- events

    def handle(self, event: Event) -> list[Command]:
        """Apply one event; return the commands, in order."""
        if self.ended:
            return []
        match event:
            case ModeRequested():
                return self._switch(event.mode, event.call)
            case StopRequested():
                return self._end(event.reason, audited=event.audited)
            case CallLeft():
                return self._end(event.reason)
            case SnoopRefused() if event.snoop_id == self.snoop_id:
                # (kept: a snoop made but refused by the bridge is hung up with the rest)
                return self._end(f"no snoop on the agent's channel: {event.reason}")
            case CallAnswered() if event.channel_id == self.leg_id:
                return self._answered()
            case DialFailed() if event.channel_id == self.leg_id:
                return self._end(f"the supervisor's phone did not answer ({event.dialstatus})")
            case OriginateRefused() if event.channel_id == self.leg_id:
                self.leg_alive = False
                return self._end(f"the supervisor's phone could not be rung: {event.reason}")
            case ChannelGone() if event.channel_id == self.leg_id:
                self.leg_alive = False
                return self._end("the supervisor hung up" if self.phase is SupervisionPhase.ACTIVE
                                 else "the supervisor's phone did not answer")
            case ChannelGone() if event.channel_id == self.snoop_id:
                # Asterisk hangs a snoop up with the channel it snoops on: the agent's leg
                # is gone, so is the conversation.
                self.snoop_id = None
                return self._end("the agent's channel ended")
        return []

    def _answered(self) -> list[Command]:
        if self.phase is not SupervisionPhase.RINGING:
            return []  # the answer is told more than once (Dial, state change, StasisStart)
        self.phase = SupervisionPhase.ACTIVE
        self.bridge_made = True
        return [CreateBridge(self.bridge_id), AddToBridge(self.bridge_id, self.leg_id),
                *self._enter(self.mode)]

    def _enter(self, mode: SupervisionMode) -> list[Command]:
        """Take part in the call in ``mode`` (the leg is in the supervision's bridge)."""
        if mode is SupervisionMode.BARGE:
            if self.call.bridge_id is None:
                return self._end("the call has no bridge to join")
            return [AddToBridge(self.call.bridge_id, self.leg_id)]
        if self.call.agent_channel_id is None:
            return self._end("the agent has no channel to snoop on")
        spy, whisper = SNOOP_DIRECTIONS[mode]
        self.snoop_id = f"{SNOOP_PREFIX}{len(self.snoop_ids) + 1}:{self.id}"
        self.snoop_ids.append(self.snoop_id)
        return [SnoopIntoBridge(self.call.agent_channel_id, self.snoop_id, spy, whisper,
                                self.bridge_id, self.id, mode.value)]

    def _switch(self, mode: SupervisionMode, call: SupervisedCall) -> list[Command]:
        self.call = call
        if self.phase is SupervisionPhase.RINGING or mode is self.mode:
            self.mode = mode  # applied when the phone answers
            return []
        out: list[Command] = []
        if self.snoop_id is not None:
            out.append(Hangup(self.snoop_id))
            self.snoop_id = None
        if self.mode is SupervisionMode.BARGE:
            # back from the call's bridge: one addChannel moves the leg
            out.append(AddToBridge(self.bridge_id, self.leg_id))
        self.mode = mode
        return out + self._enter(mode)

    def _end(self, reason: str, *, audited: bool = False) -> list[Command]:
        """Hang up what is ours (the snoop, the phone leg, leaving the call's bridge with
        it), destroy our bridge (Asterisk keeps an emptied one for ever, README 23)."""
        self.phase = SupervisionPhase.ENDED
        self.end_reason = reason
        out: list[Command] = []
        if self.snoop_id is not None:
            out.append(Hangup(self.snoop_id))
            self.snoop_id = None
        if self.leg_alive:
            out.append(Hangup(self.leg_id))
        if self.bridge_made:
            out.append(DestroyBridge(self.bridge_id))
        out.append(SupervisionEnded(self.id, reason, audited))
        return out
