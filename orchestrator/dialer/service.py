"""`DialerService`: what the HTTP API calls (implements `orchestrator.api.service.DialerApi`).

Object rights beyond the route table are checked here: an agent's disposition must be
for a call that agent handled; an agent logs in only to a campaign of one of its teams
(a campaign with no team is open to every agent).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator.core import events as ev
from orchestrator.core.access import Principal, Role
from orchestrator.core.agents import AgentState
from orchestrator.core.dialgate import DialRefused
from orchestrator.dialer.call_control import CallControl
from orchestrator.dialer.callbacks import CallbacksService
from orchestrator.dialer.calls.call_data import CallDataService
from orchestrator.dialer.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable, refusal
from orchestrator.dialer.kernel.ids import ascii_int
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger import reports as reports_ledger

log = structlog.get_logger("orchestrator.dialer.service")

if TYPE_CHECKING:
    from orchestrator.dialer.dialer import Dialer


def _campaign_ref(ref: str) -> str | int:
    number = ascii_int(ref)
    return ref if number is None else number


class DialerService:
    def __init__(self, dialer: Dialer) -> None:
        self.d = dialer
        self.supervision = dialer.supervision  # listen, whisper, barge (MISSION E)
        self.control = CallControl(dialer)
        "Consult, transfer, conference, recording pause (MISSION E)."
        self.call_data = CallDataService(dialer)  # call-associated data (MISSION E)
        self.callbacks = CallbacksService(dialer, dialer.callbacks)  # callbacks (MISSION F)

    # ------------------------------------------------------------- agents

    async def agent_sessions(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.d.sessions.sessions.values()]

    async def agent_session(self, agent_id: int) -> dict[str, Any]:
        d = self.d
        session = d.sessions.sessions.get(agent_id)
        if session is None:
            return {"agent_id": agent_id, "state": AgentState.LOGGED_OUT.value}
        out = session.to_json()
        async with d.pool.connection() as conn:
            codes = await campaigns_ledger.wrapup_codes(conn, session.campaign_id)
        out["wrapup_codes"] = [{"id": c.id, "label": c.label, "outcome_class": c.outcome_class}
                               for c in codes]
        preview = await d.previews.current(agent_id)
        if preview is not None:
            out["preview"] = preview
        out.update(await d.sessions.call_details(session, session.machine.attempt_id))
        control = self.control.view(agent_id, session.machine.attempt_id)
        if control is not None:
            out["call_control"] = control
        return out

    async def agent_campaigns(self, agent_id: int) -> list[dict[str, Any]]:
        """Campaigns the agent may log in to (its teams', and those open to every agent)."""
        async with self.d.pool.connection() as conn:
            try:
                await agents_ledger.get_agent(conn, agent_id)
            except agents_ledger.AgentNotFound:
                raise NotFound(f"no agent {agent_id}", "agent_id") from None
            campaigns = await campaigns_ledger.agent_campaigns(conn, agent_id)
        return [{"id": c.id, "name": c.name, "status": c.status, "mode": c.mode}
                for c in campaigns]

    async def live_calls(self) -> list[dict[str, Any]]:
        """Calls in progress (every instance's, from the ledger), numbers masked when the
        campaign masks them; this instance's calls add their live progress."""
        from orchestrator.dialer.kernel.shown import shown_number

        d = self.d
        async with d.pool.connection() as conn:
            rows = await reports_ledger.live_calls(conn)
        out = []
        for r in rows:
            entry = d.calls.get(r.attempt_id)
            out.append({
                "attempt_id": r.attempt_id, "campaign_id": r.campaign_id, "campaign": r.campaign,
                "number": shown_number(r.e164, r.masking), "masked": r.masking,
                "target_description": r.target_description, "mode": r.mode,
                "state": entry.machine.state.value if entry is not None else r.state,
                "ledger_state": r.state, "agent_id": r.agent_id, "agent": r.agent,
                "instance": r.owner, "started_at": r.created_at.isoformat(),
                "answered_at": r.answered_at.isoformat() if r.answered_at else None,
                "connected_at": r.connected_at.isoformat() if r.connected_at else None,
            })
        return out

    async def login(self, actor: Principal, agent_id: int, campaign: str, endpoint: str | None,
                    nailed_up: bool | None) -> dict[str, Any]:
        d = self.d
        if d.draining:
            raise Unavailable("the service is shutting down")
        async with d.pool.connection() as conn:
            try:
                agent = await agents_ledger.get_agent(conn, agent_id)
            except agents_ledger.AgentNotFound:
                raise NotFound(f"no agent {agent_id}", "agent_id") from None
            if not agent.active:
                raise Forbidden("this agent is deactivated", "agent_id")
            camp = await campaigns_ledger.get_campaign(conn, _campaign_ref(campaign))
            teams = await campaigns_ledger.campaign_teams(conn, camp.id)
            if teams and camp.id not in await agents_ledger.campaigns_for_agent(conn, agent_id):
                raise Forbidden(f"agent {agent.username} is in none of campaign "
                                f"{camp.name!r}'s teams", "campaign")
        phone = endpoint or agent.endpoint
        if not phone:
            raise Invalid("no endpoint given and the agent has none configured", "endpoint")
        try:
            # the phone an admin configured, or one the allow-list admits; never a
            # customer, a trunk or a number (a probe had agents ring DNC and premium numbers)
            phone = d.gate.agent_phone(phone, configured=agent.endpoint)
        except DialRefused as exc:
            log.warning("agent.phone_refused", agent_id=agent_id, reason=exc.reason)
            raise Invalid(f"{exc.reason}; got {phone!r}", "endpoint") from None
        nailed = nailed_up if nailed_up is not None else agent.phone_mode == "nailed"
        if str(camp.id) not in d.core_campaigns:
            from orchestrator.dialer.settings import core_settings

            d.core_campaigns[str(camp.id)] = core_settings(camp)
        session = await d.sessions.login(agent, camp.id, camp.name, phone, nailed, by=actor)
        return session.to_json()

    async def logout(self, actor: Principal, agent_id: int) -> dict[str, Any]:
        session = await self.d.sessions.logout(agent_id, by=actor)
        return session.to_json()

    async def set_state(self, actor: Principal, agent_id: int, state: str,
                        reason: str) -> dict[str, Any]:
        session = await self.d.sessions.set_state(agent_id, state, reason, by=actor)
        return session.to_json()

    async def preview_action(self, actor: Principal, agent_id: int, action: str,
                             params: dict[str, Any]) -> dict[str, Any]:
        return await self.d.previews.action(agent_id, action, params)

    async def hangup(self, actor: Principal, agent_id: int,
                     attempt_id: str | None) -> dict[str, Any]:
        d = self.d
        session = d.sessions.get(agent_id)
        aid = attempt_id or session.machine.attempt_id
        if aid is None:
            raise Conflict("the agent has no call to end", "attempt_id")
        if session.machine.attempt_id != aid:
            raise Forbidden("this call is not the agent's current call", "attempt_id")
        try:
            await session.actor.ask(ev.AgentHangupRequest(str(agent_id), aid))
        except Exception as exc:
            raise Conflict(refusal(exc), "attempt_id") from None
        return {"attempt_id": aid, "state": session.machine.state.value}

    async def hold(self, actor: Principal, agent_id: int, attempt_id: str | None,
                   on: bool) -> dict[str, Any]:
        """Hold (music on hold for the customer) or resume the agent's current call."""
        session = self.d.sessions.get(agent_id)
        aid = attempt_id or session.machine.attempt_id
        if aid is None or session.machine.attempt_id != aid:
            raise Conflict("no such call in progress for this agent", "attempt_id")
        event = (ev.HoldRequest(str(agent_id), aid) if on
                 else ev.UnholdRequest(str(agent_id), aid))
        try:
            await session.actor.ask(event)
        except Exception as exc:
            raise Conflict(refusal(exc), "attempt_id") from None
        return {"attempt_id": aid, "state": session.machine.state.value}

    async def disposition(self, actor: Principal, agent_id: int, attempt_id: str, code: str,
                          notes: str, amd_false_positive: bool) -> dict[str, Any]:
        d = self.d
        try:
            aid = uuid.UUID(attempt_id)
        except ValueError:
            raise Invalid("not an attempt id", "attempt_id") from None
        async with d.pool.connection() as conn:
            try:
                att = await attempts_ledger.get_attempt(conn, aid)
            except attempts_ledger.AttemptNotFound:
                raise NotFound(f"no attempt {attempt_id}", "attempt_id") from None
            own = d.sessions.sessions.get(agent_id)
            wrapping = own is not None and own.machine.attempt_id == str(aid)
            # An agent who transferred the call (or left its conference) wraps up their part
            # of it, though the attempt is another agent's now.
            if att.agent_id != agent_id and not wrapping:
                raise Forbidden("this call was not handled by this agent", "attempt_id")
            try:
                wcode = await campaigns_ledger.find_wrapup_code(conn, att.campaign_id, code)
            except campaigns_ledger.CampaignError as exc:
                raise Invalid(exc.message, "code") from None
        if amd_false_positive:
            if (att.amd_status or "").upper() != "MACHINE":
                raise Conflict("the call was not classified as an answering machine",
                               "amd_false_positive")
            d.call_registry.post_call(str(aid), ev.AmdFalsePositiveReported(str(aid), str(agent_id)))
        session = d.sessions.sessions.get(agent_id)
        if session is not None and session.machine.attempt_id == str(aid):
            try:
                await session.actor.ask(ev.AgentDisposition(str(agent_id), str(aid), wcode.label,
                                                            notes))
            except Exception as exc:
                raise Conflict(refusal(exc), "attempt_id") from None
            return {"attempt_id": str(aid), "code": wcode.label, "state": session.machine.state.value}
        # Not the session's current call (e.g. after a restart): write it directly.
        async with d.pool.connection() as conn:
            res = await attempts_ledger.record_disposition(conn, aid, wcode.id, agent_id=agent_id,
                                                           note=notes or None)
        return {"attempt_id": str(aid), "code": res.label, "replayed": res.replayed}

    # ----------------------------------------------------------- campaigns

    async def list_campaigns(self) -> list[dict[str, Any]]:
        async with self.d.pool.connection() as conn:
            return [c.to_json() for c in await campaigns_ledger.list_campaigns(conn)]

    async def get_campaign(self, ref: str) -> dict[str, Any]:
        async with self.d.pool.connection() as conn:
            c = await campaigns_ledger.get_campaign(conn, _campaign_ref(ref))
            out = c.to_json()
            out["teams"] = await campaigns_ledger.campaign_teams(conn, c.id)
        return out

    async def create_campaign(self, actor: Principal, name: str, teams: list[str],
                              settings: dict[str, Any]) -> dict[str, Any]:
        async with self.d.pool.connection() as conn:
            c = await campaigns_ledger.create_campaign(conn, name, actor=actor.actor, teams=teams,
                                                       **settings)
        self.d.campaigns.poke()
        return c.to_json()

    async def update_campaign(self, actor: Principal, ref: str,
                              changes: dict[str, Any]) -> dict[str, Any]:
        async with self.d.pool.connection() as conn:
            c = await campaigns_ledger.update_campaign(conn, _campaign_ref(ref), changes,
                                                       actor=actor.actor)
        self.d.campaigns.poke()
        return c.to_json()

    async def campaign_action(self, actor: Principal, ref: str, action: str) -> dict[str, Any]:
        async with self.d.pool.connection() as conn:
            c = await campaigns_ledger.transition_campaign(conn, _campaign_ref(ref), action,
                                                           actor=actor.actor)
        self.d.campaigns.poke()
        self.d.hub.publish("campaign.state", {"campaign_id": c.id, "name": c.name,
                                              "state": c.status},
                           campaign_id=c.id, audience="supervisors")
        return c.to_json()

    async def campaign_stats(self, ref: str) -> dict[str, Any]:
        async with self.d.pool.connection() as conn:
            c = await campaigns_ledger.get_campaign(conn, _campaign_ref(ref))
            live = await claims_ledger.count_live_attempts(conn, c.id)
            counts = await _attempt_counts(conn, c.id)
        return self._stats_of(c, live, counts)

    def _stats_of(self, c: campaigns_ledger.Campaign, live: int,
                  counts: dict[str, Any]) -> dict[str, Any]:
        d = self.d
        runner = d.campaigns.runners.get(c.id)
        sessions = d.sessions.of_campaign(c.id)
        by_state: dict[str, int] = {}
        for s in sessions:
            by_state[s.machine.state.value] = by_state.get(s.machine.state.value, 0) + 1
        out: dict[str, Any] = {
            "campaign_id": c.id, "name": c.name, "status": c.status, "mode": c.mode,
            "calls_in_progress": live, "calls_here": len(d.call_registry.calls_of(c.id)),
            "agents": by_state, "agents_logged_in": len(sessions),
            "dial_limit": runner.last_limit if runner else None, **counts,
        }
        if runner is not None and runner.pacer is not None:
            st = runner.pacer.stats(d.now_s())
            out["pacing"] = {
                "dial_level": st.dial_level, "answer_rate": st.answer_rate,
                "abandon_rate_24h": st.abandon_rate_24h, "abandon_rate_30d": st.abandon_rate_30d,
                "drop_budget_24h": st.drop_budget_24h, "drop_budget_30d": st.drop_budget_30d,
                "answered_24h": st.answered_24h, "abandoned_24h": st.abandoned_24h,
                "warming_up": st.warming_up,
            }
        return out

    async def live_stats(self) -> dict[str, Any]:
        d = self.d
        async with d.pool.connection() as conn:
            campaigns = await campaigns_ledger.list_campaigns(conn)
            out = []
            for c in campaigns:
                if c.status not in ("running", "paused"):
                    continue
                live = await claims_ledger.count_live_attempts(conn, c.id)
                out.append(self._stats_of(c, live, await _attempt_counts(conn, c.id)))
            total_live = await claims_ledger.count_live_attempts(conn)
        return {"campaigns": out, "calls_in_progress": total_live,
                "agents": await self.agent_sessions(), "instance": d.instance_id}

    async def health(self) -> dict[str, Any]:
        return await self.d.health()

    async def publish_stats(self) -> None:
        """Push each running campaign's live figures to supervisors (WebSocket) and to AMI
        wallboards (``UserEvent: DialerCampaignStats``)."""
        from orchestrator.ami.userevents import DialerCampaignStats

        d = self.d
        for runner in list(d.campaigns.runners.values()):
            async with d.pool.connection() as conn:
                live = await claims_ledger.count_live_attempts(conn, runner.id)
                stats = self._stats_of(runner.campaign, live, await _attempt_counts(conn, runner.id))
            d.hub.publish("campaign.stats", stats, campaign_id=runner.id, audience="supervisors")
            pacing = stats.get("pacing") or {}
            d.ami_publish("stats", DialerCampaignStats(
                campaign=runner.campaign.name,
                dial_level=float(pacing.get("dial_level", 0.0)),
                abandon_rate=float(stats["abandon_24h"]["rate"] or 0.0),
                answer_rate=float(stats["answer_rate"] or 0.0),
                calls_in_progress=live,
                agents_available=len(d.sessions.available(runner.id)),
                contacts_left=int(stats["targets_left"]),
            ))


async def _attempt_counts(conn: Any, campaign_id: int) -> dict[str, Any]:
    """The ledger's live figures of a campaign (MISSION H): outcomes, abandon rate over the
    UK 24 h and US 30-day windows with the drop budget left, answer rate, occupancy."""
    r = await reports_ledger.campaign_report(conn, campaign_id)
    left = sum(n for reason, n in r.targets_by_reason.items()
               if reason in ("dialable", "Not in cadence", "Outside calling window"))
    return {
        "attempts": r.attempts_total, "attempts_live": r.attempts_live,
        "outcomes": r.outcomes, "abandoned": r.outcomes.get("abandoned", 0),
        "human": r.outcomes.get("human", 0), "dispositions": r.dispositions,
        "answer_rate": r.answer_rate,
        "abandon_24h": {"rate": r.abandon_24h.rate, "abandoned": r.abandon_24h.abandoned,
                        "live_answers": r.abandon_24h.live_answers,
                        "remaining_budget": r.abandon_24h.remaining_budget},
        "abandon_30d": {"rate": r.abandon_30d.rate, "abandoned": r.abandon_30d.abandoned,
                        "live_answers": r.abandon_30d.live_answers,
                        "remaining_budget": r.abandon_30d.remaining_budget},
        "occupancy": r.occupancy, "targets_left": left, "targets_by_reason": r.targets_by_reason,
        "contacts_total": r.contacts_total, "contacts_complete": r.contacts_complete,
    }


__all__ = ["DialerService", "Role"]
