"""Calls: one outbound attempt, from dialing to its single final outcome.

* ``attempt``: :class:`CallMachine`, the attempt's life: originate, ring, AMD,
  answer, waiting for an agent, abandon, end, outcome. Its state and shared steps
  are in ``steps``, its handlers in ``customer_leg`` and ``agent_side``.
* ``conversation``: :class:`Conversation`, the call's room: its parties and their
  legs, the bridge, hold, recording (where consult, transfer, conference and snoop go).
* ``plan``: what to dial (:class:`CallPlan`), which leg first, the legs' channel ids.
* ``states``: the attempt's phases (:class:`CallState`) and :class:`CallControlError`.
* ``outcomes``: what a channel's end says about the outcome (causes, dial statuses).
* ``events`` / ``commands``: the call's own inputs and outputs.
"""

from orchestrator.core.agents.phone import AgentLeg
from orchestrator.core.calls.attempt import (
    Call,
    CallMachine,
)
from orchestrator.core.calls.commands import CallOutcome
from orchestrator.core.calls.conversation import Conversation
from orchestrator.core.calls.outcomes import (
    cause_of_dialstatus,
    classify_cause,
    classify_dialstatus,
    hangup_reason,
    no_answer_detail,
    no_answer_or_failed,
)
from orchestrator.core.calls.plan import (
    AGENT_LEG_PREFIX,
    CallFlow,
    CallPlan,
    prefix_clash,
)
from orchestrator.core.calls.states import (
    GONE_GUARD_S,
    MEDIA_GUARD_S,
    RING_GUARD_S,
    UNSTAFFED_DETAIL,
    CallControlError,
    CallState,
)

__all__ = [
    "AGENT_LEG_PREFIX",
    "AgentLeg",
    "Call",
    "CallControlError",
    "CallFlow",
    "CallMachine",
    "CallOutcome",
    "CallPlan",
    "CallState",
    "cause_of_dialstatus",
    "classify_cause",
    "classify_dialstatus",
    "Conversation",
    "GONE_GUARD_S",
    "hangup_reason",
    "MEDIA_GUARD_S",
    "no_answer_detail",
    "no_answer_or_failed",
    "prefix_clash",
    "RING_GUARD_S",
    "UNSTAFFED_DETAIL",
]
