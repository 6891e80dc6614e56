"""CallDistributor: which agent takes which call (longest idle agent, oldest waiting call)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.core.agents import AgentMachine, AgentState, CallDistributor, longest_idle
from orchestrator.core.agents.events import (
    AgentLogin,
    AgentNotReady,
    AgentReady,
    AgentReserved,
)
from orchestrator.core.campaigns import CampaignSettings, DialMode

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CAMPAIGNS = {"camp": CampaignSettings(mode=DialMode.PROGRESSIVE)}


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def agent(agent_id: str, ready_at: float | None) -> AgentMachine:
    """A logged-in agent, Available since ``ready_at`` (None: still Not ready)."""
    a = AgentMachine(agent_id, CAMPAIGNS)
    a.handle(AgentLogin(agent_id, "PJSIP/x"), at(0))
    if ready_at is not None:
        a.handle(AgentReady(agent_id), at(ready_at))
    return a


def ids(agents: list[AgentMachine]) -> list[str]:
    return [a.agent_id for a in agents]


# ------------------------------------------------------- a call needs an agent


def test_a_call_is_offered_to_the_agent_idle_longest_first() -> None:
    agents = [agent("a0", 5), agent("a1", 1), agent("a2", 3)]
    assert ids(CallDistributor().agents_for_call(agents)) == ["a1", "a2", "a0"]


def test_only_available_agents_are_offered_a_call() -> None:
    busy = agent("busy", 1)
    busy.handle(AgentReserved("busy", "call-0", "camp"), at(2))
    on_break = agent("break", 1)
    on_break.handle(AgentNotReady("break", "lunch"), at(2))
    agents = [busy, on_break, agent("never-ready", None), agent("free", 4)]
    assert ids(CallDistributor().agents_for_call(agents)) == ["free"]


def test_idle_time_counts_from_the_last_state_change() -> None:
    # a0 was Available first, but went on break and came back after a1.
    a0, a1 = agent("a0", 1), agent("a1", 2)
    a0.handle(AgentNotReady("a0", "break"), at(3))
    a0.handle(AgentReady("a0"), at(4))
    assert ids(longest_idle([a0, a1])) == ["a1", "a0"]


def test_agents_idle_since_the_same_instant_go_by_id() -> None:
    agents = [agent("b", 1), agent("c", 1), agent("a", 1)]
    assert ids(longest_idle(agents)) == ["a", "b", "c"]


def test_no_agent_available_gives_an_empty_turn() -> None:
    assert CallDistributor().agents_for_call([agent("a0", None)]) == []


@given(st.lists(st.one_of(st.none(), st.integers(1, 5)), max_size=8), st.randoms())
def test_the_order_of_the_floor_does_not_matter(ready: list[int | None], rnd: random.Random) -> None:
    agents = [agent(f"a{i}", None if t is None else float(t)) for i, t in enumerate(ready)]
    shuffled = list(agents)
    rnd.shuffle(shuffled)
    first = ids(longest_idle(agents))
    assert ids(longest_idle(shuffled)) == first
    assert all(a.state is AgentState.AVAILABLE for a in longest_idle(agents))
    since = [a.state_since or T0 for a in longest_idle(agents)]
    assert since == sorted(since)


# ------------------------------------------------------ an agent becomes free


def test_a_free_agent_takes_the_call_waiting_longest() -> None:
    d = CallDistributor()
    for attempt in ("c1", "c2", "c3"):
        d.queue(attempt)
    assert d.call_for_agent(lambda _: True) == "c1"
    assert d.waiting == ("c2", "c3")


def test_calls_that_stopped_waiting_drop_out_of_the_queue() -> None:
    d = CallDistributor()
    for attempt in ("gone", "served", "c3", "c4"):
        d.queue(attempt)
    assert d.call_for_agent(lambda a: a not in ("gone", "served")) == "c3"
    assert d.waiting == ("c4",)


def test_no_call_waiting_leaves_the_agent_free() -> None:
    d = CallDistributor()
    assert d.call_for_agent(lambda _: True) is None
    d.queue("ended")
    assert d.call_for_agent(lambda _: False) is None
    assert d.waiting == ()


def test_a_call_whose_agent_could_not_be_reserved_keeps_its_turn() -> None:
    d = CallDistributor()
    d.queue("c1")
    d.queue("c2")
    taken = d.call_for_agent(lambda _: True)
    assert taken == "c1"
    d.put_back(taken)
    assert d.waiting == ("c1", "c2")
    assert d.call_for_agent(lambda _: True) == "c1"
