"""The command router: each command a core machine returns, carried out by the domain
that owns it, for the actor that issued it, in order.

One ``case`` per command type, so a command leads to its effect by "go to definition".
A command that fails is logged (``executor.command_failed``) and the next one still runs:
one refused ARI request must not leave the rest of a machine's commands undone.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from orchestrator.core import commands as c
from orchestrator.core import events as ev
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.calls import CallRecords, CallRegistry
from orchestrator.dialer.notify.campaign_state import publish_campaign_state
from orchestrator.dialer.supervision import SnoopIntoBridge, SupervisionEnded
from orchestrator.dialer.telephony import Telephony
from orchestrator.dialer.timers import Timers
from orchestrator.hub import EventHub

if TYPE_CHECKING:
    from orchestrator.dialer.agents import AgentSessions
    from orchestrator.dialer.previews import PreviewService
    from orchestrator.dialer.supervision import SupervisionSessions

# The executor's name: operators' log queries and the tests grep these events.
log = structlog.get_logger("orchestrator.dialer.executor")


class CommandRouter:
    def __init__(
        self,
        *,
        telephony: Telephony,
        timers: Timers,
        calls: CallRegistry,
        records: CallRecords,
        sessions: AgentSessions,
        previews: PreviewService,
        supervision: SupervisionSessions,
        hub: EventHub,
    ) -> None:
        self.telephony = telephony
        self.timers = timers
        self.calls = calls
        self.records = records
        self.sessions = sessions
        self.previews = previews
        self.supervision = supervision
        self.hub = hub

    async def execute(self, commands: list[c.Command], actor: Actor) -> None:
        for cmd in commands:
            try:
                await self.route(cmd, actor)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("executor.command_failed", command=type(cmd).__name__,
                              actor=actor.key)

    async def route(self, cmd: c.Command, actor: Actor) -> None:  # noqa: C901, PLR0912 - a table
        """One command to its owner. Long on purpose: it is the table of who does what."""
        t = self.telephony
        match cmd:
            # ------------------------------------------------ telephony (ARI)
            case c.Originate():
                await t.originate(cmd, actor)
            case c.CreateAndDial():
                await t.create_and_dial(cmd, actor)
            case c.CreateBridge():
                await t.create_bridge(cmd, actor)
            case c.DestroyBridge():
                await t.destroy_bridge(cmd, actor)
            case c.AddToBridge():
                await t.add_to_bridge(cmd, actor)
            case c.RemoveFromBridge():
                await t.remove_from_bridge(cmd, actor)
            case c.Hangup():
                await t.hangup(cmd, actor)
            case c.Play():
                await t.play(cmd, actor)
            case c.StopPlayback():
                await t.stop_playback(cmd, actor)
            case c.StartMoh():
                await t.start_moh(cmd, actor)
            case c.StopMoh():
                await t.stop_moh(cmd, actor)
            case c.Hold():
                await t.hold(cmd, actor)
            case c.Unhold():
                await t.unhold(cmd, actor)
            case c.Record():
                await t.record(cmd, actor)
            case c.StopRecording():
                await t.stop_recording(cmd, actor)
            case c.PauseRecording():
                await t.pause_recording(cmd, actor)
            case c.ResumeRecording():
                await t.resume_recording(cmd, actor)
            case c.SetVariable():
                await t.set_variable(cmd, actor)
            case c.DetectBeep():
                await t.detect_beep(cmd, actor)
            case c.Snoop():
                await t.snoop(cmd, actor)
            # ------------------------------------------------ timers
            case c.StartTimer():
                self.timers.start(cmd.name, cmd.at, actor.post)
            case c.CancelTimer():
                self.timers.cancel(cmd.name)
            # ------------------------------------------------ calls (ledger)
            case c.RecordAttempt():
                await self.records.record_attempt(cmd)
            case c.RecordOutcome():
                await self.records.record_outcome(cmd, actor)
            case c.RecordProgress():
                await self.records.record_progress(cmd)
            case c.RecordDisposition():
                await self.records.record_disposition(cmd, actor)
            case c.CountAbandon():
                await self.records.count_abandon(cmd)
            case c.LockNumber():
                await self.records.lock_number(cmd)
            case c.ReleaseTarget():
                await self.records.release_target(cmd, actor)
            case c.PublishAttempt():
                self.supervision.call_state(cmd.attempt_id, cmd.state)  # its end ends them
                await self.records.published_attempt(cmd)
            case c.NoteCall():
                await self.records.note_call(cmd)
            case c.OptOutNumber():
                await self.records.opt_out(cmd)
            case c.NotifyCall():
                self.calls.post_call(cmd.attempt_id, cmd.event)
            # ------------------------------------------------ agents
            case c.RequestAgent():
                self.sessions.request_agent(cmd.attempt_id, int(cmd.campaign_id))
            case c.NotifyAgent():
                if isinstance(cmd.event, ev.AgentConnected) and not self.calls.is_party(
                        cmd.event.attempt_id, cmd.agent_id):
                    await self.records.connected(cmd.event.attempt_id, int(cmd.agent_id))
                self.sessions.post(int(cmd.agent_id), cmd.event)
            case c.PublishAgentState():
                await self.sessions.published_state(cmd)
            # ------------------------------------------------ previews
            case c.DialTarget():
                await self.previews.dial(cmd)
            case c.ReservationReady():
                await self.previews.reservation_ready(cmd)
            case c.RequeueTarget():
                await self.previews.requeue(cmd)
            case c.RejectTarget():
                await self.previews.reject(cmd)
            case c.RemoveTarget():
                await self.previews.remove(cmd)
            case c.CreateCallback():
                await self.previews.create_callback(cmd)
            case c.PublishPreview():
                await self.previews.published(cmd)
            # ------------------------------------------------ supervision
            case SnoopIntoBridge():
                await self.supervision.snoop(cmd, actor)
            case SupervisionEnded():
                await self.supervision.ended(cmd)
            # ------------------------------------------------ campaigns (notify)
            case c.PublishCampaignState():
                publish_campaign_state(self.hub, cmd)
            case _:
                log.warning("executor.unsupported_command", command=type(cmd).__name__)
