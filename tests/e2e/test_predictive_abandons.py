"""Predictive dialing against a PBX whose called parties answer at random (pbxsim
``--profile random --answer-rate 0.3``), worked by simulated agents for 60 s of the
dialer's time (6 s at speed 10), end to end.

Why the abandon rate itself is not the assertion: a run this short has a handful of live
answers (5-15), so one abandon is already 7-20 %; asserting "<= 3 %" would fail on
noise, not on the pacer. The pacer's behaviour at the cap is measured where samples are
large, by the discrete-event simulation of whole campaign days in bench/pacing. Here:

* No dial without an agent: nothing is dialed before any agent logs in, nor while the
  only logged-in agent is Not ready (nobody available or about to be), nor once they all
  logged out (pbxsim's count of originates does not move).
* Every abandon follows the rule: the information message was played on the abandoned
  customer's own channel (an independent ARI observer saw the playback, and no other
  call got it), the number is locked for 72 h in the ledger and its target waits that
  long, pbxsim's call log shows the call answered and the number dialed once. One
  abandon is provoked for certain (an agent goes Not ready right after a call is placed
  for it, and the next numbers are scripted to answer).
* The abandon rate while the agents work is printed and kept under a loose bound (the
  cap's share plus three binomial standard deviations plus one), which only a pacer
  ignoring the cap breaks.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.commands.simulate_agents import SimStats
from orchestrator.ledger.pool import connect, fetch_all
from tests.e2e.support import (
    REAL_ASTERISK,
    ApiClient,
    attempts,
    customer_calls,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    observe_pbx,
    running_service,
    service_settings,
    sim_agent,
    targets,
    wait_for,
)
from tests.support.pbxsim import PbxSim, run_pbxsim

pytestmark = pytest.mark.skipif(
    REAL_ASTERISK, reason="pbxsim only: runs its own pbxsim (random answers at speed 10, scripted "
                          "parties, originate counters), not the real Asterisk")

AGENTS = 5
WORK_S = 6.0
"""Real seconds the agents work (60 s of the dialer's time at speed 10)."""
CAP = 0.03


def _abandon_bound(live_answers: int) -> int:
    """Most abandons a pacer that keeps the cap could show in a short run: the cap's share
    plus three binomial standard deviations, plus one (the first calls are paced with no
    history at all). For 10 answers: 0.3 + 1.6 + 1 -> 3."""
    mean = CAP * live_answers
    return math.ceil(mean + 3 * math.sqrt(live_answers * CAP * (1 - CAP))) + 1


async def _customer_originates(pbx: PbxSim) -> int:
    """Customer calls pbxsim was asked for (counted at originate, not at hang-up)."""
    stats = await pbx.stats()
    return int(stats["customer_calls"])


@pytest.mark.timeout(90)
async def test_predictive_never_dials_without_agents_and_every_abandon_follows_the_rule(
        database_url: str, tmp_path: Path) -> None:
    message = "sound:lab/silent-call"
    campaign = await make_campaign(database_url, "rnd", mode="predictive", abandon_cap=CAP,
                                   silent_call_message=message, wrapup_seconds=30)
    nums = [number(20_000 + i, i % 10) for i in range(400)]
    await asyncio.to_thread(import_numbers, database_url, "rnd", nums, tmp_path)
    agents = await make_agents(database_url, AGENTS)
    (sup,) = await make_agents(database_url, 1, prefix="sup", role="supervisor")
    stats = SimStats()
    async with run_pbxsim(speed=10, seed=11, profile="random",
                          extra_args=["--answer-rate", "0.3"]) as pbx, observe_pbx(pbx) as seen, \
            running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        # 1. Running, no agent logged in: nothing is dialed (10 dial ticks).
        await asyncio.sleep(0.5)
        assert await _customer_originates(pbx) == 0
        # 2. An agent logged in but Not ready: nobody available or about to be.
        first = agents[0]
        async with ApiClient(api, first.token) as client:
            await client.ok("POST", f"/api/v1/agents/{first.id}/session", {"campaign": "rnd"})
            await asyncio.sleep(0.5)
            assert (await client.ok("GET", f"/api/v1/agents/{first.id}/session"))["state"] == "not_ready"
            assert await _customer_originates(pbx) == 0
            await client.ok("DELETE", f"/api/v1/agents/{first.id}/session")
        # 3. The agents work.
        stop = asyncio.Event()
        sims = [asyncio.create_task(sim_agent(api, a, "rnd", talk=(0.3, 0.8), wrap=(0.1, 0.3),
                                              stats=stats, nailed_up=True).run(stop)) for a in agents]
        await asyncio.sleep(WORK_S)
        stopped_at = datetime.now(UTC)
        async with ApiClient(api, sup.token) as boss:
            live_stats = await boss.ok("GET", "/api/v1/campaigns/rnd/stats")
        stop.set()
        await asyncio.gather(*sims)
        assert rt.dialer is not None
        dialer = rt.dialer

        async def quiet() -> bool:
            return not dialer.sessions.sessions and not dialer.calls

        await wait_for(quiet, 20)
        # 4. A certain abandon: the next numbers will answer, but the only agent's phone
        # cannot be reached (no nailed-up leg, a dead endpoint): the answered call is
        # offered, the agent's leg fails, the agent goes Not ready, the answer finds nobody.
        # (Going Not ready while the call still rings would cancel it: nobody is staffed.)
        fresh = [t["e164"] for t in await targets(database_url, campaign.id) if t["attempts_made"] == 0]
        for e164 in fresh[:6]:
            await pbx.script(e164, "answer", ring_seconds=15, talk_seconds=60)
        async with ApiClient(api, sup.token) as boss, boss.events() as events, \
                ApiClient(api, first.token) as client:
            base = f"/api/v1/agents/{first.id}"
            await client.ok("POST", base + "/session", {
                "campaign": "rnd", "endpoint": "Local/nosuchphone@dialer-agents", "nailed_up": False})
            await client.ok("POST", base + "/state", {"state": "available"})
            async with asyncio.timeout(10):
                while (await events.get())["type"] != "call.abandoned":
                    pass
            await client.ok("DELETE", base + "/session")
        await wait_for(quiet, 20)
        # 5. Everybody logged out: dialing stopped (calls in progress ended on their own).
        before = await _customer_originates(pbx)
        await asyncio.sleep(0.5)
        assert await _customer_originates(pbx) == before, "dialed with no agent logged in"
        calls = customer_calls(pbx)
        observed = list(seen)

    rows = await attempts(database_url, campaign.id)
    abandoned = [r for r in rows if r["outcome"] == "abandoned"]
    # The pacer's work: answers while the agents were working (afterwards, a call
    # answered as the last agents left is abandoned whatever the pacer does).
    worked = [r for r in rows if r["answered_at"] is not None and r["answered_at"] < stopped_at]
    live = [r for r in worked if r["outcome"] in ("human", "abandoned")]
    dropped = [r for r in live if r["outcome"] == "abandoned"]
    rate = len(dropped) / len(live) if live else 0.0
    print(f"\npredictive, random answers: attempts={len(rows)} live answers={len(live)} "
          f"abandoned={len(dropped)} ({rate:.1%}) while working, {len(abandoned)} in all; "
          f"pacer={live_stats.get('pacing')} agent calls={stats.calls}")
    assert len(live) >= 5, "too little traffic to judge anything"
    assert live_stats["agents_logged_in"] == AGENTS and live_stats["mode"] == "predictive"
    assert {"dial_level", "abandon_rate_24h", "drop_budget_30d"} <= set(live_stats["pacing"])
    assert len(dropped) <= _abandon_bound(len(live)), (len(dropped), len(live))
    assert abandoned, "the scripted abandon did not happen"

    # Every abandon: the information message on its own channel, the 72 h lock, one dial.
    played = {e["playback"]["target_uri"] for e in observed
              if e["type"] == "PlaybackStarted" and e["playback"]["media_uri"] == message}
    assert {f"channel:{r['id']}" for r in abandoned} <= played
    assert played <= {f"channel:{r['id']}" for r in abandoned}, "message played to a call not abandoned"
    async with connect(database_url) as conn:
        locks = {r["e164"]: r["abandon_locked_until"] for r in await fetch_all(
            conn, "SELECT * FROM phone_numbers WHERE abandon_locked_until IS NOT NULL")}
    soon = datetime.now(UTC) + timedelta(hours=71)
    assert set(locks) == {r["e164"] for r in abandoned}
    assert all(lock > soon for lock in locks.values())
    ts = {t["e164"]: t for t in await targets(database_url, campaign.id)}
    assert all(ts[r["e164"]]["available_from"] > soon for r in abandoned)
    dialed = Counter(c["number"] for c in calls)
    assert max(dialed.values()) == 1
    assert {c["channel_id"] for c in calls} <= {str(r["id"]) for r in rows}
    # pbxsim's log: each abandoned call had really been answered (with AMD off, by a person
    # or by a machine: the dialer cannot tell them apart).
    outcome = {c["channel_id"]: c["outcome"] for c in calls}
    assert {outcome[str(r["id"])] for r in abandoned} <= {"answer", "machine", "fax"}, outcome
