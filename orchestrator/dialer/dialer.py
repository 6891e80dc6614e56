"""The dialer shell's bundle: the one object that wires the dialer's domains together.

`Dialer` is built by the runtime (the composition root) and lives as long as the
process. Each domain declares what it needs of the others as narrow protocols in its
own ``host.py`` and is handed this bundle, which has those members (mypy checks it);
no domain imports another (import-linter's independence contract):

* ``telephony``: ARI requests out, wire events in (``directory``: which actor owns which
  channel; ``channels``: the handlers), the dial guard, the AMI hangup witness.
* ``call_registry`` / ``call_records``: live attempts of this process, each a
  `CallMachine` behind an `Actor` (committed by write-ahead before it starts), and what
  they write to the ledger.
* ``sessions``: logged-in agents and which agent takes which call.
* ``campaigns``: one dialing loop per running campaign, and its pacer.
* ``previews``: targets shown to an agent before any dial.
* ``callbacks``: due callbacks claimed and placed with agents (before a campaign's list).
* ``supervision``: supervisors listening, whispering or barging into live calls.
* ``screen_pops``, ``ami``: what agents' pages and supervisors' AMI tools are told.
* ``recovery``: reconciliation with Asterisk, adoption, sweeps, heartbeat.
* ``executor``: the `CommandRouter`, every actor's commands to the domain that owns them.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import structlog
from psycopg_pool import AsyncConnectionPool

from orchestrator.ami import AmiListener
from orchestrator.ari import AriClient, AriEventStream
from orchestrator.config import Settings
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.core.dialgate import DialGate
from orchestrator.dialer.agents import AgentSessions
from orchestrator.dialer.callbacks import CallbackScheduler
from orchestrator.dialer.calls import CallRecords, CallRegistry
from orchestrator.dialer.campaigns import CampaignManager
from orchestrator.dialer.clock import ServiceClock
from orchestrator.dialer.kernel.ledger_writer import LedgerWriter
from orchestrator.dialer.kernel.tasks import TaskRunner
from orchestrator.dialer.notify.ami import AmiPublisher
from orchestrator.dialer.notify.screen_pops import ScreenPops
from orchestrator.dialer.previews import PreviewService
from orchestrator.dialer.recovery import ChannelSweep, Heartbeat, Reconciler
from orchestrator.dialer.router import CommandRouter
from orchestrator.dialer.service import DialerService
from orchestrator.dialer.supervision import SupervisionSessions
from orchestrator.dialer.telephony import (
    AriChannelHandlers,
    ChannelDirectory,
    DialGuard,
    HangupWitness,
    Telephony,
)
from orchestrator.dialer.timers import Timers
from orchestrator.hub import EventHub
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger.pool import AsyncConn
from orchestrator.metrics import DialerMetrics

log = structlog.get_logger("orchestrator.dialer")


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
        self.pool = pool
        self.ari = ari
        self.settings = settings
        # Every dial string passes this gate (core.dialgate): customers by the template and
        # an E.164 number, agents' phones by the admins' rules.
        self.gate = DialGate(
            settings.customer_endpoint, _csv(settings.agent_phones), _csv(settings.trunks),
            transfer_numbers=_csv(settings.transfer_numbers),
            transfer_template=settings.transfer_endpoint,
            entry_points=_csv(settings.entry_points), entry_template=settings.entry_endpoint)
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
        self.telephony = Telephony(self)
        self.stream: AriEventStream | None = None
        self.call_registry = CallRegistry(self)
        self.call_records = CallRecords(self, self.call_registry)
        # The registry's own containers, here for recovery, shutdown, health and tests.
        self.calls = self.call_registry.calls
        self.ended_calls = self.call_registry.ended_calls
        self.written_ahead = self.call_registry.written_ahead
        self.core_campaigns: dict[str, CampaignSettings] = {}
        self.sessions = AgentSessions(self)
        self.campaigns = CampaignManager(self)
        self.previews = PreviewService(self)
        self.callbacks: CallbackScheduler = CallbackScheduler(self)
        """Due callbacks of every kind, claimed and placed with agents (MISSION F)."""
        self.screen_pops = ScreenPops(self)
        self.supervision: SupervisionSessions = SupervisionSessions(self)
        """Supervisors listening, whispering or barging into live calls."""
        self.service = DialerService(self)
        self.recovery = Reconciler(self)
        self.channel_sweep = ChannelSweep(self, self.recovery)
        self.heartbeat = Heartbeat(self, self.recovery)
        self.channels = AriChannelHandlers(
            self.directory, hangup_orphan=self.recovery.hangup_orphan,
            on_adopted_gone=self.recovery.adopted_gone,
            count_event=lambda t: metrics.ari_events.labels(t).inc())
        self.executor = CommandRouter(
            telephony=self.telephony, timers=self.timers, calls=self.call_registry,
            records=self.call_records, sessions=self.sessions, previews=self.previews,
            supervision=self.supervision, hub=hub)
        """Every actor's commands go through it to the domain that owns them."""
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
        self.spawn(self.callbacks.run(), name="callbacks")
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
        self.supervision.stop_all("the service is stopping")
        self.sessions.logout_all()
        await asyncio.sleep(0)
        deadline2 = loop.time() + min(2.0, grace + 0.5)
        while (self.sessions.sessions or self.supervision.sessions) and (  # noqa: ASYNC110
                loop.time() < deadline2):
            await asyncio.sleep(0.05)
        await self.callbacks.stop()
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
        self.supervision.stop_actors()
        self.timers.cancel_all()
        self.stopping.set()
        self.tasks.cancel("heartbeat", "ami-publisher", "channel-sweep", "callbacks")

    # ------------------------------------------------------------- calls

    @property
    def opt_out_scope(self) -> Literal["global", "campaign"]:
        """Where a customer's opt-out key puts their number (ORCH_OPT_OUT_SCOPE)."""
        return self.settings.opt_out_scope

    def customer_endpoint(self, e164: str) -> str:
        return self.gate.customer(e164)

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


def _csv(text: str) -> tuple[str, ...]:
    """A comma-separated setting's items, blanks dropped."""
    return tuple(p.strip() for p in text.split(",") if p.strip())
