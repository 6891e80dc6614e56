"""What the agent desktop shows of a call under control: the parties, who is in control,
and each control enabled or not with the reason (the same rules the machine applies, so
a button is never offered that the call would refuse)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.core.calls.parties import MAX_PARTICIPANTS, PartyState
from orchestrator.core.calls.room import CallMode
from orchestrator.core.calls.states import CallState

if TYPE_CHECKING:
    from orchestrator.core.calls.attempt import CallMachine

__all__ = ["control_view"]


def _why_not(call: CallMachine, agent_id: str) -> dict[str, str | None]:
    """Each control's reason to be disabled for ``agent_id`` (None: enabled)."""
    talk = call.conversation
    if call.state is not CallState.BRIDGED:
        off = "only a connected call"
        out: dict[str, str | None] = dict.fromkeys(("hold", "unhold", "consult", "switch", "cancel_consult", "transfer",
                             "blind_transfer", "conference", "leave", "pause_recording",
                             "resume_recording"), off)
        # A call still ringing may be cancelled (the machine decides what that means).
        out["hangup"] = "the call is ending" if call.state in (
            CallState.HANGING_UP, CallState.ENDED) else None
        return out
    if talk.controller != agent_id:
        off = "another agent is in control of this call"
        out = dict.fromkeys(("hold", "unhold", "consult", "switch", "cancel_consult", "transfer",
                             "blind_transfer", "conference", "leave", "pause_recording",
                             "resume_recording"), off)
        out["hangup"] = None if talk.party_of_agent(agent_id) else off
        return out
    mode = talk.mode
    party = talk.consulted()
    answered = party is not None and party.state is not PartyState.DIALING
    full = talk.participants() >= MAX_PARTICIPANTS
    recording = talk.recording is not None and not talk.recording_failed
    plain = mode == CallMode.TALK
    return {
        "hold": None if plain and not talk.held else
        ("already on hold" if talk.held else "hold is for a plain call (during a consultation, "
         "switch between the parties)"),
        "unhold": None if plain and talk.held else "the call is not on hold",
        "hangup": "a held call cannot be ended" if talk.held or mode == CallMode.CONSULT else None,
        "consult": ("a consultation is in progress" if mode == CallMode.CONSULT else
                    f"a conference has at most {MAX_PARTICIPANTS} participants" if full else
                    "the customer has left the call" if mode == CallMode.POST_CALL else None),
        "switch": None if answered else "no answered consultation",
        "cancel_consult": None if party is not None else "no consultation in progress",
        "transfer": None if answered else "no answered consultation",
        "blind_transfer": None if plain else "a blind transfer is made from a plain call",
        "conference": None if answered else "no answered consultation",
        "leave": None if mode in (CallMode.CONFERENCE, CallMode.POST_CALL) else
        "only a conference can be left",
        "pause_recording": None if plain and recording and not talk.recording_paused else
        ("not recorded" if not recording else "already paused" if talk.recording_paused
         else "not during a consultation or conference"),
        "resume_recording": None if plain and recording and talk.recording_paused else
        ("not recorded" if not recording else "not paused" if not talk.recording_paused
         else "not during a consultation or conference"),
    }


def control_view(call: CallMachine, agent_id: str, now: datetime) -> dict[str, Any]:
    """The call's control panel for one agent (masking of labels is the shell's)."""
    talk = call.conversation
    return {
        "attempt_id": call.attempt_id,
        "mode": talk.mode,
        "controller": talk.controller,
        "you_control": talk.controller == agent_id,
        "customer": {"present": talk.customer_present,
                     "on_hold": talk.held or talk.customer_out},
        "primary": {"agent_id": talk.agent_id, "present": talk.primary_present},
        "parties": [p.view(now) for p in talk.parties if p.present],
        "participants": talk.participants(),
        "max_participants": MAX_PARTICIPANTS,
        "recording": {"name": talk.recording, "paused": talk.recording_paused,
                      "failed": talk.recording_failed or None},
        "controls": {name: {"enabled": why is None, "reason": why}
                     for name, why in _why_not(call, agent_id).items()},
    }
