"""Agent sessions: one AgentMachine + actor per logged-in agent, and agent selection.

Which agent takes which call is the core's rule (`core.agents.CallDistributor`, one per
campaign); reserving the agent is a synchronous step of its machine (`Actor.step_now`):
once the dialer decided that agent X takes call Y, no other call can pick X, whatever is
still queued. Calls that went live with no agent free wait in the campaign's queue and
get the next agent that becomes Available (until their grace runs out: abandon).

A campaign is *staffed* while one of its agents is neither logged out nor Not ready.
The step that leaves it unstaffed (the last agent logs out or goes Not ready, RONA
included) tells the campaign's calls at once, so those still ringing are cancelled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from orchestrator.core import events as ev
from orchestrator.core.access import Principal
from orchestrator.core.agents import AgentMachine, AgentState, CallDistributor, longest_idle
from orchestrator.core.calls import AgentLeg
from orchestrator.core.commands import Command, PublishAgentState
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.agents.host import AgentsHost
from orchestrator.dialer.errors import Conflict, NotFound, refusal
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger.pool import audit

log = structlog.get_logger("orchestrator.dialer.sessions")

SCREEN_POP_WAIT_S = 2.0
"""How long an agent's state change waits for its call's screen pop (read from the ledger)."""

_AMI_STATE = {
    "logged_out": "LoggedOut", "not_ready": "NotReady", "available": "Available",
    "reserved": "Reserved", "ringing": "Ringing", "on_call": "OnCall", "hold": "Hold",
    "consulting": "Consulting", "conferencing": "Conferencing", "wrap_up": "WrapUp",
}


@dataclass(eq=False)
class AgentSession:
    agent_id: int
    username: str
    display_name: str
    campaign_id: int
    campaign_name: str
    endpoint: str
    nailed_up: bool
    machine: AgentMachine
    actor: Actor
    last_attempt: str | None = None
    """The latest call this agent was connected to (kept through wrap-up)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        m = self.machine
        return {
            "agent_id": self.agent_id, "username": self.username,
            "display_name": self.display_name, "campaign": self.campaign_name,
            "campaign_id": self.campaign_id, "state": m.state.value, "reason": m.reason,
            "since": m.state_since.isoformat() if m.state_since else None,
            "attempt_id": m.attempt_id, "last_attempt_id": self.last_attempt,
            "endpoint": self.endpoint, "nailed_up": self.nailed_up,
        }


