"""Reconciliation after every (re)connect of the ARI socket, adoption of calls a crashed
process left up, and the clean-up of what such a process left in Asterisk (orphan
legs, empty bridges).

The ledger is the source of truth; Asterisk's snapshot says what is still up. Nothing
is ever redialed: an attempt in doubt is adopted (its channel is up) or ended with what
is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from datetime import timedelta

import structlog

from orchestrator.ari import AriNotFound, AriSnapshot, Bridge
from orchestrator.core import events as ev
from orchestrator.core.calls import classify_cause
from orchestrator.dialer.kernel.ids import ascii_int, wire_id
from orchestrator.dialer.recovery.host import RecoveryHost
from orchestrator.dialer.settings import LEDGER_OUTCOME
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger.pool import AsyncConn

log = structlog.get_logger("orchestrator.dialer")


class Reconciler:
    """Settles the ledger against Asterisk after a (re)connect; owns adopted calls."""

    def __init__(self, host: RecoveryHost) -> None:
        self.host = host
        self.reconciled = asyncio.Event()
        """Set once the first reconciliation after start has completed."""
        self._adopted_companions: dict[str, list[str]] = {}
        # Adopted calls' own bridges (``<uuid>:bridge``): destroyed when the call ends, as
        # the call registry does for the calls this process placed (an emptied bridge stays).
        self._adopted_bridges: dict[str, str] = {}


    async def reconcile(self, snapshot: AriSnapshot) -> None:
        """After every (re)connect: settle the ledger's live attempts against Asterisk.

        Our own machines whose channel vanished while we were away get ChannelGone (the
        missed events are never replayed); attempts of ours or of dead instances with no
        machine here are adopted (channel still up) or ended with what is known. Nothing
        is ever redialed.
        """
        live = set(snapshot.channels)
        for entry in list(self.host.calls.values()):
            gen = entry.originated_generation
            if gen is not None and gen < snapshot.generation and entry.attempt_id not in live:
                entry.actor.post(ev.ChannelGone(entry.attempt_id, 0, "gone while disconnected",
                                                unseen=True))
        for session in list(self.host.sessions.sessions.values()):
            leg = session.machine.leg_id
            if leg is not None and wire_id(leg) not in live and snapshot.generation > 1:
                session.actor.post(ev.ChannelGone(leg, 0, "gone while disconnected"))
        managed = {aid for aid, e in self.host.calls.items() if not e.machine.ended}
        stale = timedelta(seconds=self.host.settings.instance_stale_s)
        async with self.host.pool.connection() as conn:
            result = await attempts_ledger.reconcile(conn, self.host.instance_id, live | managed,
                                                     stale_after=stale)
            presumed = set(result.presumed_abandoned)
            for att in result.finished:
                self.host.metrics.reconciled.labels("ended").inc()
                if att.id in presumed:
                    self.presumed_abandon(att)
                if att.dispositioned_at is None:
                    # Its agent session (if any) died with the process that ran it.
                    await attempts_ledger.auto_disposition(conn, att.id)
            if not self.reconciled.is_set():
                # Leases under our instance id are from this instance's previous life (a
                # crash): nothing here holds them, so give them back now rather than wait
                # for them to expire.
                released = await claims_ledger.release_leases(conn, self.host.instance_id)
                if released:
                    log.info("dialer.stale_leases_released", count=released)
                # At start no agent of this process can be in wrap-up: calls this
                # instance ended before it stopped and nobody dispositioned are settled
                # from their outcome (or they would block their contact for ever).
                for att in await attempts_ledger.undispositioned_attempts(conn):
                    if att.owner == self.host.instance_id:
                        await attempts_ledger.auto_disposition(conn, att.id)
                        self.host.metrics.reconciled.labels("dispositioned").inc()
            await self.settle_dead_owners(conn)
        adopted = 0
        for att in result.still_live:
            aid = str(att.id)
            if aid in self.host.calls:
                continue
            adopted += 1
            await self._adopt(att, snapshot)
        orphans = self._orphan_channels(snapshot)
        for cid in orphans:
            self.hangup_orphan(cid)
        bridges = await self._leftover_bridges(snapshot.bridges)
        for bid in bridges:
            self.host.spawn(self.destroy_bridge(bid, only_if_empty=True), name="leftover-bridge")
        if result.finished or adopted or orphans or bridges:
            log.info("dialer.reconciled", ended=len(result.finished), adopted=adopted,
                     orphans_hung_up=len(orphans), empty_bridges=len(bridges),
                     generation=snapshot.generation)
        self.reconciled.set()

    def presumed_abandon(self, att: attempts_ledger.Attempt) -> None:
        """An attempt that ended while no dialer watched it, counted as an abandon by the
        ledger (attempts.presume_abandoned): the pacer, the metrics and supervisors hear it."""
        runner = self.host.campaigns.runners.get(att.campaign_id)
        name = runner.campaign.name if runner is not None else ""
        log.warning("dialer.abandon_presumed", attempt=str(att.id), campaign=name or att.campaign_id)
        self.host.metrics.abandons.labels(name).inc()
        self.host.campaigns.observe_abandon(att.campaign_id)
        self.host.hub.publish("call.abandoned", {"attempt_id": str(att.id), "reason": "presumed"},
                         campaign_id=att.campaign_id, audience="supervisors")
        self.host.ami_publish("abandon", str(att.id), name, "presumed")

    async def settle_dead_owners(self, conn: AsyncConn) -> int:
        """Ended attempts of dead instances (stale heartbeat) that nobody dispositioned: their
        agents' wrap-up died with them. Settled from their outcome (automatic disposition)."""
        stale = timedelta(seconds=self.host.settings.instance_stale_s)
        settled = 0
        for att in await attempts_ledger.undispositioned_of_dead_owners(
                conn, stale_after=stale, exclude_owner=self.host.instance_id):
            await attempts_ledger.auto_disposition(conn, att.id)
            self.host.metrics.reconciled.labels("dispositioned").inc()
            settled += 1
        if settled:
            log.info("dialer.dead_owner_attempts_settled", count=settled)
        return settled

    async def _leftover_bridges(self, found: Mapping[str, Bridge]) -> list[str]:
        """Empty bridges with our ids that nothing alive uses: left by a crashed process
        (an agent's bridge, a call's per-call bridge). Kept: bridges of this process's
        agents and calls, of calls live in the ledger under another instance, and of
        agents that may be logged in on another live instance."""
        calls: dict[str, str] = {}
        agents: dict[int, str] = {}
        supervisions: list[str] = []
        for bid, bridge in found.items():
            if bridge.channels:
                continue
            if self.host.supervision.leftover_bridge(bid):
                supervisions.append(bid)  # a supervision's bridge is empty only for a moment
                continue
            attempt = _call_bridge_attempt(bid)
            if attempt is not None:
                if attempt not in self.host.calls:
                    calls[attempt] = bid
                continue
            agent = _agent_bridge_agent(bid)
            if agent is not None and agent not in self.host.sessions.sessions:
                agents[agent] = bid
        if not calls and not agents:
            return sorted(supervisions)
        stale = timedelta(seconds=self.host.settings.instance_stale_s)
        async with self.host.pool.connection() as conn:
            live_elsewhere = await attempts_ledger.live_attempts_elsewhere(
                conn, list(calls), me=self.host.instance_id, stale_after=stale)
            hosted = await agents_ledger.agents_hosted_elsewhere(
                conn, list(agents), me=self.host.instance_id, stale_after=stale)
        return sorted([bid for aid, bid in calls.items() if aid not in live_elsewhere]
                      + [bid for agent, bid in agents.items() if agent not in hosted]
                      + supervisions)

    async def sweep_bridges(self) -> None:
        """Empty bridges of ours that nothing alive uses, found while connected: a call's
        bridge can empty after the reconcile, when a leg a crashed process left in it is
        hung up, and Asterisk keeps an emptied bridge for ever (traces README, 23)."""
        if self.host.stream is None or not self.host.stream.connected.is_set():
            return
        found = {b.id: b for b in await self.host.ari.list_bridges()}
        for bid in await self._leftover_bridges(found):
            log.info("dialer.leftover_bridge", bridge=bid)
            await self.destroy_bridge(bid, only_if_empty=True)

    async def destroy_bridge(self, bridge_id: str, *, only_if_empty: bool = False) -> None:
        try:
            if only_if_empty:
                # Checked again just before: a bridge filled since the snapshot stays.
                bridge = await self.host.ari.get_bridge(bridge_id)
                if bridge.channels:
                    return
            await self.host.ari.destroy_bridge(bridge_id)
            self.host.metrics.reconciled.labels("bridge_destroyed").inc()
        except AriNotFound:
            pass
        except Exception as exc:
            log.info("dialer.bridge_destroy_failed", bridge=bridge_id, error=str(exc))

    def _orphan_channels(self, snapshot: AriSnapshot) -> list[str]:
        """Channels in our app that nothing here owns: legs left by a crashed process
        (an agent's phone leg, a call's agent leg). Channels sharing a bridge with an
        adopted call are kept: that is a conversation in progress; but not a supervisor's
        leg barging into it, whose supervision died with the process."""
        keep = set(self.host.directory.owned_ids()) | set(self.host.directory.adopted)
        made_by_supervision = self.host.supervision.made_by_supervision
        for bridge in snapshot.bridges.values():
            if keep.intersection(bridge.channels):
                keep.update(c for c in bridge.channels if not made_by_supervision(c))
        return sorted(cid for cid in snapshot.app_channel_ids
                      if cid not in keep and cid.split(";")[0] not in keep
                      and cid.split(";")[0] not in self.host.calls)

    async def _adopt(self, att: attempts_ledger.Attempt, snapshot: AriSnapshot) -> None:
        aid = str(att.id)
        channel = snapshot.channels.get(aid)
        bridged = any(aid in b.channels for b in snapshot.bridges.values()) if channel else False
        self.host.directory.adopted.add(aid)
        if channel is not None and channel.state == "Up" and bridged:
            # A conversation in progress: leave it alone, end the attempt when it ends
            # (and then hang up the agent leg the crashed process left in its bridge).
            for bid, b in snapshot.bridges.items():
                if aid in b.channels:
                    self._adopted_companions[aid] = [c for c in b.channels if c != aid]
                    if _call_bridge_attempt(bid) == aid:
                        self._adopted_bridges[aid] = bid
            self.host.metrics.reconciled.labels("adopted").inc()
            log.info("dialer.adopted_call", attempt=aid)
            return
        self.host.metrics.reconciled.labels("hung_up").inc()
        if channel is not None and channel.state == "Up":
            # Answered and not connected to anyone: for the customer that is an abandon.
            async with self.host.pool.connection() as conn:
                await attempts_ledger.mark_abandoned(conn, att.id)
        try:
            await self.host.ari.hangup(aid)
        except AriNotFound:
            # Gone between the snapshot and now: its end event may never come.
            if aid in self.host.directory.adopted:
                self.host.directory.adopted.discard(aid)
                self.adopted_gone(aid, 0, "gone before hangup")
        except Exception as exc:
            log.info("dialer.adopted_hangup_failed", attempt=aid, error=str(exc))

    def adopted_gone(self, channel_id: str, cause: int, cause_txt: str) -> None:
        companions = self._adopted_companions.pop(channel_id, [])
        own_bridge = self._adopted_bridges.pop(channel_id, None)

        async def end() -> None:
            for other in companions:
                with contextlib.suppress(Exception):
                    await self.host.ari.hangup(other)
            if own_bridge is not None:
                await self.destroy_bridge(own_bridge)
            implied = classify_cause(cause)
            outcome = LEDGER_OUTCOME[implied] if implied is not None else None
            async with self.host.pool.connection() as conn:
                try:
                    att = await attempts_ledger.end_attempt(
                        conn, uuid.UUID(channel_id), outcome=outcome, cause=cause,
                        cause_txt=f"adopted; {cause_txt}"[:200])
                    if att.dispositioned_at is None:
                        await attempts_ledger.auto_disposition(conn, att.id)
                except attempts_ledger.AttemptError as exc:
                    log.info("dialer.adopted_end_failed", channel=channel_id, error=str(exc))

        self.host.spawn(end(), name=f"adopted-end-{channel_id[:8]}")

    def hangup_orphan(self, channel_id: str) -> None:
        async def hangup() -> None:
            with contextlib.suppress(Exception):
                await self.host.ari.hangup(channel_id)

        self.host.spawn(hangup(), name="orphan-hangup")


_UUID_LEN = 36


def _call_bridge_attempt(bridge_id: str) -> str | None:
    """The attempt id of a call's own bridge id (``<uuid>:bridge``), else None."""
    head, sep, tail = bridge_id.partition(":")
    if sep and tail == "bridge" and len(head) == _UUID_LEN:
        try:
            return str(uuid.UUID(head))
        except ValueError:
            return None
    return None


def _agent_bridge_agent(bridge_id: str) -> int | None:
    """The agent id of an agent's bridge id (``agent.<id>.bridge`` on the wire), else None."""
    parts = bridge_id.split(".")
    if len(parts) == 3 and parts[0] == "agent" and parts[2] == "bridge":
        return ascii_int(parts[1])
    return None
