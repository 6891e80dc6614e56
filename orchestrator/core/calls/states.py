"""The phases of one attempt, and what an agent's request refused by them raises."""

from __future__ import annotations

from enum import StrEnum

from orchestrator.core.common import Event
from orchestrator.core.telephony.events import DialStatus

__all__ = [
    "GONE_GUARD_S",
    "MEDIA_GUARD_S",
    "RING_GUARD_S",
    "UNSTAFFED_DETAIL",
    "CallControlError",
    "CallState",
]

#: Extra wait after the originate timeout before we stop trusting Asterisk to report.
RING_GUARD_S = 15.0
#: Longest wait for ChannelDestroyed after we hung up.
GONE_GUARD_S = 10.0
#: Longest information / voicemail message we wait for.
MEDIA_GUARD_S = 90.0
#: Detail of a call hung up before answer because its campaign has no agent left.
UNSTAFFED_DETAIL = "cancelled by the dialer: no agent staffed"


class CallState(StrEnum):
    """Life-cycle phase of one attempt (the outcome is kept apart)."""

    CREATED = "created"
    AGENT_DIALING = "agent_dialing"
    "Agent first: the agent's per-call leg is ringing; the customer is not dialed yet."
    ORIGINATING = "originating"
    RINGING = "ringing"
    AMD = "amd"
    "Answered; waiting for the AMD verdict."
    LIVE = "live"
    "Answered by a person (or a machine passed to agents); waiting for an agent."
    CONNECTING = "connecting"
    "An agent was assigned; their per-call leg is ringing."
    BRIDGED = "bridged"
    VOICEMAIL = "voicemail"
    "Leaving the campaign's message on an answering machine."
    ABANDONING = "abandoning"
    "Playing the information message to an abandoned customer."
    HANGING_UP = "hanging_up"
    "Outcome known; waiting for the customer channel to be destroyed."
    ENDED = "ended"


class CallControlError(Exception):
    """A request (from an agent) that the call's state does not allow."""

    def __init__(self, attempt_id: str, state: CallState, event: Event, why: str) -> None:
        super().__init__(
            f"call {attempt_id}: {type(event).__name__} refused in state {state.value}: {why}"
        )
        self.state = state
        self.event = event
        self.why = why
        "The rule that refused, in words (what an API caller is told)."


BEFORE_ANSWER = frozenset({CallState.ORIGINATING, CallState.RINGING})
"The customer is dialed and not answered yet."
WAITING_AGENT = frozenset({CallState.LIVE, CallState.CONNECTING})
"The customer answered and waits for an agent (the grace runs)."
AGENT_LEG_RINGING = frozenset({CallState.AGENT_DIALING, CallState.CONNECTING})
"The agent's per-call leg is being dialed."
#: Dial statuses that prove the agent's phone was reached (it rang, or is busy on a call).
PHONE_REACHED = frozenset({DialStatus.NOANSWER, DialStatus.BUSY, DialStatus.CANCEL})
