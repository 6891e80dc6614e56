"""Agents: one logged-in agent's state machine, their phone, and who takes which call.

* ``machine``: :class:`AgentMachine`, the agent's life from login to wrap-up, and
  the requests it allows; its states and reason codes are in ``states``.
* ``phone``: the agent's phone: per-call ringing or a leg kept up (:class:`Station`),
  and :class:`AgentLeg`, what a call is told about it.
* ``distribution``: the campaign's rule for which agent takes which call.
* ``events`` / ``commands``: the machine's inputs and outputs.
"""

from orchestrator.core.agents.distribution import (
    CallDistributor,
    longest_idle,
)
from orchestrator.core.agents.machine import AgentMachine
from orchestrator.core.agents.phone import (
    STATION_RING_S,
    AgentLeg,
    LegState,
    PhoneMode,
    Station,
)
from orchestrator.core.agents.states import (
    LOGIN_REASON,
    PHONE_FAULTS_MAX,
    PHONE_LOST_REASON,
    PHONE_RETRY_FIRST_S,
    PHONE_RETRY_MAX_S,
    PHONE_UNREACHABLE_REASON,
    RONA_REASON,
    AgentState,
    AgentStateError,
)

__all__ = [
    "AgentLeg",
    "AgentMachine",
    "AgentState",
    "AgentStateError",
    "CallDistributor",
    "LegState",
    "LOGIN_REASON",
    "longest_idle",
    "PHONE_FAULTS_MAX",
    "PHONE_LOST_REASON",
    "PHONE_RETRY_FIRST_S",
    "PHONE_RETRY_MAX_S",
    "PHONE_UNREACHABLE_REASON",
    "PhoneMode",
    "RONA_REASON",
    "Station",
    "STATION_RING_S",
]
