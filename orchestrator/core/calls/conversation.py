"""The conversation of one call: who is in it, their legs, the bridge, hold, recording.

Today two parties: the customer (the attempt's channel) and at most one agent,
reached on a leg of their own that is already up (nailed-up line, preview
reservation call) or on a per-call leg the conversation dials. It is the room
where consultation, transfer, conference and snoop go.

A :class:`Conversation` changes only its own state and returns the commands for
the legs, the bridge and the agent's machine. The attempt's life (its state,
timers and outcome) belongs to the :class:`~orchestrator.core.calls.CallMachine`
that owns it, which decides when each step happens.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator.core.agents.events import (
    AgentCallEnded,
    AgentConnected,
    AgentLegAnswered,
    AgentLegRinging,
    AgentReleased,
    AgentRona,
)
from orchestrator.core.agents.phone import AgentLeg
from orchestrator.core.calls.plan import AGENT_LEG_PREFIX
from orchestrator.core.calls.room import Room
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.core.common import Command, NotifyAgent
from orchestrator.core.telephony.commands import (
    AddToBridge,
    CreateBridge,
    Hangup,
    Hold,
    Originate,
    Play,
    Record,
    StartMoh,
    StopMoh,
    StopRecording,
    Unhold,
)

__all__ = ["Conversation"]


class Conversation(Room):
    """The parties of one call and the room they talk in; see the module docstring."""

    def __init__(
        self, attempt_id: str, settings: CampaignSettings, agent: AgentLeg | None
    ) -> None:
        self.attempt_id = attempt_id
        self.customer_channel_id = attempt_id
        "The customer's channel id is the attempt id (a retried originate is refused)."
        self.settings = settings
        self.agent = agent
        "The agent the call is reserved for, if any."
        self.agent_told = False
        "The agent's machine was told how this call ends for them (released, RONA, ended)."
        self.bridge_id: str | None = None
        self.recording: str | None = None
        self.held = False
        self.connected = False
        "The customer was bridged with the agent."
        self.connected_at: datetime | None = None
        # Per-call agent leg, when this conversation dials the agent's phone itself.
        self.agent_leg_id: str | None = None
        self.agent_leg_up = False
        self.agent_leg_alive = False
        self.agent_phone_rang = False
        "The agent's machine was told their phone rings (starts its RONA countdown)."
        self._init_room()

    # ------------------------------------------------------------ who is here

    @property
    def agent_id(self) -> str | None:
        """The reserved agent's id, if any."""
        return self.agent.agent_id if self.agent else None

    @property
    def talker_id(self) -> str | None:
        """The agent the attempt is recorded against: the last one in control of the call
        (after a transfer, the agent who took it), if any agent talked to the customer."""
        if not self.connected:
            return None
        return self.last_controller or (self.agent.agent_id if self.agent else None)

    def has_agent(self, agent_id: str) -> bool:
        """True when ``agent_id`` is the agent of this call."""
        return self.agent is not None and self.agent.agent_id == agent_id

    # ---------------------------------------------------- the reserved agent

    def reserve(self, agent: AgentLeg) -> None:
        """An agent was assigned to the waiting customer."""
        self.agent = agent
        self.agent_told = False

    def release(self, why: str) -> list[Command]:
        """Free a reserved agent who will not talk to this customer."""
        if self.agent is None or self.agent_told or self.connected:
            return []
        self.agent_told = True
        return [self.turn_away(self.agent.agent_id, why)]

    def turn_away(self, agent_id: str, why: str) -> NotifyAgent:
        """Tell an agent they are not (or no longer) reserved for this call."""
        return NotifyAgent(agent_id, AgentReleased(agent_id, self.attempt_id, why))

    def let_agent_go(self, why: str) -> list[Command]:
        """The reserved agent's own line died before the customer reached them: free
        them (unless told already) and forget them, so another agent can be found."""
        assert self.agent is not None
        out: list[Command] = [] if self.agent_told else [self.turn_away(self.agent.agent_id, why)]
        self.agent = None
        self.agent_told = False
        return out

    def forget_agent(self) -> None:
        """The agent could not be reached on a per-call leg: forget them and the leg."""
        self.agent = None
        self.agent_leg_id = None
        self.agent_leg_alive = False

    def agent_rona_reported(self) -> None:
        """The agent's machine reported the RONA itself (it went Not ready): nothing to tell it."""
        self.agent_told = True

    def tell_rona(self, phone_failed: bool) -> list[Command]:
        """Tell the agent's machine its phone did not take the call (once).

        ``phone_failed``: the phone never rang, a phone fault rather than a RONA.
        """
        assert self.agent is not None
        if self.agent_told:
            return []
        self.agent_told = True
        agent_id = self.agent.agent_id
        return [NotifyAgent(agent_id, AgentRona(agent_id, self.attempt_id,
                                                phone_failed=phone_failed))]

    # ------------------------------------------------------ the agent's leg

    @property
    def agent_on_own_leg(self) -> bool:
        """True when the agent's leg is already up in their own bridge (no per-call leg)."""
        assert self.agent is not None
        return self.agent.up

    def dial_agent_leg(self) -> list[Command]:
        """Ring the agent's phone for this call."""
        agent = self.agent
        assert agent is not None
        # The distinguishing part first: Asterisk refuses a new channel id that is a prefix
        # of an existing one, ignoring case ("<attempt>:agent" made the customer's
        # "<attempt>" a 409, narrow surprise 31). See prefix_clash().
        self.agent_leg_id = f"{AGENT_LEG_PREFIX}{self.attempt_id}"
        self.agent_leg_alive = True
        self.agent_leg_up = False
        self.agent_phone_rang = False
        return [
            Originate(
                channel_id=self.agent_leg_id,
                endpoint=agent.endpoint,
                caller_id=self.settings.caller_id,
                # The agent machine's RONA timer decides; this is a backstop.
                timeout_s=self.settings.rona_s + self.settings.ring_setup_allowance_s,
                attempt_id=self.attempt_id,
                variables={"DIALER_ATTEMPT": self.attempt_id, "DIALER_AGENT": agent.agent_id},
                app_args=("agent", self.attempt_id, agent.agent_id),
            )
        ]

    def agent_leg_ringing(self) -> list[Command]:
        """The per-call leg rings: the agent's machine starts its RONA countdown (once)."""
        if self.agent_phone_rang or self.agent is None:
            return []
        self.agent_phone_rang = True
        agent_id = self.agent.agent_id
        return [NotifyAgent(agent_id, AgentLegRinging(agent_id, self.attempt_id))]

    def agent_leg_answered(self) -> list[Command]:
        """The agent picked up the per-call leg: it goes into a bridge of the call's own."""
        assert self.agent is not None and self.agent_leg_id is not None
        self.agent_leg_up = True
        agent_id = self.agent.agent_id
        self.bridge_id = f"{self.attempt_id}:bridge"
        return [
            NotifyAgent(agent_id, AgentLegAnswered(agent_id, self.attempt_id)),
            CreateBridge(self.bridge_id),
            AddToBridge(self.bridge_id, self.agent_leg_id),
        ]

    def agent_leg_ended(self) -> None:
        """Asterisk reports the per-call leg gone (or never made)."""
        self.agent_leg_alive = False

    def hang_up_agent_leg(self) -> list[Command]:
        """Hang up the per-call leg while it lives.

        The leg still counts as alive afterwards, until Asterisk reports it gone or the
        call ends; a call ending at once hangs it up a second time (a harmless 404).
        """
        if self.agent_leg_alive and self.agent_leg_id is not None:
            return [Hangup(self.agent_leg_id)]
        return []

    def drop_pending_agent_leg(self) -> list[Command]:
        """Hang up a per-call agent leg still ringing (the customer no longer waits)."""
        if self.agent_leg_id is None or self.agent_leg_up or not self.agent_leg_alive:
            return []
        self.agent_leg_alive = False
        return [Hangup(self.agent_leg_id)]

    def cancel_agent_leg(self, agent_id: str, why: str) -> list[Command]:
        """The agent cancels before the customer was dialed: hang up their leg, free them."""
        self.agent_told = True
        out: list[Command] = [Hangup(self.agent_leg_id)] if self.agent_leg_id else []
        return out + [self.turn_away(agent_id, why)]

    # ------------------------------------------------------------ the bridge

    def use_agent_bridge(self) -> None:
        """Agent first on a leg already up: the customer will be dialed into its bridge."""
        assert self.agent is not None
        self.bridge_id = self.agent.bridge_id

    def join_agent_bridge(self) -> list[Command]:
        """Customer first, the agent's leg already up: bring the customer to it."""
        agent = self.agent
        assert agent is not None and agent.bridge_id is not None
        assert agent.channel_id is not None
        self.bridge_id = agent.bridge_id
        out: list[Command] = [AddToBridge(agent.bridge_id, self.customer_channel_id)]
        if self.settings.zip_tone:
            # Played on the agent's channel only: the customer never hears it.
            out.append(
                Play(
                    playback_id=f"{self.attempt_id}:zip",
                    media=self.settings.zip_tone,
                    channel_id=agent.channel_id,
                )
            )
        return out

    def bring_customer(self) -> list[Command]:
        """Customer first, per-call leg just answered: the waiting customer joins it."""
        assert self.bridge_id is not None
        return [AddToBridge(self.bridge_id, self.customer_channel_id)]

    def connect(self, now: datetime) -> list[Command]:
        """Customer and agent are bridged: tell the agent, record if the campaign asks."""
        assert self.agent is not None
        self.connected = True
        self.connected_at = now
        agent_id = self.agent.agent_id
        self.controller = agent_id
        out: list[Command] = [NotifyAgent(agent_id, AgentConnected(agent_id, self.attempt_id))]
        if self.settings.recording and self.bridge_id is not None:
            self.recording = f"{self.attempt_id}"
            self.recordings.append(self.recording)
            out.append(Record(name=self.recording, bridge_id=self.bridge_id))
        return out

    # ------------------------------------------------------------------ hold

    def hold(self) -> list[Command]:
        """Put the customer on hold, with music."""
        self.held = True
        return [
            Hold(self.customer_channel_id),
            StartMoh(self.customer_channel_id, self.settings.moh_class),
        ]

    def unhold(self) -> list[Command]:
        """Take the customer off hold."""
        self.held = False
        return [StopMoh(self.customer_channel_id), Unhold(self.customer_channel_id)]

    def forget_hold(self) -> None:
        """Whoever held the customer is gone: the call is hanging up anyway."""
        self.held = False

    # ------------------------------------------------------------------- end

    def close(self, now: datetime) -> list[Command]:
        """The call ended: tell the agent (ended or released), hang up their per-call leg,
        stop the recording; every other party leaves."""
        out: list[Command] = self.close_room(now)
        if self.agent is not None and not self.agent_told:
            self.agent_told = True
            agent_id = self.agent.agent_id
            if self.connected:
                out.append(NotifyAgent(agent_id, AgentCallEnded(agent_id, self.attempt_id)))
            else:
                out.append(self.turn_away(agent_id, "call ended"))
        if self.agent_leg_id is not None and self.agent_leg_alive:
            self.agent_leg_alive = False
            out.append(Hangup(self.agent_leg_id))
        if self.recording is not None:
            out.append(StopRecording(self.recording))
            self.recording = None
        self.held = False
        self.customer_present = False
        return out
