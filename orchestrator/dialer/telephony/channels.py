"""ARI wire events → core events, handed to the actor that owns the channel.

Handlers are named after the wire event (``on_StasisStart``...) and called by the ARI
stream's per-channel workers, in order per channel. They only translate and post:
no REST call, no ledger write happens here (the actors do that), so a handler never
holds up the channel's queue.

Translation rules (asterisk-traces README):

* ``Dial`` of our channel: RINGING/PROGRESS → CallRinging, ANSWER → CallAnswered, any
  other final status → DialFailed. It is the reliable busy/congestion signal on Local
  channels (surprise 1).
* ``ChannelDestroyed`` of our channel id (never its ``;2`` half, surprise 6) →
  ChannelGone with the cause: the final word (surprise 4). ``ChannelHangupRequest`` is
  ignored (cause 32 is Asterisk's internal flag, surprise 3).
* ``StasisStart`` of an Up channel → CallAnswered; with args ``amd,STATUS,CAUSE`` (the
  dialer-amd context) also AmdResult.
* A channel entering our app that nobody owns is an orphan (its call ended here, or it
  belongs to no attempt): it is hung up, unless reconciliation adopted it.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from orchestrator.ari import (
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    Dial,
    GenericEvent,
    PlaybackFinished,
    RecordingFailed,
    StasisEnd,
    StasisStart,
)
from orchestrator.core import events as ev
from orchestrator.dialer.actors import Actor

log = structlog.get_logger("orchestrator.dialer.channels")


class ChannelDirectory:
    """Which actor owns which channel id (customer leg = attempt id, agent legs...)."""

    def __init__(self) -> None:
        self._owners: dict[str, Actor] = {}
        self._core: dict[str, str] = {}
        self.adopted: set[str] = set()
        """Channels reconciliation decided to keep although no machine owns them."""
        self._stasis_only: set[str] = set()
        self._hangup_cause: dict[str, int] = {}

    def register(self, channel_id: str, actor: Actor, *, core_id: str | None = None) -> None:
        """Route events of wire id ``channel_id`` to ``actor`` (as ``core_id`` when the core
        named the channel differently, see kernel.ids.wire_id)."""
        self._owners[channel_id] = actor
        if core_id is not None and core_id != channel_id:
            self._core[channel_id] = core_id

    def unregister(self, channel_id: str) -> None:
        self._owners.pop(channel_id, None)
        self._core.pop(channel_id, None)
        self._stasis_only.discard(channel_id)
        self._hangup_cause.pop(channel_id, None)

    def mark_stasis_only(self, channel_id: str) -> None:
        """The channel was originated into the dialplan: the app hears of it only while it
        is in Stasis, so its StasisEnd is its end (narrow surprises 26-27)."""
        self._stasis_only.add(channel_id)

    def mark_subscribed(self, channel_id: str) -> None:
        """The app subscribed to the channel explicitly: its ChannelDestroyed will come,
        even after StasisEnd (surprise 29)."""
        self._stasis_only.discard(channel_id)

    def stasis_only(self, channel_id: str) -> bool:
        return channel_id in self._stasis_only

    def note_hangup_cause(self, channel_id: str, cause: int) -> None:
        if channel_id in self._owners:
            self._hangup_cause[channel_id] = cause

    def hangup_cause(self, channel_id: str) -> int:
        """The last cause a ChannelHangupRequest gave for the channel (0 when none)."""
        return self._hangup_cause.get(channel_id, 0)

    def core_id(self, channel_id: str) -> str:
        """The core's name of a wire channel id."""
        return self._core.get(channel_id, channel_id)

    def owner(self, channel_id: str) -> Actor | None:
        return self._owners.get(channel_id)

    def __contains__(self, channel_id: str) -> bool:
        return channel_id in self._owners

    def owned_ids(self) -> set[str]:
        return set(self._owners)


