"""The heartbeat: this instance's liveness in the ledger, agents deactivated while
logged in, and (every ``instance_stale_s``) what dead instances left behind."""

from __future__ import annotations

import asyncio

import structlog

from orchestrator.dialer.recovery.host import RecoveryHost
from orchestrator.dialer.recovery.reconcile import Reconciler
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import attempts as attempts_ledger

log = structlog.get_logger("orchestrator.dialer")


class Heartbeat:
    def __init__(self, host: RecoveryHost, recovery: Reconciler) -> None:
        self.host = host
        self.recovery = recovery
        self._deactivated_seen: set[int] = set()


    async def run(self) -> None:
        period = self.host.settings.heartbeat_s
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self.host.settings.instance_stale_s
        while not self.host.stopping.is_set():
            sweep_bridges = False
            try:
                async with self.host.pool.connection() as conn:
                    await attempts_ledger.heartbeat(conn, self.host.instance_id)
                    gone = await agents_ledger.inactive_among(conn, [
                        a for a, s in self.host.sessions.sessions.items() if s.machine.logged_in])
                    if loop.time() >= next_sweep and self.recovery.reconciled.is_set():
                        # Another instance may die while this one stays connected (no
                        # reconnect, so no reconcile): its wrap-ups are settled here.
                        next_sweep = loop.time() + self.host.settings.instance_stale_s
                        await self.recovery.settle_dead_owners(conn)
                        sweep_bridges = True
                self._deactivated_seen &= set(gone)
                for agent_id in gone:
                    # deactivated while logged in: offered no more calls
                    await self._log_out_deactivated(agent_id)
                if sweep_bridges:
                    await self.recovery.sweep_bridges()
            except Exception as exc:
                log.warning("dialer.heartbeat_failed", error=str(exc))
            self.host.metrics.ari_connected.set(
                1 if self.host.stream is not None and self.host.stream.connected.is_set() else 0)
            try:
                async with asyncio.timeout(period):
                    await self.host.stopping.wait()
            except TimeoutError:
                pass

    async def _log_out_deactivated(self, agent_id: int) -> None:
        """An agent deactivated while logged in is offered no more calls: logged out now,
        or when the call in progress ends (a probe saw one kept being offered calls)."""
        if agent_id not in self._deactivated_seen:
            # once per agent: one on a call is asked again at every heartbeat until it ends
            self._deactivated_seen.add(agent_id)
            log.warning("dialer.deactivated_agent_logged_out", agent_id=agent_id)
        try:
            await self.host.sessions.logout(agent_id)
        except Exception as exc:  # noqa: BLE001 - already logging out, or gone meanwhile
            log.info("dialer.deactivated_logout_skipped", agent_id=agent_id, error=str(exc))
