"""Preview and direct preview: a claimed target shown to one agent before any dial.

For each Available agent of a preview campaign the runner's tick claims one target
(a lease, renewed while it is on screen), reserves the agent (`AgentReserved` with a
reservation call when the campaign wants one: the agent's phone rings first) and
creates a `PreviewSession` behind an actor. The preview is shown when the reservation
call is answered (`ReservationReady`), or at once without one. Actions come from the
API; the countdown's auto-action from a timer.

Accept commits the attempt (write-ahead; its id is the preview id, which the agent
machine already holds) and starts an agent-first call on the agent's leg: the
reservation leg when there is one, so the customer is dialed on that same leg.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

import phonenumbers
import structlog

from orchestrator.core import commands as c
from orchestrator.core import events as ev
from orchestrator.core.calls import AgentLeg
from orchestrator.core.commands import CallOutcome
from orchestrator.core.preview import (
    PreviewActionRefused,
    PreviewSession,
    PreviewTarget,
    local_callback_time,
)
from orchestrator.core.rules import normalize_outcome
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.errors import Conflict, Invalid, NotFound
from orchestrator.dialer.kernel.shown import history_json, shown_number
from orchestrator.dialer.kernel.shown_call_data import shown_custom_fields
from orchestrator.dialer.previews.host import AgentSeat, PreviewCampaign, PreviewsHost
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import callbacks as callbacks_ledger
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger import screen_pop as screen_pop_ledger
from orchestrator.ledger.pool import db_now
from orchestrator.ledger.screen_pop import CallCard

log = structlog.get_logger("orchestrator.dialer.previews")


@dataclass(eq=False)
class Preview:
    session: PreviewSession
    actor: Actor
    agent_id: int
    campaign_id: int
    campaign_name: str
    target: claims_ledger.ClaimedTarget
    leg: AgentLeg | None = None
    """The agent's leg once the reservation call is answered (customer dialed on it)."""
    dialed: bool = False
    card: CallCard | None = None
    """The contact's screen pop (history, last outcome), read when the preview is shown."""
    callback_id: int | None = None
    """The callback this preview is (a due callback shown to its agent first), if any."""

    @property
    def id(self) -> str:
        return self.session.preview_id

    def to_json(self, now: Any, *, masking: bool, secure: list[str] | None) -> dict[str, Any]:
        """``masking``: the campaign's setting when this is sent (never the one it had
        when the preview was offered: turning masking on masks the preview on screen);
        ``secure``: the contact fields behind secure call-data variables (None: unknown,
        every field is masked)."""
        t = self.target
        s = self.session
        number = shown_number(t.e164, masking)
        remaining = s.remaining(now)
        return {
            "preview_id": self.id, "campaign": self.campaign_name, "state": s.state.value,
            "callback_id": self.callback_id,
            "allowed_actions": [a.value for a in s.allowed_actions],
            "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            "remaining_s": remaining.total_seconds() if remaining is not None else None,
            "auto_action": s.settings.preview_auto_action.value,
            "contact": {
                "id": t.contact_id, "contact_id": t.contact_id, "external_id": t.external_id,
                "first_name": t.first_name, "last_name": t.last_name,
                "postal_code": t.postal_code,
                "custom_fields": shown_custom_fields(
                    t.custom_fields, t.custom_fields.keys() if secure is None else secure, masking),
                "time_zone": t.time_zone,
                "expires_at": (self.card.contact.expires_at.isoformat()
                               if self.card and self.card.contact.expires_at else None),
            },
            "target": {
                "id": t.target_id, "target_id": t.target_id, "description": t.description,
                "e164": number, "number": number, "masked": masking,
                "attempts": f"{t.attempts_made}/{t.max_attempts}",
                "last_outcome": self.card.target.last_outcome if self.card else None,
            },
            "history": history_json(self.card.history) if self.card else None,
        }


_ACTIONS = {
    "accept": ev.PreviewAccept, "skip": ev.PreviewSkip, "requeue": ev.PreviewRequeue,
    "delay": ev.PreviewDelay, "remove": ev.PreviewRemove,
}


