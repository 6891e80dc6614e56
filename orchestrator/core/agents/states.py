"""An agent's states (MISSION D), the reason codes of Not ready, and the error a
request the state does not allow raises."""

from __future__ import annotations

from enum import StrEnum

from orchestrator.core.common import Event

__all__ = [
    "LOGIN_REASON",
    "PHONE_FAULTS_MAX",
    "PHONE_LOST_REASON",
    "PHONE_RETRY_FIRST_S",
    "PHONE_RETRY_MAX_S",
    "PHONE_UNREACHABLE_REASON",
    "RONA_REASON",
    "AgentState",
    "AgentStateError",
]

RONA_REASON = "RONA"
"Not-ready reason after an offered call was not answered."
PHONE_LOST_REASON = "phone_lost"
"Not-ready reason when the agent's nailed-up line dropped or could not be dialed."
PHONE_UNREACHABLE_REASON = "Phone unreachable"
"Not-ready reason when the agent's phone could not be made to ring (not a RONA)."
#: After this many phone faults in a row the agent stays Not ready until they say Ready.
PHONE_FAULTS_MAX = 3
#: Back-off before the next offer after a phone fault: doubles per fault, up to the max.
PHONE_RETRY_FIRST_S = 5.0
PHONE_RETRY_MAX_S = 300.0
LOGIN_REASON = "login"
"Not-ready reason right after login."


class AgentState(StrEnum):
    """Agent states (MISSION D)."""

    LOGGED_OUT = "logged_out"
    NOT_READY = "not_ready"
    AVAILABLE = "available"
    RESERVED = "reserved"
    RINGING = "ringing"
    ON_CALL = "on_call"
    HOLD = "hold"
    CONSULTING = "consulting"
    CONFERENCING = "conferencing"
    WRAP_UP = "wrap_up"


class AgentStateError(Exception):
    """An event the agent's current state does not allow."""

    def __init__(self, agent_id: str, state: AgentState, event: Event, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(
            f"agent {agent_id}: {type(event).__name__} not allowed in state {state.value}{detail}"
        )
        self.state = state
        self.event = event
        self.why = why or f"not allowed while {state.value.replace('_', ' ')}"
        "The rule that refused, in words (what an API caller is told)."
