"""The people a call reaches beyond its customer and primary agent: consulted agents,
dialed numbers, queues and entry points (MISSION E).

A :class:`Party` is one leg the call control brought in: dialed by the call itself
(``own_leg``: hung up when the party leaves) or an agent's nailed-up line borrowed from
the agent's own bridge (moved back there when the party leaves). The
:class:`~orchestrator.core.calls.conversation.Conversation` keeps them; what each
request does with them is in :mod:`~orchestrator.core.calls.control`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "MAX_PARTICIPANTS",
    "PARTY_LEG_PREFIX",
    "Party",
    "PartyKind",
    "PartyState",
    "consult_number",
]

MAX_PARTICIPANTS = 8
"""A conference holds at most this many, customer and agents included (MISSION E)."""

PARTY_LEG_PREFIX = "party"
"""A party leg's channel id is ``party<N>:<attempt id>``: never a prefix of the customer's
(the attempt id) nor of another party's, ignoring case (narrow surprise 31)."""

_KEPT = re.compile(r"[^0-9+#*:]")


def consult_number(raw: str) -> str:
    """A number an agent typed to consult or transfer: digits and ``+ # * :`` kept, every
    other character (spaces, dashes, dots, brackets) dropped; 3 to 18 characters left, or
    ValueError naming the field. The dial-string gate checks it again before it is dialed."""
    if not isinstance(raw, str):
        raise ValueError("number: must be text")
    kept = _KEPT.sub("", raw)
    if not 3 <= len(kept) <= 18:
        raise ValueError(f"number: 3 to 18 digits (+ # * : kept, other characters dropped); "
                         f"{len(kept)} left")
    if not any(ch.isdigit() for ch in kept):
        raise ValueError("number: no digit in it")
    return kept


class PartyKind(StrEnum):
    """Whom a consultation or transfer reaches."""

    AGENT = "agent"
    "Another agent of the dialer, on their phone."
    NUMBER = "number"
    "A number dialed through the transfer dial string."
    QUEUE = "queue"
    "A campaign's agents: the longest idle one, never the transferring agent."
    ENTRY = "entry"
    "An entry point of the dialplan (an IVR, a message)."


class PartyState(StrEnum):
    """Where a party is."""

    DIALING = "dialing"
    "Its leg rings."
    TALKING = "talking"
    "In the call's bridge."
    HELD = "held"
    "Out of the bridge, hearing music (the agent talks to the customer meanwhile)."
    GONE = "gone"
    "Left, hung up, or never answered."


@dataclass(slots=True)
class Party:
    """One party the call control brought into the call."""

    party_id: str
    "``p1``, ``p2``... in order of arrival."
    kind: PartyKind
    label: str
    "What the agent sees: an agent's id, a queue's name, a number (masked when the campaign masks)."
    channel_id: str
    endpoint: str
    asked_at: datetime
    agent_id: str | None = None
    "The dialer's agent on this leg, if any."
    home_bridge: str | None = None
    "An agent's nailed-up line is borrowed from this bridge and goes back to it."
    state: PartyState = PartyState.DIALING
    joined_at: datetime | None = None
    left_at: datetime | None = None
    why_left: str = ""

    @property
    def own_leg(self) -> bool:
        """True when the call dialed this leg (it is hung up when the party leaves)."""
        return self.home_bridge is None

    @property
    def present(self) -> bool:
        """Dialing, talking or held: counts towards the conference's size."""
        return self.state is not PartyState.GONE

    def seconds(self, now: datetime) -> float:
        """How long the party was in the call (0 if it never answered)."""
        if self.joined_at is None:
            return 0.0
        return max(0.0, ((self.left_at or now) - self.joined_at).total_seconds())

    def view(self, now: datetime) -> dict[str, object]:
        """What the agent desktop shows of the party."""
        return {"party_id": self.party_id, "kind": self.kind.value, "label": self.label,
                "agent_id": self.agent_id, "state": self.state.value,
                "joined_at": self.joined_at.isoformat() if self.joined_at else None,
                "seconds": round(self.seconds(now), 1)}
