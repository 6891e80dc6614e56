"""An agent's phone as the core sees it.

Two ways to reach it: per call (the call machine dials the agent's endpoint for
each call), or a leg this side keeps up, the :class:`Station`: a nailed-up line
dialed at login and kept open between calls, or a preview reservation call kept
until the previewed call ends. Either way the leg sits in the agent's own bridge,
where a call then brings its customer. :class:`AgentLeg` is what a call is told
about the phone of the agent it is reserved for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orchestrator.core.common import Command
from orchestrator.core.telephony.commands import (
    AddToBridge,
    CreateBridge,
    DestroyBridge,
    Hangup,
    Originate,
)

__all__ = ["STATION_RING_S", "AgentLeg", "LegState", "PhoneMode", "Station"]

#: How long the agent's phone may ring for a nailed-up line or reservation call.
STATION_RING_S = 30


class PhoneMode(StrEnum):
    """How the agent's phone is used."""

    PER_CALL = "per_call"
    NAILED_UP = "nailed_up"


class LegState(StrEnum):
    """State of the agent's own (nailed-up or reservation) leg."""

    DOWN = "down"
    DIALING = "dialing"
    UP = "up"


@dataclass(frozen=True, slots=True)
class AgentLeg:
    """The agent a call is reserved for, and their phone leg if it is already up."""

    agent_id: str
    "Agent."
    endpoint: str
    "Agent's phone endpoint, dialed per call when ``channel_id`` is None."
    channel_id: str | None = None
    "Leg already up (nailed-up line or preview reservation call)."
    bridge_id: str | None = None
    "Bridge holding that leg."

    def __post_init__(self) -> None:
        if (self.channel_id is None) != (self.bridge_id is None):
            raise ValueError("AgentLeg: channel_id and bridge_id go together")

    @property
    def up(self) -> bool:
        """True when the leg is already answered and sits in its bridge."""
        return self.channel_id is not None


class Station:
    """The agent's own leg and bridge: which leg is current, dialing it, dropping it.

    Only the bookkeeping of the phone lives here; what a leg that answers or drops
    means for the agent (Available, RONA, Not ready) is the agent machine's call.
    """

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.endpoint = ""
        self.mode = PhoneMode.PER_CALL
        self.leg_id: str | None = None
        self.leg_state = LegState.DOWN
        self.bridge_id = f"agent/{agent_id}/bridge"
        self.for_reservation = False
        "The current leg is a preview reservation call (it lives for one call)."
        self._bridge_made = False
        self._seq = 0
        self._epoch = ""

    @property
    def nailed_up(self) -> bool:
        """True when the agent keeps one line open between calls."""
        return self.mode is PhoneMode.NAILED_UP

    @property
    def up(self) -> bool:
        """True when the current leg is answered."""
        return self.leg_state is LegState.UP

    def new_epoch(self, now: datetime) -> None:
        """Start a new series of leg ids (at login).

        Leg ids carry the login instant: after a restart the sequence starts again while
        a leg of the previous life may still exist, and Asterisk refuses a new id that
        is a prefix of an existing one (narrow surprise 31: "...leg/1" vs "...leg/12").
        """
        self._epoch = f"{int(now.timestamp() * 1000):013d}"

    def plug(self, endpoint: str, nailed_up: bool) -> None:
        """The phone the agent logs in with."""
        self.endpoint = endpoint
        self.mode = PhoneMode.NAILED_UP if nailed_up else PhoneMode.PER_CALL

    def leg(self) -> AgentLeg:
        """What a call needs to reach this agent: the endpoint, and the leg if it is up."""
        if self.leg_state is LegState.UP and self.leg_id is not None:
            return AgentLeg(self.agent_id, self.endpoint, self.leg_id, self.bridge_id)
        return AgentLeg(self.agent_id, self.endpoint)

    def is_current(self, channel_id: str) -> bool:
        """True for the current leg, False for an earlier one (late event), else an error."""
        if channel_id == self.leg_id:
            return True
        prefix = f"agent/{self.agent_id}/leg/"
        if channel_id.startswith(prefix):
            return False
        raise ValueError(f"channel_id: {channel_id!r} is not agent {self.agent_id}'s leg")

    def dial(self, reservation: bool) -> list[Command]:
        """Ring the agent's phone for a new leg of our own."""
        self._seq += 1
        # Fixed-width, monotonic parts: no leg id is a prefix of another (surprise 31).
        self.leg_id = f"agent/{self.agent_id}/leg/{self._epoch}-{self._seq:06d}"
        self.leg_state = LegState.DIALING
        self.for_reservation = reservation
        return [
            Originate(
                channel_id=self.leg_id,
                endpoint=self.endpoint,
                caller_id="dialer",
                timeout_s=STATION_RING_S,
                variables={"DIALER_AGENT": self.agent_id},
                app_args=("agent", self.agent_id),
            )
        ]

    def answered(self) -> list[Command]:
        """The leg being dialed answered: put it in the agent's bridge (made once).

        Returns nothing when no leg was being dialed (a late or repeated answer).
        """
        if self.leg_state is not LegState.DIALING:
            return []
        assert self.leg_id is not None
        self.leg_state = LegState.UP
        out: list[Command] = []
        if not self._bridge_made:
            self._bridge_made = True
            out.append(CreateBridge(self.bridge_id))
        out.append(AddToBridge(self.bridge_id, self.leg_id))
        return out

    def lost(self) -> tuple[LegState, bool]:
        """The current leg is gone: forget it; returns its state before and whether it was
        a reservation call."""
        was, reservation = self.leg_state, self.for_reservation
        self.leg_state = LegState.DOWN
        self.leg_id = None
        self.for_reservation = False
        return was, reservation

    def drop_reservation_leg(self) -> list[Command]:
        """Hang up a reservation leg: it lives for one previewed call only."""
        if not self.for_reservation or self.leg_id is None:
            return []
        leg = self.leg_id
        self.leg_id = None
        self.leg_state = LegState.DOWN
        self.for_reservation = False
        return [Hangup(leg)]

    def unplug(self) -> list[Command]:
        """Logout: hang up the leg and destroy the agent's bridge."""
        out: list[Command] = []
        if self.leg_id is not None and self.leg_state is not LegState.DOWN:
            out.append(Hangup(self.leg_id))
        if self._bridge_made:
            out.append(DestroyBridge(self.bridge_id))
            self._bridge_made = False
        self.leg_id = None
        self.leg_state = LegState.DOWN
        self.for_reservation = False
        return out
