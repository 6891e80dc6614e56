"""Moving the call's parties in and out of its bridge (the room), for call control.

Who hears whom is decided by bridge membership only: a party on hold is taken out of
the room and hears music (a channel in Stasis and in no bridge hears only what is played
to it), so a consultation is never heard by the customer, on Asterisk as on pbxsim.
An agent's nailed-up line is borrowed from the agent's own bridge and moved back there.

:class:`Room` is a base of :class:`~orchestrator.core.calls.conversation.Conversation`:
these methods change the conversation's own state and return the commands for the legs
and bridges; the handlers of :mod:`~orchestrator.core.calls.control` decide when.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.core.agents.events import (
    AgentCallEnded,
    AgentConnected,
    AgentLeftCall,
    AgentLegAnswered,
    AgentLegRinging,
    AgentReleased,
)
from orchestrator.core.agents.phone import AgentLeg
from orchestrator.core.calls.parties import PARTY_LEG_PREFIX, Party, PartyKind, PartyState
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.core.common import Command, NotifyAgent
from orchestrator.core.telephony.commands import (
    AddToBridge,
    CreateBridge,
    DestroyBridge,
    Hangup,
    Originate,
    PauseRecording,
    Record,
    RemoveFromBridge,
    StartMoh,
    StopMoh,
    StopRecording,
    Unhold,
)

__all__ = ["CallMode", "Room"]


class CallMode:
    """What the connected call is doing (plain strings: shown as they are)."""

    TALK = "talk"
    "Customer and the agent in control."
    CONSULT = "consult"
    "The agent talks to a consulted party, or has switched back to the customer."
    CONFERENCE = "conference"
    "Everyone in the room."
    POST_CALL = "post_call"
    "The customer left a conference; the others talk on until one is left."


class Room:
    """The parties beyond customer and primary agent, and moving legs in and out."""

    attempt_id: str
    customer_channel_id: str
    settings: CampaignSettings
    agent: AgentLeg | None
    agent_leg_id: str | None
    agent_leg_alive: bool
    agent_told: bool
    bridge_id: str | None
    recording: str | None
    held: bool

    def _init_room(self) -> None:
        self.parties: list[Party] = []
        self.mode = CallMode.TALK
        self._controller: str | None = None
        self.last_controller: str | None = None
        "The last agent in control: the attempt's agent in the ledger (it dispositions)."
        self.primary_left = False
        "The call's first agent has left it (transfer, or left a conference)."
        self.customer_out = False
        "The customer is out of the room, hearing music (consultation)."
        self.customer_present = True
        self.transfer_pending: Party | None = None
        "A blind transfer's party, still ringing; the customer waits on music."
        self.recording_paused = False
        self.recording_failed = ""
        self.conference_told: str | None = None
        "The agent whose machine was told ConferenceStart (it is told ConferenceEnd)."
        self.recordings: list[str] = []
        "Every recording of the call, in order (a move to a new room starts another)."
        self._party_seq = 0
        self._room_seq = 0

    @property
    def controller(self) -> str | None:
        """The agent in control (the primary agent): the only one whose requests count."""
        return self._controller

    @controller.setter
    def controller(self, agent_id: str | None) -> None:
        self._controller = agent_id
        if agent_id is not None:
            self.last_controller = agent_id

    # -------------------------------------------------------------- who is here

    def present_parties(self) -> list[Party]:
        return [p for p in self.parties if p.present]

    def party_of_channel(self, channel_id: str) -> Party | None:
        for p in self.parties:
            if p.channel_id == channel_id and p.present:
                return p
        return None

    def party_of_agent(self, agent_id: str) -> Party | None:
        for p in self.parties:
            if p.agent_id == agent_id and p.present:
                return p
        return None

    @property
    def party_channel_ids(self) -> tuple[str, ...]:
        return tuple(p.channel_id for p in self.parties if p.present and p.own_leg)

    @property
    def primary_present(self) -> bool:
        """The call's first agent is still in it."""
        return self.agent is not None and not self.primary_left

    def participants(self) -> int:
        """Customer, primary agent and parties present (ringing ones included)."""
        return int(self.customer_present) + int(self.primary_present) + len(self.present_parties())

    def consulted(self) -> Party | None:
        """The party of the consultation in progress."""
        if self.mode != CallMode.CONSULT:
            return None
        present = self.present_parties()
        return present[-1] if present else None

    # ------------------------------------------------------------ the customer

    def customer_out_of_room(self) -> list[Command]:
        """Take the customer out of the room, on music (a consultation starts)."""
        if self.customer_out or not self.customer_present:
            return []
        assert self.bridge_id is not None
        out: list[Command] = [RemoveFromBridge(self.bridge_id, self.customer_channel_id)]
        if self.held:
            # Held in the room already (music playing): the hold flag goes, the music stays.
            self.held = False
            out.append(Unhold(self.customer_channel_id))
        else:
            out.append(StartMoh(self.customer_channel_id, self.settings.moh_class))
        self.customer_out = True
        return out

    def customer_into_room(self) -> list[Command]:
        """Bring the customer back into the room."""
        if not self.customer_out or not self.customer_present:
            return []
        assert self.bridge_id is not None
        self.customer_out = False
        return [StopMoh(self.customer_channel_id),
                AddToBridge(self.bridge_id, self.customer_channel_id)]

    # ------------------------------------------------------------------ parties

    def add_party(self, kind: PartyKind, label: str, endpoint: str, now: datetime, *,
                  agent_id: str | None = None, channel_id: str | None = None,
                  home_bridge: str | None = None) -> tuple[Party, list[Command]]:
        """Bring a party in: ring its phone (or borrow an agent's line already up)."""
        self._party_seq += 1
        pid = f"p{self._party_seq}"
        if channel_id is not None:
            party = Party(pid, kind, label, channel_id, endpoint, now, agent_id=agent_id,
                          home_bridge=home_bridge)
            self.parties.append(party)
            return party, self.party_joins(party, now, moved=True)
        leg = f"{PARTY_LEG_PREFIX}{self._party_seq}:{self.attempt_id}"
        party = Party(pid, kind, label, leg, endpoint, now, agent_id=agent_id)
        self.parties.append(party)
        variables = {"DIALER_ATTEMPT": self.attempt_id, "DIALER_PARTY": pid}
        if agent_id is not None:
            variables["DIALER_AGENT"] = agent_id
        return party, [Originate(
            channel_id=leg, endpoint=endpoint, caller_id=self.settings.caller_id,
            timeout_s=self.settings.rona_s + self.settings.ring_setup_allowance_s,
            attempt_id=self.attempt_id, variables=variables,
            app_args=("party", self.attempt_id, pid))]

    def party_ringing(self, party: Party) -> list[Command]:
        if party.agent_id is None or party.state is not PartyState.DIALING:
            return []
        return [NotifyAgent(party.agent_id, AgentLegRinging(party.agent_id, self.attempt_id))]

    def party_joins(self, party: Party, now: datetime, *, moved: bool = False) -> list[Command]:
        """The party answered (or its line was borrowed): into the room."""
        assert self.bridge_id is not None
        party.state = PartyState.TALKING
        party.joined_at = now
        out: list[Command] = []
        if moved and party.home_bridge is not None:
            out.append(RemoveFromBridge(party.home_bridge, party.channel_id))
        out.append(AddToBridge(self.bridge_id, party.channel_id))
        if party.agent_id is not None:
            aid = party.agent_id
            out += [NotifyAgent(aid, AgentLegAnswered(aid, self.attempt_id)),
                    NotifyAgent(aid, AgentConnected(aid, self.attempt_id))]
        return out

    def party_out_of_room(self, party: Party) -> list[Command]:
        """Hold a party: out of the room, on music (the agent switched to the customer)."""
        if party.state is not PartyState.TALKING:
            return []
        assert self.bridge_id is not None
        party.state = PartyState.HELD
        return [RemoveFromBridge(self.bridge_id, party.channel_id),
                StartMoh(party.channel_id, self.settings.moh_class)]

    def party_into_room(self, party: Party) -> list[Command]:
        if party.state is not PartyState.HELD:
            return []
        assert self.bridge_id is not None
        party.state = PartyState.TALKING
        return [StopMoh(party.channel_id), AddToBridge(self.bridge_id, party.channel_id)]

    def party_leaves(self, party: Party, now: datetime, why: str, *,
                     gone: bool = False) -> list[Command]:
        """The party leaves the call: its own leg is hung up (unless already ``gone``), a
        borrowed line goes back to its agent's bridge; its agent is told (wrap-up only for
        the agent in control)."""
        if not party.present:
            return []
        was = party.state
        party.state = PartyState.GONE
        party.left_at = now
        party.why_left = why
        out: list[Command] = []
        if not gone:
            if party.own_leg:
                out.append(Hangup(party.channel_id))
            else:
                if was is PartyState.HELD:
                    out.append(StopMoh(party.channel_id))
                elif self.bridge_id is not None:
                    out.append(RemoveFromBridge(self.bridge_id, party.channel_id))
                assert party.home_bridge is not None
                out.append(AddToBridge(party.home_bridge, party.channel_id))
        if party.agent_id is not None:
            aid = party.agent_id
            if self.controller == aid:
                out.append(NotifyAgent(aid, AgentCallEnded(aid, self.attempt_id)))
            elif party.joined_at is None:
                out.append(NotifyAgent(aid, AgentReleased(aid, self.attempt_id, why)))
            else:
                out.append(NotifyAgent(aid, AgentLeftCall(aid, self.attempt_id, why)))
        if self.transfer_pending is party:
            self.transfer_pending = None
        return out

    # ---------------------------------------------------------- the primary agent

    def primary_leaves(self, now: datetime) -> list[Command]:
        """The agent in control leaves while others talk on: to wrap-up; the room moves
        off the agent's own bridge if the customer met them there (nailed-up line)."""
        out: list[Command] = []
        if self.agent is not None and not self.primary_left:
            aid = self.agent.agent_id
            self.primary_left = True
            if not self.agent_told:
                self.agent_told = True
                out.append(NotifyAgent(aid, AgentCallEnded(aid, self.attempt_id)))
            if self.agent_leg_id is not None and self.agent_leg_alive:
                self.agent_leg_alive = False
                out.append(Hangup(self.agent_leg_id))
            elif self.agent.bridge_id is not None and self.bridge_id == self.agent.bridge_id:
                out += self._move_room()
        else:
            party = self.party_of_agent(self.controller or "")
            if party is not None:
                out += self.party_leaves(party, now, "left the call")
        self.controller = None
        return out

    def _move_room(self) -> list[Command]:
        """Move everyone but the leaving agent to a bridge of the call's own."""
        old = self.bridge_id
        assert old is not None
        self._room_seq += 1
        new = f"{self.attempt_id}:room{self._room_seq}"
        self.bridge_id = new
        out: list[Command] = [CreateBridge(new)]
        if self.recording is not None:
            out.append(StopRecording(self.recording))
        movers = [p.channel_id for p in self.present_parties() if p.state is PartyState.TALKING]
        if self.customer_present and not self.customer_out:
            movers.insert(0, self.customer_channel_id)
        for cid in movers:
            out += [RemoveFromBridge(old, cid), AddToBridge(new, cid)]
        if self.recording is not None:
            self.recording = f"{self.attempt_id}_r{self._room_seq + 1}"
            self.recordings.append(self.recording)
            out.append(Record(name=self.recording, bridge_id=new))
            if self.recording_paused:
                # A pause keeps what must not be recorded (a card number) out of the file.
                out.append(PauseRecording(self.recording))
        return out

    def pass_control(self) -> str | None:
        """Control passes to the agent present longest (MISSION E); None if no agent is left."""
        agents = [p for p in self.present_parties()
                  if p.agent_id is not None and p.state is PartyState.TALKING]
        agents.sort(key=lambda p: p.joined_at or p.asked_at)
        self.controller = agents[0].agent_id if agents else None
        return self.controller

    def close_room(self, now: datetime) -> list[Command]:
        """The call is over: every party leaves, a room of the call's own is destroyed."""
        out: list[Command] = []
        for party in self.present_parties():
            out += self.party_leaves(party, now, "call ended")
        if self.bridge_id is not None and ":room" in self.bridge_id:
            out.append(DestroyBridge(self.bridge_id))
        return out
