"""The campaign's last agent leaves while its customer-first calls still ring: they are
hung up at once, end to end against pbxsim and PostgreSQL.

Every number is scripted to ring for 60 s and then answer (6 s at speed 10), long after
the agents leave. Without the cancellation each call would be answered with nobody to
take it and abandoned (message, count, 72 h lock). Checked for power and predictive:

* one agent going Not ready while another is still Available changes nothing: the calls
  keep ringing (the campaign is still staffed);
* when the last one logs out, pbxsim sees every customer channel hung up before answer
  (an independent ARI observer never sees one Up, pbxsim's call log says cancelled);
* the ledger: each attempt ended as ``failed`` with the event ``cancelled_unstaffed`` in
  its history, no abandon counted, no number locked;
* nothing is dialed afterwards, although an agent is still logged in (Not ready).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.calls import CallState
from orchestrator.ledger.pool import connect, fetch_all
from tests.e2e.support import (
    ApiClient,
    attempt_event_kinds,
    attempts,
    customer_calls,
    describe,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    observe_pbx,
    running_service,
    service_settings,
    wait_for,
)
from tests.support.pbxsim import PbxSim

RING_S = 60
"""Scripted ringing before each number answers (dialer's time: 6 s at speed 10)."""


async def _originates(pbx: PbxSim) -> int:
    return int((await pbx.stats())["customer_calls"])


@pytest.mark.timeout(40)
@pytest.mark.parametrize("mode", ["power", "predictive"])
async def test_last_agent_leaving_hangs_up_the_calls_still_ringing(
        database_url: str, pbx: PbxSim, tmp_path: Path, mode: str) -> None:
    name = f"unst-{mode}"
    extra: dict[str, Any] = {"power_lines_per_agent": 2} if mode == "power" else {}
    campaign = await make_campaign(database_url, name, mode=mode, no_answer_timeout_s=90,
                                   silent_call_message="sound:lab/silent-call", **extra)
    nums = [number(900 + i, 1) for i in range(12)]
    await asyncio.to_thread(import_numbers, database_url, name, nums, tmp_path)
    for e164 in nums:
        await pbx.script(e164, "answer", ring_seconds=RING_S, talk_seconds=60)
    first, last = await make_agents(database_url, 2)
    async with observe_pbx(pbx) as seen, running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        assert rt.dialer is not None
        dialer = rt.dialer

        def ringing() -> list[str]:
            return [aid for aid, e in dialer.calls.items()
                    if e.machine.state is CallState.RINGING]

        async with ApiClient(api, first.token) as one, ApiClient(api, last.token) as two:
            for agent, client in ((first, one), (last, two)):
                base = f"/api/v1/agents/{agent.id}"
                await client.ok("POST", base + "/session", {"campaign": name})
                await client.ok("POST", base + "/state", {"state": "available"})

            async def dialing_done() -> bool:
                # Every call placed rings, and the campaign asks for no more.
                await asyncio.sleep(0.3)
                calls = list(dialer.calls)
                return bool(calls) and len(ringing()) == len(calls) == await _originates(pbx)

            await wait_for(dialing_done, 3)
            placed = sorted(dialer.calls)
            if mode == "power":
                assert len(placed) == 4  # 2 lines for each of 2 available agents

            # One agent goes Not ready: the other still staffs the campaign.
            await one.ok("POST", f"/api/v1/agents/{first.id}/state",
                         {"state": "not_ready", "reason": "break"})
            await asyncio.sleep(0.3)
            assert sorted(ringing()) == placed

            # The last one logs out: nobody could take an answer any more.
            await two.ok("DELETE", f"/api/v1/agents/{last.id}/session")

            async def all_ended() -> bool:
                return not dialer.calls

            try:
                # Well before the numbers would answer (RING_S / speed after dialing).
                await wait_for(all_ended, 1.5)
            except TimeoutError:
                raise AssertionError("calls still up:\n"
                                     + await describe(database_url, campaign.id)) from None

            # Nothing is dialed afterwards (20 dial ticks), with an agent still logged in.
            before = await _originates(pbx)
            await asyncio.sleep(1.0)
            assert await _originates(pbx) == before == len(placed)
            status = await one.ok("GET", f"/api/v1/agents/{first.id}/session")
            assert status["state"] == "not_ready"
            await one.ok("DELETE", f"/api/v1/agents/{first.id}/session")
        answered = int((await pbx.stats())["answered"])
        calls = customer_calls(pbx)
        observed = list(seen)

    # pbxsim: every customer channel was hung up before it was answered.
    assert answered == 0
    assert sorted(c["channel_id"] for c in calls) == placed
    assert {c["outcome"] for c in calls} == {"cancelled"}, calls
    up = {e["channel"]["id"] for e in observed
          if "channel" in e and e["channel"].get("state") == "Up"}
    assert not up & set(placed)
    assert not [e for e in observed if e["type"] == "PlaybackStarted"]

    # The ledger: not answered, no abandon, no lock, the reason in the history.
    rows = await attempts(database_url, campaign.id)
    assert sorted(str(r["id"]) for r in rows) == placed
    assert all(r["ended_at"] and r["dispositioned_at"] for r in rows), rows
    assert {r["outcome"] for r in rows} == {"failed"}
    assert not [r for r in rows if r["answered_at"]]

    async def noted() -> dict[str, list[str]]:
        kinds = await attempt_event_kinds(database_url, campaign.id)
        return kinds if all("cancelled_unstaffed" in kinds.get(a, []) for a in placed) else {}

    history = await wait_for(noted, 3)
    for aid in placed:
        assert "answered" not in history[aid] and "abandoned" not in history[aid], history[aid]
    async with connect(database_url) as conn:
        locked = await fetch_all(
            conn, "SELECT e164 FROM phone_numbers WHERE abandon_locked_until IS NOT NULL")
    assert locked == []
