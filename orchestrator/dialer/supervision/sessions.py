"""Supervisions in progress: one `SupervisionMachine` behind an `Actor` per supervisor on a
call, what the API asks of them (start, change mode, stop, list), the two commands only
they issue (a snoop into their bridge, their end), and what recovery must know of their
channels and bridges.

Rules kept here:

* Only a call of this process that is bridged to its agent is supervised: not one still
  ringing or waiting for an agent, not one that ended (its agent is in wrap-up). When the
  call hangs up, every supervision of it ends (`call_state`).
* One supervision at a time per supervisor; the supervisor's phone is the one configured
  for them (agents.endpoint) or one the agent-phone gate admits, as at an agent's login.
* Every action is in audit_log with who did it: start, mode change, stop by the
  supervisor; an end nobody asked for (the call ended, the phone hung up) as ``system``.
  No phone endpoint or number is written there.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from orchestrator.ari import AriError
from orchestrator.core.access import Principal, Role
from orchestrator.core.calls import CallMachine, CallState
from orchestrator.core.commands import AddToBridge, Command
from orchestrator.core.dialgate import DialRefused
from orchestrator.core.events import Event
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from orchestrator.dialer.kernel.ids import ascii_int, wire_id
from orchestrator.dialer.supervision.commands import SnoopIntoBridge, SupervisionEnded
from orchestrator.dialer.supervision.events import (
    CallLeft,
    ModeRequested,
    SnoopRefused,
    StopRequested,
    SupervisedCall,
    SupervisionMode,
)
from orchestrator.dialer.supervision.host import LiveCall, SupervisionHost
from orchestrator.dialer.supervision.machine import (
    BRIDGE_PREFIX,
    LEG_PREFIX,
    SNOOP_PREFIX,
    SupervisionMachine,
)
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger.pool import audit

log = structlog.get_logger("orchestrator.dialer.supervision")

CALL_OVER = frozenset({CallState.HANGING_UP.value, CallState.ENDED.value})
"""Call states that end its supervisions: the conversation is over, the agent wraps up."""
_SNOOP_ID = re.compile(rf"{SNOOP_PREFIX}[0-9]+:")


@dataclass(eq=False)
class Supervision:
    """One supervisor on one call."""

    machine: SupervisionMachine
    actor: Actor
    supervisor_id: int
    "The supervisor's agents row."
    campaign_id: int
    started_at: datetime

    @property
    def id(self) -> str:
        return self.machine.id

    @property
    def attempt_id(self) -> str:
        return self.machine.call.attempt_id

    def to_json(self) -> dict[str, Any]:
        m = self.machine
        return {
            "supervision_id": m.id, "attempt_id": m.call.attempt_id,
            "agent_id": ascii_int(m.call.agent_id),
            "campaign_id": self.campaign_id, "supervisor_id": self.supervisor_id,
            "mode": m.mode.value, "state": m.phase.value,
            "started_at": self.started_at.isoformat(), "ended_reason": m.end_reason,
        }


def supervised_call(machine: CallMachine) -> SupervisedCall:
    """Where a supervision reaches the call now: the agent's channel (a per-call leg up,
    else the agent's own nailed-up or reservation leg) and the call's bridge."""
    conv = machine.conversation
    agent = machine.agent
    channel: str | None = None
    if conv.agent_leg_id is not None and conv.agent_leg_up and conv.agent_leg_alive:
        channel = conv.agent_leg_id
    elif agent is not None and agent.channel_id is not None:
        channel = agent.channel_id
    return SupervisedCall(machine.attempt_id, agent.agent_id if agent else None, channel,
                          machine.bridge_id)


def _mode(value: str) -> SupervisionMode:
    try:
        return SupervisionMode(value)
    except ValueError:
        raise Invalid(f"one of {', '.join(m.value for m in SupervisionMode)}; got {value!r}",
                      "mode") from None


def _reachable(call: SupervisedCall, mode: SupervisionMode) -> None:
    """Refuse a mode the call cannot take now (409 naming the rule)."""
    if mode is SupervisionMode.BARGE and call.bridge_id is None:
        raise Conflict("barge needs the call's bridge, and the call has none now", "mode")
    if mode is not SupervisionMode.BARGE and call.agent_channel_id is None:
        raise Conflict(f"{mode.value} snoops on the agent's channel, and the call has none now",
                       "mode")


class SupervisionSessions:
    """Supervisions of this process, by id; see the module docstring."""

    def __init__(self, host: SupervisionHost) -> None:
        self.host = host
        self.sessions: dict[str, Supervision] = {}

    # ----------------------------------------------------------------- API

    def of(self, who: Principal) -> list[dict[str, Any]]:
        """The caller's supervisions in progress."""
        return [s.to_json() for s in self.sessions.values() if s.supervisor_id == who.agent_id]

    async def start(self, who: Principal, attempt_id: str, mode_name: str,
                    endpoint: str | None) -> dict[str, Any]:
        """Ring the supervisor's phone; on answer they listen, whisper or barge."""
        mode = _mode(mode_name)
        if not who.role.at_least(Role.SUPERVISOR):
            raise Forbidden("only a supervisor or an admin supervises calls", "role")
        if self.host.draining:
            raise Unavailable("the service is shutting down")
        self._one_at_a_time(who)
        if attempt_id not in self.host.call_registry.calls:
            await self._refuse_absent(attempt_id)
        self._bridged(attempt_id, who, mode)
        phone = await self._phone(who, endpoint)
        # Checked again after the ledger: the call may have ended meanwhile, or another
        # request of this supervisor may have started one. Nothing is awaited from here to
        # the session's registration.
        self._one_at_a_time(who)
        entry, call = self._bridged(attempt_id, who, mode)
        s = self._launch(who, entry, SupervisionMachine(str(uuid.uuid4()), call, phone, mode))
        try:
            await self._audit(who.actor, "supervision.start", s)
        except Exception:
            # Not audited, not done: the phone stops ringing.
            s.actor.post(StopRequested("the audit log could not be written"))
            raise
        return s.to_json()

    async def change(self, who: Principal, supervision_id: str, mode_name: str) -> dict[str, Any]:
        """Switch mode on the same phone leg (it is not rung again)."""
        mode = _mode(mode_name)
        s = self._own(who, supervision_id)
        entry = self.host.call_registry.calls.get(s.attempt_id)
        if entry is None or entry.machine.state.value in CALL_OVER:
            raise Conflict("the call has ended: its supervision is ending", "supervision_id")
        call = supervised_call(entry.machine)
        _reachable(call, mode)
        await self._audit(who.actor, "supervision.mode", s, mode=mode.value,
                          previous_mode=s.machine.mode.value)
        await self._ask(s, ModeRequested(mode, call))
        if s.machine.ended:  # the call or the phone ended while the request waited its turn
            raise Conflict(f"the supervision has ended: {s.machine.end_reason}", "supervision_id")
        return s.to_json()

    async def stop(self, who: Principal, supervision_id: str) -> dict[str, Any]:
        """End the supervision: hang up the supervisor's leg and the snoop, destroy the
        supervision's bridge."""
        s = self._own(who, supervision_id)
        await self._audit(who.actor, "supervision.stop", s)
        by = "the supervisor" if s.supervisor_id == who.agent_id else f"{who.role.value} {who.username}"
        await self._ask(s, StopRequested(f"stopped by {by}"))
        return s.to_json()

    # ------------------------------------------------------------ the calls

    def call_state(self, attempt_id: str, state: str) -> None:
        """A call's new state (its published progress): when it hangs up or ends, so do
        its supervisions."""
        if state not in CALL_OVER:
            return
        for s in list(self.sessions.values()):
            if s.attempt_id == attempt_id and not s.machine.ended:
                s.actor.post(CallLeft(f"the call is {state.replace('_', ' ')}"))

    # ------------------------------------------------------------- commands

    async def snoop(self, cmd: SnoopIntoBridge, actor: Actor) -> None:
        """Make the snoop channel (into our app) and put it in the supervisor's bridge."""
        h = self.host
        wid = wire_id(cmd.snoop_id)
        # Registered before the request: the snoop's StasisStart can come before the answer.
        # A narrow app hears nothing of a snoop after its StasisEnd (narrow surprise 27), so
        # that is its end.
        h.directory.register(wid, actor, core_id=cmd.snoop_id)
        h.directory.mark_stasis_only(wid)
        try:
            await h.ari.snoop(wire_id(cmd.channel_id), wid, spy=cmd.spy, whisper=cmd.whisper,
                              app_args=("snoop", cmd.supervision_id, cmd.mode))
        except (AriError, ValueError) as exc:
            h.directory.unregister(wid)
            log.warning("supervision.snoop_refused", supervision=cmd.supervision_id,
                        channel=cmd.channel_id, error=str(exc))
            actor.post(SnoopRefused(cmd.snoop_id, str(exc)))
            return
        try:
            await h.telephony.add_to_bridge(AddToBridge(cmd.bridge_id, cmd.snoop_id), actor)
        except AriError as exc:
            log.warning("supervision.snoop_not_bridged", supervision=cmd.supervision_id,
                        error=str(exc))
            actor.post(SnoopRefused(cmd.snoop_id, str(exc)))

    async def ended(self, cmd: SupervisionEnded) -> None:
        """The supervision's hang-ups are sent: forget it; audit an end nobody asked for."""
        s = self.sessions.pop(cmd.supervision_id, None)
        if s is None:
            return
        for cid in s.machine.channel_ids:
            self.host.directory.unregister(wire_id(cid))
        s.actor.stop()
        log.info("supervision.ended", supervision=s.id, attempt=s.attempt_id, reason=cmd.reason)
        if not cmd.audited:
            try:
                await self._audit("system", "supervision.end", s, reason=cmd.reason)
            except Exception as exc:
                log.error("supervision.audit_failed", supervision=s.id, error=str(exc))

    # ------------------------------------------------------------- recovery

    @staticmethod
    def made_by_supervision(channel_id: str) -> bool:
        """A channel id of the kind supervisions make (a supervisor's leg, a snoop), live
        or left by a process that died."""
        return channel_id.startswith(LEG_PREFIX) or _SNOOP_ID.match(channel_id) is not None

    def leftover_bridge(self, bridge_id: str) -> bool:
        """A supervision's bridge that no supervision of this process uses."""
        return (bridge_id.startswith(BRIDGE_PREFIX)
                and bridge_id[len(BRIDGE_PREFIX):] not in self.sessions)

    # ------------------------------------------------------------- shutdown

    def stop_all(self, reason: str) -> None:
        """The service stops: every supervisor's phone is hung up."""
        for s in list(self.sessions.values()):
            if not s.machine.ended and not s.actor.stopped:
                s.actor.post(StopRequested(reason, audited=False))

    def stop_actors(self) -> None:
        for s in list(self.sessions.values()):
            s.actor.stop()

    # -------------------------------------------------------------- helpers

    def _one_at_a_time(self, who: Principal) -> None:
        for s in self.sessions.values():
            if s.supervisor_id == who.agent_id and not s.machine.ended:
                raise Conflict(f"this supervisor already supervises call {s.attempt_id} "
                               f"(supervision {s.id}): end it first", "supervision_id")

    def _bridged(self, attempt_id: str, who: Principal,
                 mode: SupervisionMode) -> tuple[LiveCall, SupervisedCall]:
        """The live call of this process, bridged to its agent, as a supervision reaches it."""
        calls = self.host.call_registry
        entry = calls.calls.get(attempt_id)
        if entry is None:
            if attempt_id in calls.ended_calls:
                raise Conflict("the call has ended (its agent is in wrap-up): only a call in "
                               "progress is supervised", "attempt_id")
            raise Conflict("the call is no longer in progress here", "attempt_id")
        state = entry.machine.state
        if state is not CallState.BRIDGED:
            raise Conflict(f"the call is {state.value}, not bridged to its agent: only a "
                           "connected call is supervised", "attempt_id")
        call = supervised_call(entry.machine)
        if call.agent_id == str(who.agent_id):
            raise Conflict("the supervisor is this call's agent", "attempt_id")
        _reachable(call, mode)
        return entry, call

    async def _refuse_absent(self, attempt_id: str) -> None:
        """A call this process does not run: why it cannot be supervised here (404/409)."""
        if attempt_id in self.host.call_registry.ended_calls:
            return  # _bridged says it: ended, in wrap-up
        async with self.host.pool.connection() as conn:
            try:
                att = await attempts_ledger.get_attempt(conn, attempt_id)
            except attempts_ledger.AttemptNotFound:
                raise NotFound(f"no call {attempt_id}", "attempt_id") from None
        if att.ended_at is not None:
            raise Conflict("the call has ended (its agent is in wrap-up or done): only a "
                           "call in progress is supervised", "attempt_id")
        if att.owner != self.host.instance_id:
            raise Conflict(f"the call is run by instance {att.owner}: supervise it through "
                           "that instance", "attempt_id")
        raise Conflict("the call is not connected to an agent by this process (not dialed "
                       "yet, or adopted after a restart)", "attempt_id")

    async def _phone(self, who: Principal, endpoint: str | None) -> str:
        """The phone to ring: the given one (the agent-phone gate decides, as at login) or
        the supervisor's configured one."""
        async with self.host.pool.connection() as conn:
            try:
                me = await agents_ledger.get_agent(conn, who.agent_id)
            except agents_ledger.AgentNotFound:
                raise Forbidden("the caller is no longer an agent of this dialer", "role") from None
        phone = endpoint or me.endpoint
        if not phone:
            raise Invalid("no endpoint given and the supervisor has none configured", "endpoint")
        try:
            return self.host.gate.agent_phone(phone, configured=me.endpoint)
        except DialRefused as exc:
            log.warning("supervision.phone_refused", supervisor=who.agent_id, reason=exc.reason)
            raise Invalid(f"{exc.reason}; got {phone!r}", "endpoint") from None

    def _launch(self, who: Principal, entry: LiveCall, machine: SupervisionMachine) -> Supervision:
        h = self.host
        shown = (machine.phase, machine.mode)

        def step(event: Event) -> list[Command]:
            nonlocal shown
            commands = machine.handle(event)
            if (machine.phase, machine.mode) != shown:
                shown = (machine.phase, machine.mode)
                self._publish(s)
            return commands

        actor = Actor(f"supervision:{machine.id}", step, h.executor.execute, kind="supervision")
        actor.context.update(campaign_name=entry.campaign_name, campaign_id=entry.campaign_id,
                             supervision_id=machine.id)
        s = Supervision(machine, actor, who.agent_id, entry.campaign_id, datetime.now(UTC))
        self.sessions[machine.id] = s
        h.spawn(actor.run(machine.start()), name=f"supervision-{machine.id[:8]}")
        self._publish(s)
        return s

    def _own(self, who: Principal, supervision_id: str) -> Supervision:
        s = self.sessions.get(supervision_id)
        if s is None or s.machine.ended:
            raise NotFound(f"no supervision {supervision_id} in progress", "supervision_id")
        if s.supervisor_id != who.agent_id and not who.role.at_least(Role.ADMIN):
            raise Forbidden("another supervisor's supervision: only they or an admin may "
                            "change or end it", "supervision_id")
        return s

    @staticmethod
    async def _ask(s: Supervision, event: Event) -> None:
        try:
            await s.actor.ask(event)
        except RuntimeError:
            raise Conflict("the supervision has ended", "supervision_id") from None

    def _publish(self, s: Supervision) -> None:
        """Supervisors' dashboards follow supervisions (never the agent: a listen is silent)."""
        self.host.hub.publish("supervision.state", s.to_json(), campaign_id=s.campaign_id,
                              audience="supervisors")

    async def _audit(self, actor: str, action: str, s: Supervision, **details: Any) -> None:
        """One audit_log row about the call: who, the supervision, the mode (never a phone)."""
        m = s.machine
        async with self.host.pool.connection() as conn:
            await audit(conn, actor=actor, action=action, object_type="attempt",
                        object_id=m.call.attempt_id, details={
                            "supervision_id": m.id, "supervisor_id": s.supervisor_id,
                            "agent_id": m.call.agent_id, "mode": m.mode.value, **details})
