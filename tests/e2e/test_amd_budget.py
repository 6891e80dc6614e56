"""Per-dial AMD on a predictive campaign (policy "hangup"): the pacer decides for each new
dial whether it goes through AMD, within the abandon budget its false positives may use;
the others are placed plainly. End to end over sockets against pbxsim and PostgreSQL,
every number answered by a machine, one Available agent.

What is checked, from what the service and the PBX recorded (which dial gets AMD is the
pacer's business, not the test's):

* pbxsim ran AMD (the ``[dialer-amd]`` dialplan) on exactly the calls the ledger does not
  note as placed without AMD, and both kinds were placed;
* a machine on an AMD call is hung up (no agent, no abandon);
* a machine on a call placed without AMD reaches the agent like a live answer (bridged),
  and the agent dispositions it "Answering machine detected";
* the pacer counted one decision per dial, and one AMD dial per AMD call.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.pacing import CampaignPacer
from orchestrator.dialer.campaigns import PLACED_WITHOUT_AMD
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger.pool import connect
from orchestrator.runtime import Runtime
from tests.e2e.support import (
    attempt_event_kinds,
    customer_calls,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    observe_pbx,
    running_service,
    service_settings,
    settle,
    sim_agent,
)
from tests.support.pbxsim import PbxSim

MACHINES = 8
"""Numbers dialed. Fewer than the pacer's warm-up (12 live answers): it dials one line per
ready agent, so every call placed without AMD finds the one agent free."""
MACHINE_CODE = "Answering machine detected"


def _next_dial_with_amd(pacer: CampaignPacer, now: float) -> bool:
    """What the pacer would answer for its next dial, without counting that dial."""
    scratch = CampaignPacer(abandon_cap=pacer.cap, amd=True)
    scratch.restore(pacer.snapshot())
    return scratch.dial_with_amd(now)


async def _primed_pacer_state(database_url: str, campaign_id: int, cap: float) -> list[float]:
    """The campaign's saved pacer state: one that has placed calls (none answered) up to
    the point where its next dial goes through AMD, so that a short run sees both kinds.
    Returns its ``amd_dials`` figures."""
    pacer = CampaignPacer(abandon_cap=cap, amd=True)
    now = time.time()
    for _ in range(200):
        if _next_dial_with_amd(pacer, now):
            break
        pacer.dial_with_amd(now)
    else:
        raise AssertionError("the pacer never gives a dial AMD on an empty window")
    snap = pacer.snapshot()
    async with connect(database_url) as conn:
        await campaigns_ledger.save_pacing_state(conn, campaign_id, snap)
    return [float(x) for x in snap["amd_dials"]]


def _amd_channels(seen: list[dict[str, Any]]) -> set[str]:
    """Channels on which the PBX ran AMD() (the [dialer-amd] dialplan)."""
    return {e["channel"]["id"] for e in seen
            if e["type"] == "ChannelDialplan" and e.get("dialplan_app") == "AMD"}


def _amd_dials(rt: Runtime, campaign_id: int) -> list[float]:
    assert rt.dialer is not None
    pacer = rt.dialer.campaigns.runners[campaign_id].pacer
    assert pacer is not None
    return [float(x) for x in pacer.snapshot()["amd_dials"]]


@pytest.mark.timeout(40)
async def test_predictive_places_part_of_its_calls_without_amd_and_their_machines_reach_the_agent(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    campaign = await make_campaign(database_url, "amd-budget", mode="predictive",
                                   amd_policy="hangup")
    primed = await _primed_pacer_state(database_url, campaign.id, campaign.abandon_cap)
    await asyncio.to_thread(import_numbers, database_url, "amd-budget",
                            [number(700 + i, 8) for i in range(MACHINES)], tmp_path)
    (agent,) = await make_agents(database_url, 1)
    async with observe_pbx(pbx) as seen, running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        stop = asyncio.Event()
        desk = asyncio.create_task(sim_agent(api, agent, "amd-budget", codes=[MACHINE_CODE]).run(stop))
        rows = await settle(database_url, campaign.id, MACHINES, 20)
        stop.set()
        await desk
        final = _amd_dials(rt, campaign.id)
        pacer = rt.dialer.campaigns.runners[campaign.id].pacer  # type: ignore[union-attr]
        assert pacer is not None
        samples = pacer.snapshot()
    history = await attempt_event_kinds(database_url, campaign.id)
    plain = {str(r["id"]) for r in rows if PLACED_WITHOUT_AMD in history[str(r["id"])]}
    with_amd = {str(r["id"]) for r in rows} - plain
    assert plain and with_amd, f"want both kinds of dials: {len(plain)} plain, {len(with_amd)} AMD"
    # The PBX ran AMD on exactly the calls the service placed through AMD.
    assert _amd_channels(seen) == with_amd
    calls = customer_calls(pbx)
    assert len(calls) == MACHINES and all(c["outcome"] == "machine" for c in calls), calls
    for r in rows:
        aid = str(r["id"])
        assert "abandoned" not in history[aid], (aid, history[aid])
        if aid in with_amd:
            # AMD heard the machine: hung up, no agent.
            assert r["amd_status"] == "MACHINE" and r["outcome"] == "machine", r
            assert r["connected_at"] is None and r["agent_id"] is None, r
        else:
            # No AMD: the machine reached the agent like a person, who dispositioned it.
            assert r["amd_status"] is None and "bridged" in history[aid], (r, history[aid])
            assert r["agent_id"] == agent.id and r["connected_at"] is not None, r
        assert r["code"] == MACHINE_CODE, r
    # The pacer counted each dial once and each AMD dial as such (its figures forget
    # slowly, a fraction of a dial over a run this short).
    assert final[1] - primed[1] == pytest.approx(len(rows), abs=0.5), (primed, final)
    assert final[0] - primed[0] == pytest.approx(len(with_amd), abs=0.5), (primed, final)
    # Machines the agent disposed of are no conversations: no talk or wrap-up sample
    # (a few seconds each would make agents look about to free up).
    assert samples["calls_done"] == 0 and samples["talk"][3] == 0 and samples["wrap"][3] == 0, samples
