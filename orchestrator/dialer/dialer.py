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
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from psycopg_pool import AsyncConnectionPool

from orchestrator.ami import AmiListener
from orchestrator.ari import AriClient, AriEventStream
from orchestrator.config import Settings
from orchestrator.core import events as ev
from orchestrator.core.calls import CallMachine, CallPlan, CallState
from orchestrator.core.campaigns import CampaignSettings as CoreSettings
from orchestrator.core.commands import (
    Command,
    CountAbandon,
    PublishAttempt,
    RecordOutcome,
    RecordProgress,
)
from orchestrator.core.dialgate import DialGate
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.channels import AriChannelHandlers, ChannelDirectory
from orchestrator.dialer.clock import ServiceClock
from orchestrator.dialer.dial_guard import DialGuard
from orchestrator.dialer.executor import CommandExecutor
from orchestrator.dialer.hangup_witness import HangupWitness
from orchestrator.dialer.kernel.ids import wire_id
from orchestrator.dialer.kernel.ledger_writer import LedgerWriter
from orchestrator.dialer.kernel.tasks import TaskRunner
from orchestrator.dialer.notify.ami import AmiPublisher
from orchestrator.dialer.recovery import ChannelSweep, Heartbeat, Reconciler
from orchestrator.dialer.settings import LEDGER_OUTCOME
from orchestrator.dialer.timers import Timers
from orchestrator.hub import EventHub
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger.pool import AsyncConn
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
        self.tasks = TaskRunner()
        self.spawn = self.tasks.spawn
        self.ledger_write = LedgerWriter(pool, metrics, self.tasks.stopping).write
        self.ami = AmiPublisher(settings, self.hangup_witness)
        self.ami_publish = self.ami.publish
        self.ami_hangup_cause = self.ami.hangup_cause
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
        self.recovery = Reconciler(self)
        self.channel_sweep = ChannelSweep(self, self.recovery)
        self.heartbeat = Heartbeat(self, self.recovery)
        self.channels = AriChannelHandlers(
            self.directory, hangup_orphan=self.recovery.hangup_orphan,
            on_adopted_gone=self.recovery.adopted_gone,
            count_event=lambda t: metrics.ari_events.labels(t).inc())
        self.draining = False

    # ------------------------------------------------------------ plumbing

    def attach_stream(self, stream: AriEventStream) -> None:
        self.stream = stream

    @property
    def running(self) -> bool:
        """The dialer's tasks run (`spawn` works)."""
        return self.tasks.running

    @property
    def reconciled(self) -> asyncio.Event:
        """Set once the first reconciliation after start has completed."""
        return self.recovery.reconciled

    @property
    def stopping(self) -> asyncio.Event:
        return self.tasks.stopping

    def now_s(self) -> float:
        return self.clock.now().timestamp()

    def make_ami_publisher(self) -> AmiListener | None:
        """The AMI listener for our UserEvents (None when disabled or unconfigured)."""
        return self.ami.make_listener()

    async def run(self, tg: asyncio.TaskGroup) -> None:
        """Background loops; returns when `shutdown` has finished."""
        self.tasks.attach(tg)
        self.spawn(self.heartbeat.run(), name="heartbeat")
        self.spawn(self.channel_sweep.run(), name="channel-sweep")
        self.spawn(self.campaigns.run(), name="campaigns")
        if self.ami.listener is not None:
            self.spawn(self.ami.run(), name="ami-publisher")
        await self.stopping.wait()

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
        self.stopping.set()
        self.tasks.cancel("heartbeat", "ami-publisher", "channel-sweep")

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
            self.spawn(self.recovery.destroy_bridge(wire_id(own_bridge)), name=f"bridge-gone-{aid[:8]}")
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

    async def record_progress(self, cmd: RecordProgress) -> None:
        """Write ringing, answered and the AMD verdict once each per attempt."""
        entry = self.calls.get(cmd.attempt_id) or self.ended_calls.get(cmd.attempt_id)
        if entry is None:
            return
        aid = uuid.UUID(cmd.attempt_id)
        try:
            if cmd.ringing and not entry.ringing_seen:
                entry.ringing_seen = True
                await self.ledger_write(attempts_ledger.mark_ringing, aid)
            if cmd.answered:
                await self.mark_answered(cmd.attempt_id)
            if cmd.amd_status is not None and not entry.amd_recorded:
                # Known at once (an agent may report a false positive before the call ends).
                entry.amd_recorded = True
                await self.ledger_write(attempts_ledger.record_amd, aid, cmd.amd_status.value)
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
            "ami_connected": self.ami.connected,
            "instance": self.instance_id,
            "draining": self.draining,
            "calls": len(self.calls),
            "agents": len(self.sessions.sessions),
            "campaigns_running": sorted(self.campaigns.running_names()),
            "dialing": self.dial_guard.status(self.now_s()),
        }
