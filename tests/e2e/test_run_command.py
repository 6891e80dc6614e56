"""`orchestrator run` as a process: configured from ORCH_*, serves /healthz, /metrics and
/openapi.json, logs JSON lines without secrets, exits 0 on SIGTERM; and
`orchestrator simulate-agents` working a campaign through its API."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.support import (
    REPO,
    TIME_FACTOR,
    attempts,
    import_numbers,
    make_campaign,
    number,
    service_settings,
    start_service_process,
)
from tests.support.pbxsim import PbxSim


@pytest.mark.timeout(60)
async def test_run_serves_stops_gracefully_and_simulated_agents_work_it(
        database_url: str, pbx: PbxSim, tmp_path: Path) -> None:
    campaign = await make_campaign(database_url, "sim", mode="progressive")
    nums = [number(80 + i, (0, 1, 2, 5)[i % 4]) for i in range(8)]
    await asyncio.to_thread(import_numbers, database_url, "sim", nums, tmp_path)
    settings = service_settings(database_url, pbx, instance_id="run-test")
    log = tmp_path / "service.log"
    svc = await start_service_process(settings, log)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(50):
                async with s.get(svc.api + "/healthz") as r:
                    health = await r.json()
                if health.get("ari_connected") and health.get("campaigns_running"):
                    break
                await asyncio.sleep(0.1)
            assert r.status == 200 and health["database"] and health["ari_connected"]
            assert health["instance"] == "run-test" and health["campaigns_running"] == ["sim"]
            async with s.get(svc.api + "/openapi.json") as r:
                assert (await r.json())["info"]["title"]
            async with s.get(svc.api + "/api/v1/campaigns") as r:
                assert r.status == 401
            # Simulated agents log in through the API and work the campaign unattended.
            env = dict(svc.env, ORCH_HTTP_PORT=svc.api.rsplit(":", 1)[1])
            # Their phones: the default, a test phone of the shipped [dialer-testlines]
            # (pbxsim has them too); a real Asterisk runs in real time.
            sim = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "orchestrator.cli", "simulate-agents", "2",
                "--campaign", "sim", "--duration", str(min(4 * TIME_FACTOR, 15)),
                "--talk", "0.2-0.4", "--wrap", "0.1-0.2", "--codes", "Sale",
                cwd=str(REPO), env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(sim.communicate(), 30 * TIME_FACTOR)
            assert sim.returncode == 0, err.decode()
            async with s.get(svc.api + "/metrics") as r:
                text = await r.text()
                assert r.status == 200 and "dialer_ari_connected 1.0" in text
                assert 'dialer_originates_total{campaign="sim",leg="customer"}' in text
    finally:
        code = await svc.terminate()
    assert code == 0
    summary = out.decode()
    calls = int(summary.split("simulated agents: ")[1].split(" calls")[0])
    assert calls >= 2, summary
    rows = await attempts(database_url, campaign.id)
    assert sum(r["code"] == "Sale" for r in rows) >= 2
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    events = [e["event"] for e in lines]
    assert "runtime.started" in events and "runtime.stopped" in events
    assert events.index("runtime.stopping") < events.index("runtime.stopped")
    text = log.read_text()
    assert pbx.password not in text
    assert not any(n.lstrip("+") in text for n in nums)  # numbers masked in every line
