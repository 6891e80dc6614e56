"""Call control of a connected call (MISSION E): consult, switch, transfer (blind and
after a consultation), conference of up to 8, leaving it, recording pause and resume,
and what the parties' own legs report.

Only the agent in control (``Conversation.controller``) may act; a request the call's
state does not allow raises :class:`~orchestrator.core.calls.states.CallControlError`
with the rule in words. The rules:

* a consultation holds the customer (out of the room, on music); customer and consulted
  party are never both on hold, and a held call cannot be ended;
* a blind transfer sends the agent to wrap-up at once; the customer waits on music
  until the party answers (and is hung up, the history saying why, if it never does);
* a conference has at most :data:`~orchestrator.core.calls.parties.MAX_PARTICIPANTS`,
  customer and agent included; when the agent in control leaves, control passes to the
  agent present longest; when the customer leaves, the others talk on (post-call) until
  one is left; wrap-up is for the agent in control only;
* the recording is paused and resumed in a plain call only, and resumes by itself after
  the campaign's limit; a recording Asterisk could not make is reported, not assumed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from orchestrator.core.agents.events import (
    AgentLegLost,
    AgentRona,
    ConferenceEnd,
    ConferenceStart,
    ConsultEnd,
    ConsultStart,
)
from orchestrator.core.calls.commands import NoteCall
from orchestrator.core.calls.events import (
    ConferenceRequest,
    ConsultCancelRequest,
    ConsultRequest,
    ControlRequest,
    LeaveRequest,
    RecordingFailed,
    RecordingRequest,
    RemovePartyRequest,
    SwitchRequest,
    TransferRequest,
)
from orchestrator.core.calls.parties import MAX_PARTICIPANTS, Party, PartyKind, PartyState
from orchestrator.core.calls.room import CallMode
from orchestrator.core.calls.states import CallControlError, CallState
from orchestrator.core.calls.steps import AttemptSteps
from orchestrator.core.common import Command, Event, NotifyAgent
from orchestrator.core.telephony.commands import Hangup, PauseRecording, ResumeRecording
from orchestrator.core.telephony.events import (
    CallAnswered,
    CallRinging,
    ChannelGone,
    DialFailed,
    DialStatus,
    OriginateAccepted,
    OriginateRefused,
)

__all__ = ["CallControlHandlers"]

_PartyLegEvent = (
    OriginateAccepted | OriginateRefused | CallRinging | CallAnswered | DialFailed | ChannelGone
)


class CallControlHandlers(AttemptSteps):
    """Handlers of call-control requests and of the parties' legs."""

    # ------------------------------------------------------------- requests

    def _on_control(self, ev: ControlRequest, now: datetime) -> list[Command]:
        self._check_controller(ev)
        match ev:
            case ConsultRequest():
                return self._on_consult(ev, now)
            case SwitchRequest():
                return self._on_switch(ev)
            case ConsultCancelRequest():
                return self._on_consult_cancel(ev, now)
            case TransferRequest():
                return self._on_transfer(ev, now)
            case ConferenceRequest():
                return self._on_conference(ev, now)
            case LeaveRequest():
                return self._on_leave(ev, now)
            case RemovePartyRequest():
                return self._on_remove_party(ev, now)
            case RecordingRequest():
                return self._on_recording(ev, now)
        raise TypeError(f"call {self.attempt_id}: unexpected request {type(ev).__name__}")

    def _refuse(self, ev: Event, why: str) -> CallControlError:
        return CallControlError(self.attempt_id, self.state, ev, why)

    def _check_controller(self, ev: ControlRequest) -> None:
        if self.state is not CallState.BRIDGED:
            raise self._refuse(ev, "only a connected call")
        if ev.agent_id != self.conversation.controller:
            raise self._refuse(ev, f"agent {ev.agent_id} is not in control of this call")

    def _consulted(self, ev: ControlRequest) -> Party:
        party = self.conversation.consulted()
        if party is None:
            raise self._refuse(ev, "no consultation in progress")
        return party

    def _on_consult(self, ev: ConsultRequest, now: datetime) -> list[Command]:
        talk = self.conversation
        if talk.transfer_pending is not None:
            raise self._refuse(ev, "a transfer is in progress")
        if talk.mode == CallMode.CONSULT:
            raise self._refuse(ev, "a consultation is in progress: transfer, conference or end it first")
        if talk.mode == CallMode.POST_CALL:
            raise self._refuse(ev, "the customer has left the call")
        if talk.participants() + 1 > MAX_PARTICIPANTS:
            raise self._refuse(ev, f"a conference has at most {MAX_PARTICIPANTS} participants")
        if ev.blind and talk.mode != CallMode.TALK:
            raise self._refuse(ev, "a blind transfer is made from a plain call")
        kind = PartyKind(ev.kind)
        out: list[Command] = []
        conference = talk.mode == CallMode.CONFERENCE
        if not conference:
            out += talk.customer_out_of_room()
        if ev.blind:
            out += self._primary_leaves(now, ev.agent_id)
        elif not conference:
            talk.mode = CallMode.CONSULT
            out.append(NotifyAgent(ev.agent_id, ConsultStart(ev.agent_id, self.attempt_id, ev.label)))
        party, dial = talk.add_party(kind, ev.label, ev.endpoint, now, agent_id=ev.party_agent_id,
                                     channel_id=ev.party_channel_id,
                                     home_bridge=ev.party_bridge_id)
        out += dial
        if ev.blind:
            talk.transfer_pending = party
            if party.state is PartyState.TALKING:
                out += self._transfer_lands(party, now)
        what = "transfer" if ev.blind else ("party_added" if conference else "consult")
        out.append(self._note(now, what, by=ev.agent_id, party=party.party_id, party_kind=kind.value,
                              label=party.label, agent=party.agent_id, blind=ev.blind))
        return out + self._publish(now)

    def _on_switch(self, ev: SwitchRequest) -> list[Command]:
        talk = self.conversation
        party = self._consulted(ev)
        if party.state is PartyState.DIALING:
            raise self._refuse(ev, "the consulted party has not answered yet")
        if talk.customer_out:
            return talk.party_out_of_room(party) + talk.customer_into_room()
        return talk.customer_out_of_room() + talk.party_into_room(party)

    def _on_consult_cancel(self, ev: ConsultCancelRequest, now: datetime) -> list[Command]:
        party = self._consulted(ev)
        return self._party_gone(party, now, "consultation ended", gone=False)

    def _on_transfer(self, ev: TransferRequest, now: datetime) -> list[Command]:
        talk = self.conversation
        party = self._consulted(ev)
        if party.state is PartyState.DIALING:
            raise self._refuse(ev, "the consulted party has not answered yet")
        out = talk.party_into_room(party) + talk.customer_into_room()
        talk.mode = CallMode.TALK
        out += self._primary_leaves(now, ev.agent_id)
        out += self._hand_to(party.agent_id, now)
        out.append(self._note(now, "transfer", by=ev.agent_id, party=party.party_id,
                              party_kind=party.kind.value, label=party.label, agent=party.agent_id,
                              blind=False))
        return out + self._publish(now)

    def _on_conference(self, ev: ConferenceRequest, now: datetime) -> list[Command]:
        talk = self.conversation
        party = self._consulted(ev)
        if party.state is PartyState.DIALING:
            raise self._refuse(ev, "the consulted party has not answered yet")
        out = talk.party_into_room(party) + talk.customer_into_room()
        talk.mode = CallMode.CONFERENCE
        talk.conference_told = ev.agent_id
        out.append(NotifyAgent(ev.agent_id, ConferenceStart(ev.agent_id, self.attempt_id)))
        out.append(self._note(now, "conference", by=ev.agent_id,
                              participants=talk.participants()))
        return out + self._publish(now)

    def _on_leave(self, ev: LeaveRequest, now: datetime) -> list[Command]:
        talk = self.conversation
        if talk.mode not in (CallMode.CONFERENCE, CallMode.POST_CALL):
            raise self._refuse(ev, "only a conference can be left (end or transfer the call)")
        return self._controller_leaves(now, by=ev.agent_id)

    def _on_remove_party(self, ev: RemovePartyRequest, now: datetime) -> list[Command]:
        talk = self.conversation
        if talk.mode not in (CallMode.CONFERENCE, CallMode.POST_CALL):
            raise self._refuse(ev, "only a conference's parties can be removed")
        party = next((p for p in talk.present_parties() if p.party_id == ev.party_id), None)
        if party is None:
            raise self._refuse(ev, f"no party {ev.party_id} in this call")
        return self._party_gone(party, now, f"removed by agent {ev.agent_id}", gone=False)

    def _on_recording(self, ev: RecordingRequest, now: datetime) -> list[Command]:
        talk = self.conversation
        if talk.mode != CallMode.TALK:
            raise self._refuse(ev, "the recording cannot be paused or resumed during a "
                                   "consultation or a conference")
        if talk.recording is None or talk.recording_failed:
            raise self._refuse(ev, "the call is not being recorded")
        if ev.pause == talk.recording_paused:
            raise self._refuse(ev, "the recording is already " + ("paused" if ev.pause else "running"))
        return self._set_recording_paused(ev.pause, now, by=ev.agent_id)

    def _set_recording_paused(self, pause: bool, now: datetime, *, by: str) -> list[Command]:
        talk = self.conversation
        assert talk.recording is not None
        talk.recording_paused = pause
        out: list[Command]
        if pause:
            limit = timedelta(seconds=self.settings.recording_resume_s)
            out = [PauseRecording(talk.recording),
                   self._timers.start("recording_resume", now + limit)]
        else:
            out = [ResumeRecording(talk.recording)]
            if self._timers.is_armed("recording_resume"):
                out.append(self._timers.cancel("recording_resume"))
        out.append(self._note(now, "recording_paused" if pause else "recording_resumed", by=by))
        return out + self._publish(now)

    def _on_recording_resume_due(self, now: datetime) -> list[Command]:
        """The campaign's pause limit passed: the recording resumes by itself."""
        talk = self.conversation
        if not talk.recording_paused or talk.recording is None or self.state is CallState.ENDED:
            return []
        return self._set_recording_paused(False, now, by="limit")

    def _on_recording_failed(self, ev: RecordingFailed, now: datetime) -> list[Command]:
        talk = self.conversation
        if ev.name not in talk.recordings:
            return []
        if ev.name != talk.recording:
            # An earlier recording (before the room moved): the current one goes on.
            return [self._note(now, "recording_failed", name=ev.name, cause=ev.cause)]
        talk.recording_failed = ev.cause or "failed"
        talk.recording = None
        talk.recording_paused = False
        return [self._note(now, "recording_failed", name=ev.name, cause=ev.cause),
                *self._publish(now)]

    # ------------------------------------------------------------ the parties

    def _on_party_leg_event(self, ev: _PartyLegEvent, now: datetime) -> list[Command]:
        party = self.conversation.party_of_channel(ev.channel_id)
        if party is None:
            return []  # a party that left already: late news
        match ev:
            case OriginateRefused() if ev.status != 409:
                return self._party_gone(party, now, f"refused: {ev.status} {ev.reason}", gone=True)
            case CallRinging():
                return self.conversation.party_ringing(party)
            case CallAnswered() if party.state is PartyState.DIALING:
                return self._party_answered(party, now)
            case DialFailed() if ev.dialstatus.is_final and ev.dialstatus is not DialStatus.ANSWER:
                if party.state is not PartyState.DIALING:
                    return []
                why = f"dialstatus={ev.dialstatus.value}"
                return [Hangup(party.channel_id)] + self._party_gone(party, now, why, gone=True)
            case ChannelGone():
                return self._party_gone(party, now, f"hung up (cause {ev.cause})", gone=True)
        return []

    def _party_answered(self, party: Party, now: datetime) -> list[Command]:
        talk = self.conversation
        out = talk.party_joins(party, now)
        if talk.transfer_pending is party:
            out += self._transfer_lands(party, now)
        out.append(self._note(now, "party_joined", party=party.party_id, party_kind=party.kind.value,
                              label=party.label, agent=party.agent_id))
        return out + self._publish(now)

    def _transfer_lands(self, party: Party, now: datetime) -> list[Command]:
        """A blind transfer's party answered: the customer joins it; an agent takes control."""
        talk = self.conversation
        talk.transfer_pending = None
        return self._hand_to(party.agent_id, now) + talk.customer_into_room()

    def _hand_to(self, agent_id: str | None, now: datetime) -> list[Command]:
        """Control goes to ``agent_id`` (None: no agent of ours is left in the call)."""
        self.conversation.controller = agent_id
        return [] if agent_id is None else [self._note(now, "in_control", agent=agent_id)]

    def _on_party_agent_event(self, ev: AgentRona | AgentLegLost, now: datetime) -> list[Command]:
        """A consulted agent's machine gave up on its phone (RONA) or lost its line."""
        party = self.conversation.party_of_agent(ev.agent_id)
        if party is None:
            return []
        if isinstance(ev, AgentRona) and party.state is not PartyState.DIALING:
            return []
        return self._party_gone(party, now, "rona" if isinstance(ev, AgentRona) else
                                "agent's phone leg lost", gone=False)

    def _party_gone(self, party: Party, now: datetime, why: str, *, gone: bool) -> list[Command]:
        """A party leaves (hung up, never answered, dropped); then what is left of the call."""
        talk = self.conversation
        was_controller = party.agent_id is not None and party.agent_id == talk.controller
        pending = talk.transfer_pending is party
        consulted = talk.consulted() is party
        out = talk.party_leaves(party, now, why, gone=gone)
        out.append(self._note(now, "party_left", party=party.party_id, party_kind=party.kind.value,
                              agent=party.agent_id, seconds=round(party.seconds(now), 3),
                              why=why))
        if pending:
            # Nobody took the blind transfer and its agent is in wrap-up: the customer
            # would wait on music for ever. The history says why the call ended.
            self.detail = f"transfer to {party.label} failed: {why}"
            out.append(self._note(now, "transfer_failed", party=party.party_id, why=why))
            return out + [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if was_controller and talk.mode == CallMode.CONSULT:
            return out + self._consulting_agent_gone(now, by=party.agent_id or "")
        if was_controller:
            talk.controller = None
            new = talk.pass_control()
            if new is not None:
                out.append(self._note(now, "control_passed", to=new))
                out += self._hand_to(new, now)
        if consulted:
            talk.mode = CallMode.TALK
            out += talk.customer_into_room()
            if talk.controller is not None:
                out.append(NotifyAgent(talk.controller, ConsultEnd(talk.controller, self.attempt_id)))
        return out + self._after_someone_left(now)

    def _primary_leaves(self, now: datetime, by: str) -> list[Command]:
        """The agent in control leaves; the history keeps how long they were in the call."""
        talk = self.conversation
        since = talk.connected_at if talk.primary_present else None
        party = None if talk.primary_present else talk.party_of_agent(by)
        seconds = ((now - since).total_seconds() if since is not None
                   else party.seconds(now) if party is not None else 0.0)
        out = talk.primary_leaves(now)
        out.append(self._note(now, "agent_left", agent=by, seconds=round(seconds, 3)))
        return out

    def _consulting_agent_gone(self, now: datetime, *, by: str) -> list[Command]:
        """The agent in control left in the middle of their consultation (hung up, lost
        their line): an answered consulted party is put through to the customer (as a
        phone's attended transfer does); one still ringing is dropped."""
        talk = self.conversation
        other = talk.consulted()
        talk.controller = None
        talk.mode = CallMode.TALK
        out: list[Command] = []
        if other is not None and other.state is not PartyState.DIALING:
            out += talk.party_into_room(other) + talk.customer_into_room()
            out.append(self._note(now, "transfer", by=by, party=other.party_id,
                                  party_kind=other.kind.value, label=other.label,
                                  agent=other.agent_id, blind=False))
            out += self._hand_to(other.agent_id, now)
        else:
            if other is not None:
                out += talk.party_leaves(other, now, "the consulting agent left")
            out += talk.customer_into_room()
        return out + self._after_someone_left(now)

    def _agent_line_gone(self, now: datetime, agent_id: str) -> list[Command] | None:
        """The primary agent's line ended (per-call leg hung up, nailed line lost) while in
        control: a consultation answered becomes a transfer, a conference goes on without
        them; None when the call ends with them (the caller's usual path)."""
        talk = self.conversation
        if talk.controller != agent_id or talk.primary_left:
            return None
        if talk.mode == CallMode.CONSULT:
            party = talk.consulted()
            if party is not None and party.state is not PartyState.DIALING:
                return self._on_transfer(TransferRequest(agent_id, self.attempt_id), now)
            return None
        if talk.mode in (CallMode.CONFERENCE, CallMode.POST_CALL) and (
                talk.participants() - 1 >= 2 or not talk.customer_present):
            return self._controller_leaves(now, by=agent_id)
        return None

    def _controller_leaves(self, now: datetime, *, by: str) -> list[Command]:
        talk = self.conversation
        out = self._primary_leaves(now, by)
        new = talk.pass_control()
        out.append(self._note(now, "control_passed", by=by, to=new))
        out += self._hand_to(new, now)
        return out + self._after_someone_left(now)

    def _after_someone_left(self, now: datetime) -> list[Command]:
        """Fewer people in the call: a conference of two is a plain call again; one person
        left alone (after a customer left, or with nobody to talk to) is hung up."""
        talk = self.conversation
        left = talk.participants()
        if talk.mode == CallMode.POST_CALL or not talk.customer_present:
            if left <= 1:
                return self._end(now)  # post-call with one participant left: over
            return self._publish(now)
        if left <= 1:
            # The customer alone: nobody of ours or theirs is left to talk to.
            return [Hangup(self.customer_channel_id)] + self._hanging_up(now)
        if talk.mode == CallMode.CONFERENCE and left == 2:
            talk.mode = CallMode.TALK
            told, talk.conference_told = talk.conference_told, None
            if told is not None and told == talk.controller:
                # Only the agent told ConferenceStart is told it ended (another agent who
                # took control inside the conference never left On call).
                return [NotifyAgent(told, ConferenceEnd(told, self.attempt_id)),
                        *self._publish(now)]
        return self._publish(now)

    def _customer_left_conference(self, now: datetime) -> list[Command]:
        """The customer hung up in a conference of three or more: the attempt's outcome is
        written now; the others talk on (post-call) until one is left."""
        talk = self.conversation
        talk.customer_present = False
        talk.mode = CallMode.POST_CALL
        out: list[Command] = [self._note(now, "customer_left", participants=talk.participants())]
        self.ended_at = now
        self._ring_seconds = self.ring_seconds(now)
        if self.attempt_recorded and not self.outcome_written:
            self.outcome_written = True
            out.append(self._outcome_record(now))
        return out + self._publish(now)

    def _note(self, now: datetime, what: str, **data: object) -> NoteCall:
        return NoteCall(self.attempt_id, what, now, {k: v for k, v in data.items() if v is not None})
