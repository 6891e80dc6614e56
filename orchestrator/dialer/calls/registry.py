"""The calls this process runs: each attempt's `CallMachine` behind an `Actor`, from the
write-ahead row to its end, and the events other domains address to a call."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import structlog

from orchestrator.core import events as ev
from orchestrator.core.calls import CallMachine, CallPlan, CallState
from orchestrator.core.campaigns import CampaignSettings as CoreSettings
from orchestrator.core.commands import Command
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.calls.host import CallsHost
from orchestrator.dialer.kernel.ids import wire_id

log = structlog.get_logger("orchestrator.dialer")

_WAITING_AGENT = (CallState.LIVE,)
_IN_FLIGHT = (CallState.CREATED, CallState.AGENT_DIALING, CallState.ORIGINATING,
              CallState.RINGING, CallState.AMD, CallState.LIVE, CallState.CONNECTING)
ENDED_KEPT = 1000
"""Ended calls remembered (late dispositions, false-positive reports, publishes)."""


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


class CallRegistry:
    """Live calls by attempt id, the last ended ones, and the attempts written ahead."""

    def __init__(self, host: CallsHost) -> None:
        self.host = host
        self.calls: dict[str, CallEntry] = {}
        self.ended_calls: OrderedDict[str, CallEntry] = OrderedDict()
        self.written_ahead: set[str] = set()
        """Attempts whose row is committed and whose outcome is not yet written."""

    def find(self, attempt_id: str) -> CallEntry | None:
        """A live call, else one that ended lately."""
        return self.calls.get(attempt_id) or self.ended_calls.get(attempt_id)

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
        h = self.host
        if attempt_id not in self.written_ahead:
            raise RuntimeError(f"attempt {attempt_id}: no write-ahead row, refusing to dial")
        plan = CallPlan(attempt_id, str(campaign_id), str(contact_id), str(target_id), e164,
                        h.customer_endpoint(e164))
        machine = CallMachine(plan, settings, agent=agent_leg)
        entry_box: list[CallEntry] = []

        def step(event: ev.Event) -> list[Command]:
            before = set(machine.channel_ids)
            commands = machine.handle(event, h.clock.now())
            if machine.ended:
                self._call_ended(entry_box[0])
            else:
                # A leg the machine let go of (an agent leg that failed): its late
                # events are no longer this call's business.
                for cid in before - set(machine.channel_ids):
                    h.directory.unregister(wire_id(cid))
            return commands

        actor = Actor(attempt_id, step, h.executor.execute, kind="call")
        actor.context.update(campaign_name=campaign_name, campaign_id=campaign_id)
        entry = CallEntry(machine, actor, campaign_id, campaign_name, target_id, contact_id, e164,
                          agent_id, h.now_s())
        entry_box.append(entry)
        self.calls[attempt_id] = entry
        h.directory.register(attempt_id, actor)
        first = machine.start(h.clock.now())
        h.metrics.calls_in_progress.labels(campaign_name).inc()
        h.campaigns.observe_dial(campaign_id)
        h.spawn(actor.run(first), name=f"call-{attempt_id[:8]}")
        if agent_id is not None:
            h.screen_pops.prefetch(attempt_id)  # the agent's screen pop, loaded now
        return entry

    def _call_ended(self, entry: CallEntry) -> None:
        h = self.host
        aid = entry.attempt_id
        if self.calls.pop(aid, None) is None:
            return
        entry.actor.stop()
        h.metrics.calls_in_progress.labels(entry.campaign_name).dec()
        for cid in entry.machine.channel_ids:
            h.directory.unregister(wire_id(cid))
        own_bridge = f"{aid}:bridge"
        if entry.machine.bridge_id == own_bridge:
            # A per-call bridge (agent dialed for this call only): Asterisk never destroys
            # a bridge that empties (traces README, 23), so it would stay for ever.
            h.spawn(h.recovery.destroy_bridge(wire_id(own_bridge)), name=f"bridge-gone-{aid[:8]}")
        self.ended_calls[aid] = entry
        while len(self.ended_calls) > ENDED_KEPT:
            self.ended_calls.popitem(last=False)
        h.campaigns.wake(entry.campaign_id)

    def note_originated(self, attempt_id: str) -> None:
        entry = self.calls.get(attempt_id)
        stream = self.host.stream
        if entry is not None and stream is not None:
            entry.originated_generation = stream.generation

    def post_call(self, attempt_id: str, event: ev.Event) -> None:
        """An event for a call (or a preview offer of that id), wherever it now is."""
        h = self.host
        if h.previews.post(attempt_id, event):
            return
        entry = self.calls.get(attempt_id)
        if entry is not None:
            entry.actor.post(event)
            return
        ended = self.ended_calls.get(attempt_id)
        if ended is not None and isinstance(event, ev.AmdFalsePositiveReported):
            # The call is over: its machine only counts the abandon now.
            commands = ended.machine.handle(event, h.clock.now())
            h.spawn(h.executor.execute(commands, ended.actor))
            return
        if isinstance(event, ev.AgentAssigned):
            h.sessions.post(int(event.agent_id), ev.AgentReleased(
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

    def is_party(self, attempt_id: str, agent_id: str) -> bool:
        """True when the agent joined the call as a consulted or conferenced party (not
        the agent the customer was connected to)."""
        entry = self.calls.get(attempt_id)
        return entry is not None and entry.machine.conversation.party_of_agent(agent_id) is not None

    def in_control_at_end(self, attempt_id: str) -> str | None:
        """The agent last in control of a live call (who dispositions it), if known."""
        entry = self.calls.get(attempt_id)
        return entry.machine.conversation.last_controller if entry is not None else None

    def on_connected(self, attempt_id: str, agent_id: int) -> None:
        """The call reached its agent: the pacer learns how long the customer waited."""
        h = self.host
        entry = self.calls.get(attempt_id)
        if entry is None:
            return
        entry.agent_id = agent_id
        now = h.now_s()
        entry.connected_at = now
        live_at = entry.machine.live_at or entry.machine.answered_at
        wait = (h.clock.now() - live_at).total_seconds() if live_at else 0.0
        h.campaigns.observe_connect(entry, max(0.0, wait))
