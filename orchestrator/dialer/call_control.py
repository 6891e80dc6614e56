"""Call control for the API: resolve whom a consultation reaches, then ask the call.

The shell's part of MISSION E: an agent to consult must be logged in and Available (no
transfer to an agent in wrap-up, on a call or not ready); a queue is a campaign's agents,
the longest idle first and never the agent asking; a number or an entry point passes the
dial gate (normalised, then admitted by the admins' lists) before anything is dialed.
The call's machine then decides whether its state allows the request, and refuses with
the rule in words (409). Agents act on their own calls only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.core import events as ev
from orchestrator.core.agents import AgentState
from orchestrator.core.calls.control_view import control_view
from orchestrator.core.calls.parties import PartyKind, consult_number
from orchestrator.core.dialgate import DialRefused
from orchestrator.dialer.errors import Conflict, Invalid, NotFound, refusal
from orchestrator.dialer.kernel.ids import ascii_int

if TYPE_CHECKING:
    from orchestrator.dialer.calls.registry import CallEntry
    from orchestrator.dialer.dialer import Dialer

#: Simple requests by their URL action name.
ACTIONS: dict[str, type[ev.ControlRequest]] = {
    "switch": ev.SwitchRequest,
    "cancel-consult": ev.ConsultCancelRequest,
    "conference": ev.ConferenceRequest,
    "leave": ev.LeaveRequest,
}


class CallControl:
    """The API's door to call control (see the module docstring)."""

    def __init__(self, dialer: Dialer) -> None:
        self.d = dialer

    # ------------------------------------------------------------- the call

    def _call_of(self, agent_id: int, attempt_id: str | None) -> CallEntry:
        """The agent's current call (the one named, if it is theirs)."""
        session = self.d.sessions.get(agent_id)
        aid = attempt_id or session.machine.attempt_id
        if aid is None or session.machine.attempt_id != aid:
            raise Conflict("no such call in progress for this agent", "attempt_id")
        entry = self.d.call_registry.find(aid)
        if entry is None or entry.machine.ended:
            raise Conflict("the call has ended", "attempt_id")
        return entry

    async def _ask(self, entry: CallEntry, request: ev.Event) -> None:
        try:
            await entry.actor.ask(request)
        except Exception as exc:  # CallControlError: the rule that refused, in words
            raise Conflict(refusal(exc), "attempt_id") from None

    def view(self, agent_id: int, attempt_id: str | None) -> dict[str, Any] | None:
        """The control panel of the agent's call (None when it has none)."""
        entry = self.d.call_registry.find(attempt_id) if attempt_id else None
        if entry is None or entry.machine.ended:
            return None
        return control_view(entry.machine, str(agent_id), self.d.clock.now())

    # -------------------------------------------------------------- requests

    async def consult(self, agent_id: int, attempt_id: str | None, kind: str, target: str,
                      *, blind: bool = False) -> dict[str, Any]:
        """Consult (or, ``blind``, transfer to) an agent, a queue, a number or an entry point."""
        entry = self._call_of(agent_id, attempt_id)
        aid = entry.machine.attempt_id
        try:
            party_kind = PartyKind(kind)
        except ValueError:
            raise Invalid("one of agent, queue, number, entry", "kind") from None
        request = self._resolve(agent_id, entry, party_kind, target, blind)
        try:
            await self._ask(entry, request)
        except Conflict:
            if request.party_agent_id is not None:
                # The call refused: the agent reserved for it is free again.
                self.d.sessions.post(int(request.party_agent_id), ev.AgentReleased(
                    request.party_agent_id, aid, "consultation refused"))
            raise
        return self.view(agent_id, aid) or {"attempt_id": aid}

    def _resolve(self, agent_id: int, entry: CallEntry, kind: PartyKind, target: str,
                 blind: bool) -> ev.ConsultRequest:
        d = self.d
        aid = entry.machine.attempt_id
        base = {"agent_id": str(agent_id), "attempt_id": aid, "kind": kind.value, "blind": blind}
        try:
            if kind is PartyKind.NUMBER:
                endpoint = d.gate.transfer(target, "target")
                # the number as kept (the agent typed it: not a customer's to mask)
                label = consult_number(target)
                return ev.ConsultRequest(label=label, endpoint=endpoint, **base)  # type: ignore[arg-type]
            if kind is PartyKind.ENTRY:
                endpoint = d.gate.entry_point(target, "target")
                return ev.ConsultRequest(label=target, endpoint=endpoint, **base)  # type: ignore[arg-type]
        except DialRefused as exc:
            raise Invalid(exc.reason, "target") from None
        other = self._pick_agent(agent_id, entry, kind, target)
        leg = d.sessions.reserve(other, aid, other.campaign_id)
        return ev.ConsultRequest(
            label=f"agent {other.agent_id}", endpoint=leg.endpoint,
            party_agent_id=str(other.agent_id), party_channel_id=leg.channel_id,
            party_bridge_id=leg.bridge_id, **base)  # type: ignore[arg-type]

    def _pick_agent(self, agent_id: int, entry: CallEntry, kind: PartyKind, target: str) -> Any:
        d = self.d
        if kind is PartyKind.AGENT:
            other_id = ascii_int(target)
            if other_id is None:
                raise Invalid("an agent id (ASCII digits)", "target")
            if other_id == agent_id:
                raise Conflict("an agent cannot consult or transfer to itself", "target")
            other = d.sessions.sessions.get(other_id)
            if other is None or not other.machine.logged_in:
                raise Conflict(f"agent {other_id} is not logged in", "target")
            state = other.machine.state
            if state is not AgentState.AVAILABLE:
                rule = ("no transfer to an agent in wrap-up" if state is AgentState.WRAP_UP
                        else f"agent {other_id} is not available ({state.value})")
                raise Conflict(rule, "target")
            return other
        # A queue: a campaign's agents, longest idle first, never the agent asking.
        campaign_id = ascii_int(target) if target else int(entry.machine.plan.campaign_id)
        if campaign_id is None:
            raise Invalid("a campaign id (ASCII digits)", "target")
        free = [s for s in d.sessions.available(campaign_id) if s.agent_id != agent_id]
        if not free:
            raise Conflict(f"no agent available in queue {campaign_id} (the transferring "
                           "agent is never chosen)", "target")
        return free[0]  # available() lists the longest idle first

    async def transfer(self, agent_id: int, attempt_id: str | None) -> dict[str, Any]:
        """Complete the consultation in progress as a transfer."""
        entry = self._call_of(agent_id, attempt_id)
        await self._ask(entry, ev.TransferRequest(str(agent_id), entry.machine.attempt_id))
        return {"attempt_id": entry.machine.attempt_id, "transferred": True}

    async def action(self, agent_id: int, attempt_id: str | None, action: str,
                     party_id: str | None = None) -> dict[str, Any]:
        """switch, cancel-consult, conference, leave, remove-party, pause/resume-recording."""
        entry = self._call_of(agent_id, attempt_id)
        aid = entry.machine.attempt_id
        request: ev.Event
        if action in ACTIONS:
            request = ACTIONS[action](str(agent_id), aid)
        elif action in ("pause-recording", "resume-recording"):
            request = ev.RecordingRequest(str(agent_id), aid, action == "pause-recording")
        elif action == "remove-party":
            if not party_id:
                raise Invalid("the party to remove", "party_id")
            request = ev.RemovePartyRequest(str(agent_id), aid, party_id)
        else:
            raise NotFound(f"no call action {action!r}", "action")
        await self._ask(entry, request)
        return self.view(agent_id, aid) or {"attempt_id": aid}

