"""`CampaignManager`: one `CampaignRunner` per running campaign, following the ledger,
and the pacers' observations of every call (dial, connect, outcome, abandon, wrap-up)."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from orchestrator.core.commands import CallOutcome, RecordOutcome
from orchestrator.core.pacing import CampaignPacer, Outcome
from orchestrator.dialer.campaigns.host import CampaignsHost, LiveCall
from orchestrator.dialer.campaigns.runner import CampaignRunner, note_attempt
from orchestrator.dialer.settings import core_settings
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import campaigns as campaigns_ledger

log = structlog.get_logger("orchestrator.dialer.campaigns")


_PACER_OUTCOME: dict[CallOutcome, Outcome] = {
    CallOutcome.HUMAN_ANSWER: "human",
    CallOutcome.ABANDONED: "human",
    CallOutcome.ANSWERING_MACHINE: "machine",
    CallOutcome.FAX: "machine",
    CallOutcome.BUSY: "busy",
    CallOutcome.NO_ANSWER: "no_answer",
}

NOT_CONVERSATIONS = frozenset({attempts_ledger.AUTO_CODES["machine"], attempts_ledger.AUTO_CODES["fax"]})
"""Wrap-up codes that say the agent's call was no conversation (talk/wrap not sampled)."""

CANCELLED_UNSTAFFED = "cancelled_unstaffed"
"""Attempt event kind: hung up before answer because the campaign's last agent left."""

STATS_INTERVAL_S = 5.0
"""How often running campaigns' live figures are pushed to supervisors and AMI."""
PACER_SAVE_INTERVAL_S = 5.0
"""How often predictive pacers' state is saved (and at every runner stop and shutdown):
a crash loses at most this much of the abandon counts."""


