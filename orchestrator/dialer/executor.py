"""The command executor: turns the core's commands into ARI calls, ledger writes, timers,
WebSocket pushes and AMI UserEvents, for the actor that issued them, in order.

Rules kept here (asterisk-traces README):

* Originate only while the ARI WebSocket is connected (surprise 14): wait briefly for a
  reconnect, else report the originate as refused without sending it.
* The channel is registered to its actor *before* the originate is sent: its first
  events can arrive before the HTTP answer.
* A 409 on originate is not proof of a duplicate (surprise 15): the client checks
  ``GET /channels/{id}``; a confirmed duplicate is our own earlier originate (accepted),
  an unconfirmed one is a plain failure. A timeout is ambiguous: we look the channel
  up and, when in doubt, let the call's guard timers settle it (never redial).
* Hangups of channels already gone (404) are fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator.ari import (
    AriChannelExists,
    AriConflict,
    AriConnectionError,
    AriError,
    AriHTTPError,
    AriNotConnected,
    AriNotFound,
    AriUnprocessable,
)
from orchestrator.core import commands as c
from orchestrator.core import events as ev
from orchestrator.core.calls import prefix_clash
from orchestrator.core.dialgate import DialRefused
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.kernel.ids import wire_id
from orchestrator.dialer.settings import AUTO_CODE, ledger_outcome
from orchestrator.ledger import attempts as attempts_ledger
from orchestrator.ledger import claims as claims_ledger

if TYPE_CHECKING:
    from orchestrator.dialer.dialer import Dialer

log = structlog.get_logger("orchestrator.dialer.executor")

ORIGINATE_CONNECT_WAIT_S = 2.0
"""How long an originate waits for a dropped ARI socket to come back before giving up."""


def _int(v: str | None) -> int | None:
    return int(v) if v is not None and v.isascii() and v.isdigit() else None


class CommandExecutor:
    def __init__(self, dialer: Dialer) -> None:
        self.d = dialer

    async def execute(self, commands: list[c.Command], actor: Actor) -> None:
        for cmd in commands:
            handler = getattr(self, "do_" + type(cmd).__name__, None)
            if handler is None:
                log.warning("executor.unsupported_command", command=type(cmd).__name__)
                continue
            try:
                await handler(cmd, actor)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("executor.command_failed", command=type(cmd).__name__,
                              actor=actor.key)

    # ------------------------------------------------------------ telephony

    async def _wait_connected(self) -> bool:
        stream = self.d.stream
        if stream is None:
            return False
        if stream.connected.is_set():
            return True
        try:
            async with asyncio.timeout(ORIGINATE_CONNECT_WAIT_S):
                await stream.connected.wait()
            return True
        except TimeoutError:
            return False

    async def _settle_ambiguous(self, channel_id: str, actor: Actor, exc: Exception) -> None:
        """After a timeout or an unconfirmed answer: does the channel exist?"""
        try:
            await self.d.ari.get_channel(wire_id(channel_id))
        except AriNotFound:
            # Not there (yet). A late creation would still reach the actor through the
            # directory; the call's ring guard ends the attempt otherwise. Never redial.
            actor.post(ev.OriginateRefused(channel_id, 409, f"unconfirmed: {exc}"))
            return
        except AriError:
            actor.post(ev.OriginateRefused(channel_id, 409, f"unconfirmed: {exc}"))
            return
        actor.post(ev.OriginateAccepted(channel_id))

    async def _register_dial(self, channel_id: str, actor: Actor, endpoint: str, *,
                             customer: bool) -> str | None:
        """Route the new channel's events to its actor; refuse the dial (None) when its dial
        string does not pass the gate, or while the ARI WebSocket is down (Asterisk would
        answer 200 and drop the answered customer)."""
        d = self.d
        wid = wire_id(channel_id)
        try:
            d.gate.check_wire(endpoint, customer=customer)
        except DialRefused as exc:
            # a bug upstream, never a reason to ring it: loud, and the number never left
            log.error("executor.dial_refused", channel=wid, reason=exc.reason)
            actor.post(ev.OriginateRefused(channel_id, 400, f"dial refused: {exc.reason}"))
            return None
        clash = prefix_clash(wid, d.directory.owned_ids() - {wid})
        if clash is not None:
            # Asterisk would answer 409 (a new id that prefixes a live one, surprise 31):
            # a bug in how ids are made, never a reason to burn the target.
            log.error("executor.channel_id_prefix_clash", channel=wid, existing=clash)
            actor.post(ev.OriginateRefused(channel_id, 400, f"channel id prefixes {clash!r}"))
            return None
        d.directory.register(wid, actor, core_id=channel_id)
        if not await self._wait_connected():
            d.metrics.originate_errors.labels(actor.context.get("campaign_name", ""), "ari_down").inc()
            actor.post(ev.OriginateRefused(channel_id, 503, "ARI WebSocket not connected"))
            return None
        return wid

    async def do_Originate(self, cmd: c.Originate, actor: Actor) -> None:
        d = self.d
        customer = cmd.attempt_id is not None and cmd.channel_id == cmd.attempt_id
        wid = await self._register_dial(cmd.channel_id, actor, cmd.endpoint, customer=customer)
        if wid is None:
            return
        campaign = actor.context.get("campaign_name", "")
        variables = dict(cmd.variables)
        # With AMD our channel runs [dialer-amd] (AMD() then Stasis(app, amd, STATUS, CAUSE))
        # rather than entering the app at once: a channel originated with app= never runs
        # dialplan on a real Asterisk. DIALER_APP routes it back to this instance's app.
        route: dict[str, Any] = (
            {"context": d.settings.amd_context, "extension": "s", "priority": 1}
            if cmd.amd
            else {"app": d.ari.config.app, "app_args": cmd.app_args or ()}
        )
        if cmd.amd:
            variables["DIALER_APP"] = d.ari.config.app
            d.directory.mark_stasis_only(wid)
        try:
            await d.ari.originate(
                wid, cmd.endpoint, caller_id=cmd.caller_id or None, ring_timeout=cmd.timeout_s,
                variables=variables or None, **route,
            )
        except AriChannelExists:
            actor.post(ev.OriginateAccepted(cmd.channel_id))
            return
        except AriConflict as exc:
            # 409 with no channel of that id: Asterisk's prefix rule (surprise 31) or a
            # race; the number never left.
            d.metrics.originate_errors.labels(campaign, "conflict").inc()
            log.error("executor.originate_conflict", channel=wid, error=exc.message)
            d.dial_guard.refused(d.now_s(), 409, exc.message)
            actor.post(ev.OriginateRefused(cmd.channel_id, 500, exc.message))
            return
        except AriNotConnected as exc:
            d.metrics.originate_errors.labels(campaign, "ari_down").inc()
            actor.post(ev.OriginateRefused(cmd.channel_id, 503, str(exc)))
            return
        except AriHTTPError as exc:
            d.metrics.originate_errors.labels(campaign, str(exc.status)).inc()
            log.warning("executor.originate_refused", channel=wid, status=exc.status,
                        error=exc.message)
            d.dial_guard.refused(d.now_s(), exc.status, exc.message)
            actor.post(ev.OriginateRefused(cmd.channel_id, exc.status, exc.message))
            return
        except AriConnectionError as exc:
            d.metrics.originate_errors.labels(campaign, "timeout").inc()
            await self._settle_ambiguous(cmd.channel_id, actor, exc)
            return
        d.dial_guard.accepted()
        # Subscribed before anything else is awaited: every millisecond is an event missed.
        gone = cmd.amd and not await self._subscribe(wid)
        d.metrics.originates.labels(campaign, "customer" if customer else "agent").inc()
        if customer:
            d.note_originated(cmd.channel_id)
            await self._ledger(attempts_ledger.mark_originated, uuid.UUID(cmd.channel_id))
        actor.post(ev.OriginateAccepted(cmd.channel_id))
        if gone:
            # Its ARI events are lost; AMI saw the Hangup of both halves (surprise 26).
            found = await d.ami_hangup_cause(wid)
            cause, txt = (found[0], f"{found[1]} (from AMI)") if found else (
                0, "ended before the dialer could subscribe")
            actor.post(ev.ChannelGone(cmd.channel_id, cause, txt))

    async def _subscribe(self, wid: str) -> bool:
        """Subscribe the app to a channel originated into the dialplan (AMD).

        A narrowly subscribed app gets nothing of such a channel before it runs Stasis()
        and nothing after StasisEnd (surprises 26-28): busy, no answer and a hang-up
        during AMD would be invisible. An explicit subscription covers the channel from
        now until it is destroyed, StasisEnd included (surprise 29). Until it is in place
        the channel's StasisEnd counts as its end (see channels.AriChannelHandlers).
        False when the channel is already gone (its end will never be told).
        """
        d = self.d
        try:
            await d.ari.subscribe(f"channel:{wid}")
        except AriError as exc:
            # Gone already (a failure within milliseconds) or the call was refused after
            # all: its end will never be told. Look once; a live channel keeps its guards.
            try:
                await d.ari.get_channel(wid)
            except AriNotFound:
                log.warning("executor.subscribe_channel_gone", channel=wid, error=str(exc))
                return False
            except AriError:
                pass
            log.warning("executor.subscribe_failed", channel=wid, error=str(exc))
            return True
        d.directory.mark_subscribed(wid)
        return True

    async def do_CreateAndDial(self, cmd: c.CreateAndDial, actor: Actor) -> None:
        d = self.d
        wid = await self._register_dial(cmd.channel_id, actor, cmd.endpoint, customer=True)
        if wid is None:
            return
        campaign = actor.context.get("campaign_name", "")
        try:
            await d.ari.create_channel(wid, cmd.endpoint, app=d.ari.config.app,
                                       app_args=("customer", cmd.attempt_id or cmd.channel_id),
                                       variables=dict(cmd.variables) or None)
        except AriChannelExists:
            pass
        except AriHTTPError as exc:
            d.metrics.originate_errors.labels(campaign, str(exc.status)).inc()
            log.warning("executor.create_refused", channel=wid, status=exc.status,
                        error=exc.message)
            d.dial_guard.refused(d.now_s(), exc.status, exc.message)
            actor.post(ev.OriginateRefused(cmd.channel_id, 500 if exc.status == 409 else exc.status,
                                           exc.message))
            return
        except (AriNotConnected, AriConnectionError) as exc:
            d.metrics.originate_errors.labels(campaign, "ari_down").inc()
            await self._settle_ambiguous(cmd.channel_id, actor, exc)
            return
        try:
            # In the agent's bridge first: the agent hears ringing and early media.
            await _once_in_stasis(lambda: d.ari.add_to_bridge(wire_id(cmd.bridge_id), wid))
        except AriError as exc:
            log.warning("executor.early_bridge_failed", attempt=cmd.attempt_id, error=str(exc))
        try:
            await _once_in_stasis(lambda: d.ari.dial(wid, caller=None,
                                                     ring_timeout=cmd.timeout_s))
        except AriError as exc:
            d.metrics.originate_errors.labels(campaign, "dial").inc()
            with contextlib.suppress(AriError):
                await d.ari.hangup(wid)
            actor.post(ev.OriginateRefused(cmd.channel_id, getattr(exc, "status", 500) or 500,
                                           str(exc)))
            return
        d.dial_guard.accepted()
        d.metrics.originates.labels(campaign, "customer").inc()
        d.note_originated(cmd.channel_id)
        if cmd.attempt_id:
            await self._ledger(attempts_ledger.mark_originated, uuid.UUID(cmd.attempt_id))
        actor.post(ev.OriginateAccepted(cmd.channel_id))

    async def do_CreateBridge(self, cmd: c.CreateBridge, actor: Actor) -> None:
        try:
            await self.d.ari.create_bridge(wire_id(cmd.bridge_id), type=cmd.kind)
        except AriConflict:
            pass  # ours already (a nailed-up agent's bridge survives between calls)

    async def do_DestroyBridge(self, cmd: c.DestroyBridge, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound):
            await self.d.ari.destroy_bridge(wire_id(cmd.bridge_id))

    async def do_AddToBridge(self, cmd: c.AddToBridge, actor: Actor) -> None:
        # An answered originate is announced (Dial ANSWER, state Up) a moment before it is
        # in the app (StasisStart): a bridge join sent on the answer can meet a 422.
        await _once_in_stasis(lambda: self.d.ari.add_to_bridge(
            wire_id(cmd.bridge_id), wire_id(cmd.channel_id), role=cmd.role))

    async def do_RemoveFromBridge(self, cmd: c.RemoveFromBridge, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound, AriHTTPError):
            await self.d.ari.remove_from_bridge(wire_id(cmd.bridge_id), wire_id(cmd.channel_id))

    async def do_Hangup(self, cmd: c.Hangup, actor: Actor) -> None:
        try:
            await self.d.ari.hangup(wire_id(cmd.channel_id), reason=cmd.reason.value)
        except AriNotFound:
            pass

    async def do_Play(self, cmd: c.Play, actor: Actor) -> None:
        try:
            if cmd.channel_id is not None:
                await self.d.ari.play(wire_id(cmd.channel_id), wire_id(cmd.playback_id), cmd.media)
            else:
                assert cmd.bridge_id is not None
                await self.d.ari.play_on_bridge(wire_id(cmd.bridge_id), wire_id(cmd.playback_id),
                                                cmd.media)
        except AriError as exc:
            log.warning("executor.play_failed", playback=cmd.playback_id, error=str(exc))
            actor.post(ev.PlaybackFinished(cmd.playback_id, failed=True))

    async def do_StopPlayback(self, cmd: c.StopPlayback, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound):
            await self.d.ari.stop_playback(wire_id(cmd.playback_id))

    async def do_StartMoh(self, cmd: c.StartMoh, actor: Actor) -> None:
        await self.d.ari.start_moh(wire_id(cmd.channel_id), cmd.moh_class)

    async def do_StopMoh(self, cmd: c.StopMoh, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound):
            await self.d.ari.stop_moh(wire_id(cmd.channel_id))

    async def do_Hold(self, cmd: c.Hold, actor: Actor) -> None:
        await self.d.ari.hold(wire_id(cmd.channel_id))

    async def do_Unhold(self, cmd: c.Unhold, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound):
            await self.d.ari.unhold(wire_id(cmd.channel_id))

    async def do_Record(self, cmd: c.Record, actor: Actor) -> None:
        try:
            if cmd.bridge_id is not None:
                await self.d.ari.record_bridge(wire_id(cmd.bridge_id), cmd.name, format=cmd.format)
            else:
                assert cmd.channel_id is not None
                await self.d.ari.record(wire_id(cmd.channel_id), cmd.name, format=cmd.format)
        except AriError as exc:
            log.warning("executor.record_failed", name=cmd.name, error=str(exc))

    async def do_StopRecording(self, cmd: c.StopRecording, actor: Actor) -> None:
        with contextlib.suppress(AriError):
            await self.d.ari.stop_recording(cmd.name)

    async def do_PauseRecording(self, cmd: c.PauseRecording, actor: Actor) -> None:
        await self.d.ari.pause_recording(cmd.name)

    async def do_ResumeRecording(self, cmd: c.ResumeRecording, actor: Actor) -> None:
        await self.d.ari.unpause_recording(cmd.name)

    async def do_SetVariable(self, cmd: c.SetVariable, actor: Actor) -> None:
        await self.d.ari.set_variable(wire_id(cmd.channel_id), cmd.name, cmd.value)

    async def do_DetectBeep(self, cmd: c.DetectBeep, actor: Actor) -> None:
        # TALK_DETECT reports ChannelTalkingFinished when the greeting stops; without it
        # the call's beep timer leaves the message anyway.
        with contextlib.suppress(AriError):
            await self.d.ari.set_variable(wire_id(cmd.channel_id), "TALK_DETECT(set)", "")

    async def do_Snoop(self, cmd: c.Snoop, actor: Actor) -> None:
        await self.d.ari.snoop(wire_id(cmd.channel_id), wire_id(cmd.snoop_id), spy=cmd.spy,
                               whisper=cmd.whisper)

    # ---------------------------------------------------------------- timers

    async def do_StartTimer(self, cmd: c.StartTimer, actor: Actor) -> None:
        self.d.timers.start(cmd.name, cmd.at, actor.post)

    async def do_CancelTimer(self, cmd: c.CancelTimer, actor: Actor) -> None:
        self.d.timers.cancel(cmd.name)

    # ---------------------------------------------------------------- ledger

    async def _ledger(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Retried until it lands: a lost outcome would leave a ghost live call (issue 10).
        return await self.d.ledger_write(fn, *args, **kwargs)

    async def do_RecordAttempt(self, cmd: c.RecordAttempt, actor: Actor) -> None:
        # The attempt row was committed by write-ahead before the machine started
        # (claims.write_ahead_attempt); this only checks that it is so.
        if cmd.attempt_id not in self.d.written_ahead:
            raise RuntimeError(f"attempt {cmd.attempt_id} has no write-ahead row: not dialing")

    async def do_RecordOutcome(self, cmd: c.RecordOutcome, actor: Actor) -> None:
        d = self.d
        aid = uuid.UUID(cmd.attempt_id)
        outcome = ledger_outcome(cmd.outcome, cmd.detail)
        if cmd.amd_status is not None:
            await self._ledger(attempts_ledger.record_amd, aid, cmd.amd_status.value)
        # Only a call an agent talked to waits for the agent's wrap-up code; a call
        # reserved for an agent that never reached them is settled from its outcome.
        att = await self._ledger(attempts_ledger.end_attempt, aid, outcome=outcome,
                                 cause=cmd.cause, cause_txt=(cmd.cause_txt or cmd.detail)[:200] or None,
                                 auto_disposition=cmd.agent_id is None)
        d.written_ahead.discard(cmd.attempt_id)
        campaign = actor.context.get("campaign_name", "")
        d.metrics.attempts_ended.labels(campaign, att.outcome or outcome).inc()
        d.on_attempt_ended(cmd, att, actor)

    async def do_RecordDisposition(self, cmd: c.RecordDisposition, actor: Actor) -> None:
        d = self.d
        if cmd.attempt_id is None:
            await d.previews.disposition_without_dial(cmd)
            return
        aid = uuid.UUID(cmd.attempt_id)
        agent_id = _int(cmd.agent_id)
        if cmd.code == AUTO_CODE:
            res = await self._ledger(attempts_ledger.auto_disposition, aid)
        else:
            try:
                res = await self._ledger(attempts_ledger.record_disposition, aid, cmd.code,
                                         agent_id=agent_id, note=cmd.notes or None)
            except Exception as exc:  # an unknown code: do not lose the disposition
                log.warning("executor.disposition_code_refused", attempt=cmd.attempt_id,
                            error=str(exc))
                res = await self._ledger(attempts_ledger.auto_disposition, aid)
        campaign = actor.context.get("campaign_name", "")
        d.metrics.dispositions.labels(campaign, res.outcome_class.value).inc()
        d.hub.publish("call.disposition", {
            "attempt_id": cmd.attempt_id, "code": res.label, "outcome_class": res.outcome_class.value,
            "automatic": cmd.automatic,
        }, agent_id=agent_id)
        d.on_disposition(cmd.attempt_id, res.label)

    async def do_CountAbandon(self, cmd: c.CountAbandon, actor: Actor) -> None:
        d = self.d
        await self._ledger(attempts_ledger.mark_abandoned, uuid.UUID(cmd.attempt_id))
        if cmd.reason == "amd_false_positive":
            await self._ledger(attempts_ledger.record_event, uuid.UUID(cmd.attempt_id),
                               "amd_false_positive", data={"reason": cmd.reason},
                               key="amd_false_positive")
        d.on_abandon(cmd)

    async def do_LockNumber(self, cmd: c.LockNumber, actor: Actor) -> None:
        # attempts.mark_abandoned (CountAbandon, always just before) locks the number for
        # the campaign's abandon_lock in every campaign.
        log.debug("executor.number_locked", attempt=cmd.attempt_id, until=cmd.until.isoformat())

    async def do_ReleaseTarget(self, cmd: c.ReleaseTarget, actor: Actor) -> None:
        d = self.d
        aid = actor.key if actor.kind == "call" else None
        if aid is not None and aid in d.written_ahead:
            # Written ahead but the customer was never dialed (agent leg failed first).
            await self._ledger(attempts_ledger.end_attempt, uuid.UUID(aid), outcome="not_dialed",
                               cause_txt=cmd.reason[:200], auto_disposition=True)
            d.written_ahead.discard(aid)
            return
        await self._ledger(claims_ledger.release_leases, d.instance_id, [int(cmd.target_id)])

    async def do_RequeueTarget(self, cmd: c.RequeueTarget, actor: Actor) -> None:
        await self.d.previews.requeue(cmd)

    async def do_RejectTarget(self, cmd: c.RejectTarget, actor: Actor) -> None:
        await self.d.previews.reject(cmd)

    async def do_RemoveTarget(self, cmd: c.RemoveTarget, actor: Actor) -> None:
        await self.d.previews.remove(cmd)

    async def do_CreateCallback(self, cmd: c.CreateCallback, actor: Actor) -> None:
        await self.d.previews.create_callback(cmd)

    # ------------------------------------------------------------ coordination

    async def do_RequestAgent(self, cmd: c.RequestAgent, actor: Actor) -> None:
        self.d.sessions.request_agent(cmd.attempt_id, int(cmd.campaign_id))

    async def do_DialTarget(self, cmd: c.DialTarget, actor: Actor) -> None:
        await self.d.previews.dial(cmd)

    async def do_ReservationReady(self, cmd: c.ReservationReady, actor: Actor) -> None:
        await self.d.previews.reservation_ready(cmd)

    async def do_NotifyAgent(self, cmd: c.NotifyAgent, actor: Actor) -> None:
        d = self.d
        if isinstance(cmd.event, ev.AgentConnected):
            # Agent first and preview connect on the answer itself: the answer is written
            # first, or the history would read "bridged" before "answered".
            await d.mark_answered(cmd.event.attempt_id)
            await self._ledger(attempts_ledger.mark_bridged, uuid.UUID(cmd.event.attempt_id),
                               int(cmd.agent_id))
            d.on_connected(cmd.event.attempt_id, int(cmd.agent_id))
        d.sessions.post(int(cmd.agent_id), cmd.event)

    async def do_NotifyCall(self, cmd: c.NotifyCall, actor: Actor) -> None:
        self.d.post_call(cmd.attempt_id, cmd.event)

    # ---------------------------------------------------------------- publish

    async def do_PublishAgentState(self, cmd: c.PublishAgentState, actor: Actor) -> None:
        await self.d.sessions.published_state(cmd)

    async def do_PublishAttempt(self, cmd: c.PublishAttempt, actor: Actor) -> None:
        await self.d.published_attempt(cmd, actor)

    async def do_RecordProgress(self, cmd: c.RecordProgress, actor: Actor) -> None:
        await self.d.record_progress(cmd)

    async def do_PublishCampaignState(self, cmd: c.PublishCampaignState, actor: Actor) -> None:
        self.d.hub.publish("campaign.state", {"campaign_id": cmd.campaign_id, "state": cmd.state},
                           campaign_id=_int(cmd.campaign_id), audience="supervisors")

    async def do_PublishPreview(self, cmd: c.PublishPreview, actor: Actor) -> None:
        await self.d.previews.published(cmd)


IN_STASIS_WAIT_S = 2.0
"""How long a channel from POST /channels/create may take to enter Stasis."""


async def _once_in_stasis(call: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``call`` (an ARI request on a channel that is about to enter our app), again
    while Asterisk says the channel is not in Stasis yet.

    Asterisk 22 answers POST /channels/create before the channel is in the app: a thread
    of its own runs Stasis() for it a moment later (res/ari/resource_channels.c); an
    originated channel's answer (Dial ANSWER, ChannelStateChange Up) is published before
    its StasisStart too. Until then addChannel is 422 and /dial 409 "Channel not in Stasis
    application": 1 in 6 creates on an idle Asterisk 22.10.1 when sent at once, and every
    call it hit was lost. Any other error is raised at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + IN_STASIS_WAIT_S
    delay = 0.005
    while True:
        try:
            return await call()
        except (AriConflict, AriUnprocessable) as exc:
            if "not in stasis" not in str(exc).lower() or loop.time() >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
