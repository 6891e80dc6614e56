"""Campaign dialing loops: one `CampaignRunner` per running campaign.

`CampaignManager` follows the ledger (the campaigns' status is changed by the API, the
CLI or another instance): every ``dial_tick_s`` it starts a runner for each running
campaign and stops those that are not running any more.

A runner's tick: ask the core planner how many customers to dial now (progressive:
one per Available agent, reserved for it; power: lines per available agent; predictive:
the pacer's number; preview: none), claim that many targets (leases, SKIP LOCKED),
commit each attempt (write-ahead), and only then start its call machine (which
originates). Nothing is claimed or dialed while the ARI socket is down (surprise 14)
or while the service drains, and no customer-first call is placed for nobody: a
campaign whose last agent left meanwhile gets none (see `AgentSessions.staffed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog

from orchestrator.core.agents import AgentState
from orchestrator.core.campaigns import AmdPolicy, CampaignState, DialSituation, plan_dials
from orchestrator.core.campaigns import CampaignSettings as CoreSettings
from orchestrator.core.events import AgentReleased, CampaignUnstaffed
from orchestrator.core.pacing import CampaignPacer, FloorView
from orchestrator.dialer.campaigns.host import AgentSeat, CampaignsHost
from orchestrator.dialer.settings import core_settings
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger.campaigns import Campaign as LedgerCampaign
from orchestrator.ledger.pool import AsyncConn

log = structlog.get_logger("orchestrator.dialer.campaigns")




class CampaignRunner:
    """The dialing loop of one running campaign."""

    def __init__(self, host: CampaignsHost, campaign: LedgerCampaign) -> None:
        self.d = host
        self.campaign = campaign
        self.core: CoreSettings = core_settings(campaign)
        self.policy: Any = None
        self.wake = asyncio.Event()
        self.stopping = False
        self.last_limit: str | None = None
        self.pacer: CampaignPacer | None = None
        self.claimed_empty_at: float | None = None
        # Set when a tick failed part-way (the database went away, say): leases it took
        # may be held with nothing here to dial or release them (see `tick`).
        self.leases_unknown = False
        if campaign.mode == "predictive":
            self.pacer = CampaignPacer(abandon_cap=min(max(campaign.abandon_cap, 0.001), 0.2),
                                       amd=campaign.amd_policy != "off",
                                       grace=self.core.grace_s)

    @property
    def id(self) -> int:
        return self.campaign.id

    async def refresh(self, campaign: LedgerCampaign) -> None:
        """New settings from the ledger (a PATCH, or another instance's change)."""
        d = self.d
        default_code = None
        async with d.pool.connection() as conn:
            if campaign.default_wrapup_code_id is not None:
                with contextlib.suppress(Exception):
                    code = await campaigns_ledger.find_wrapup_code(
                        conn, campaign.id, campaign.default_wrapup_code_id)
                    default_code = code.label
            self.policy = await campaigns_ledger.load_dialing_policy(conn, campaign)
        self.campaign = campaign
        self.core = core_settings(campaign, default_code=default_code)
        d.core_campaigns[str(campaign.id)] = self.core

    async def run(self) -> None:
        tick = self.d.settings.dial_tick_s
        while not self.stopping and not self.d.draining:
            try:
                async with asyncio.timeout(tick):
                    await self.wake.wait()
            except TimeoutError:
                pass
            self.wake.clear()
            if self.stopping or self.d.draining:
                return
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("campaign.tick_failed", campaign=self.campaign.name)
                self.leases_unknown = True
                await asyncio.sleep(min(1.0, tick * 4))

    def _situation(self) -> tuple[DialSituation, Sequence[AgentSeat]]:
        d = self.d
        sessions = d.sessions.of_campaign(self.id)
        available = d.sessions.available(self.id)
        in_flight = d.call_registry.lines_in_flight(self.id)
        predictive = None
        if self.pacer is not None:
            now = d.now_s()
            talking = [e.connected_at or now for e in d.call_registry.calls_of(self.id)
                       if e.connected_at is not None]
            wrapping = [s.machine.state_since.timestamp() for s in sessions
                        if s.machine.state is AgentState.WRAP_UP and s.machine.state_since]
            staffed = sum(1 for s in sessions if s.machine.state is not AgentState.NOT_READY)
            waiting = sum(1 for e in in_flight if d.call_registry.call_waits_for_agent(e.attempt_id))
            floor = FloorView(
                ready=len(available), staffed=staffed, talking_since=talking,
                wrapping_since=wrapping,
                dials_in_flight=[e.started_at for e in in_flight
                                 if not d.call_registry.call_waits_for_agent(e.attempt_id)],
                waiting_calls=waiting,
            )
            predictive = self.pacer.lines_to_dial(now, floor)
            d.metrics.dial_level.labels(self.campaign.name).set(self.pacer.stats(now).dial_level)
        situation = DialSituation(
            available_agents=[str(s.agent_id) for s in available],
            logged_in_agents=len(sessions),
            lines_in_flight=len(in_flight),
            campaign_active_calls=len(d.call_registry.calls_of(self.id)),
            system_active_calls=len(d.calls),
            system_call_cap=d.settings.system_max_calls,
            predictive_lines=predictive,
        )
        return situation, available

    async def tick(self) -> None:
        d = self.d
        if d.stream is None or not d.stream.connected.is_set() or not d.reconciled.is_set():
            return
        if d.dial_guard.paused(d.now_s()):
            return  # Asterisk refuses originates (dial_guard): the targets wait, uncharged
        # Due callbacks held here take the free agents first (a personal one its agent).
        await d.callbacks.place(self)
        if self.core.mode.is_preview:
            await d.previews.tick(self)
            return
        if self.leases_unknown:
            # Between ticks a dialing campaign holds no lease of its own (the write-ahead
            # takes each one over), so whatever this instance still holds here was left
            # by the failed tick: a claim committed whose answer was lost, or targets
            # claimed and never written ahead. Give them back before claiming again.
            async with d.pool.connection() as conn:
                released = await claims_ledger.release_campaign_leases(
                    conn, d.instance_id, self.id)
            self.leases_unknown = False
            if released:
                log.info("campaign.lost_leases_released", campaign=self.campaign.name,
                         count=released)
        situation, available = self._situation()
        decision = plan_dials(CampaignState.RUNNING, self.core, situation)
        self.last_limit = decision.limit.value if decision.limit else None
        if decision.count == 0:
            return
        lease = timedelta(seconds=d.settings.lease_seconds)
        async with d.pool.connection() as conn:
            result = await claims_ledger.claim_targets(
                conn, self.id, owner=d.instance_id, limit=decision.count, lease=lease,
                policy=self.policy)
        d.metrics.claims.labels(self.campaign.name).inc(len(result.claimed))
        by_id = {str(s.agent_id): s for s in available}
        unused: list[int] = []
        for i, target in enumerate(result.claimed):
            agent_key = decision.agents[i] if i < len(decision.agents) else None
            session = by_id.get(agent_key) if agent_key is not None else None
            if agent_key is not None and (session is None or not session.machine.can_take_call):
                unused.append(target.target_id)
                continue
            if self.d.draining or not d.stream.connected.is_set():
                unused.append(target.target_id)
                continue
            if session is None and not d.sessions.staffed(self.id):
                # The last agent left while the targets were being claimed.
                unused.append(target.target_id)
                continue
            await self.start(target, session)
        if unused:
            async with d.pool.connection() as conn:
                await claims_ledger.release_leases(conn, d.instance_id, unused)

    async def start(self, target: claims_ledger.ClaimedTarget,
                    session: AgentSeat | None) -> bool:
        """Reserve the agent, commit the attempt, then start the call (which originates)."""
        d = self.d
        attempt_id = str(uuid.uuid4())
        leg = None
        if session is not None:
            leg = d.sessions.reserve(session, attempt_id, self.id)
        settings = self.core
        async with d.pool.connection() as conn:
            ticket = await claims_ledger.write_ahead_attempt(
                conn, target.target_id, owner=d.instance_id,
                agent_id=session.agent_id if session else None, mode=self.campaign.mode,
                attempt_id=uuid.UUID(attempt_id), system_call_cap=d.settings.system_max_calls,
                campaign=self.campaign, policy=self.policy)
            if not ticket.ok:
                if ticket.reason in claims_ledger.TRANSIENT_REFUSALS:  # type: ignore[union-attr]
                    await claims_ledger.release_leases(conn, d.instance_id, [target.target_id])
            elif not self._dial_with_amd():
                settings = dataclasses.replace(settings, amd_policy=AmdPolicy.OFF)
                # a machine that answers will reach an agent: say why in the history
                await note_attempt(conn, attempt_id, PLACED_WITHOUT_AMD, "predictive AMD budget",
                                   self.campaign.name)
        if not ticket.ok:
            log.info("campaign.write_ahead_refused", campaign=self.campaign.name,
                     target=target.target_id, reason=str(ticket.reason))  # type: ignore[union-attr]
            if session is not None:
                d.sessions.post(session.agent_id, AgentReleased(
                    str(session.agent_id), attempt_id, "not dialed"))
            return False
        d.written_ahead.add(attempt_id)
        d.call_registry.start_call(attempt_id=attempt_id, campaign_id=self.id, campaign_name=self.campaign.name,
                     contact_id=target.contact_id, target_id=target.target_id, e164=target.e164,
                     settings=settings, agent_leg=leg,
                     agent_id=session.agent_id if session else None)
        if session is None and not d.sessions.staffed(self.id):
            # The last agent left during the write-ahead: the call goes no further.
            d.call_registry.post_call(attempt_id, CampaignUnstaffed(str(self.id)))
        return True

    def _dial_with_amd(self) -> bool:
        """Whether this new dial goes through AMD (asked once per dial actually placed).

        A predictive campaign's pacer gives AMD only part of the calls, as the abandon
        budget allows its false positives (people hung up on, or left a voicemail
        message, as machines); the others are placed plainly, their machines reaching
        agents as live answers. Under pass-to-agent a machine verdict takes nobody away
        from an agent, so every call keeps AMD (and the pacer, never asked, counts every
        dial as an AMD dial). Other modes use the campaign's policy on every call.
        """
        if self.pacer is None or self.core.amd_policy in (AmdPolicy.OFF, AmdPolicy.PASS_TO_AGENT):
            return True
        return self.pacer.dial_with_amd(self.d.now_s())


async def note_attempt(conn: AsyncConn, attempt_id: str, kind: str, reason: str,
                       campaign_name: str) -> None:
    """An event in the attempt's history saying why the dialer treated it apart. The
    call goes on even if the note cannot be written (it is logged)."""
    try:
        await attempts_ledger.record_event(conn, uuid.UUID(attempt_id), kind, data={"reason": reason})
    except Exception as exc:
        log.warning("campaign.attempt_note_failed", campaign=campaign_name, attempt=attempt_id,
                    kind=kind, error=str(exc))


PLACED_WITHOUT_AMD = "placed_without_amd"
"""Attempt event kind: a call of a predictive AMD campaign the pacer placed without AMD."""
