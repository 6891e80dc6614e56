"""Faults during a running campaign, against pbxsim and PostgreSQL over real sockets: the
database's connections killed or refused, pbxsim killed and started again, the service
frozen, stopped and killed. After each, the campaign goes on by itself and the checks of
`harness.FaultRun.check` hold (no double dial, no call without its attempt, no ghost live
call past the reconcile period, nothing lost)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.e2e.support import REAL_ASTERISK, make_agents
from tests.faults.harness import FaultRun, api_status

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(REAL_ASTERISK, reason="kills and restarts the PBX process: pbxsim only"),
]


@pytest.mark.timeout(120)
async def test_database_connections_killed_again_and_again(database_url: str, tmp_path: Path) -> None:
    async with FaultRun(database_url, tmp_path, "dbkill") as run:
        await run.progressed(beyond=0, by=4)
        for _ in range(4):
            killed = await run.kill_db_connections()
            assert killed >= 1, "the service had no connection to kill"
            run.fault(f"db connections killed ({killed})")
            await asyncio.sleep(0.4)
        await run.progressed()
        figures = await run.check()
    assert figures["faults"] == 4


@pytest.mark.timeout(120)
async def test_database_unreachable_for_seconds(database_url: str, tmp_path: Path) -> None:
    """The database refuses every connection for 3 s: outcome writes of the calls that end
    meanwhile are retried until they land (none stays a ghost live call), and the API
    answers 503 with Retry-After, not 500."""
    (supervisor,) = await make_agents(database_url, 1, prefix="boss", role="supervisor")
    async with FaultRun(database_url, tmp_path, "dbdown") as run:
        await run.progressed(beyond=0, by=6)
        assert run.svc is not None
        run.witness.pause()  # type: ignore[union-attr]
        await run.allow_connections(False)
        await run.kill_db_connections()
        run.fault("database refused connections for 3 s")
        try:
            await asyncio.sleep(0.5)
            # a token not cached yet: its lookup needs the database
            status, headers = await api_status(run.svc.api, "/api/v1/campaigns", supervisor.token)
            await asyncio.sleep(2.5)
        finally:
            await run.allow_connections(True)
            run.witness.resume()  # type: ignore[union-attr]
        assert status == 503, status
        assert int(headers["Retry-After"]) >= 1
        await run.progressed()
        await run.check()
    log = (tmp_path / "svc1.log").read_text()
    assert "dialer.ledger_write_retry" in log, "no write met the outage: the test proved nothing"
    assert "command_failed" not in log


@pytest.mark.timeout(120)
async def test_pbxsim_killed_and_started_again(database_url: str, tmp_path: Path) -> None:
    async with FaultRun(database_url, tmp_path, "pbxkill") as run:
        await run.progressed(beyond=0, by=6)
        run.witness.pause()  # type: ignore[union-attr]
        await run.pbx.kill()
        run.fault("pbxsim SIGKILL")
        await asyncio.sleep(1.0)
        await run.pbx.start()
        run.fault("pbxsim started again on the same ports")
        run.witness.resume()  # type: ignore[union-attr]
        await run.progressed()
        await run.check()


@pytest.mark.timeout(120)
async def test_service_frozen_then_thawed(database_url: str, tmp_path: Path) -> None:
    async with FaultRun(database_url, tmp_path, "freeze") as run:
        await run.progressed(beyond=0, by=6)
        assert run.svc is not None
        run.witness.pause()  # type: ignore[union-attr]
        run.svc.proc.send_signal(signal.SIGSTOP)
        run.fault("service SIGSTOP for 3 s")
        await asyncio.sleep(3.0)
        run.svc.proc.send_signal(signal.SIGCONT)
        run.fault("service SIGCONT")
        await asyncio.sleep(0.5)
        run.witness.resume()  # type: ignore[union-attr]
        await run.progressed()
        await run.check()


@pytest.mark.timeout(120)
async def test_service_stopped_and_started(database_url: str, tmp_path: Path) -> None:
    async with FaultRun(database_url, tmp_path, "sigterm") as run:
        await run.progressed(beyond=0, by=6)
        assert run.svc is not None
        run.witness.pause()  # type: ignore[union-attr]
        assert await run.svc.terminate() == 0
        run.fault("service SIGTERM")
        await run.start_service()
        run.fault("service started again")
        run.witness.resume()  # type: ignore[union-attr]
        await run.progressed()
        await run.check()


@pytest.mark.timeout(150)
async def test_service_killed_again_and_again(database_url: str, tmp_path: Path) -> None:
    async with FaultRun(database_url, tmp_path, "kill9", numbers=50) as run:
        await run.progressed(beyond=0, by=4)
        for _ in range(3):
            assert run.svc is not None
            run.witness.pause()  # type: ignore[union-attr]
            await run.svc.kill()
            run.fault("service SIGKILL")
            await run.start_service()
            run.witness.resume()  # type: ignore[union-attr]
            await run.progressed(by=2)
        await run.check()
