"""The channel sweep: while connected, settle the ledger against ``GET /channels``
(ghost attempts whose outcome write was lost; machines whose channel vanished without
an end event)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import structlog

from orchestrator.core import events as ev
from orchestrator.dialer.recovery.host import RecoveryHost
from orchestrator.dialer.recovery.reconcile import Reconciler
from orchestrator.ledger import attempts as attempts_ledger

log = structlog.get_logger("orchestrator.dialer")


class ChannelSweep:
    def __init__(self, host: RecoveryHost, recovery: Reconciler) -> None:
        self.host = host
        self.recovery = recovery
        self._ghosts: tuple[int, set[str], set[str]] = (0, set(), set())
        """The last sweep: ARI generation, ledger-live attempts with no machine and no
        channel, and machines whose channel Asterisk no longer listed."""


    async def run(self) -> None:
        # Twice per period: a ghost is confirmed on its second sighting, so it lives at
        # most one period after its channel went.
        half = self.host.settings.reconcile_period_s / 2
        while not self.host.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(half):
                    await self.host.stopping.wait()
            if self.host.stopping.is_set():
                return
            try:
                await self.sweep_channels()
            except Exception as exc:
                log.warning("dialer.channel_sweep_failed", error=str(exc))

    def _managed_attempts(self) -> set[str]:
        """Attempts something in this process still looks after: a live machine, a machine
        whose last commands (its outcome write) are still running, a write-ahead not yet
        started, an adopted call."""
        busy = {aid for aid, e in self.host.ended_calls.items() if not e.actor.done.is_set()}
        return set(self.host.calls) | busy | set(self.host.written_ahead) | set(self.host.directory.adopted)

    async def sweep_channels(self) -> None:
        """Settle the ledger against ``GET /channels`` while connected (the reconcile after a
        reconnect covers the rest): a live attempt of ours that no machine here looks after
        and whose channel is gone ends (a ghost: its outcome write was lost); a machine whose
        channel is gone with no word of its end hears ChannelGone. Both only when seen twice
        in a row under one connection, so an attempt being written ahead, a channel being
        originated or an end event on its way is never taken for one."""
        stream = self.host.stream
        if stream is None or not stream.connected.is_set() or not self.recovery.reconciled.is_set():
            self._ghosts = (0, set(), set())
            return
        generation = stream.generation
        channels = {c.id for c in await self.host.ari.list_channels()}
        async with self.host.pool.connection() as conn:
            live = await attempts_ledger.live_attempts(conn, self.host.instance_id)
        managed = self._managed_attempts()  # read after the ledger: a newer attempt is in it
        ghosts = {str(a.id) for a in live} - channels - managed
        silent = {aid for aid, e in self.host.calls.items()
                  if e.originated_generation is not None and not e.machine.ended
                  and aid not in channels and e.actor.backlog == 0}
        if stream.generation != generation:
            self._ghosts = (0, set(), set())
            return
        last_gen, last_ghosts, last_silent = self._ghosts
        same = last_gen == generation
        self._ghosts = (generation, ghosts, silent)
        for aid in sorted(ghosts & last_ghosts if same else ()):
            if aid in self._managed_attempts():
                continue
            ended = await self.host.ledger_write(attempts_ledger.end_unseen, uuid.UUID(aid),
                                            owner=self.host.instance_id,
                                            reason="reconciled: no channel and no machine")
            if ended is None:
                continue
            att, presumed = ended
            self.host.metrics.reconciled.labels("ghost_ended").inc()
            log.warning("dialer.ghost_attempt_ended", attempt=aid, outcome=att.outcome)
            if presumed:
                self.recovery.presumed_abandon(att)
            if att.dispositioned_at is None and (
                    att.agent_id is None or att.agent_id not in self.host.sessions.sessions):
                # an agent still logged in here dispositions it from wrap-up as usual
                await self.host.ledger_write(attempts_ledger.auto_disposition, att.id)
        for aid in sorted(silent & last_silent if same else ()):
            entry = self.host.calls.get(aid)
            if entry is None or entry.machine.ended:
                continue
            self.host.metrics.reconciled.labels("channel_vanished").inc()
            log.warning("dialer.channel_vanished", attempt=aid)
            entry.actor.post(ev.ChannelGone(aid, 0, "gone without an end event", unseen=True))
