"""The dialer shell: call and agent actors around the core machines, campaign loops,
reconciliation with Asterisk, heartbeat, AMI UserEvents.

`Dialer` is built by the runtime (the composition root) and lives as long as the
process. Its state is in memory (machines) plus the ledger (the source of truth):

* ``calls``: live attempts of this process, each a `CallMachine` behind an `Actor`.
  Every attempt is committed (write-ahead) before its machine starts.
* ``sessions``: logged-in agents (`AgentSessions`).
* ``runners``: one dialing loop per running campaign (`CampaignRunner`).
* ``directory``: which actor owns which ARI channel (`ChannelDirectory`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from psycopg_pool import AsyncConnectionPool

from orchestrator.api.hub import EventHub
from orchestrator.ari import AriClient, AriEventStream, AriNotFound, AriSnapshot, Bridge
from orchestrator.config import Settings
from orchestrator.core import events as ev
from orchestrator.core.calls import CallMachine, CallPlan, CallState, classify_cause
from orchestrator.core.campaigns import CampaignSettings as CoreSettings
from orchestrator.core.commands import Command, CountAbandon, PublishAttempt, RecordOutcome
from orchestrator.core.dialgate import DialGate
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.channels import AriChannelHandlers, ChannelDirectory
from orchestrator.dialer.clock import ServiceClock
from orchestrator.dialer.dial_guard import DialGuard
from orchestrator.dialer.executor import CommandExecutor, wire_id
from orchestrator.dialer.hangup_witness import HangupWitness
from orchestrator.dialer.settings import LEDGER_OUTCOME
from orchestrator.dialer.timers import Timers
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger.pool import AsyncConn, is_transient
from orchestrator.metrics import DialerMetrics

log = structlog.get_logger("orchestrator.dialer")

T = TypeVar("T")

LEDGER_RETRY_FIRST_S = 0.05
LEDGER_RETRY_MAX_S = 2.0
"""Back-off of a ledger write while the database is unreachable (doubling up to this)."""

_WAITING_AGENT = (CallState.LIVE,)
_IN_FLIGHT = (CallState.CREATED, CallState.AGENT_DIALING, CallState.ORIGINATING,
              CallState.RINGING, CallState.AMD, CallState.LIVE, CallState.CONNECTING)


@dataclass(eq=False)
class CallEntry:
    """One live attempt of this process."""

    machine: CallMachine
    actor: Actor
    campaign_id: int
    campaign_name: str
    target_id: int
    contact_id: int
    e164: str
    agent_id: int | None
    started_at: float
    """Core clock (seconds) when the attempt was started (pacer: time since dial)."""
    originated_generation: int | None = None
    """ARI stream generation when Asterisk accepted the originate."""
    answered_seen: bool = False
    ringing_seen: bool = False
    amd_recorded: bool = False
    connected_at: float | None = None

    @property
    def attempt_id(self) -> str:
        return self.machine.attempt_id


class Dialer:
    def __init__(
        self,
        *,
        pool: AsyncConnectionPool[AsyncConn],
        ari: AriClient,
        settings: Settings,
        instance_id: str,
        hub: EventHub,
        metrics: DialerMetrics,
    ) -> None:
        from orchestrator.dialer.campaigns import CampaignManager
        from orchestrator.dialer.previews import PreviewService
        from orchestrator.dialer.screen_pops import ScreenPops
        from orchestrator.dialer.service import DialerService
        from orchestrator.dialer.sessions import AgentSessions

        self.pool = pool
        self.ari = ari
        self.settings = settings
        # Every dial string passes this gate (core.dialgate): customers by the template and
        # an E.164 number, agents' phones by the admins' rules.
        self.gate = DialGate(settings.customer_endpoint, tuple(
            p.strip() for p in settings.agent_phones.split(",") if p.strip()))
        self.instance_id = instance_id
        self.hub = hub
        self.metrics = metrics
        self.clock = ServiceClock(settings.time_scale)
        self.timers = Timers(self.clock)
        self.directory = ChannelDirectory()
        self.dial_guard = DialGuard()
        """Pauses dialing while Asterisk refuses originates in a burst."""
        self.hangup_witness = HangupWitness()
        """AMI's Hangup causes, for channels whose end ARI could not show us."""
        self.executor = CommandExecutor(self)
        self.stream: AriEventStream | None = None
        self.calls: dict[str, CallEntry] = {}
        self.ended_calls: OrderedDict[str, CallEntry] = OrderedDict()
        self.written_ahead: set[str] = set()
        self.core_campaigns: dict[str, CoreSettings] = {}
        self.sessions = AgentSessions(self)
        self.campaigns = CampaignManager(self)
        self.previews = PreviewService(self)
        self.screen_pops = ScreenPops(self)
        self.service = DialerService(self)
        self.channels = AriChannelHandlers(
            self.directory, hangup_orphan=self._hangup_orphan,
            on_adopted_gone=self._adopted_gone,
            count_event=lambda t: metrics.ari_events.labels(t).inc())
        self.draining = False
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._ami: Any = None
        self._ami_queue: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue(maxsize=10_000)
        self._adopted_companions: dict[str, list[str]] = {}
        # Adopted calls' own bridges (``<uuid>:bridge``): destroyed when the call ends, as
        # _call_ended does for the calls this process placed (an emptied bridge stays).
        self._adopted_bridges: dict[str, str] = {}
        self.reconciled = asyncio.Event()
        """Set once the first reconciliation after start has completed."""
        self._deactivated_seen: set[int] = set()
        self._ghosts: tuple[int, set[str], set[str]] = (0, set(), set())
        """The last channel sweep: ARI generation, ledger-live attempts with no machine and
        no channel, and machines whose channel Asterisk no longer listed."""

    # ------------------------------------------------------------ plumbing

    def attach_stream(self, stream: AriEventStream) -> None:
        self.stream = stream

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Run a task in the process TaskGroup (tracked, cancelled at shutdown)."""
        if self._tg is None:
            raise RuntimeError("the dialer is not running")
        task = self._tg.create_task(self._guarded(coro, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _guarded(coro: Coroutine[Any, Any, Any], name: str | None) -> Any:
        # One failing call, agent or loop must never take the whole service down with it
        # (an exception in a TaskGroup task cancels every other task).
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("dialer.task_failed", task=name)
            return None

    async def ledger_write(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run one ledger call on a pooled connection, again and again while the database
        is unreachable, until it lands.

        Every ledger call made this way is idempotent (a replay of an event already written
        changes nothing and answers as the first did), so a write whose commit was lost with
        its connection is safe to send again. The caller waits: a call's commands run in
        order in its actor, so the writes of one attempt land in the order they were made.
        Given up only when the service stops (the next start's reconcile settles it).
        """
        tries = 0
        while True:
            try:
                async with self.pool.connection() as conn:
                    return await fn(conn, *args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc) or self._stop.is_set():
                    raise
                tries += 1
                self.metrics.ledger_retries.labels(fn.__name__).inc()
                if tries == 1 or tries % 20 == 0:
                    log.warning("dialer.ledger_write_retry", write=fn.__name__, tries=tries,
                                error=type(exc).__name__)
                delay = min(LEDGER_RETRY_MAX_S, LEDGER_RETRY_FIRST_S * 2 ** min(tries, 10))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stop.wait()

    @property
    def running(self) -> bool:
        """The dialer's tasks run (`spawn` works)."""
        return self._tg is not None

    def now_s(self) -> float:
        return self.clock.now().timestamp()

    async def run(self, tg: asyncio.TaskGroup) -> None:
        """Background loops; returns when `shutdown` has finished."""
        self._tg = tg
        self.spawn(self._heartbeat_loop(), name="heartbeat")
        self.spawn(self._channel_sweep_loop(), name="channel-sweep")
        self.spawn(self.campaigns.run(), name="campaigns")
        if self._ami is not None:
            self.spawn(self._ami_loop(), name="ami-publisher")
        await self._stop.wait()

    async def shutdown(self, *, grace: float) -> None:
        """Stop dialing; let calls in progress end (up to ``grace`` s); release leases."""
        self.draining = True
        await self.campaigns.stop_all()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.calls and loop.time() < deadline:  # noqa: ASYNC110 - bounded poll
            await asyncio.sleep(0.05)
        if self.calls:
            log.warning("dialer.shutdown_with_live_calls", calls=len(self.calls),
                        note="left in Asterisk; reconciled at next start")
        self.sessions.logout_all()
        await asyncio.sleep(0)
        deadline2 = loop.time() + min(2.0, grace + 0.5)
        while self.sessions.sessions and loop.time() < deadline2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        try:
            async with self.pool.connection() as conn:
                released = await claims_ledger.release_leases(conn, self.instance_id)
            log.info("dialer.leases_released", count=released)
        except Exception as exc:
            log.warning("dialer.release_leases_failed", error=str(exc))
        for entry in list(self.calls.values()):
            entry.actor.stop()
        for session in list(self.sessions.sessions.values()):
            session.actor.stop()
        self.timers.cancel_all()
        self._stop.set()
        for task in list(self._tasks):
            if task.get_name() in ("heartbeat", "ami-publisher", "channel-sweep"):
                task.cancel()

    # ------------------------------------------------------------- calls

    def customer_endpoint(self, e164: str) -> str:
        return self.gate.customer(e164)

    def start_call(
        self,
        *,
        attempt_id: str,
        campaign_id: int,
        campaign_name: str,
        contact_id: int,
        target_id: int,
        e164: str,
        settings: CoreSettings,
        agent_leg: Any = None,
        agent_id: int | None = None,
    ) -> CallEntry:
        """Start the machine of an attempt already committed by write-ahead."""
        if attempt_id not in self.written_ahead:
            raise RuntimeError(f"attempt {attempt_id}: no write-ahead row, refusing to dial")
        plan = CallPlan(attempt_id, str(campaign_id), str(contact_id), str(target_id), e164,
                        self.customer_endpoint(e164))
        machine = CallMachine(plan, settings, agent=agent_leg)
        entry_box: list[CallEntry] = []

        def step(event: ev.Event) -> list[Command]:
            before = set(machine.channel_ids)
            commands = machine.handle(event, self.clock.now())
            if machine.ended:
                self._call_ended(entry_box[0])
            else:
                # A leg the machine let go of (an agent leg that failed): its late
                # events are no longer this call's business.
                for cid in before - set(machine.channel_ids):
                    self.directory.unregister(wire_id(cid))
            return commands

        actor = Actor(attempt_id, step, self.executor.execute, kind="call")
        actor.context.update(campaign_name=campaign_name, campaign_id=campaign_id)
        entry = CallEntry(machine, actor, campaign_id, campaign_name, target_id, contact_id, e164,
                          agent_id, self.now_s())
        entry_box.append(entry)
        self.calls[attempt_id] = entry
        self.directory.register(attempt_id, actor)
        first = machine.start(self.clock.now())
        self.metrics.calls_in_progress.labels(campaign_name).inc()
        self.campaigns.observe_dial(campaign_id)
        self.spawn(actor.run(first), name=f"call-{attempt_id[:8]}")
        if agent_id is not None:
            self.screen_pops.prefetch(attempt_id)  # the agent's screen pop, loaded now
        return entry

    def _call_ended(self, entry: CallEntry) -> None:
        aid = entry.attempt_id
        if self.calls.pop(aid, None) is None:
            return
        entry.actor.stop()
        self.metrics.calls_in_progress.labels(entry.campaign_name).dec()
        for cid in entry.machine.channel_ids:
            self.directory.unregister(wire_id(cid))
        own_bridge = f"{aid}:bridge"
        if entry.machine.bridge_id == own_bridge:
            # A per-call bridge (agent dialed for this call only): Asterisk never destroys
            # a bridge that empties (traces README, 23), so it would stay for ever.
            self.spawn(self._destroy_bridge(wire_id(own_bridge)), name=f"bridge-gone-{aid[:8]}")
        self.ended_calls[aid] = entry
        while len(self.ended_calls) > 1000:
            self.ended_calls.popitem(last=False)
        self.wake_campaign(entry.campaign_id)

    def note_originated(self, attempt_id: str) -> None:
        entry = self.calls.get(attempt_id)
        if entry is not None and self.stream is not None:
            entry.originated_generation = self.stream.generation

    def post_call(self, attempt_id: str, event: ev.Event) -> None:
        if self.previews.post(attempt_id, event):
            return
        entry = self.calls.get(attempt_id)
        if entry is not None:
            entry.actor.post(event)
            return
        ended = self.ended_calls.get(attempt_id)
        if ended is not None and isinstance(event, ev.AmdFalsePositiveReported):
            # The call is over: its machine only counts the abandon now.
            commands = ended.machine.handle(event, self.clock.now())
            self.spawn(self.executor.execute(commands, ended.actor))
            return
        if isinstance(event, ev.AgentAssigned):
            self.sessions.post(int(event.agent_id), ev.AgentReleased(
                event.agent_id, attempt_id, "call already ended"))

    def call_waits_for_agent(self, attempt_id: str) -> bool:
        entry = self.calls.get(attempt_id)
        return (entry is not None and entry.machine.state in _WAITING_AGENT
                and entry.machine.agent is None)

    def calls_of(self, campaign_id: int) -> list[CallEntry]:
        return [e for e in self.calls.values() if e.campaign_id == campaign_id]

    def lines_in_flight(self, campaign_id: int) -> list[CallEntry]:
        """Calls dialing, ringing or waiting for an agent (not yet connected)."""
        return [e for e in self.calls.values()
                if e.campaign_id == campaign_id and e.machine.state in _IN_FLIGHT]

    def campaign_unstaffed(self, campaign_id: int) -> None:
        """The campaign's last agent left: each of its calls hears it, and those still
        dialing or ringing for nobody hang up (their machines decide which)."""
        entries = self.calls_of(campaign_id)
        log.info("dialer.campaign_unstaffed", campaign_id=campaign_id, calls=len(entries))
        for entry in entries:
            entry.actor.post(ev.CampaignUnstaffed(str(campaign_id)))

    def wake_campaign(self, campaign_id: int) -> None:
        self.campaigns.wake(campaign_id)

    # --------------------------------------------------- observations (pacer)

    async def published_attempt(self, cmd: PublishAttempt, actor: Actor) -> None:
        entry = self.calls.get(cmd.attempt_id) or self.ended_calls.get(cmd.attempt_id)
        agent_id = None
        if entry is not None and entry.machine.agent is not None:
            agent_id = int(entry.machine.agent.agent_id)
        data: dict[str, Any] = {"attempt_id": cmd.attempt_id, "campaign_id": int(cmd.campaign_id),
                                "state": cmd.state}
        if cmd.outcome is not None:
            data["outcome"] = LEDGER_OUTCOME[cmd.outcome]
        self.hub.publish("call.state", data, agent_id=agent_id, campaign_id=int(cmd.campaign_id))
        if entry is None:
            return
        aid = uuid.UUID(cmd.attempt_id)
        try:
            if cmd.state == CallState.RINGING.value and not entry.ringing_seen:
                entry.ringing_seen = True
                await self.ledger_write(attempts_ledger.mark_ringing, aid)
            await self.mark_answered(cmd.attempt_id)
            amd = entry.machine.amd_status
            if amd is not None and not entry.amd_recorded:
                # Known at once (an agent may report a false positive before the call ends).
                entry.amd_recorded = True
                await self.ledger_write(attempts_ledger.record_amd, aid, amd.value)
        except Exception as exc:
            log.warning("dialer.attempt_mark_failed", attempt=cmd.attempt_id, error=str(exc))

    async def mark_answered(self, attempt_id: str) -> None:
        """Write the answer of a call once, as soon as its machine knows of it."""
        entry = self.calls.get(attempt_id) or self.ended_calls.get(attempt_id)
        if entry is None or entry.machine.answered_at is None or entry.answered_seen:
            return
        entry.answered_seen = True
        await self.ledger_write(attempts_ledger.mark_answered, uuid.UUID(attempt_id))

    def on_connected(self, attempt_id: str, agent_id: int) -> None:
        entry = self.calls.get(attempt_id)
        if entry is None:
            return
        entry.agent_id = agent_id
        now = self.now_s()
        entry.connected_at = now
        live_at = entry.machine.live_at or entry.machine.answered_at
        wait = (self.clock.now() - live_at).total_seconds() if live_at else 0.0
        self.campaigns.observe_connect(entry, max(0.0, wait))

    def on_attempt_ended(self, cmd: RecordOutcome, att: attempts_ledger.Attempt, actor: Actor) -> None:
        entry = self.calls.get(cmd.attempt_id) or self.ended_calls.get(cmd.attempt_id)
        if entry is None:
            return
        self.campaigns.observe_outcome(entry, cmd)
        self.ami_publish("attempt", cmd.attempt_id, entry.campaign_name, att.outcome or "",
                         str(entry.agent_id) if entry.agent_id else None, cmd.cause)

    def on_abandon(self, cmd: CountAbandon) -> None:
        entry = self.calls.get(cmd.attempt_id) or self.ended_calls.get(cmd.attempt_id)
        name = entry.campaign_name if entry else ""
        self.metrics.abandons.labels(name).inc()
        self.campaigns.observe_abandon(int(cmd.campaign_id))
        self.hub.publish("call.abandoned", {"attempt_id": cmd.attempt_id, "reason": cmd.reason},
                         campaign_id=int(cmd.campaign_id), audience="supervisors")
        # The information message is an ARI playback: AMI wallboards would see no abandon.
        self.ami_publish("abandon", cmd.attempt_id, name, cmd.reason)

    def on_disposition(self, attempt_id: str, code: str) -> None:
        self.screen_pops.forget(attempt_id)
        entry = self.ended_calls.get(attempt_id)
        if entry is not None:
            self.campaigns.observe_disposition(entry, code)

    # ------------------------------------------------------------ reconcile

    async def reconcile(self, snapshot: AriSnapshot) -> None:
        """After every (re)connect: settle the ledger's live attempts against Asterisk.

        Our own machines whose channel vanished while we were away get ChannelGone (the
        missed events are never replayed); attempts of ours or of dead instances with no
        machine here are adopted (channel still up) or ended with what is known. Nothing
        is ever redialed.
        """
        live = set(snapshot.channels)
        for entry in list(self.calls.values()):
            gen = entry.originated_generation
            if gen is not None and gen < snapshot.generation and entry.attempt_id not in live:
                entry.actor.post(ev.ChannelGone(entry.attempt_id, 0, "gone while disconnected",
                                                unseen=True))
        for session in list(self.sessions.sessions.values()):
            leg = session.machine.leg_id
            if leg is not None and wire_id(leg) not in live and snapshot.generation > 1:
                session.actor.post(ev.ChannelGone(leg, 0, "gone while disconnected"))
        managed = {aid for aid, e in self.calls.items() if not e.machine.ended}
        stale = timedelta(seconds=self.settings.instance_stale_s)
        async with self.pool.connection() as conn:
            result = await attempts_ledger.reconcile(conn, self.instance_id, live | managed,
                                                     stale_after=stale)
            presumed = set(result.presumed_abandoned)
            for att in result.finished:
                self.metrics.reconciled.labels("ended").inc()
                if att.id in presumed:
                    self._presumed_abandon(att)
                if att.dispositioned_at is None:
                    # Its agent session (if any) died with the process that ran it.
                    await attempts_ledger.auto_disposition(conn, att.id)
            if not self.reconciled.is_set():
                # Leases under our instance id are from this instance's previous life (a
                # crash): nothing here holds them, so give them back now rather than wait
                # for them to expire.
                released = await claims_ledger.release_leases(conn, self.instance_id)
                if released:
                    log.info("dialer.stale_leases_released", count=released)
                # At start no agent of this process can be in wrap-up: calls this
                # instance ended before it stopped and nobody dispositioned are settled
                # from their outcome (or they would block their contact for ever).
                for att in await attempts_ledger.undispositioned_attempts(conn):
                    if att.owner == self.instance_id:
                        await attempts_ledger.auto_disposition(conn, att.id)
                        self.metrics.reconciled.labels("dispositioned").inc()
            await self._settle_dead_owners(conn)
        adopted = 0
        for att in result.still_live:
            aid = str(att.id)
            if aid in self.calls:
                continue
            adopted += 1
            await self._adopt(att, snapshot)
        orphans = self._orphan_channels(snapshot)
        for cid in orphans:
            self._hangup_orphan(cid)
        bridges = await self._leftover_bridges(snapshot.bridges)
        for bid in bridges:
            self.spawn(self._destroy_bridge(bid, only_if_empty=True), name="leftover-bridge")
        if result.finished or adopted or orphans or bridges:
            log.info("dialer.reconciled", ended=len(result.finished), adopted=adopted,
                     orphans_hung_up=len(orphans), empty_bridges=len(bridges),
                     generation=snapshot.generation)
        self.reconciled.set()

    def _presumed_abandon(self, att: attempts_ledger.Attempt) -> None:
        """An attempt that ended while no dialer watched it, counted as an abandon by the
        ledger (attempts.presume_abandoned): the pacer, the metrics and supervisors hear it."""
        runner = self.campaigns.runners.get(att.campaign_id)
        name = runner.campaign.name if runner is not None else ""
        log.warning("dialer.abandon_presumed", attempt=str(att.id), campaign=name or att.campaign_id)
        self.metrics.abandons.labels(name).inc()
        self.campaigns.observe_abandon(att.campaign_id)
        self.hub.publish("call.abandoned", {"attempt_id": str(att.id), "reason": "presumed"},
                         campaign_id=att.campaign_id, audience="supervisors")
        self.ami_publish("abandon", str(att.id), name, "presumed")

    async def _settle_dead_owners(self, conn: AsyncConn) -> int:
        """Ended attempts of dead instances (stale heartbeat) that nobody dispositioned: their
        agents' wrap-up died with them. Settled from their outcome (automatic disposition)."""
        stale = timedelta(seconds=self.settings.instance_stale_s)
        settled = 0
        for att in await attempts_ledger.undispositioned_of_dead_owners(
                conn, stale_after=stale, exclude_owner=self.instance_id):
            await attempts_ledger.auto_disposition(conn, att.id)
            self.metrics.reconciled.labels("dispositioned").inc()
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
        for bid, bridge in found.items():
            if bridge.channels:
                continue
            attempt = _call_bridge_attempt(bid)
            if attempt is not None:
                if attempt not in self.calls:
                    calls[attempt] = bid
                continue
            agent = _agent_bridge_agent(bid)
            if agent is not None and agent not in self.sessions.sessions:
                agents[agent] = bid
        if not calls and not agents:
            return []
        stale = timedelta(seconds=self.settings.instance_stale_s)
        async with self.pool.connection() as conn:
            live_elsewhere = await attempts_ledger.live_attempts_elsewhere(
                conn, list(calls), me=self.instance_id, stale_after=stale)
            hosted = await agents_ledger.agents_hosted_elsewhere(
                conn, list(agents), me=self.instance_id, stale_after=stale)
        return sorted([bid for aid, bid in calls.items() if aid not in live_elsewhere]
                      + [bid for agent, bid in agents.items() if agent not in hosted])

    async def _sweep_bridges(self) -> None:
        """Empty bridges of ours that nothing alive uses, found while connected: a call's
        bridge can empty after the reconcile, when a leg a crashed process left in it is
        hung up, and Asterisk keeps an emptied bridge for ever (traces README, 23)."""
        if self.stream is None or not self.stream.connected.is_set():
            return
        found = {b.id: b for b in await self.ari.list_bridges()}
        for bid in await self._leftover_bridges(found):
            log.info("dialer.leftover_bridge", bridge=bid)
            await self._destroy_bridge(bid, only_if_empty=True)

    async def _destroy_bridge(self, bridge_id: str, *, only_if_empty: bool = False) -> None:
        try:
            if only_if_empty:
                # Checked again just before: a bridge filled since the snapshot stays.
                bridge = await self.ari.get_bridge(bridge_id)
                if bridge.channels:
                    return
            await self.ari.destroy_bridge(bridge_id)
            self.metrics.reconciled.labels("bridge_destroyed").inc()
        except AriNotFound:
            pass
        except Exception as exc:
            log.info("dialer.bridge_destroy_failed", bridge=bridge_id, error=str(exc))

    def _orphan_channels(self, snapshot: AriSnapshot) -> list[str]:
        """Channels in our app that nothing here owns: legs left by a crashed process
        (an agent's phone leg, a call's agent leg). Channels sharing a bridge with an
        adopted call are kept: that is a conversation in progress."""
        keep = set(self.directory.owned_ids()) | set(self.directory.adopted)
        for bridge in snapshot.bridges.values():
            if keep.intersection(bridge.channels):
                keep.update(bridge.channels)
        return sorted(cid for cid in snapshot.app_channel_ids
                      if cid not in keep and cid.split(";")[0] not in keep
                      and cid.split(";")[0] not in self.calls)

    async def _adopt(self, att: attempts_ledger.Attempt, snapshot: AriSnapshot) -> None:
        aid = str(att.id)
        channel = snapshot.channels.get(aid)
        bridged = any(aid in b.channels for b in snapshot.bridges.values()) if channel else False
        self.directory.adopted.add(aid)
        if channel is not None and channel.state == "Up" and bridged:
            # A conversation in progress: leave it alone, end the attempt when it ends
            # (and then hang up the agent leg the crashed process left in its bridge).
            for bid, b in snapshot.bridges.items():
                if aid in b.channels:
                    self._adopted_companions[aid] = [c for c in b.channels if c != aid]
                    if _call_bridge_attempt(bid) == aid:
                        self._adopted_bridges[aid] = bid
            self.metrics.reconciled.labels("adopted").inc()
            log.info("dialer.adopted_call", attempt=aid)
            return
        self.metrics.reconciled.labels("hung_up").inc()
        if channel is not None and channel.state == "Up":
            # Answered and not connected to anyone: for the customer that is an abandon.
            async with self.pool.connection() as conn:
                await attempts_ledger.mark_abandoned(conn, att.id)
        try:
            await self.ari.hangup(aid)
        except AriNotFound:
            # Gone between the snapshot and now: its end event may never come.
            if aid in self.directory.adopted:
                self.directory.adopted.discard(aid)
                self._adopted_gone(aid, 0, "gone before hangup")
        except Exception as exc:
            log.info("dialer.adopted_hangup_failed", attempt=aid, error=str(exc))

    def _adopted_gone(self, channel_id: str, cause: int, cause_txt: str) -> None:
        companions = self._adopted_companions.pop(channel_id, [])
        own_bridge = self._adopted_bridges.pop(channel_id, None)

        async def end() -> None:
            for other in companions:
                with contextlib.suppress(Exception):
                    await self.ari.hangup(other)
            if own_bridge is not None:
                await self._destroy_bridge(own_bridge)
            implied = classify_cause(cause)
            outcome = LEDGER_OUTCOME[implied] if implied is not None else None
            async with self.pool.connection() as conn:
                try:
                    att = await attempts_ledger.end_attempt(
                        conn, uuid.UUID(channel_id), outcome=outcome, cause=cause,
                        cause_txt=f"adopted; {cause_txt}"[:200])
                    if att.dispositioned_at is None:
                        await attempts_ledger.auto_disposition(conn, att.id)
                except attempts_ledger.AttemptError as exc:
                    log.info("dialer.adopted_end_failed", channel=channel_id, error=str(exc))

        self.spawn(end(), name=f"adopted-end-{channel_id[:8]}")

    def _hangup_orphan(self, channel_id: str) -> None:
        async def hangup() -> None:
            with contextlib.suppress(Exception):
                await self.ari.hangup(channel_id)

        self.spawn(hangup(), name="orphan-hangup")

    # -------------------------------------------------------- channel sweep

    async def _channel_sweep_loop(self) -> None:
        # Twice per period: a ghost is confirmed on its second sighting, so it lives at
        # most one period after its channel went.
        half = self.settings.reconcile_period_s / 2
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(half):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            try:
                await self.sweep_channels()
            except Exception as exc:
                log.warning("dialer.channel_sweep_failed", error=str(exc))

    def _managed_attempts(self) -> set[str]:
        """Attempts something in this process still looks after: a live machine, a machine
        whose last commands (its outcome write) are still running, a write-ahead not yet
        started, an adopted call."""
        busy = {aid for aid, e in self.ended_calls.items() if not e.actor.done.is_set()}
        return set(self.calls) | busy | set(self.written_ahead) | set(self.directory.adopted)

    async def sweep_channels(self) -> None:
        """Settle the ledger against ``GET /channels`` while connected (the reconcile after a
        reconnect covers the rest): a live attempt of ours that no machine here looks after
        and whose channel is gone ends (a ghost: its outcome write was lost); a machine whose
        channel is gone with no word of its end hears ChannelGone. Both only when seen twice
        in a row under one connection, so an attempt being written ahead, a channel being
        originated or an end event on its way is never taken for one."""
        stream = self.stream
        if stream is None or not stream.connected.is_set() or not self.reconciled.is_set():
            self._ghosts = (0, set(), set())
            return
        generation = stream.generation
        channels = {c.id for c in await self.ari.list_channels()}
        async with self.pool.connection() as conn:
            live = await attempts_ledger.live_attempts(conn, self.instance_id)
        managed = self._managed_attempts()  # read after the ledger: a newer attempt is in it
        ghosts = {str(a.id) for a in live} - channels - managed
        silent = {aid for aid, e in self.calls.items()
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
            ended = await self.ledger_write(attempts_ledger.end_unseen, uuid.UUID(aid),
                                            owner=self.instance_id,
                                            reason="reconciled: no channel and no machine")
            if ended is None:
                continue
            att, presumed = ended
            self.metrics.reconciled.labels("ghost_ended").inc()
            log.warning("dialer.ghost_attempt_ended", attempt=aid, outcome=att.outcome)
            if presumed:
                self._presumed_abandon(att)
            if att.dispositioned_at is None and (
                    att.agent_id is None or att.agent_id not in self.sessions.sessions):
                # an agent still logged in here dispositions it from wrap-up as usual
                await self.ledger_write(attempts_ledger.auto_disposition, att.id)
        for aid in sorted(silent & last_silent if same else ()):
            entry = self.calls.get(aid)
            if entry is None or entry.machine.ended:
                continue
            self.metrics.reconciled.labels("channel_vanished").inc()
            log.warning("dialer.channel_vanished", attempt=aid)
            entry.actor.post(ev.ChannelGone(aid, 0, "gone without an end event", unseen=True))

    # ------------------------------------------------------------ heartbeat

    async def _heartbeat_loop(self) -> None:
        period = self.settings.heartbeat_s
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self.settings.instance_stale_s
        while not self._stop.is_set():
            sweep_bridges = False
            try:
                async with self.pool.connection() as conn:
                    await attempts_ledger.heartbeat(conn, self.instance_id)
                    gone = await agents_ledger.inactive_among(conn, [
                        a for a, s in self.sessions.sessions.items() if s.machine.logged_in])
                    if loop.time() >= next_sweep and self.reconciled.is_set():
                        # Another instance may die while this one stays connected (no
                        # reconnect, so no reconcile): its wrap-ups are settled here.
                        next_sweep = loop.time() + self.settings.instance_stale_s
                        await self._settle_dead_owners(conn)
                        sweep_bridges = True
                self._deactivated_seen &= set(gone)
                for agent_id in gone:
                    # deactivated while logged in: offered no more calls
                    await self._log_out_deactivated(agent_id)
                if sweep_bridges:
                    await self._sweep_bridges()
            except Exception as exc:
                log.warning("dialer.heartbeat_failed", error=str(exc))
            self.metrics.ari_connected.set(
                1 if self.stream is not None and self.stream.connected.is_set() else 0)
            try:
                async with asyncio.timeout(period):
                    await self._stop.wait()
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
            await self.sessions.logout(agent_id)
        except Exception as exc:  # noqa: BLE001 - already logging out, or gone meanwhile
            log.info("dialer.deactivated_logout_skipped", agent_id=agent_id, error=str(exc))

    # ------------------------------------------------------------------ AMI

    def make_ami_publisher(self) -> Any:
        """The AMI listener for our UserEvents (None when disabled or unconfigured)."""
        s = self.settings
        if not s.ami_enabled or not s.ami_secret.get_secret_value():
            return None
        from orchestrator.ami import AmiConfig, AmiListener

        self._ami = AmiListener(AmiConfig(host=s.ami_host, port=s.ami_port, username=s.ami_user,
                                          secret=s.ami_secret.get_secret_value()),
                                handler=self.hangup_witness)
        return self._ami

    async def ami_hangup_cause(self, channel_id: str, within: float = 1.0) -> tuple[int, str] | None:
        """The cause AMI reported for a channel (None when AMI is off or said nothing)."""
        if self._ami is None or not self._ami.connected.is_set():
            return None
        return await self.hangup_witness.cause_of(channel_id, within)

    def ami_publish(self, kind: str, *args: Any) -> None:
        """Queue a UserEvent for supervisors' AMI tools (dropped when AMI is down)."""
        if self._ami is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._ami_queue.put_nowait((kind, args))

    async def _ami_loop(self) -> None:
        ami = self._ami
        while True:
            kind, args = await self._ami_queue.get()
            if not ami.connected.is_set():
                continue
            try:
                if kind == "agent":
                    await ami.publish_agent_state(args[0], args[1], campaign=args[2], reason=args[3])
                elif kind == "attempt":
                    await ami.publish_attempt(args[0], args[1], args[2], agent=args[3], cause=args[4])
                elif kind == "stats":
                    await ami.publish_campaign_stats(args[0])
                elif kind == "abandon":
                    await ami.publish_abandon(args[0], args[1], args[2])
            except Exception as exc:
                log.debug("dialer.ami_publish_failed", kind=kind, error=str(exc))

    # --------------------------------------------------------------- health

    async def health(self) -> dict[str, Any]:
        db_ok = True
        try:
            async with asyncio.timeout(2.0), self.pool.connection() as conn:
                await conn.execute("SELECT 1")
        except Exception:
            db_ok = False
        ari_ok = self.stream is not None and self.stream.connected.is_set()
        return {
            "ok": db_ok,
            "database": db_ok,
            "ari_connected": ari_ok,
            "ami_connected": bool(self._ami is not None and self._ami.connected.is_set()),
            "instance": self.instance_id,
            "draining": self.draining,
            "calls": len(self.calls),
            "agents": len(self.sessions.sessions),
            "campaigns_running": sorted(self.campaigns.running_names()),
            "dialing": self.dial_guard.status(self.now_s()),
        }


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
    if len(parts) == 3 and parts[0] == "agent" and parts[2] == "bridge" and parts[1].isascii() and parts[1].isdigit():
        return int(parts[1])
    return None
