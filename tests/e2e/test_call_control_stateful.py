"""Random sequences of agent, customer and supervisor actions on a live call, over real
sockets against pbxsim (issue 12): whatever the order, every request is answered (200,
201, or a refusal that names its rule, never a 500), and once the call is over:

* nothing is left behind in pbxsim: no channel, snoop or bridge of the call or of the
  supervision;
* the ledger's record of who joined the call matches the bridges pbxsim saw them enter;
* every agent who was ever in control of the call wrapped it up exactly once (the
  attempt's disposition for the last one, ``agent_wrapup`` for the others), and no other
  agent did.

Each example starts its own pbxsim and service. ``ORCH_STATEFUL_EXAMPLES`` raises the
number of examples (default 12, a few seconds each).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.ledger.pool import connect, fetch_all
from tests.e2e.support import (
    REAL_ASTERISK,
    SPEED,
    ApiClient,
    make_agents,
    observe_pbx,
    wait_for,
)
from tests.e2e.test_call_control import Scene, scene
from tests.support.pbxsim import run_pbxsim

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(REAL_ASTERISK, reason="one pbxsim per example")]

ACTIONS = ("consult_agent", "consult_number", "switch", "cancel", "conference", "transfer",
           "blind_number", "leave", "hold", "unhold", "party_hangs_up", "listen", "whisper",
           "barge", "stop_supervision", "settle")
"""The customer's hang-up is placed apart (at most once, anywhere): drawn like the others
it would end most sequences at their first step."""


@st.composite
def sequences(draw: st.DrawFn) -> list[str]:
    # Consultations come often: most other steps mean something only after one.
    weighted = ACTIONS + ("consult_agent", "consult_agent", "consult_number", "conference",
                          "conference", "transfer", "switch", "leave")
    steps = draw(st.lists(st.sampled_from(weighted), min_size=4, max_size=12))
    at = draw(st.none() | st.integers(0, len(steps)))
    if at is not None:
        steps.insert(at, "customer_hangs_up")
    return steps
ANSWERED = {200, 201, 403, 404, 409, 422}
"""What a request may get: done, or refused with its rule (never a 500)."""


def _log(action: str, got: int, body: Any) -> None:
    """With ORCH_STATEFUL_VERBOSE set, what each step got (to see what a run exercised)."""
    if os.environ.get("ORCH_STATEFUL_VERBOSE"):
        why = body.get("message", "") if isinstance(body, dict) else ""
        print(f"STEP {action} {got} {why}", flush=True)


async def _controller(s: Scene) -> int | None:
    for i in range(len(s.agents)):
        c = (await s.session(i)).get("call_control")
        if c and c["you_control"]:
            return i
    return None


async def _act(s: Scene, sup: ApiClient, state: dict[str, Any], action: str) -> None:
    who = await _controller(s)
    post = None
    if action == "customer_hangs_up":
        await _customer_hangs_up(s)
        return
    if action == "settle":
        await asyncio.sleep(0.3)
        return
    if action in ("listen", "whisper", "barge"):
        if state.get("supervision"):
            got, body = await sup.call("PATCH", f"/api/v1/supervisions/{state['supervision']}",
                                       {"mode": action})
        else:
            got, body = await sup.call("POST", f"/api/v1/calls/{s.attempt_id}/supervise",
                                       {"mode": action})
            if got == 201:
                state["supervision"] = body["supervision_id"]
        assert got in ANSWERED, (action, got, body)
        _log(action, got, body)
        return
    if action == "stop_supervision":
        if state.get("supervision"):
            got, body = await sup.call("DELETE", f"/api/v1/supervisions/{state.pop('supervision')}")
            assert got in ANSWERED, (action, got, body)
            _log(action, got, body)
        return
    if action == "party_hangs_up":
        for i in range(len(s.agents)):
            view = (await s.session(i)).get("call_control") or {}
            if i != who and any(p["agent_id"] == str(s.agents[i].id) for p in view.get("parties", [])):
                got, body = await s.clients[i].call("POST", s.base(i) + "/hangup", {})
                assert got in ANSWERED, (action, got, body)
                _log(action, got, body)
                return
        return
    if who is None:
        return
    free = [i for i in range(len(s.agents)) if i != who]
    paths: dict[str, tuple[str, dict[str, Any]]] = {
        "consult_agent": ("/consult", {"kind": "agent", "target": str(s.agents[free[0]].id)}),
        "consult_number": ("/consult", {"kind": "number",
                                        "target": f"3361{state['n']:05d}1"}),
        "blind_number": ("/transfer", {"kind": "number", "target": f"3362{state['n']:05d}1"}),
        "switch": ("/call/switch", {}), "cancel": ("/call/cancel-consult", {}),
        "conference": ("/call/conference", {}), "transfer": ("/transfer", {}),
        "leave": ("/call/leave", {}), "hold": ("/hold", {}), "unhold": ("/unhold", {}),
    }
    state["n"] += 1
    path, post = paths[action]
    got, body = await s.clients[who].call("POST", s.base(who) + path, post)
    assert got in ANSWERED, (action, got, body)
    _log(action, got, body)
    if got == 200 and action.startswith("consult"):
        # Most sequences mean something only once the consulted party answered.
        with contextlib.suppress(TimeoutError, AssertionError):
            await s.party_talking(who, within=2)


async def _customer_hangs_up(s: Scene) -> None:
    with contextlib.suppress(RuntimeError):  # 404: the customer is gone already
        await s.pbx.far_end_hangup(s.attempt_id)


async def _finish(s: Scene, sup: ApiClient, state: dict[str, Any]) -> None:
    """End the call (the customer hangs up) and wrap up whoever is in wrap-up."""
    if state.get("supervision"):
        await sup.call("DELETE", f"/api/v1/supervisions/{state.pop('supervision')}")
    await _customer_hangs_up(s)

    async def over() -> bool:
        for i in range(len(s.agents)):
            got = await s.session(i)
            if got["state"] == "wrap_up":
                await s.clients[i].call("POST", s.base(i) + "/disposition",
                                        {"attempt_id": s.attempt_id, "code": "Sale"})
                return False
            if got.get("call_control") is not None:
                # post-call: the others talk on; the one in control leaves, parties hang up
                await s.clients[i].call("POST", s.base(i) + "/hangup", {})
                return False
            if got["state"] not in ("available", "not_ready"):
                return False
        return True
    await wait_for(over, 30, interval=0.2, what="the call never settled")


async def _left_behind(s: Scene) -> list[str]:
    calls = await s.pbx.calls()
    channels = calls.get("channels", calls) if isinstance(calls, dict) else calls
    left = [str(c.get("id")) for c in channels if s.attempt_id in str(c.get("id"))
            or str(c.get("id", "")).startswith(("sup", "snoop"))
            or "Snoop/" in str(c.get("name", ""))]
    from tests.e2e.support import bridges
    left += [b["id"] for b in await bridges(s.pbx)
             if s.attempt_id in b["id"] or b["id"].startswith("supervision:")]
    return left


async def _example(database_url: str, tmp: Path, actions: list[str]) -> None:
    name = "st" + uuid.uuid4().hex[:8]
    async with run_pbxsim(speed=SPEED, seed=11) as pbx, observe_pbx(pbx) as seen, \
            scene(database_url, pbx, tmp, name, agents=3, recording=True) as s:
        (boss,) = await make_agents(database_url, 1, prefix="agent" + name + "sup",
                                    role="supervisor")
        async with ApiClient(s.api, boss.token) as sup:
            state: dict[str, Any] = {"n": 0}
            for action in actions:
                await _act(s, sup, state, action)
            await _finish(s, sup, state)
            try:
                await wait_for(lambda: _nothing_left(s), 15, what="")
            except (TimeoutError, AssertionError):
                raise AssertionError(f"left behind after {actions}: {await _left_behind(s)}") from None
        await _check_ledger(database_url, s, seen, actions)


async def _nothing_left(s: Scene) -> bool:
    return not await _left_behind(s)


async def _check_ledger(database_url: str, s: Scene, seen: list[dict[str, Any]],
                        actions: list[str]) -> None:
    async with connect(database_url) as conn:
        events = await fetch_all(conn, "SELECT kind, data FROM attempt_events WHERE attempt_id = %s"
                                       " ORDER BY id", (s.attempt_id,))
        (att,) = await fetch_all(conn, "SELECT agent_id, dispositioned_at, ended_at FROM attempts"
                                       " WHERE id = %s", (s.attempt_id,))
    assert att["ended_at"] is not None and att["dispositioned_at"] is not None, actions
    # Who joined, by the ledger and by pbxsim's bridges.
    joined = {f"party{e['data']['party'][1:]}:{s.attempt_id}" for e in events
              if e["kind"] == "party_joined"}
    entered = {e["channel"]["id"] for e in seen if e.get("type") == "ChannelEnteredBridge"
               and e["channel"]["id"].startswith("party")
               and s.attempt_id in e["channel"]["id"]}
    assert joined == entered, (actions, joined, entered)
    # Exactly one wrap-up per agent ever in control.
    first = str(s.agents[0].id)
    controllers = {first} | {str(e["data"]["agent_id"]) for e in events if e["kind"] == "in_control"}
    wrapups = [str(e["data"]["agent"]) for e in events if e["kind"] == "agent_wrapup"]
    assert len(wrapups) == len(set(wrapups)), (actions, wrapups)
    last = str(att["agent_id"])
    assert last in controllers, (actions, last, controllers)
    assert set(wrapups) | {last} == controllers and last not in wrapups, (actions, wrapups, last,
                                                                          controllers)


@settings(max_examples=int(os.environ.get("ORCH_STATEFUL_EXAMPLES", "12")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actions=sequences())
@pytest.mark.timeout(600)
def test_random_call_control_leaves_nothing_behind(database_url: str, tmp_path: Path,
                                                   actions: list[str]) -> None:
    asyncio.run(_example(database_url, tmp_path, actions))
