"""Crash safety over real processes and sockets: the service is SIGKILLed at random moments
of a running campaign and restarted; two service processes share one database. Judged
from pbxsim's call log (what the "PBX" really dialed) and the ledger."""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.commands.simulate_agents import SimStats, SimulatedAgent
from tests.e2e.support import (
    ApiClient,
    attempts,
    bridges,
    customer_calls,
    import_numbers,
    make_agents,
    make_campaign,
    number,
    service_settings,
    start_service_process,
    targets,
    wait_for,
)
from tests.support.pbxsim import PbxSim


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _agents_for(api: str, agents: list, campaign: str, stats: SimStats) -> list[SimulatedAgent]:
    return [SimulatedAgent(api, a.id, a.token, campaign, a.endpoint, talk=(0.3, 0.8),
                           wrap=(0.1, 0.3), codes=["Sale", "No answer"],
                           rng=random.Random(a.id), stats=stats) for a in agents]


async def _state(database_url: str, campaign_id: int) -> str:
    rows = await attempts(database_url, campaign_id)
    ts = await targets(database_url, campaign_id)
    lines = [f"targets: {[(t['id'], t['attempts_made'], t['unavailable_reason'], t['lease_owner']) for t in ts]}"]
    lines += [f"attempt {r['id']} t={r['target_id']} {r['state']} {r['outcome']} "
              f"ended={bool(r['ended_at'])} disp={bool(r['dispositioned_at'])} {r['cause_txt']}"
              for r in rows]
    return "\n".join(lines)


async def _settled(database_url: str, campaign_id: int, n: int) -> bool:
    rows = await attempts(database_url, campaign_id)
    ts = await targets(database_url, campaign_id)
    return (all(t["attempts_made"] >= 1 for t in ts) and len(ts) == n
            and all(r["ended_at"] and r["dispositioned_at"] for r in rows))


async def _no_leftover_bridges(pbx: PbxSim) -> bool:
    return not [b for b in await bridges(pbx) if b["id"].endswith(":bridge") and not b["channels"]]