class AriChannelHandlers:
    """``on_<WireEvent>`` methods for `dispatch_by_name`."""

    def __init__(
        self,
        directory: ChannelDirectory,
        *,
        hangup_orphan: Callable[[str], None],
        on_adopted_gone: Callable[[str, int, str], None],
        count_event: Callable[[str], None] = lambda _t: None,
    ) -> None:
        self._dir = directory
        self._hangup_orphan = hangup_orphan
        self._on_adopted_gone = on_adopted_gone
        self._count = count_event

    def _post(self, channel_id: str, make: Callable[[str], ev.Event]) -> bool:
        """Post ``make(core id)`` to the owner of wire id ``channel_id``, if any."""
        actor = self._dir.owner(channel_id)
        if actor is None:
            return False
        actor.post(make(self._dir.core_id(channel_id)))
        return True

    async def on_StasisStart(self, e: StasisStart) -> None:
        self._count(e.type)
        cid = e.channel.id
        if cid not in self._dir:
            if cid in self._dir.adopted:
                return
            log.warning("ari.orphan_channel", channel=cid, args=list(e.args)[:1])
            self._hangup_orphan(cid)
            return
        if e.args and e.args[0] == "amd":
            status_raw = e.args[1] if len(e.args) > 1 else ""
            cause = e.args[2] if len(e.args) > 2 else ""
            self._post(cid, ev.CallAnswered)
            try:
                status = ev.AmdStatus.from_wire(status_raw)
            except ValueError:
                # AMD() could not run (no audio, bad config): treat the call as live.
                status = ev.AmdStatus.NOTSURE
            self._post(cid, lambda i: ev.AmdResult(i, status, cause))
            return
        if e.channel.state == "Up":
            self._post(cid, ev.CallAnswered)

    async def on_Dial(self, e: Dial) -> None:
        self._count(e.type)
        cid = e.peer.id
        if not e.dialstatus or cid not in self._dir:
            return
        try:
            status = ev.DialStatus.from_wire(e.dialstatus)
        except ValueError:
            log.warning("ari.unknown_dialstatus", channel=cid, dialstatus=e.dialstatus)
            return
        if status in (ev.DialStatus.RINGING, ev.DialStatus.PROGRESS, ev.DialStatus.PROCEEDING):
            self._post(cid, ev.CallRinging)
        elif status is ev.DialStatus.ANSWER:
            self._post(cid, ev.CallAnswered)
        else:
            self._post(cid, lambda i: ev.DialFailed(i, status))

    async def on_ChannelStateChange(self, e: ChannelStateChange) -> None:
        self._count(e.type)
        cid = e.channel.id
        if cid not in self._dir:
            return
        if e.channel.state == "Ringing":
            self._post(cid, ev.CallRinging)
        elif e.channel.state == "Up":
            self._post(cid, ev.CallAnswered)

    async def on_ChannelDestroyed(self, e: ChannelDestroyed) -> None:
        self._count(e.type)
        cid = e.channel.id
        if cid in self._dir.adopted:
            self._dir.adopted.discard(cid)
            self._on_adopted_gone(cid, e.cause, e.cause_txt)
            return
        if e.channel.state == "Up":
            # Destroyed Up: it was answered, even if the answer itself came before the app
            # subscribed to it (AMD channels, surprise 29); a machine that saw it ignores it.
            self._post(cid, ev.CallAnswered)
        if self._post(cid, lambda i: ev.ChannelGone(i, e.cause, e.cause_txt, e.tech_cause)):
            self._dir.unregister(cid)

    async def on_StasisEnd(self, e: StasisEnd) -> None:
        self._count(e.type)
        cid = e.channel.id
        if not self._dir.stasis_only(cid):
            return  # the app keeps its subscription: ChannelDestroyed follows with the cause
        # Nothing more will be told about this channel (surprise 27): this is its end.
        cause = self._dir.hangup_cause(cid)
        txt = "left the application (StasisEnd)"
        if self._post(cid, lambda i: ev.ChannelGone(i, cause, txt)):
            self._dir.unregister(cid)

    async def on_ChannelHangupRequest(self, e: ChannelHangupRequest) -> None:
        # Ignored as a signal (cause 32 is Asterisk's own flag, surprise 3); kept as the
        # cause of a channel whose ChannelDestroyed the app will never see.
        self._count(e.type)
        if e.cause is not None and e.cause != 32:
            self._dir.note_hangup_cause(e.channel.id, e.cause)

    async def on_ChannelEnteredBridge(self, e: ChannelEnteredBridge) -> None:
        self._count(e.type)
        owner = self._dir.owner(e.channel.id)
        if owner is not None and owner.kind == "call":
            self._post(e.channel.id, lambda i: ev.BridgeJoined(i, self._dir.core_id(e.bridge.id)))

    async def on_ChannelLeftBridge(self, e: ChannelLeftBridge) -> None:
        self._count(e.type)
        owner = self._dir.owner(e.channel.id)
        if owner is not None and owner.kind == "call":
            self._post(e.channel.id, lambda i: ev.BridgeLeft(i, self._dir.core_id(e.bridge.id)))

    async def on_PlaybackFinished(self, e: PlaybackFinished) -> None:
        self._count(e.type)
        pb = e.playback
        kind, _, target = pb.target_uri.partition(":")
        event = ev.PlaybackFinished(self._dir.core_id(pb.id), failed=pb.state == "failed")
        owner = self._dir.owner(target) if kind == "channel" else None
        if owner is not None and owner.kind == "call":
            owner.post(event)
            return
        # Bridge playbacks (or a channel already gone): the playback id starts with the
        # owner's attempt id ("<attempt>:info").
        call = self._dir.owner(pb.id.split(":", 1)[0])
        if call is not None and call.kind == "call":
            call.post(event)

    async def on_RecordingFailed(self, e: RecordingFailed) -> None:
        # Asterisk answered 201 to the record request and then could not make it: the
        # call is told, so the failure is reported, never assumed recorded. A call's
        # recordings are named after its attempt id (36 characters), then "_r2"...
        self._count(e.type)
        name = e.recording.name
        call = self._dir.owner(name[:36])
        if call is not None and call.kind == "call":
            call.post(ev.RecordingFailed(name, e.recording.cause or "failed"))

    async def on_ChannelDtmfReceived(self, e: GenericEvent) -> None:
        # A key on one of our channels (a customer's opt-out key, say): the call decides.
        self._count(e.type)
        ch = e.raw.get("channel") or {}
        cid, digit = ch.get("id", ""), str(e.raw.get("digit", ""))
        if cid and digit:
            self._post(cid, lambda i: ev.DigitReceived(i, digit))

    async def on_ChannelTalkingFinished(self, e: GenericEvent) -> None:
        # TALK_DETECT on a machine: the greeting ended, the beep is next.
        self._count(e.type)
        ch = e.raw.get("channel") or {}
        cid = ch.get("id", "")
        if cid:
            self._post(cid, ev.BeepDetected)
