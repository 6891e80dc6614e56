"""What the calls write to the ledger and tell the rest of the process: the commands of
a call's machine that record its progress, outcome, abandon and disposition, and the
observations each of them hands the pacer, the hub and the AMI wallboards."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from orchestrator.core import commands as c
from orchestrator.core.calls.control_view import control_view
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.calls.host import CallsHost
from orchestrator.dialer.calls.registry import CallEntry, CallRegistry
from orchestrator.dialer.kernel.ids import ascii_int
from orchestrator.dialer.settings import AUTO_CODE, LEDGER_OUTCOME, ledger_outcome
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import claims as claims_ledger
from orchestrator.ledger import dnc as dnc_ledger

log = structlog.get_logger("orchestrator.dialer")
executor_log = structlog.get_logger("orchestrator.dialer.executor")


class CallRecords:
    """The calls' ledger commands, each written until it lands (a lost outcome would
    leave a ghost live call, issue 10)."""

    def __init__(self, host: CallsHost, registry: CallRegistry) -> None:
        self.host = host
        self.registry = registry

    # ------------------------------------------------------------ the commands

    async def record_attempt(self, cmd: c.RecordAttempt) -> None:
        # The attempt row was committed by write-ahead before the machine started
        # (claims.write_ahead_attempt); this only checks that it is so.
        if cmd.attempt_id not in self.registry.written_ahead:
            raise RuntimeError(f"attempt {cmd.attempt_id} has no write-ahead row: not dialing")

    async def record_outcome(self, cmd: c.RecordOutcome, actor: Actor) -> None:
        h = self.host
        aid = uuid.UUID(cmd.attempt_id)
        outcome = ledger_outcome(cmd.outcome, cmd.detail)
        if cmd.amd_status is not None:
            await h.ledger_write(attempts_ledger.record_amd, aid, cmd.amd_status.value)
        # Only a call an agent talked to waits for the agent's wrap-up code; a call
        # reserved for an agent that never reached them is settled from its outcome.
        att = await h.ledger_write(attempts_ledger.end_attempt, aid, outcome=outcome,
                                   cause=cmd.cause, cause_txt=(cmd.cause_txt or cmd.detail)[:200] or None,
                                   auto_disposition=cmd.agent_id is None)
        self.registry.written_ahead.discard(cmd.attempt_id)
        campaign = actor.context.get("campaign_name", "")
        h.metrics.attempts_ended.labels(campaign, att.outcome or outcome).inc()
        self._attempt_ended(cmd, att)

    async def record_progress(self, cmd: c.RecordProgress) -> None:
        """Write ringing, answered and the AMD verdict once each per attempt."""
        h = self.host
        entry = self.registry.find(cmd.attempt_id)
        if entry is None:
            return
        aid = uuid.UUID(cmd.attempt_id)
        try:
            if cmd.ringing and not entry.ringing_seen:
                entry.ringing_seen = True
                await h.ledger_write(attempts_ledger.mark_ringing, aid)
            if cmd.answered:
                await self.mark_answered(cmd.attempt_id)
            if cmd.amd_status is not None and not entry.amd_recorded:
                # Known at once (an agent may report a false positive before the call ends).
                entry.amd_recorded = True
                await h.ledger_write(attempts_ledger.record_amd, aid, cmd.amd_status.value)
        except Exception as exc:
            log.warning("dialer.attempt_mark_failed", attempt=cmd.attempt_id, error=str(exc))

    async def mark_answered(self, attempt_id: str) -> None:
        """Write the answer of a call once, as soon as its machine knows of it."""
        entry = self.registry.find(attempt_id)
        if entry is None or entry.machine.answered_at is None or entry.answered_seen:
            return
        entry.answered_seen = True
        await self.host.ledger_write(attempts_ledger.mark_answered, uuid.UUID(attempt_id))

    async def connected(self, attempt_id: str, agent_id: int) -> None:
        """Agent first and preview connect on the answer itself: the answer is written
        first, or the history would read "bridged" before "answered"."""
        await self.mark_answered(attempt_id)
        await self.host.ledger_write(attempts_ledger.mark_bridged, uuid.UUID(attempt_id), agent_id)
        self.registry.on_connected(attempt_id, agent_id)

    async def count_abandon(self, cmd: c.CountAbandon) -> None:
        h = self.host
        await h.ledger_write(attempts_ledger.mark_abandoned, uuid.UUID(cmd.attempt_id))
        if cmd.reason == "amd_false_positive":
            await h.ledger_write(attempts_ledger.record_event, uuid.UUID(cmd.attempt_id),
                                 "amd_false_positive", data={"reason": cmd.reason},
                                 key="amd_false_positive")
        self._abandoned(cmd)

    async def lock_number(self, cmd: c.LockNumber) -> None:
        # attempts.mark_abandoned (CountAbandon, always just before) locks the number for
        # the campaign's abandon_lock in every campaign.
        executor_log.debug("executor.number_locked", attempt=cmd.attempt_id,
                           until=cmd.until.isoformat())

    async def release_target(self, cmd: c.ReleaseTarget, actor: Actor) -> None:
        h = self.host
        written_ahead = self.registry.written_ahead
        aid = actor.key if actor.kind == "call" else None
        if aid is not None and aid in written_ahead:
            # Written ahead but the customer was never dialed (agent leg failed first).
            await h.ledger_write(attempts_ledger.end_attempt, uuid.UUID(aid), outcome="not_dialed",
                                 cause_txt=cmd.reason[:200], auto_disposition=True)
            written_ahead.discard(aid)
            return
        await h.ledger_write(claims_ledger.release_leases, h.instance_id, [int(cmd.target_id)])

    async def record_disposition(self, cmd: c.RecordDisposition, actor: Actor) -> None:
        h = self.host
        if cmd.attempt_id is None:
            await h.previews.disposition_without_dial(cmd)
            return
        aid = uuid.UUID(cmd.attempt_id)
        agent_id = ascii_int(cmd.agent_id)
        if await self._handed_on(cmd):
            # The agent transferred the call or left its conference: their wrap-up is
            # theirs (kept in the history); the call's disposition is its last agent's.
            await h.ledger_write(attempts_ledger.record_event, aid, "agent_wrapup",
                                 data={"agent": cmd.agent_id, "code": cmd.code,
                                       "automatic": cmd.automatic, "notes": cmd.notes or ""})
            self._disposed(cmd.attempt_id, cmd.code)
            return
        if cmd.code == AUTO_CODE:
            res = await h.ledger_write(attempts_ledger.auto_disposition, aid)
        else:
            try:
                res = await h.ledger_write(attempts_ledger.record_disposition, aid, cmd.code,
                                           agent_id=agent_id, note=cmd.notes or None)
            except Exception as exc:  # an unknown code: do not lose the disposition
                executor_log.warning("executor.disposition_code_refused", attempt=cmd.attempt_id,
                                     error=str(exc))
                res = await h.ledger_write(attempts_ledger.auto_disposition, aid)
        campaign = actor.context.get("campaign_name", "")
        h.metrics.dispositions.labels(campaign, res.outcome_class.value).inc()
        h.hub.publish("call.disposition", {
            "attempt_id": cmd.attempt_id, "code": res.label, "outcome_class": res.outcome_class.value,
            "automatic": cmd.automatic,
        }, agent_id=agent_id)
        self._disposed(cmd.attempt_id, res.label)

    async def _handed_on(self, cmd: c.RecordDisposition) -> bool:
        """True when another agent took the call over from this one (transfer, control
        passed): read from the live call, or from the ledger once it ended."""
        assert cmd.attempt_id is not None
        last = self.registry.in_control_at_end(cmd.attempt_id)
        if last is None:
            async with self.host.pool.connection() as conn:
                try:
                    att = await attempts_ledger.get_attempt(conn, uuid.UUID(cmd.attempt_id))
                except attempts_ledger.AttemptNotFound:
                    return False
            last = str(att.agent_id) if att.agent_id is not None else None
        return last is not None and last != cmd.agent_id

    async def opt_out(self, cmd: c.OptOutNumber) -> None:
        """The customer's opt-out key: DNC at once (global or the campaign's, as
        ORCH_OPT_OUT_SCOPE says), the attempt as its source."""
        await self.host.ledger_write(dnc_ledger.opt_out_attempt, uuid.UUID(cmd.attempt_id),
                                     scope=self.host.opt_out_scope)

    async def note_call(self, cmd: c.NoteCall) -> None:
        aid = uuid.UUID(cmd.attempt_id)
        if cmd.kind == "in_control":
            agent_id = ascii_int(str(cmd.data.get("agent", "")))
            if agent_id is not None:
                await self.host.ledger_write(attempts_ledger.hand_over, aid, agent_id, at=cmd.at)
            return
        await self.host.ledger_write(attempts_ledger.record_event, aid, cmd.kind, at=cmd.at,
                                     data=dict(cmd.data))

    def _publish_control(self, entry: CallEntry) -> None:
        """Every agent on a connected call gets its control panel again (a party answered,
        control passed, someone left): the desktop never has to poll for it."""
        talk = entry.machine.conversation
        agents = {p.agent_id for p in talk.present_parties() if p.agent_id is not None}
        if talk.primary_present and talk.agent_id is not None:
            agents.add(talk.agent_id)
        now = self.host.clock.now()
        for aid in sorted(agents):
            agent_id = ascii_int(aid)
            if agent_id is not None:
                self.host.hub.publish("call.control", control_view(entry.machine, aid, now),
                                      agent_id=agent_id)

    async def published_attempt(self, cmd: c.PublishAttempt) -> None:
        entry = self.registry.find(cmd.attempt_id)
        agent_id = None
        if entry is not None and entry.machine.agent is not None:
            agent_id = int(entry.machine.agent.agent_id)
        data: dict[str, Any] = {"attempt_id": cmd.attempt_id, "campaign_id": int(cmd.campaign_id),
                                "state": cmd.state}
        if cmd.outcome is not None:
            data["outcome"] = LEDGER_OUTCOME[cmd.outcome]
        self.host.hub.publish("call.state", data, agent_id=agent_id,
                              campaign_id=int(cmd.campaign_id))
        if entry is not None and entry.machine.conversation.connected:
            self._publish_control(entry)

    # ------------------------------------------ what the others learn of it

    def _attempt_ended(self, cmd: c.RecordOutcome, att: attempts_ledger.Attempt) -> None:
        entry = self.registry.find(cmd.attempt_id)
        if entry is None:
            return
        self.host.campaigns.observe_outcome(entry, cmd)
        self.host.ami_publish("attempt", cmd.attempt_id, entry.campaign_name, att.outcome or "",
                              str(entry.agent_id) if entry.agent_id else None, cmd.cause)

    def _abandoned(self, cmd: c.CountAbandon) -> None:
        h = self.host
        entry = self.registry.find(cmd.attempt_id)
        name = entry.campaign_name if entry else ""
        h.metrics.abandons.labels(name).inc()
        h.campaigns.observe_abandon(int(cmd.campaign_id))
        h.hub.publish("call.abandoned", {"attempt_id": cmd.attempt_id, "reason": cmd.reason},
                      campaign_id=int(cmd.campaign_id), audience="supervisors")
        # The information message is an ARI playback: AMI wallboards would see no abandon.
        h.ami_publish("abandon", cmd.attempt_id, name, cmd.reason)

    def _disposed(self, attempt_id: str, code: str) -> None:
        self.host.screen_pops.forget(attempt_id)
        entry = self.registry.ended_calls.get(attempt_id)
        if entry is not None:
            self.host.campaigns.observe_disposition(entry, code)