class AgentSessions:
    def __init__(self, host: AgentsHost) -> None:
        self.host = host
        self.sessions: dict[int, AgentSession] = {}
        self.distributors: dict[int, CallDistributor] = {}
        """Each campaign's distribution of calls to agents (and its queue of waiting calls)."""

    # ------------------------------------------------------------- queries

    def get(self, agent_id: int) -> AgentSession:
        session = self.sessions.get(agent_id)
        if session is None:
            raise NotFound(f"agent {agent_id} is not logged in", "agent_id")
        return session

    def of_campaign(self, campaign_id: int) -> list[AgentSession]:
        return [s for s in self.sessions.values()
                if s.campaign_id == campaign_id and s.machine.logged_in]

    def staffed(self, campaign_id: int) -> bool:
        """Someone of the campaign is Available, reserved, on a call or in wrap-up."""
        return any(_staffs(s.machine) for s in self.of_campaign(campaign_id))

    def available(self, campaign_id: int) -> list[AgentSession]:
        """Available agents of a campaign, longest idle first."""
        by_machine = {id(s.machine): s for s in self.of_campaign(campaign_id)}
        return [by_machine[id(m)] for m in longest_idle(s.machine for s in by_machine.values())]

    # ------------------------------------------------------------- login/out

    async def login(self, agent: agents_ledger.Agent, campaign_id: int, campaign_name: str,
                    endpoint: str, nailed_up: bool, *, by: Principal | None = None) -> AgentSession:
        existing = self.sessions.get(agent.id)
        if existing is not None and existing.machine.logged_in:
            raise Conflict(f"agent {agent.username} is already logged in "
                           f"(campaign {existing.campaign_name})", "agent_id")
        h = self.host
        machine = AgentMachine(str(agent.id), h.core_campaigns)

        def step(event: ev.Event) -> list[Command]:
            was_staffing = _staffs(machine)
            commands = machine.handle(event, h.clock.now())
            # Checked in the step itself, not when the new state is published: calls
            # still ringing are cancelled before any of them can be answered.
            if was_staffing and not _staffs(machine) and not self.staffed(campaign_id):
                h.call_registry.campaign_unstaffed(campaign_id)
            return commands

        actor = Actor(f"agent:{agent.id}", step, h.executor.execute, kind="agent")
        actor.context.update(campaign_name=campaign_name, campaign_id=campaign_id,
                             agent_id=agent.id)
        session = AgentSession(agent.id, agent.username, agent.display_name, campaign_id,
                               campaign_name, endpoint, nailed_up, machine, actor)
        self.sessions[agent.id] = session
        h.spawn(actor.run(), name=f"agent-{agent.id}")
        try:
            await actor.ask(ev.AgentLogin(str(agent.id), endpoint, nailed_up))
        except Exception:
            self.sessions.pop(agent.id, None)
            actor.stop()
            raise
        await self._audit_for_another(by, "agent.login_on_behalf", agent.id,
                                      campaign_id=campaign_id, nailed_up=nailed_up)
        return session

    async def logout(self, agent_id: int, *, by: Principal | None = None) -> AgentSession:
        """Log out (deferred by the agent's machine to the end of a call in progress);
        ``by``: who asks, audited when it is not the agent itself."""
        session = self.get(agent_id)
        was = session.machine.state.value
        await self._ask(session, ev.AgentLogout(str(agent_id)))
        await self._audit_for_another(by, "agent.force_logout", agent_id, previous_state=was,
                                      state=session.machine.state.value)
        return session

    async def set_state(self, agent_id: int, state: str, reason: str, *,
                        by: Principal | None = None) -> AgentSession:
        """Available or Not ready; ``by``: who asks, audited when it is not the agent."""
        session = self.get(agent_id)
        was = session.machine.state.value
        if state == "available":
            if session.machine.state is not AgentState.AVAILABLE:
                await self._ask(session, ev.AgentReady(str(agent_id)))
        else:
            await self._ask(session, ev.AgentNotReady(str(agent_id), reason or "break"))
        await self._audit_for_another(by, "agent.force_state", agent_id, previous_state=was,
                                      requested=state, reason=reason or None,
                                      state=session.machine.state.value)
        return session

    async def _audit_for_another(self, by: Principal | None, action: str, agent_id: int,
                                 **details: Any) -> None:
        """A supervisor or admin acted on another agent's session: audit_log says who."""
        if by is None or by.agent_id == agent_id:
            return
        async with self.host.pool.connection() as conn:
            await audit(conn, actor=by.actor, action=action, object_type="agent",
                        object_id=agent_id, details={"supervisor_id": by.agent_id, **details})

    async def _ask(self, session: AgentSession, event: ev.Event) -> None:
        try:
            await session.actor.ask(event)
        except Exception as exc:
            from orchestrator.core.agents import AgentStateError

            if isinstance(exc, AgentStateError):
                raise Conflict(refusal(exc), "state") from None
            if isinstance(exc, ValueError):
                from orchestrator.dialer.errors import Invalid

                raise Invalid(str(exc)) from None
            raise

    def logout_all(self) -> None:
        """Shutdown: log every agent out (their phone legs are hung up)."""
        for session in list(self.sessions.values()):
            if session.machine.logged_in and not session.actor.stopped:
                session.actor.post(ev.AgentLogout(str(session.agent_id)))

    # ----------------------------------------------------------- reservation

    def post(self, agent_id: int, event: ev.Event) -> None:
        session = self.sessions.get(agent_id)
        if session is None:
            log.debug("sessions.event_for_absent_agent", agent=agent_id, event_type=type(event).__name__)
            return
        if isinstance(event, ev.AgentConnected):
            session.last_attempt = event.attempt_id
        session.actor.post(event)

    def reserve(self, session: AgentSession, attempt_id: str, campaign_id: int, *,
                reservation_call: bool = False) -> AgentLeg:
        """Reserve an Available agent now; returns how to reach its phone."""
        session.actor.step_now(ev.AgentReserved(str(session.agent_id), attempt_id,
                                                str(campaign_id), reservation_call))
        return session.machine.phone_leg()

    def _distributor(self, campaign_id: int) -> CallDistributor:
        found = self.distributors.get(campaign_id)
        if found is None:
            found = self.distributors[campaign_id] = CallDistributor()
        return found

    def request_agent(self, attempt_id: str, campaign_id: int) -> None:
        """A live customer needs an agent: assign the longest idle, else queue the call."""
        distributor = self._distributor(campaign_id)
        by_machine = {id(s.machine): s for s in self.of_campaign(campaign_id)}
        for machine in distributor.agents_for_call(s.machine for s in by_machine.values()):
            session = by_machine[id(machine)]
            try:
                leg = self.reserve(session, attempt_id, campaign_id)
            except Exception as exc:  # raced into another state: try the next one
                log.debug("sessions.reserve_failed", agent=session.agent_id, error=str(exc))
                continue
            self._assign(session, attempt_id, leg)
            return
        distributor.queue(attempt_id)

    def _serve_waiting(self, session: AgentSession) -> bool:
        """An agent became Available: give them the call that has waited longest."""
        distributor = self.distributors.get(session.campaign_id)
        if distributor is None:
            return False
        attempt_id = distributor.call_for_agent(self.host.call_registry.call_waits_for_agent)
        if attempt_id is None:
            return False
        try:
            leg = self.reserve(session, attempt_id, session.campaign_id)
        except Exception:
            distributor.put_back(attempt_id)
            return False
        self._assign(session, attempt_id, leg)
        return True

    def _assign(self, session: AgentSession, attempt_id: str, leg: AgentLeg) -> None:
        """The reserved agent is the call's: it dials or bridges them; their screen pop loads."""
        self.host.call_registry.post_call(attempt_id, ev.AgentAssigned(
            attempt_id, str(session.agent_id), leg.endpoint, leg.channel_id, leg.bridge_id))
        self.host.screen_pops.prefetch(attempt_id)

    # -------------------------------------------------------------- publish

    async def published_state(self, cmd: PublishAgentState) -> None:
        h = self.host
        agent_id = int(cmd.agent_id)
        session = self.sessions.get(agent_id)
        campaign_id = session.campaign_id if session else None
        data: dict[str, Any] = {
            "agent_id": agent_id, "state": cmd.state, "reason": cmd.reason,
            "attempt_id": cmd.attempt_id, "campaign_id": campaign_id,
        }
        if session is not None:
            data.update(await self.call_details(session, cmd.attempt_id))
        h.hub.publish("agent.state", data, agent_id=agent_id, campaign_id=campaign_id)
        h.ami_publish("agent", str(agent_id), _AMI_STATE.get(cmd.state, cmd.state),
                      session.campaign_name if session else None, cmd.reason or None)
        self.refresh_gauges()
        try:
            async with h.pool.connection() as conn:
                await agents_ledger.record_agent_state(
                    conn, agent_id, cmd.state, reason=cmd.reason or None, campaign_id=campaign_id,
                    instance_id=h.instance_id)
        except Exception as exc:
            log.warning("sessions.state_history_failed", agent=agent_id, error=str(exc))
        if session is None:
            return
        if cmd.state == AgentState.AVAILABLE.value:
            if not self._serve_waiting(session):
                h.campaigns.wake(session.campaign_id)
        elif cmd.state == AgentState.LOGGED_OUT.value:
            self.sessions.pop(agent_id, None)
            session.actor.stop()
            h.campaigns.wake(session.campaign_id)

    async def call_details(self, session: AgentSession, attempt_id: str | None) -> dict[str, Any]:
        """What an agent's screen shows about its call: the screen pop (``call``) of a call
        offered or connected to it, and in wrap-up the auto-disposition deadline. A preview
        not dialed yet has no call (its card is the preview)."""
        h = self.host
        out: dict[str, Any] = {}
        if attempt_id is not None and h.previews.by_agent.get(session.agent_id) != attempt_id:
            card = None
            try:
                # A slow database must not hold up the agent's state change: the page
                # reads the session again and gets the card then.
                async with asyncio.timeout(SCREEN_POP_WAIT_S):
                    card = await h.screen_pops.get(attempt_id)
            except TimeoutError:
                log.info("sessions.screen_pop_late", agent=session.agent_id, attempt=attempt_id)
            if card is not None:
                out["call"] = card
        m = session.machine
        if m.state is AgentState.WRAP_UP:
            settings = h.core_campaigns.get(str(m.campaign_id)) if m.campaign_id else None
            at = h.timers.deadline(f"agent/{session.agent_id}/wrapup")
            if at is None and settings is not None and m.state_since is not None:
                at = m.state_since + timedelta(seconds=settings.wrapup_s)
            if settings is not None:
                out["wrapup_seconds"] = settings.wrapup_s
            if at is not None:
                out["wrapup_deadline"] = h.clock.to_wall(at).isoformat()
                out["wrapup_remaining_s"] = round(h.clock.delay_until(at), 2)
        return out

    def refresh_gauges(self) -> None:
        counts: dict[str, int] = {s.value: 0 for s in AgentState}
        for s in self.sessions.values():
            counts[s.machine.state.value] += 1
        for state, n in counts.items():
            self.host.metrics.agents.labels(state).set(n)


def _staffs(machine: AgentMachine) -> bool:
    """The agent counts for the campaign's dialing: logged in and not Not ready."""
    return machine.state not in (AgentState.LOGGED_OUT, AgentState.NOT_READY)