class PreviewService:
    def __init__(self, host: PreviewsHost) -> None:
        self.host = host
        self.previews: dict[str, Preview] = {}
        self.by_agent: dict[int, str] = {}

    async def current(self, agent_id: int) -> dict[str, Any] | None:
        pid = self.by_agent.get(agent_id)
        p = self.previews.get(pid) if pid else None
        if p is None:
            return None
        masking = await self.host.screen_pops.masking(p.campaign_id)
        secure = await self.host.screen_pops.secure_fields(p.campaign_id)
        return p.to_json(self.host.clock.now(), masking=masking, secure=secure)

    def owns(self, offer_id: str) -> bool:
        return offer_id in self.previews

    def post(self, offer_id: str, event: ev.Event) -> bool:
        p = self.previews.get(offer_id)
        if p is None:
            return False
        p.actor.post(event)
        return True

    # ----------------------------------------------------------------- tick

    async def tick(self, runner: PreviewCampaign) -> None:
        """Offer a target to every Available agent of the campaign without one."""
        h = self.host
        await self._renew(runner)
        for session in h.sessions.available(runner.id):
            if session.agent_id in self.by_agent or h.draining:
                continue
            lease = timedelta(seconds=h.settings.lease_seconds)
            async with h.pool.connection() as conn:
                result = await claims_ledger.claim_targets(
                    conn, runner.id, owner=h.instance_id, limit=1, lease=lease,
                    policy=runner.policy)
            if not result.claimed:
                return
            h.metrics.claims.labels(runner.campaign.name).inc()
            target = result.claimed[0]
            if not session.machine.can_take_call:
                async with h.pool.connection() as conn:
                    await claims_ledger.release_leases(conn, h.instance_id, [target.target_id])
                continue
            self._offer(runner, session, target)

    def offer_callback(self, runner: PreviewCampaign, session: AgentSeat,
                       target: claims_ledger.ClaimedTarget, callback_id: int) -> str:
        """A due callback shown to its agent first (the callbacks domain leased its target
        and chose the agent); Accept writes the attempt ahead linked to the callback."""
        return self._offer(runner, session, target, callback_id=callback_id)

    def _offer(self, runner: PreviewCampaign, session: AgentSeat, target: claims_ledger.ClaimedTarget,
               *, callback_id: int | None = None) -> str:
        h = self.host
        pid = str(uuid.uuid4())
        settings = runner.core
        ps = PreviewSession(pid, str(session.agent_id), PreviewTarget(
            str(runner.id), str(target.contact_id), str(target.target_id), target.e164), settings)
        actor = Actor(pid, lambda e: ps.handle(e, h.clock.now()), h.executor.execute,
                      kind="preview")
        actor.context.update(campaign_name=runner.campaign.name, campaign_id=runner.id,
                             agent_id=session.agent_id)
        p = Preview(ps, actor, session.agent_id, runner.id, runner.campaign.name, target,
                    callback_id=callback_id)
        self.previews[pid] = p
        self.by_agent[session.agent_id] = pid
        h.spawn(actor.run(), name=f"preview-{pid[:8]}")
        wants_call = settings.wants_reservation_call
        leg = h.sessions.reserve(session, pid, runner.id, reservation_call=wants_call)
        if not wants_call:
            p.leg = leg if leg.up else None
            self._start(p)
        return pid

    def _start(self, p: Preview) -> None:
        commands = p.session.start(self.host.clock.now())
        p.actor.enqueue(commands)

    async def reservation_ready(self, cmd: c.ReservationReady) -> None:
        p = self.previews.get(cmd.offer_id)
        if p is None:
            return
        p.leg = AgentLeg(cmd.agent_id, self.host.sessions.get(p.agent_id).endpoint,
                         cmd.channel_id, cmd.bridge_id)
        if p.session.state.value == "pending":
            self._start(p)

    async def _renew(self, runner: PreviewCampaign) -> None:
        ids = [p.target.target_id for p in self.previews.values()
               if p.campaign_id == runner.id and not p.dialed]
        if not ids:
            return
        async with self.host.pool.connection() as conn:
            await claims_ledger.renew_leases(conn, self.host.instance_id, ids,
                                             lease=timedelta(seconds=self.host.settings.lease_seconds))

    # -------------------------------------------------------------- actions

    async def action(self, agent_id: int, action: str, params: dict[str, Any]) -> dict[str, Any]:
        h = self.host
        pid = self.by_agent.get(agent_id)
        p = self.previews.get(pid) if pid else None
        if p is None:
            raise NotFound("no preview is shown to this agent", "preview")
        aid = str(agent_id)
        event: ev.Event
        if action in _ACTIONS:
            event = _ACTIONS[action](p.id, aid)
        elif action == "reschedule":
            try:
                local_date = params["local_date"]
                local_time = params["local_time"]
                zone = params["time_zone"]
            except KeyError as exc:
                raise Invalid("is required for reschedule", str(exc.args[0])) from None
            if not isinstance(local_date, date) or not isinstance(local_time, time):
                raise Invalid("must be a date and a time", "local_date")
            other = await self._check_reschedule(p, local_date, local_time, zone, params)
            event = ev.PreviewReschedule(
                p.id, aid, local_date, local_time.replace(tzinfo=None), zone,
                ev.CallbackAssignee(params.get("assignee", "anyone")),
                other, params.get("notes", ""))
        elif action == "disposition":
            code = params.get("code")
            if not code:
                raise Invalid("is required for a disposition", "code")
            async with h.pool.connection() as conn:
                try:
                    wcode = await campaigns_ledger.find_wrapup_code(conn, p.campaign_id, code)
                except campaigns_ledger.CampaignError as exc:
                    raise Invalid(exc.message, "code") from None
            event = ev.PreviewDisposition(p.id, aid, wcode.label, params.get("notes", ""))
        else:
            raise NotFound(f"unknown preview action {action!r}", "action")
        try:
            await p.actor.ask(event)
        except PreviewActionRefused as exc:
            raise Conflict(str(exc), "action") from None
        except ValueError as exc:
            msg = str(exc)
            field, _, rest = msg.partition(": ")
            raise Invalid(rest or msg, field if rest else None) from None
        return {"preview_id": p.id, "action": action, "state": p.session.state.value}

    async def _check_reschedule(self, p: Preview, local_date: date, local_time: time, zone: Any,
                                params: dict[str, Any]) -> str | None:
        """The callback's rules (MISSION F), checked before the preview closes so that a
        refusal leaves it on screen; returns the other number in E.164, if one was given."""
        try:
            zone = callbacks_ledger.check_time_zone(zone)
            start = local_callback_time(local_date, local_time.replace(tzinfo=None), zone)
        except callbacks_ledger.CallbackError as exc:
            raise Invalid(exc.message, exc.field) from None
        except ValueError as exc:
            field, _, rest = str(exc).partition(": ")
            raise Invalid(rest or str(exc), field if rest else "local_time") from None
        raw_other = params.get("other_number")
        async with self.host.pool.connection() as conn:
            now = await db_now(conn)
        try:
            callbacks_ledger.validate_callback(
                kind="scheduled", phone=raw_other or p.target.e164, window_start=start,
                window_end=None, time_zone=zone, now=now, notes=params.get("notes") or None,
                default_region=_region_of(p.target.e164))
        except callbacks_ledger.CallbackError as exc:
            field = {"phone": "other_number", "window_start": "local_time",
                     "window_end": "local_date"}.get(exc.field, exc.field)
            raise Invalid(exc.message, field) from None
        if not raw_other or not str(raw_other).strip():
            return None
        return callbacks_ledger.normalize_phone(raw_other, default_region=_region_of(p.target.e164))

    # ------------------------------------------------------------- commands

    def _close(self, offer_id: str) -> Preview | None:
        p = self.previews.pop(offer_id, None)
        if p is not None:
            if self.by_agent.get(p.agent_id) == offer_id:
                del self.by_agent[p.agent_id]
            p.actor.stop()
            if p.callback_id is not None and not p.dialed:
                closed_by = p.session.closed_by
                self.host.callbacks.preview_closed(
                    p.callback_id, closed_by.value if closed_by is not None else "closed")
        return p

    async def dial(self, cmd: c.DialTarget) -> None:
        """Accept: commit the attempt (id = preview id) and dial on the agent's leg."""
        h = self.host
        p = self.previews.get(cmd.offer_id)
        if p is None:
            return
        p.dialed = True
        agent_id = int(cmd.agent_id) if cmd.agent_id else p.agent_id
        settings = p.session.settings
        async with h.pool.connection() as conn:
            ticket = await claims_ledger.write_ahead_attempt(
                conn, p.target.target_id, owner=h.instance_id, agent_id=agent_id,
                attempt_id=uuid.UUID(p.id), system_call_cap=h.settings.system_max_calls,
                callback_id=p.callback_id)
        self._close(p.id)
        if not ticket.ok and p.callback_id is not None:
            h.callbacks.preview_closed(p.callback_id, "not dialed")
        if not ticket.ok:
            log.info("preview.write_ahead_refused", preview=p.id,
                     reason=str(ticket.reason))  # type: ignore[union-attr]
            h.sessions.post(agent_id, ev.AgentReleased(str(agent_id), p.id, "not dialed"))
            h.hub.publish("preview.refused", {"preview_id": p.id,
                                              "reason": str(ticket.reason)},  # type: ignore[union-attr]
                          agent_id=agent_id)
            return
        session = h.sessions.get(agent_id)
        leg = p.leg or AgentLeg(str(agent_id), session.endpoint)
        h.written_ahead.add(p.id)
        h.call_registry.start_call(attempt_id=p.id, campaign_id=p.campaign_id, campaign_name=p.campaign_name,
                     contact_id=p.target.contact_id, target_id=p.target.target_id,
                     e164=p.target.e164, settings=settings, agent_leg=leg, agent_id=agent_id)

    async def requeue(self, cmd: c.RequeueTarget) -> None:
        h = self.host
        async with h.pool.connection() as conn:
            await claims_ledger.release_leases(conn, h.instance_id, [int(cmd.target_id)],
                                               available_from=h.clock.to_wall(cmd.available_from))
        self._close_by_target(int(cmd.target_id))

    async def reject(self, cmd: c.RejectTarget) -> None:
        """Skip: not now; back after the cadence of 'rejected by agent'."""
        h = self.host
        p = self._by_target(int(cmd.target_id))
        delay = timedelta(hours=1)
        if p is not None:
            delay = p.session.settings.cadence.get(
                normalize_outcome(CallOutcome.REJECTED_BY_AGENT.value), delay)
        async with h.pool.connection() as conn:
            await claims_ledger.release_leases(conn, h.instance_id, [int(cmd.target_id)],
                                               available_from=h.clock.to_wall(cmd.at + delay))
        self._close_by_target(int(cmd.target_id))

    async def remove(self, cmd: c.RemoveTarget) -> None:
        h = self.host
        async with h.pool.connection() as conn:
            await claims_ledger.mark_offered_rejected(conn, int(cmd.target_id), h.instance_id)
        self._close_by_target(int(cmd.target_id))

    async def create_callback(self, cmd: c.CreateCallback) -> None:
        """Reschedule: a callback row; the target waits until its window opens."""
        h = self.host
        target_id = int(cmd.target_id)
        try:
            async with h.pool.connection() as conn:
                await callbacks_ledger.create_callback(
                    conn, phone=cmd.e164, window_start=cmd.start_at, time_zone=cmd.time_zone,
                    kind="personal" if cmd.assigned_agent_id else "scheduled",
                    campaign_id=int(cmd.campaign_id), contact_id=int(cmd.contact_id),
                    target_id=target_id, notes=cmd.notes or None,
                    assigned_agent_id=int(cmd.assigned_agent_id) if cmd.assigned_agent_id else None,
                    created_by=int(cmd.created_by), release_owner=h.instance_id)
        except callbacks_ledger.CallbackError as exc:
            # Checked before the preview closed; refused now only by a race (e.g. the
            # window's start passed meanwhile): the target goes back to the queue.
            log.warning("preview.callback_refused", target=target_id, field=exc.field,
                        error=exc.message)
            async with h.pool.connection() as conn:
                await claims_ledger.release_leases(conn, h.instance_id, [target_id])
        finally:
            self._close_by_target(target_id)

    async def disposition_without_dial(self, cmd: c.RecordDisposition) -> None:
        """Disposition without dialing: the ledger records a 'not_dialed' attempt carrying
        the code's effects (the contact's history shows it)."""
        h = self.host
        assert cmd.target_id is not None
        target_id = int(cmd.target_id)
        try:
            async with h.pool.connection() as conn:
                await attempts_ledger.disposition_without_dialing(
                    conn, target_id, cmd.code, owner=h.instance_id,
                    agent_id=int(cmd.agent_id) if cmd.agent_id else None,
                    note=cmd.notes or None)
        except (attempts_ledger.AttemptError, campaigns_ledger.CampaignError) as exc:
            log.warning("preview.disposition_refused", target=target_id, error=str(exc))
            async with h.pool.connection() as conn:
                await claims_ledger.release_leases(conn, h.instance_id, [target_id])
        finally:
            self._close_by_target(target_id)

    async def published(self, cmd: c.PublishPreview) -> None:
        h = self.host
        p = self.previews.get(cmd.preview_id)
        if p is None:
            return
        async with h.pool.connection() as conn:
            await claims_ledger.mark_shown(conn, p.target.target_id, h.instance_id)
            if p.card is None:
                p.card = await screen_pop_ledger.target_card(conn, p.target.target_id)
        masking = await h.screen_pops.masking(p.campaign_id)
        secure = await h.screen_pops.secure_fields(p.campaign_id)
        h.hub.publish("preview.show", p.to_json(h.clock.now(), masking=masking, secure=secure),
                      agent_id=p.agent_id, campaign_id=p.campaign_id)

    def _by_target(self, target_id: int) -> Preview | None:
        for p in self.previews.values():
            if p.target.target_id == target_id:
                return p
        return None

    def _close_by_target(self, target_id: int) -> None:
        p = self._by_target(target_id)
        if p is not None:
            self._close(p.id)
            self.host.hub.publish("preview.closed", {"preview_id": p.id,
                                                  "closed_by": p.session.closed_by},
                               agent_id=p.agent_id)

    async def campaign_stopped(self, runner: PreviewCampaign) -> None:
        """Close the campaign's open previews: leases back, agents released."""
        for p in [p for p in self.previews.values() if p.campaign_id == runner.id and not p.dialed]:
            self._close(p.id)
            async with self.host.pool.connection() as conn:
                await claims_ledger.release_leases(conn, self.host.instance_id, [p.target.target_id])
            self.host.sessions.post(p.agent_id, ev.AgentReleased(str(p.agent_id), p.id,
                                                              "campaign stopped"))


def _region_of(e164: str) -> str | None:
    """The region of a number (a callback number typed without its country code is taken
    to be in the same country as the contact's)."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None