@pytest.mark.timeout(150)
async def test_sigkill_at_random_moments_never_double_dials_or_loses_attempts(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    rng = random.Random(2026)
    n = 30
    campaign = await make_campaign(database_url, "crash", mode="power", power_lines_per_agent=2)
    nums = [number(100 + i, i % 10) for i in range(n)]
    await asyncio.to_thread(import_numbers, database_url, "crash", nums, tmp_path)
    agents = await make_agents(database_url, 3)
    port = _free_port()
    settings = service_settings(database_url, pbx, instance_id="crash-1", http_port=port)
    api = f"http://127.0.0.1:{port}"
    stats = SimStats()
    stop = asyncio.Event()
    sims = [asyncio.create_task(a.run_forever(stop, retry_s=0.1))
            for a in _agents_for(api, agents, "crash", stats)]
    kills = 0
    try:
        for cycle in range(3):
            svc = await start_service_process(settings, tmp_path / f"svc{cycle}.log")
            await asyncio.sleep(rng.uniform(0.8, 2.5))
            await svc.kill()
            kills += 1
        svc = await start_service_process(settings, tmp_path / "svc-final.log")
        try:
            try:
                await wait_for(lambda: _settled(database_url, campaign.id, n), 70, interval=0.3)
            except TimeoutError:
                raise AssertionError("not settled:\n" + await _state(database_url, campaign.id)) from None
            # No bridge is left behind: per-call bridges go with their call, and those of
            # calls the kills interrupted are destroyed by the restarted service.
            try:
                await wait_for(lambda: _no_leftover_bridges(pbx), 5, interval=0.2)
            except TimeoutError:
                raise AssertionError(f"bridges left: {await bridges(pbx)}") from None
        finally:
            assert await svc.terminate() == 0
    finally:
        stop.set()
        await asyncio.gather(*sims, return_exceptions=True)
    assert kills == 3
    rows = await attempts(database_url, campaign.id)
    calls = customer_calls(pbx)
    dialed = Counter(c["number"] for c in calls)
    # No number dialed twice, whatever the moment of the crash.
    assert dialed and max(dialed.values()) == 1, dialed.most_common(3)
    # No attempt lost: every call the PBX saw has its attempt, committed before the originate.
    attempt_ids = {str(r["id"]) for r in rows}
    assert {c["channel_id"] for c in calls} <= attempt_ids
    # None left unfinished; never redialed blindly (one attempt per target).
    assert all(r["state"] == "ended" and r["dispositioned_at"] for r in rows)
    per_target = Counter(r["target_id"] for r in rows)
    assert max(per_target.values()) == 1
    assert len(per_target) == n
    # Attempts the crash left in doubt were reconciled, not redialed.
    reconciled = [r for r in rows if (r["cause_txt"] or "").startswith(("reconciled", "adopted"))]
    assert len(calls) + sum(1 for r in rows if str(r["id"]) not in {c["channel_id"] for c in calls}) == len(rows)
    print(f"attempts={len(rows)} dialed={len(calls)} reconciled={len(reconciled)} "
          f"agent_reconnects={stats.reconnects}")


@pytest.mark.timeout(90)
async def test_a_conversation_survives_a_kill_and_its_bridge_goes_when_it_ends(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    """A call bridged to its agent (per-call phone leg, so the call's own bridge) when the
    service is SIGKILLed: the restarted service adopts it, leaves it talking, and when the
    customer hangs up ends the attempt, hangs up the agent's leg and destroys the bridge
    (Asterisk keeps an emptied bridge for ever, traces README 23)."""
    await make_campaign(database_url, "adopt", mode="power", power_lines_per_agent=1)
    e164 = number(900, 0)
    await asyncio.to_thread(import_numbers, database_url, "adopt", [e164], tmp_path)
    await pbx.script(e164, "answer", ring_seconds=1, talk_seconds=3000)
    (agent,) = await make_agents(database_url, 1)
    settings = service_settings(database_url, pbx, instance_id="adopt-1", http_port=_free_port())
    svc = await start_service_process(settings, tmp_path / "svc0.log")
    try:
        async with ApiClient(svc.api, agent.token) as client:
            base = f"/api/v1/agents/{agent.id}"
            await client.ok("POST", base + "/session", {"campaign": "adopt", "nailed_up": False})
            await client.ok("POST", base + "/state", {"state": "available"})

            async def bridged() -> str | None:
                for c in await pbx.calls():
                    if (c["kind"] == "customer" and c["number"] == e164.lstrip("+")
                            and str(c["bridge"] or "").endswith(":bridge")):
                        return str(c["id"])
                return None

            attempt_id = await wait_for(bridged, 20)
    finally:
        await svc.kill()
    svc = await start_service_process(settings, tmp_path / "svc1.log")
    try:
        await wait_for(lambda: _log_has(svc.log_path, "dialer.adopted_call"), 10)
        (row,) = await attempts(database_url)
        assert row["ended_at"] is None, "a conversation in progress is left alone"
        assert [b["id"] for b in await bridges(pbx)] == [f"{attempt_id}:bridge"]
        await pbx.far_end_hangup(attempt_id)

        async def ended() -> bool:
            (r,) = await attempts(database_url)
            return bool(r["ended_at"] and r["dispositioned_at"])

        await wait_for(ended, 10)
        (row,) = await attempts(database_url)
        assert (row["cause_txt"] or "").startswith("adopted"), row
        await wait_for(lambda: _pbx_empty(pbx), 5, what="agent leg and bridge gone")
    finally:
        assert await svc.terminate() == 0


async def _log_has(path: Path, text: str) -> bool:
    return text in path.read_text()  # noqa: ASYNC240 - a small log file


async def _pbx_empty(pbx: PbxSim) -> bool:
    return not await pbx.calls() and not await bridges(pbx)


@pytest.mark.timeout(90)
async def test_two_service_processes_on_one_database_never_double_dial(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    n = 30
    campaign = await make_campaign(database_url, "shared", mode="power", power_lines_per_agent=3)
    nums = [number(300 + i, (0, 1, 2, 3, 4, 5, 7)[i % 7]) for i in range(n)]
    await asyncio.to_thread(import_numbers, database_url, "shared", nums, tmp_path)
    agents = await make_agents(database_url, 4)
    procs = []
    stats = SimStats()
    stop = asyncio.Event()
    sims = []
    try:
        for i, app in enumerate(("dialer-a", "dialer-b")):
            port = _free_port()
            s = service_settings(database_url, pbx, instance_id=f"node-{i}", ari_app=app,
                                 http_port=port)
            procs.append(await start_service_process(s, tmp_path / f"node{i}.log"))
            sims += [asyncio.create_task(a.run_forever(stop))
                     for a in _agents_for(f"http://127.0.0.1:{port}", agents[2 * i:2 * i + 2],
                                          "shared", stats)]
        try:
            await wait_for(lambda: _settled(database_url, campaign.id, n), 60, interval=0.3)
        except TimeoutError:
            raise AssertionError("not settled:\n" + await _state(database_url, campaign.id)) from None
    finally:
        stop.set()
        await asyncio.gather(*sims, return_exceptions=True)
        codes = [await p.terminate() for p in procs]
    assert codes == [0, 0]
    rows = await attempts(database_url, campaign.id)
    owners = Counter(r["owner"] for r in rows)
    assert set(owners) == {"node-0", "node-1"}, owners  # both really dialed
    dialed = Counter(c["number"] for c in customer_calls(pbx))
    assert len(dialed) == n and max(dialed.values()) == 1, dialed.most_common(3)
    assert max(Counter(r["target_id"] for r in rows).values()) == 1


@pytest.mark.timeout(60)
async def test_ari_socket_cuts_mid_campaign_are_reconciled_without_redial(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    from tests.e2e.support import running_service, settle, sim_agent

    n = 16
    campaign = await make_campaign(database_url, "cuts", mode="power", power_lines_per_agent=2)
    nums = [number(400 + i, (0, 1, 7, 2)[i % 4]) for i in range(n)]
    await asyncio.to_thread(import_numbers, database_url, "cuts", nums, tmp_path)
    agents = await make_agents(database_url, 2)
    async with running_service(service_settings(database_url, pbx)) as rt:
        api = f"http://127.0.0.1:{rt.http_port}"
        stop = asyncio.Event()
        sims = [asyncio.create_task(sim_agent(api, a, "cuts").run_forever(stop)) for a in agents]
        assert rt.dialer is not None and rt.dialer.stream is not None
        for _ in range(2):
            await asyncio.sleep(1.0)
            await pbx.cut_ws()  # events in flight are lost, channels stay in Stasis
        rows = await settle(database_url, campaign.id, n, 40)
        generations = rt.dialer.stream.generation
        stop.set()
        await asyncio.gather(*sims)
    assert generations >= 3  # reconnected after each cut, and re-synced
    dialed = Counter(c["number"] for c in customer_calls(pbx))
    assert max(dialed.values()) == 1 and len(dialed) == n
    assert {c["channel_id"] for c in customer_calls(pbx)} <= {str(r["id"]) for r in rows}
    assert max(Counter(r["target_id"] for r in rows).values()) == 1