class CampaignManager:
    """Keeps one runner per running campaign, following the ledger."""

    def __init__(self, host: CampaignsHost) -> None:
        self.d = host
        self.runners: dict[int, CampaignRunner] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._poke = asyncio.Event()
        self._stopping = False
        self._next_pacer_save = 0.0

    def running_names(self) -> list[str]:
        return [r.campaign.name for r in self.runners.values()]

    def wake(self, campaign_id: int) -> None:
        runner = self.runners.get(campaign_id)
        if runner is not None:
            runner.wake.set()

    def poke(self) -> None:
        """Re-read the campaigns now (after an API start/pause/stop/update)."""
        self._poke.set()

    async def run(self) -> None:
        d = self.d
        loop = asyncio.get_running_loop()
        next_stats = loop.time()
        while not self._stopping and not d.draining:
            try:
                await self.sync()
                if loop.time() >= next_stats:
                    next_stats = loop.time() + STATS_INTERVAL_S
                    await d.service.publish_stats()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("campaigns.sync_failed", error=str(exc))
            try:
                async with asyncio.timeout(max(1.0, d.settings.dial_tick_s * 4)):
                    await self._poke.wait()
            except TimeoutError:
                pass
            self._poke.clear()

    async def sync(self) -> None:
        d = self.d
        async with d.pool.connection() as conn:
            campaigns = await campaigns_ledger.list_campaigns(conn)
        running = {c.id: c for c in campaigns if c.status == "running"}
        for c in campaigns:
            # Agents may be logged in to any campaign: keep the core settings current.
            if c.id in self.runners:
                continue
            if str(c.id) not in d.core_campaigns:
                with contextlib.suppress(Exception):
                    d.core_campaigns[str(c.id)] = core_settings(c)
        for cid in [cid for cid in self.runners if cid not in running]:
            await self._stop_runner(cid)
        for cid, campaign in running.items():
            runner = self.runners.get(cid)
            if runner is None:
                runner = CampaignRunner(d, campaign)
                try:
                    await runner.refresh(campaign)
                except Exception as exc:
                    log.error("campaign.bad_settings", campaign=campaign.name, error=str(exc))
                    continue
                await self._restore_pacer(runner)
                self.runners[cid] = runner
                self._tasks[cid] = d.spawn(runner.run(), name=f"campaign-{cid}")
                log.info("campaign.runner_started", campaign=campaign.name, mode=campaign.mode)
            elif campaign.updated_at != runner.campaign.updated_at:
                await runner.refresh(campaign)
        now = asyncio.get_running_loop().time()
        if now >= self._next_pacer_save:
            self._next_pacer_save = now + PACER_SAVE_INTERVAL_S
            for runner in list(self.runners.values()):
                if runner.pacer is not None:
                    await self._save_pacer(runner)

    async def _stop_runner(self, cid: int) -> None:
        runner = self.runners.pop(cid, None)
        task = self._tasks.pop(cid, None)
        if runner is None:
            return
        runner.stopping = True
        runner.wake.set()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 5.0)
        if runner.pacer is not None:
            await self._save_pacer(runner)
        await self.d.previews.campaign_stopped(runner)
        log.info("campaign.runner_stopped", campaign=runner.campaign.name)

    async def stop_all(self) -> None:
        self._stopping = True
        self._poke.set()
        for cid in list(self.runners):
            await self._stop_runner(cid)

    # ------------------------------------------------------------- pacer

    async def _restore_pacer(self, runner: CampaignRunner) -> None:
        """At runner start: what the pacer learned and the abandon counts of the 24 h /
        30-day windows, as this instance last saved them (each instance paces its own calls)."""
        if runner.pacer is None:
            return
        try:
            async with self.d.pool.connection() as conn:
                snap = await campaigns_ledger.load_pacing_state(
                    conn, runner.id, instance_id=self.d.instance_id)
        except Exception as exc:
            log.warning("campaign.pacer_load_failed", campaign=runner.campaign.name, error=str(exc))
            return
        if not snap:
            return
        try:
            runner.pacer.restore(snap)
        except ValueError as exc:
            # A snapshot of another pacer version: start from the priors, say so.
            log.warning("campaign.pacer_restore_refused", campaign=runner.campaign.name,
                        error=str(exc))
            return
        st = runner.pacer.stats(self.d.now_s())
        log.info("campaign.pacer_restored", campaign=runner.campaign.name,
                 answered_24h=st.answered_24h, abandoned_24h=st.abandoned_24h)

    async def _save_pacer(self, runner: CampaignRunner) -> None:
        if runner.pacer is None:
            return
        try:
            async with self.d.pool.connection() as conn:
                await campaigns_ledger.save_pacing_state(
                    conn, runner.id, runner.pacer.snapshot(), instance_id=self.d.instance_id)
        except Exception as exc:
            log.warning("campaign.pacer_save_failed", campaign=runner.campaign.name, error=str(exc))

    def _pacer(self, campaign_id: int) -> CampaignPacer | None:
        runner = self.runners.get(campaign_id)
        return runner.pacer if runner is not None else None

    def observe_dial(self, campaign_id: int) -> None:
        pacer = self._pacer(campaign_id)
        if pacer is not None:
            pacer.observe_dial(self.d.now_s())

    def observe_outcome(self, entry: LiveCall, cmd: RecordOutcome) -> None:
        if entry.machine.cancelled_unstaffed:
            self.d.spawn(self._note_unstaffed(entry), name=f"unstaffed-{entry.attempt_id[:8]}")
            # Hung up by us before anyone answered: says nothing about the answer rate.
            return
        pacer = self._pacer(entry.campaign_id)
        if pacer is None or cmd.outcome is CallOutcome.NOT_DIALED:
            return  # never placed: says nothing about the answer rate
        now = self.d.now_s()
        outcome = _PACER_OUTCOME.get(cmd.outcome, "failed")
        since = (cmd.answered_at.timestamp() if cmd.answered_at else now) - entry.started_at
        pacer.observe_outcome(now, outcome, max(0.0, since))
        # The talk sample waits for the disposition (observe_disposition): only then is
        # it known whether the agent was talking to a person or disposing of a machine.

    async def _note_unstaffed(self, entry: LiveCall) -> None:
        """In the attempt's history: why it failed (the ledger's cause is our own hang-up)."""
        try:
            async with self.d.pool.connection() as conn:
                await note_attempt(conn, entry.attempt_id, CANCELLED_UNSTAFFED, "no agent staffed",
                                   entry.campaign_name)
        except Exception as exc:  # no connection: the note is lost, the call is not
            log.warning("campaign.attempt_note_failed", campaign=entry.campaign_name,
                        attempt=entry.attempt_id, kind=CANCELLED_UNSTAFFED, error=str(exc))

    def observe_connect(self, entry: LiveCall, wait: float) -> None:
        pacer = self._pacer(entry.campaign_id)
        # A machine passed to an agent is not a live answer: it is already booked as an
        # answered call by its outcome ("machine"), and it is not a pacing sample.
        if pacer is not None and not entry.machine.machine:
            pacer.observe_connect(self.d.now_s(), wait)

    def observe_abandon(self, campaign_id: int) -> None:
        pacer = self._pacer(campaign_id)
        if pacer is not None:
            pacer.observe_abandon(self.d.now_s())

    def observe_disposition(self, entry: LiveCall, code: str) -> None:
        """The agent's call is dispositioned: its talk and wrap-up times, if they were a
        conversation, are samples for the pacer's fits.

        A machine an agent disposed of (passed by AMD, or a call placed without AMD, one
        click on Answering machine or Fax) says nothing about conversations: its few
        seconds would drag the talk-time fit down and make agents look about to free up.
        """
        pacer = self._pacer(entry.campaign_id)
        ended = entry.machine.ended_at
        if pacer is None or ended is None or entry.machine.machine or code in NOT_CONVERSATIONS:
            return
        now = self.d.now_s()
        if entry.connected_at is not None:
            pacer.observe_call_end(now, max(0.0, ended.timestamp() - entry.connected_at))
        pacer.observe_wrap_end(now, max(0.0, now - ended.timestamp()))
