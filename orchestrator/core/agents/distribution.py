"""Which agent takes which call: the campaign's distribution rule, in one place.

First come, first served on both sides. A customer who needs an agent now is
offered to the Available agents in turn, the one idle longest first; when none
takes them, the call waits in the campaign's queue. An agent who becomes
Available takes the call that has waited longest and still waits (calls that
ended or found an agent meanwhile drop out of the queue).

Reserving the agent (a step of their machine) can still be refused when the agent
changed state in between; the shell then offers the call to the next agent, or
puts the queued call back at the head with :meth:`CallDistributor.put_back`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime

from orchestrator.core.agents.machine import AgentMachine

__all__ = ["CallDistributor", "longest_idle"]


def longest_idle(agents: Iterable[AgentMachine]) -> list[AgentMachine]:
    """Available agents, the one waiting longest first (who gets the next call).

    Ties (same instant) go by agent id, so the order never depends on the input's.
    """
    ready = [a for a in agents if a.can_take_call]
    ready.sort(key=lambda a: (_since(a), a.agent_id))
    return ready


def _since(agent: AgentMachine) -> datetime:
    assert agent.state_since is not None  # set on every transition, login included
    return agent.state_since


class CallDistributor:
    """One campaign's distribution: the agents to offer a call to, and the calls waiting
    for an agent (attempt ids, oldest first). Pure: the shell reserves and assigns."""

    def __init__(self) -> None:
        self._waiting: deque[str] = deque()

    @property
    def waiting(self) -> tuple[str, ...]:
        """Calls queued for an agent, oldest first (some may have stopped waiting)."""
        return tuple(self._waiting)

    def agents_for_call(self, agents: Iterable[AgentMachine]) -> list[AgentMachine]:
        """The agents to offer a call that needs one now, in turn: idle longest first.

        Empty when nobody is Available: then :meth:`queue` the call.
        """
        return longest_idle(agents)

    def queue(self, attempt_id: str) -> None:
        """No agent took the call: it waits for the next agent who becomes Available."""
        self._waiting.append(attempt_id)

    def call_for_agent(self, still_waiting: Callable[[str], bool]) -> str | None:
        """The call an agent who just became Available takes: the oldest queued call for
        which ``still_waiting`` holds, taken off the queue with the stale ones before it.

        None when no queued call waits any more.
        """
        while self._waiting:
            attempt_id = self._waiting.popleft()
            if still_waiting(attempt_id):
                return attempt_id
        return None

    def put_back(self, attempt_id: str) -> None:
        """The agent could not be reserved after all: the call keeps its turn, first."""
        self._waiting.appendleft(attempt_id)
