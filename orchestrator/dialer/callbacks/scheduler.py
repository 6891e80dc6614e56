"""`CallbackScheduler`: due callbacks of every kind, actually dialed.

Every ``callback_tick_s`` it settles the callbacks whose call ended (done, failed, or
another attempt later), marks the missed ones (window passed), puts back the previews
of a dead instance, renews its leases, and claims the due callbacks (a lease each, SKIP
LOCKED: two instances never dial one twice; the rules checked on the callback's target,
a refusal stored as the callback's ``waiting_reason``). A claimed callback is *held*
here until an agent takes it:

* a personal callback waits for its agent (logged in to the campaign here, and free);
  when that agent is not logged in, the campaign's ``personal_callback_fallback`` says
  wait (released, 'Agent not logged in') or give it to anyone;
* any other callback takes the campaign's longest idle Available agent, but never the
  agent a held personal callback waits for.

Held callbacks go first: the campaign's own loop calls `place` before it claims targets
of its list (`CampaignRunner.tick`), so an agent who becomes Available is given a held
callback before a list contact, and a personal callback becomes its agent's next
interaction. A preview campaign shows the callback as a preview to the agent first
(the agent accepts, and the write-ahead links the attempt); any other campaign places
it agent first (the agent is rung first, then the customer, as progressive agent-first),
through the same write-ahead and call machinery as every call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from orchestrator.core.campaigns import CampaignSettings, DialMode, ProgressiveFlavour
from orchestrator.core.events import AgentReleased
from orchestrator.dialer.callbacks.host import AgentSeat, CallbacksHost, RunningCampaign
from orchestrator.dialer.kernel.shown import shown_number
from orchestrator.ledger import callbacks as callbacks_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger.callbacks.dialing import RECHECK
from orchestrator.ledger.pool import db_now, is_transient

log = structlog.get_logger("orchestrator.dialer.callbacks")

MAX_HELD = 50
"""Callbacks one instance holds (claimed, waiting for an agent) at most."""
AGENT_RECHECK = timedelta(seconds=10)
"""A callback released for want of an agent is claimed again after this (by any instance)."""
RETRY_SOON = timedelta(seconds=5)

AGENT_NOT_LOGGED_IN = "Agent not logged in"
AGENT_BUSY = "Agent busy"
NO_AGENT_LOGGED_IN = "No agent logged in"
NO_AGENT_AVAILABLE = "No agent available"
CALL_CAP = "Call cap reached"
AGENT_WAITS = (AGENT_NOT_LOGGED_IN, AGENT_BUSY, NO_AGENT_LOGGED_IN, NO_AGENT_AVAILABLE)
"""Waiting reasons about agents (looked at again as soon as an agent becomes Available)."""


def agent_first(core: CampaignSettings) -> CampaignSettings:
    """A campaign's settings for a callback call: agent first, whatever the campaign's
    mode (the agent hears the ringing; no customer waits for an agent)."""
    if core.mode is DialMode.PROGRESSIVE and core.progressive_flavour is ProgressiveFlavour.AGENT_FIRST:
        return core
    return dataclasses.replace(core, mode=DialMode.PROGRESSIVE,
                               progressive_flavour=ProgressiveFlavour.AGENT_FIRST)


@dataclass(eq=False)
class HeldCallback:
    """A callback claimed by this instance, waiting for an agent."""

    due: callbacks_ledger.DueCallback
    waiting: str | None = None
    """The waiting reason last written to the ledger (written again only when it changes)."""
    placing: bool = False


@dataclass(frozen=True)
class AgentChoice:
    session: AgentSeat | None
    waiting: str | None = None
    release: bool = False
    """No agent can take it here soon: give it back (another instance may have one)."""


class CallbackScheduler:
    """Claims due callbacks and places them with agents (see the module doc)."""

    def __init__(self, host: CallbacksHost) -> None:
        self.host = host
        self.held: dict[int, HeldCallback] = {}
        self.offered: dict[int, str] = {}
        """Callbacks shown in a preview here: callback id -> preview id."""
        self.wake = asyncio.Event()
        self._stopped = False
        self._free_seen: dict[int, frozenset[int]] = {}
        """The Available agents of each campaign at its last look (`place`)."""

    # ------------------------------------------------------------------ loop

    async def run(self) -> None:
        h = self.host
        while not self._stopped and not h.draining:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_transient(exc):  # the ledger away for a moment: the next tick retries
                    log.warning("callbacks.tick_failed", error=type(exc).__name__)
                else:
                    log.exception("callbacks.tick_failed")
            try:
                async with asyncio.timeout(h.settings.callback_tick_s):
                    await self.wake.wait()
            except TimeoutError:
                pass
            self.wake.clear()

    def _ready(self) -> bool:
        """Callbacks are placed only while Asterisk can take the calls (the ARI socket is
        up, the first reconciliation done, Asterisk not refusing originates) and the
        service is not draining."""
        h = self.host
        return (h.stream is not None and h.stream.connected.is_set() and h.reconciled.is_set()
                and not h.draining and not h.dial_guard.paused(h.now_s()))

    async def tick(self) -> None:
        h = self.host
        lease = timedelta(seconds=h.settings.lease_seconds)
        async with h.pool.connection() as conn:
            settled = await callbacks_ledger.settle_callbacks(conn)
            missed = await callbacks_ledger.mark_missed(conn)
            await callbacks_ledger.recover_offers(conn)
            ours = [*self.held, *self.offered]
            kept = set(await callbacks_ledger.renew_callback_leases(
                conn, h.instance_id, ours, lease=lease))
        for cid in [c for c in self.held if c not in kept]:
            self.held.pop(cid, None)
        for cid in [c for c in self.offered if c not in kept]:
            self.offered.pop(cid, None)
        for s in settled:
            log.info("callback.settled", callback=s.id, status=s.status, outcome=s.outcome,
                     attempts=s.attempts_made)
        await self.publish([s.id for s in settled] + missed)
        if not self._ready():
            return
        await self._claim()
        for held in list(self.held.values()):
            runner = h.campaigns.runners.get(held.due.campaign_id)
            if runner is None:
                await self._release(held, callbacks_ledger.CAMPAIGN_NOT_RUNNING, RETRY_SOON)
                continue
            await self._place(held, runner)

    async def place(self, runner: RunningCampaign) -> None:
        """Give the campaign's held callbacks to its free agents, before its loop dials
        anything of its list (called by the campaign's loop each time it looks for work).

        An agent who became Available since the last look may be the one a callback
        waits for: the campaign's due callbacks are claimed first, those that waited for
        an agent without waiting out their recheck time, so that a personal callback is
        its agent's next interaction."""
        if not self._ready():
            return
        free = frozenset(s.agent_id for s in self.host.sessions.available(runner.id))
        fresh = free - self._free_seen.get(runner.id, frozenset())
        self._free_seen[runner.id] = free
        if fresh:
            await self._claim(campaign_ids=[runner.id], retry_waits=AGENT_WAITS)
        for held in [x for x in self.held.values() if x.due.campaign_id == runner.id]:
            await self._place(held, runner)

    async def _claim(self, *, campaign_ids: list[int] | None = None,
                     retry_waits: tuple[str, ...] = ()) -> None:
        h = self.host
        room = MAX_HELD - len(self.held)
        if room <= 0:
            return
        async with h.pool.connection() as conn:
            claim = await callbacks_ledger.claim_due_callbacks(
                conn, owner=h.instance_id, limit=room,
                lease=timedelta(seconds=h.settings.lease_seconds), campaign_ids=campaign_ids,
                retry_waits=retry_waits)
        for due in claim.claimed:
            self.held.setdefault(due.id, HeldCallback(due))
        await self.publish([w.id for w in claim.waiting])

    async def stop(self) -> None:
        """Shutdown: every lease back; a callback shown in preview is pending again."""
        self._stopped = True
        self.wake.set()
        self.held.clear()
        self.offered.clear()
        try:
            async with self.host.pool.connection() as conn:
                released = await callbacks_ledger.release_callback_leases(conn, self.host.instance_id)
            log.info("callbacks.leases_released", count=released)
        except Exception as exc:
            log.warning("callbacks.release_leases_failed", error=str(exc))

    # ------------------------------------------------------------- placing

    async def _place(self, held: HeldCallback, runner: RunningCampaign) -> None:
        if held.placing or self.held.get(held.due.id) is not held:
            return
        held.placing = True
        try:
            choice = self._agent_for(held, runner)
            if choice.session is None:
                if choice.release:
                    await self._release(held, choice.waiting, AGENT_RECHECK)
                else:
                    await self._note(held, choice.waiting)
                return
            if runner.core.mode.is_preview:
                await self._offer(held, runner, choice.session)
            else:
                await self._dial(held, runner, choice.session)
        finally:
            held.placing = False

    def _agent_for(self, held: HeldCallback, runner: RunningCampaign) -> AgentChoice:
        """Who takes the callback now (see the module doc), or why nobody."""
        h = self.host
        due = held.due
        logged_in = h.sessions.of_campaign(due.campaign_id)
        if due.assigned_agent_id is not None:
            mine = next((s for s in logged_in if s.agent_id == due.assigned_agent_id), None)
            if mine is not None:
                return AgentChoice(mine) if mine.machine.can_take_call else AgentChoice(None, AGENT_BUSY)
            if runner.campaign.personal_callback_fallback != "anyone":
                return AgentChoice(None, AGENT_NOT_LOGGED_IN, release=True)
        if not logged_in:
            return AgentChoice(None, NO_AGENT_LOGGED_IN, release=True)
        # an agent a personal callback waits for is kept for it
        kept = {x.due.assigned_agent_id for x in self.held.values()
                if x is not held and x.due.campaign_id == due.campaign_id}
        for s in h.sessions.available(due.campaign_id):
            if s.agent_id not in kept and s.machine.can_take_call:
                return AgentChoice(s)
        return AgentChoice(None, NO_AGENT_AVAILABLE)

    async def _dial(self, held: HeldCallback, runner: RunningCampaign, session: AgentSeat) -> None:
        """Agent first: reserve the agent, commit the attempt (linked to the callback),
        then start the call, which rings the agent and then dials the customer."""
        h = self.host
        due = held.due
        attempt_id = str(uuid.uuid4())
        leg = h.sessions.reserve(session, attempt_id, due.campaign_id)
        async with h.pool.connection() as conn:
            ticket = await claims_ledger.write_ahead_attempt(
                conn, due.target_id, owner=h.instance_id, agent_id=session.agent_id,
                mode="callback", attempt_id=uuid.UUID(attempt_id),
                system_call_cap=h.settings.system_max_calls, require_lease=False,
                campaign=runner.campaign, policy=runner.policy, callback_id=due.id)
        if not isinstance(ticket, claims_ledger.AttemptTicket):
            h.sessions.post(session.agent_id, AgentReleased(str(session.agent_id), attempt_id,
                                                            "not dialed"))
            await self._refused(held, ticket)
            return
        self.held.pop(due.id, None)
        h.written_ahead.add(attempt_id)
        h.call_registry.start_call(
            attempt_id=attempt_id, campaign_id=due.campaign_id, campaign_name=runner.campaign.name,
            contact_id=due.contact_id, target_id=due.target_id, e164=due.e164,
            settings=agent_first(runner.core), agent_leg=leg, agent_id=session.agent_id)
        log.info("callback.dialing", callback=due.id, attempt=attempt_id, agent=session.agent_id,
                 kind=due.kind)
        await self._announce(due, session.agent_id, attempt_id=attempt_id)

    async def _offer(self, held: HeldCallback, runner: RunningCampaign, session: AgentSeat) -> None:
        """Preview: lease the callback's target and show it to the agent first."""
        h = self.host
        due = held.due
        lease = timedelta(seconds=h.settings.lease_seconds)
        async with h.pool.connection() as conn:
            got = await callbacks_ledger.lease_callback_target(
                conn, due.id, owner=h.instance_id, lease=lease, policy=runner.policy)
        if isinstance(got, callbacks_ledger.Waiting):
            self.held.pop(due.id, None)  # the ledger released it, saying why
            await self.publish([due.id])
            return
        if not session.machine.can_take_call:  # taken meanwhile: try again at the next turn
            async with h.pool.connection() as conn:
                await claims_ledger.release_leases(conn, h.instance_id, [got.target_id])
                await callbacks_ledger.offer_closed(conn, due.id, h.instance_id, "agent taken")
            self.held.pop(due.id, None)
            return
        self.held.pop(due.id, None)
        preview_id = h.previews.offer_callback(runner, session, got, due.id)
        self.offered[due.id] = preview_id
        log.info("callback.offered", callback=due.id, preview=preview_id, agent=session.agent_id)
        await self._announce(due, session.agent_id, preview_id=preview_id)

    def preview_closed(self, callback_id: int, closed_by: str) -> None:
        """Previews: a callback's preview closed without a call (the agent skipped,
        removed, dispositioned or rescheduled it; the campaign stopped; the dial refused)."""
        self.offered.pop(callback_id, None)
        self.wake.set()

        async def settle() -> None:
            try:
                async with self.host.pool.connection() as conn:
                    await callbacks_ledger.offer_closed(conn, callback_id, self.host.instance_id,
                                                        closed_by)
            except Exception as exc:  # the lease expires; recover_offers puts it back
                log.warning("callback.offer_close_failed", callback=callback_id, error=str(exc))
            await self.publish([callback_id])

        self.host.spawn(settle(), name=f"callback-closed-{callback_id}")

    # ------------------------------------------------------------- waiting

    async def _refused(self, held: HeldCallback, refusal: Any) -> None:
        """The write-ahead refused: say why the callback waits (a rule's reason, a cap)."""
        reason = refusal.reason
        R = claims_ledger.RefusalReason
        if reason is R.LEASE_LOST:
            self.held.pop(held.due.id, None)
            return
        if reason in (R.CAMPAIGN_CALL_CAP, R.SYSTEM_CALL_CAP):
            await self._release(held, CALL_CAP, RETRY_SOON)
        elif reason is R.CONTACT_BUSY:
            await self._release(held, callbacks_ledger.CONTACT_BUSY, RETRY_SOON)
        elif reason is R.CAMPAIGN_NOT_RUNNING:
            await self._release(held, callbacks_ledger.CAMPAIGN_NOT_RUNNING, RETRY_SOON)
        else:
            why = refusal.unavailable_reason.value if refusal.unavailable_reason else str(reason)
            await self._release(held, why, RECHECK, at=refusal.next_dialable_at)

    async def _release(self, held: HeldCallback, reason: str | None, after: timedelta | None,
                       *, at: datetime | None = None) -> None:
        h = self.host
        self.held.pop(held.due.id, None)
        async with h.pool.connection() as conn:
            when = at if at is not None else (await db_now(conn)) + (after or timedelta(0))
            await callbacks_ledger.release_callback(conn, held.due.id, h.instance_id,
                                                    waiting_reason=reason, next_try_at=when)
        if reason != held.waiting:
            await self.publish([held.due.id])

    async def _note(self, held: HeldCallback, reason: str | None) -> None:
        if reason == held.waiting:
            return
        held.waiting = reason
        async with self.host.pool.connection() as conn:
            await callbacks_ledger.note_waiting(conn, held.due.id, self.host.instance_id, reason)
        await self.publish([held.due.id])

    # ------------------------------------------------------------- telling

    async def _announce(self, due: callbacks_ledger.DueCallback, agent_id: int, *,
                        attempt_id: str | None = None, preview_id: str | None = None) -> None:
        """Tell the agent that the call (or preview) coming is a callback: its kind, name,
        number (masked when the campaign masks), reason and which attempt it is."""
        h = self.host
        masking = await h.screen_pops.masking(due.campaign_id)
        h.hub.publish("callback.call", {
            "callback_id": due.id, "kind": due.kind, "attempt_id": attempt_id,
            "preview_id": preview_id, "name": due.name, "number": shown_number(due.e164, masking),
            "masked": masking, "reason": due.reason, "queue": due.queue,
            "queue_position": due.queue_position, "attempt": due.attempts_made + 1,
            "max_attempts": due.max_attempts, "personal": due.assigned_agent_id is not None,
        }, agent_id=agent_id, campaign_id=due.campaign_id)
        await self.publish([due.id])

    async def publish(self, ids: list[int]) -> None:
        """``callback.updated`` for supervisors and the assigned agent (the pages' lists)."""
        if not ids:
            return
        h = self.host
        try:
            async with h.pool.connection() as conn:
                rows = [await callbacks_ledger.get_callback(conn, i) for i in sorted(set(ids))]
        except Exception as exc:
            log.warning("callbacks.publish_failed", error=str(exc))
            return
        for cb in rows:
            h.hub.publish("callback.updated", cb.to_json(number=shown_number(cb.e164, cb.masking)),
                          agent_id=cb.assigned_agent_id, campaign_id=cb.campaign_id)
