"""Telephony: the core's commands that are ARI requests (originate, create and dial,
bridges, playback, music on hold, hold, recording, snoop, hangup, channel variables),
carried out for the actor that issued them.

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
from typing import Any

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
from orchestrator.dialer.telephony.host import TelephonyHost
from orchestrator.ledger import attempts as attempts_ledger

# The executor's name: operators' log queries and the tests grep these events.
log = structlog.get_logger("orchestrator.dialer.executor")

ORIGINATE_CONNECT_WAIT_S = 2.0
"""How long an originate waits for a dropped ARI socket to come back before giving up."""


class Telephony:
    """Carries out the ARI commands; routes each new channel's events to its actor."""

    def __init__(self, host: TelephonyHost) -> None:
        self.host = host


    async def _wait_connected(self) -> bool:
        stream = self.host.stream
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
            await self.host.ari.get_channel(wire_id(channel_id))
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
                             customer: bool, party: bool = False) -> str | None:
        """Route the new channel's events to its actor; refuse the dial (None) when its dial
        string does not pass the gate, or while the ARI WebSocket is down (Asterisk would
        answer 200 and drop the answered customer)."""
        h = self.host
        wid = wire_id(channel_id)
        try:
            h.gate.check_wire(endpoint, customer=customer, party=party)
        except DialRefused as exc:
            # a bug upstream, never a reason to ring it: loud, and the number never left
            log.error("executor.dial_refused", channel=wid, reason=exc.reason)
            actor.post(ev.OriginateRefused(channel_id, 400, f"dial refused: {exc.reason}"))
            return None
        clash = prefix_clash(wid, h.directory.owned_ids() - {wid})
        if clash is not None:
            # Asterisk would answer 409 (a new id that prefixes a live one, surprise 31):
            # a bug in how ids are made, never a reason to burn the target.
            log.error("executor.channel_id_prefix_clash", channel=wid, existing=clash)
            actor.post(ev.OriginateRefused(channel_id, 400, f"channel id prefixes {clash!r}"))
            return None
        h.directory.register(wid, actor, core_id=channel_id)
        if not await self._wait_connected():
            h.metrics.originate_errors.labels(actor.context.get("campaign_name", ""), "ari_down").inc()
            actor.post(ev.OriginateRefused(channel_id, 503, "ARI WebSocket not connected"))
            return None
        return wid

    async def originate(self, cmd: c.Originate, actor: Actor) -> None:
        h = self.host
        customer = cmd.attempt_id is not None and cmd.channel_id == cmd.attempt_id
        party = bool(cmd.app_args) and cmd.app_args[0] == "party"
        wid = await self._register_dial(cmd.channel_id, actor, cmd.endpoint, customer=customer,
                                        party=party)
        if wid is None:
            return
        campaign = actor.context.get("campaign_name", "")
        variables = dict(cmd.variables)
        # With AMD our channel runs [dialer-amd] (AMD() then Stasis(app, amd, STATUS, CAUSE))
        # rather than entering the app at once: a channel originated with app= never runs
        # dialplan on a real Asterisk. DIALER_APP routes it back to this instance's app.
        route: dict[str, Any] = (
            {"context": h.settings.amd_context, "extension": "s", "priority": 1}
            if cmd.amd
            else {"app": h.ari.config.app, "app_args": cmd.app_args or ()}
        )
        if cmd.amd:
            variables["DIALER_APP"] = h.ari.config.app
            h.directory.mark_stasis_only(wid)
        try:
            await h.ari.originate(
                wid, cmd.endpoint, caller_id=cmd.caller_id or None, ring_timeout=cmd.timeout_s,
                variables=variables or None, **route,
            )
        except AriChannelExists:
            actor.post(ev.OriginateAccepted(cmd.channel_id))
            return
        except AriConflict as exc:
            # 409 with no channel of that id: Asterisk's prefix rule (surprise 31) or a
            # race; the number never left.
            h.metrics.originate_errors.labels(campaign, "conflict").inc()
            log.error("executor.originate_conflict", channel=wid, error=exc.message)
            h.dial_guard.refused(h.now_s(), 409, exc.message)
            actor.post(ev.OriginateRefused(cmd.channel_id, 500, exc.message))
            return
        except AriNotConnected as exc:
            h.metrics.originate_errors.labels(campaign, "ari_down").inc()
            actor.post(ev.OriginateRefused(cmd.channel_id, 503, str(exc)))
            return
        except AriHTTPError as exc:
            h.metrics.originate_errors.labels(campaign, str(exc.status)).inc()
            log.warning("executor.originate_refused", channel=wid, status=exc.status,
                        error=exc.message)
            h.dial_guard.refused(h.now_s(), exc.status, exc.message)
            actor.post(ev.OriginateRefused(cmd.channel_id, exc.status, exc.message))
            return
        except AriConnectionError as exc:
            h.metrics.originate_errors.labels(campaign, "timeout").inc()
            await self._settle_ambiguous(cmd.channel_id, actor, exc)
            return
        h.dial_guard.accepted()
        # Subscribed before anything else is awaited: every millisecond is an event missed.
        gone = cmd.amd and not await self._subscribe(wid)
        h.metrics.originates.labels(campaign, "customer" if customer else "agent").inc()
        if customer:
            h.call_registry.note_originated(cmd.channel_id)
            await h.ledger_write(attempts_ledger.mark_originated, uuid.UUID(cmd.channel_id))
        actor.post(ev.OriginateAccepted(cmd.channel_id))
        if gone:
            # Its ARI events are lost; AMI saw the Hangup of both halves (surprise 26).
            found = await h.ami_hangup_cause(wid)
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
        h = self.host
        try:
            await h.ari.subscribe(f"channel:{wid}")
        except AriError as exc:
            # Gone already (a failure within milliseconds) or the call was refused after
            # all: its end will never be told. Look once; a live channel keeps its guards.
            try:
                await h.ari.get_channel(wid)
            except AriNotFound:
                log.warning("executor.subscribe_channel_gone", channel=wid, error=str(exc))
                return False
            except AriError:
                pass
            log.warning("executor.subscribe_failed", channel=wid, error=str(exc))
            return True
        h.directory.mark_subscribed(wid)
        return True

    async def create_and_dial(self, cmd: c.CreateAndDial, actor: Actor) -> None:
        h = self.host
        wid = await self._register_dial(cmd.channel_id, actor, cmd.endpoint, customer=True)
        if wid is None:
            return
        campaign = actor.context.get("campaign_name", "")
        try:
            await h.ari.create_channel(wid, cmd.endpoint, app=h.ari.config.app,
                                       app_args=("customer", cmd.attempt_id or cmd.channel_id),
                                       variables=dict(cmd.variables) or None)
        except AriChannelExists:
            pass
        except AriHTTPError as exc:
            h.metrics.originate_errors.labels(campaign, str(exc.status)).inc()
            log.warning("executor.create_refused", channel=wid, status=exc.status,
                        error=exc.message)
            h.dial_guard.refused(h.now_s(), exc.status, exc.message)
            actor.post(ev.OriginateRefused(cmd.channel_id, 500 if exc.status == 409 else exc.status,
                                           exc.message))
            return
        except (AriNotConnected, AriConnectionError) as exc:
            h.metrics.originate_errors.labels(campaign, "ari_down").inc()
            await self._settle_ambiguous(cmd.channel_id, actor, exc)
            return
        try:
            # In the agent's bridge first: the agent hears ringing and early media.
            await _once_in_stasis(lambda: h.ari.add_to_bridge(wire_id(cmd.bridge_id), wid))
        except AriError as exc:
            log.warning("executor.early_bridge_failed", attempt=cmd.attempt_id, error=str(exc))
        try:
            await _once_in_stasis(lambda: h.ari.dial(wid, caller=None,
                                                     ring_timeout=cmd.timeout_s))
        except AriError as exc:
            h.metrics.originate_errors.labels(campaign, "dial").inc()
            with contextlib.suppress(AriError):
                await h.ari.hangup(wid)
            actor.post(ev.OriginateRefused(cmd.channel_id, getattr(exc, "status", 500) or 500,
                                           str(exc)))
            return
        h.dial_guard.accepted()
        h.metrics.originates.labels(campaign, "customer").inc()
        h.call_registry.note_originated(cmd.channel_id)
        if cmd.attempt_id:
            await h.ledger_write(attempts_ledger.mark_originated, uuid.UUID(cmd.attempt_id))
        actor.post(ev.OriginateAccepted(cmd.channel_id))

    async def create_bridge(self, cmd: c.CreateBridge, actor: Actor) -> None:
        try:
            await self.host.ari.create_bridge(wire_id(cmd.bridge_id), type=cmd.kind)
        except AriConflict:
            pass  # ours already (a nailed-up agent's bridge survives between calls)

    async def destroy_bridge(self, cmd: c.DestroyBridge, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound):
            await self.host.ari.destroy_bridge(wire_id(cmd.bridge_id))

    async def add_to_bridge(self, cmd: c.AddToBridge, actor: Actor) -> None:
        # An answered originate is announced (Dial ANSWER, state Up) a moment before it is
        # in the app (StasisStart): a bridge join sent on the answer can meet a 422.
        await _once_in_stasis(lambda: self.host.ari.add_to_bridge(
            wire_id(cmd.bridge_id), wire_id(cmd.channel_id), role=cmd.role))

    async def remove_from_bridge(self, cmd: c.RemoveFromBridge, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound, AriHTTPError):
            await self.host.ari.remove_from_bridge(wire_id(cmd.bridge_id), wire_id(cmd.channel_id))

    async def hangup(self, cmd: c.Hangup, actor: Actor) -> None:
        try:
            await self.host.ari.hangup(wire_id(cmd.channel_id), reason=cmd.reason.value)
        except AriNotFound:
            pass

    async def play(self, cmd: c.Play, actor: Actor) -> None:
        try:
            if cmd.channel_id is not None:
                await self.host.ari.play(wire_id(cmd.channel_id), wire_id(cmd.playback_id), cmd.media)
            else:
                assert cmd.bridge_id is not None
                await self.host.ari.play_on_bridge(wire_id(cmd.bridge_id), wire_id(cmd.playback_id),
                                                cmd.media)
        except AriError as exc:
            log.warning("executor.play_failed", playback=cmd.playback_id, error=str(exc))
            actor.post(ev.PlaybackFinished(cmd.playback_id, failed=True))

    async def stop_playback(self, cmd: c.StopPlayback, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound):
            await self.host.ari.stop_playback(wire_id(cmd.playback_id))

    async def start_moh(self, cmd: c.StartMoh, actor: Actor) -> None:
        await self.host.ari.start_moh(wire_id(cmd.channel_id), cmd.moh_class)

    async def stop_moh(self, cmd: c.StopMoh, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound):
            await self.host.ari.stop_moh(wire_id(cmd.channel_id))

    async def hold(self, cmd: c.Hold, actor: Actor) -> None:
        await self.host.ari.hold(wire_id(cmd.channel_id))

    async def unhold(self, cmd: c.Unhold, actor: Actor) -> None:
        with contextlib.suppress(AriNotFound):
            await self.host.ari.unhold(wire_id(cmd.channel_id))

    async def record(self, cmd: c.Record, actor: Actor) -> None:
        try:
            if cmd.bridge_id is not None:
                await self.host.ari.record_bridge(wire_id(cmd.bridge_id), cmd.name, format=cmd.format)
            else:
                assert cmd.channel_id is not None
                await self.host.ari.record(wire_id(cmd.channel_id), cmd.name, format=cmd.format)
        except AriError as exc:
            # Refused outright (a real Asterisk without its recording directory answers
            # 500 "Unrecognized recording error"): the call is told, as for a
            # RecordingFailed, so nothing claims the call is being recorded.
            log.warning("executor.record_failed", name=cmd.name, error=str(exc))
            actor.post(ev.RecordingFailed(cmd.name, f"refused: {exc}"[:200]))

    async def stop_recording(self, cmd: c.StopRecording, actor: Actor) -> None:
        with contextlib.suppress(AriError):
            await self.host.ari.stop_recording(cmd.name)

    async def pause_recording(self, cmd: c.PauseRecording, actor: Actor) -> None:
        try:
            await self.host.ari.pause_recording(cmd.name)
        except AriError as exc:  # gone (404) or not recording (409): the call is told
            log.warning("executor.pause_recording_failed", name=cmd.name, error=str(exc))
            actor.post(ev.RecordingFailed(cmd.name, f"pause refused: {exc}"[:200]))

    async def resume_recording(self, cmd: c.ResumeRecording, actor: Actor) -> None:
        try:
            await self.host.ari.unpause_recording(cmd.name)
        except AriError as exc:
            log.warning("executor.resume_recording_failed", name=cmd.name, error=str(exc))
            actor.post(ev.RecordingFailed(cmd.name, f"resume refused: {exc}"[:200]))

    async def set_variable(self, cmd: c.SetVariable, actor: Actor) -> None:
        await self.host.ari.set_variable(wire_id(cmd.channel_id), cmd.name, cmd.value)

    async def detect_beep(self, cmd: c.DetectBeep, actor: Actor) -> None:
        # TALK_DETECT reports ChannelTalkingFinished when the greeting stops; without it
        # the call's beep timer leaves the message anyway.
        with contextlib.suppress(AriError):
            await self.host.ari.set_variable(wire_id(cmd.channel_id), "TALK_DETECT(set)", "")

    async def snoop(self, cmd: c.Snoop, actor: Actor) -> None:
        await self.host.ari.snoop(wire_id(cmd.channel_id), wire_id(cmd.snoop_id), spy=cmd.spy,
                               whisper=cmd.whisper)


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
