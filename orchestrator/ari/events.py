"""Typed ARI WebSocket events (only those the dialer uses; the rest are `GenericEvent`).

`parse_event` turns one decoded JSON message into a frozen dataclass. Every event has
an ``ordering_key``: events with the same key are handed to the application in arrival
order, events with different keys are independent. The key is the *base* channel id
(``"a1;2"`` orders with ``"a1"``, surprise 6), ``"bridge:<id>"`` for bridge-level events
and ``"app"`` for application-level ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import Bridge, Channel, LiveRecording, Playback, base_channel_id

APP_KEY = "app"
"""Ordering key of events not tied to a channel or bridge."""


def _key_for_target(target_uri: str) -> str:
    kind, _, ident = target_uri.partition(":")
    if kind == "channel":
        return base_channel_id(ident)
    if kind == "bridge":
        return "bridge:" + ident
    return APP_KEY


@dataclass(frozen=True, slots=True)
class AriEvent:
    """Fields common to every ARI event."""

    type: str
    """The wire name, e.g. ``StasisStart``."""
    timestamp: str
    """Asterisk's ISO-8601 timestamp (may be out of order by a millisecond, surprise 11)."""
    application: str
    """The Stasis application the event was sent to."""
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    """The decoded JSON message."""

    @property
    def ordering_key(self) -> str:
        """Events with equal keys are delivered in order; see the module docstring."""
        return APP_KEY


@dataclass(frozen=True, slots=True)
class ChannelEvent(AriEvent):
    """An event about one channel."""

    channel: Channel
    """The channel's snapshot at the time of the event."""

    @property
    def ordering_key(self) -> str:
        return base_channel_id(self.channel.id)


@dataclass(frozen=True, slots=True)
class StasisStart(ChannelEvent):
    """A channel entered the application (only the ``;1`` half of a Local channel does)."""

    args: tuple[str, ...]
    """``appArgs`` / the ``Stasis(app,...)`` arguments, e.g. ``("amd", "MACHINE", "LONGGREETING-...")``."""
    replace_channel: Channel | None
    """The channel this one replaces (masquerade), if any."""


@dataclass(frozen=True, slots=True)
class StasisEnd(ChannelEvent):
    """A channel left the application (it may still exist: ``/continue``)."""


@dataclass(frozen=True, slots=True)
class ChannelStateChange(ChannelEvent):
    """The channel's state changed (``channel.state``: Ringing, Up, ...)."""


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest(ChannelEvent):
    """A hangup was requested. After our DELETE the cause is 32 with soft=true: not Q.850 (surprise 3)."""

    cause: int | None
    """Cause code as sent; use ChannelDestroyed's cause as the final word."""
    soft: bool
    """True for a soft hangup request."""


@dataclass(frozen=True, slots=True)
class ChannelDestroyed(ChannelEvent):
    """The channel is gone. Its cause is the final word on the call (surprise 4)."""

    cause: int
    """Q.850 cause: 16 normal, 17 busy, 19 no answer, 34 congestion, 0 unknown."""
    cause_txt: str
    """Asterisk's text for the cause."""
    tech_cause: int | None
    """SIP status (PJSIP only), e.g. 486, 480."""


@dataclass(frozen=True, slots=True)
class ChannelVarset(AriEvent):
    """A variable was set; ``channel`` is None for a global variable."""

    channel: Channel | None
    """The channel, if channel-scoped."""
    variable: str
    """Variable name, e.g. ``AMDSTATUS``."""
    value: str
    """New value ("" when unset)."""

    @property
    def ordering_key(self) -> str:
        return base_channel_id(self.channel.id) if self.channel is not None else APP_KEY


@dataclass(frozen=True, slots=True)
class ChannelUserevent(AriEvent):
    """A user event (dialplan ``UserEvent()`` or ``POST /events/user``)."""

    eventname: str
    """The user event's name."""
    userevent: Mapping[str, Any]
    """Its headers / variables."""
    channel: Channel | None
    """The channel it is about, if any."""

    @property
    def ordering_key(self) -> str:
        return base_channel_id(self.channel.id) if self.channel is not None else APP_KEY


@dataclass(frozen=True, slots=True)
class Dial(AriEvent):
    """Progress of a dial. ``dialstatus`` is the reliable busy/congestion signal (surprise 1)."""

    peer: Channel
    """The channel being dialled (ordering follows it)."""
    caller: Channel | None
    """The calling channel; absent after ``/channels/create`` + ``/dial``."""
    dialstatus: str
    """"" (dial begins), RINGING, PROGRESS, ANSWER, BUSY, CONGESTION, NOANSWER, CANCEL, CHANUNAVAIL."""
    dialstring: str
    """The dial string."""
    forward: str
    """Forwarding target, if any."""

    @property
    def ordering_key(self) -> str:
        return base_channel_id(self.peer.id)


@dataclass(frozen=True, slots=True)
class BridgeEvent(AriEvent):
    """An event about a bridge as a whole."""

    bridge: Bridge
    """The bridge's snapshot."""

    @property
    def ordering_key(self) -> str:
        return "bridge:" + self.bridge.id


@dataclass(frozen=True, slots=True)
class BridgeCreated(BridgeEvent):
    """A bridge was created."""


@dataclass(frozen=True, slots=True)
class BridgeDestroyed(BridgeEvent):
    """A bridge was destroyed (comes some time after DELETE's 204, surprise 10)."""


@dataclass(frozen=True, slots=True)
class ChannelEnteredBridge(AriEvent):
    """A channel entered a bridge; ordered with the channel's other events."""

    bridge: Bridge
    """The bridge (its technology is the value *before* the change)."""
    channel: Channel
    """The channel that entered."""

    @property
    def ordering_key(self) -> str:
        return base_channel_id(self.channel.id)


@dataclass(frozen=True, slots=True)
class ChannelLeftBridge(AriEvent):
    """A channel left a bridge; ordered with the channel's other events."""

    bridge: Bridge
    """The bridge."""
    channel: Channel
    """The channel that left."""

    @property
    def ordering_key(self) -> str:
        return base_channel_id(self.channel.id)


@dataclass(frozen=True, slots=True)
class PlaybackEvent(AriEvent):
    """A playback event, ordered with its target channel or bridge."""

    playback: Playback
    """The playback."""

    @property
    def ordering_key(self) -> str:
        return _key_for_target(self.playback.target_uri)


@dataclass(frozen=True, slots=True)
class PlaybackStarted(PlaybackEvent):
    """A playback started (again after an unpause)."""


@dataclass(frozen=True, slots=True)
class PlaybackFinished(PlaybackEvent):
    """A playback ended: state done (also after DELETE) or failed (hangup, missing file)."""


@dataclass(frozen=True, slots=True)
class RecordingEvent(AriEvent):
    """A recording event, ordered with its target channel or bridge."""

    recording: LiveRecording
    """The live recording."""

    @property
    def ordering_key(self) -> str:
        return _key_for_target(self.recording.target_uri)


@dataclass(frozen=True, slots=True)
class RecordingStarted(RecordingEvent):
    """A recording started."""


@dataclass(frozen=True, slots=True)
class RecordingFinished(RecordingEvent):
    """A recording finished (also when the last member leaves a recorded bridge)."""


@dataclass(frozen=True, slots=True)
class RecordingFailed(RecordingEvent):
    """A recording failed after the REST call said 201 (e.g. channel in a bridge, surprise 20)."""


@dataclass(frozen=True, slots=True)
class ApplicationReplaced(AriEvent):
    """Another WebSocket took over the application; this one gets nothing more (surprise 17)."""


@dataclass(frozen=True, slots=True)
class GenericEvent(AriEvent):
    """Any event without a typed wrapper; read ``raw``."""

    @property
    def ordering_key(self) -> str:
        raw = self.raw
        ch = raw.get("channel")
        if isinstance(ch, dict) and "id" in ch:
            return base_channel_id(ch["id"])
        peer = raw.get("peer")
        if isinstance(peer, dict) and "id" in peer:
            return base_channel_id(peer["id"])
        br = raw.get("bridge")
        if isinstance(br, dict) and "id" in br:
            return "bridge:" + str(br["id"])
        return APP_KEY


def _ch(d: Any) -> Channel | None:
    return Channel.from_json(d) if isinstance(d, dict) else None


def _int_or_none(v: Any) -> int | None:
    if v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _common(d: Mapping[str, Any]) -> tuple[str, str, str]:
    return d["type"], d.get("timestamp", ""), d.get("application", "")


def _stasis_start(d: Mapping[str, Any]) -> AriEvent:
    t, ts, app = _common(d)
    return StasisStart(
        t, ts, app, d, Channel.from_json(d["channel"]),
        tuple(str(a) for a in d.get("args") or ()), _ch(d.get("replace_channel")),
    )


def _channel_only(cls: type[ChannelEvent]) -> Callable[[Mapping[str, Any]], AriEvent]:
    def make(d: Mapping[str, Any]) -> AriEvent:
        t, ts, app = _common(d)
        return cls(t, ts, app, d, Channel.from_json(d["channel"]))

    return make


def _hangup_request(d: Mapping[str, Any]) -> AriEvent:
    t, ts, app = _common(d)
    return ChannelHangupRequest(
        t, ts, app, d, Channel.from_json(d["channel"]), _int_or_none(d.get("cause")),
        bool(d.get("soft", False)),
    )


def _destroyed(d: Mapping[str, Any]) -> AriEvent:
    t, ts, app = _common(d)
    return ChannelDestroyed(
        t, ts, app, d, Channel.from_json(d["channel"]), _int_or_none(d.get("cause")) or 0,
        d.get("cause_txt", ""), _int_or_none(d.get("tech_cause")),
    )


def _varset(d: Mapping[str, Any]) -> AriEvent:
    t, ts, app = _common(d)
    return ChannelVarset(
        t, ts, app, d, _ch(d.get("channel")), d.get("variable", ""), str(d.get("value", ""))
    )


def _userevent(d: Mapping[str, Any]) -> AriEvent:
    t, ts, app = _common(d)
    return ChannelUserevent(
        t, ts, app, d, d.get("eventname", ""), d.get("userevent") or {}, _ch(d.get("channel"))
    )


def _dial(d: Mapping[str, Any]) -> AriEvent:
    t, ts, app = _common(d)
    return Dial(
        t, ts, app, d, Channel.from_json(d["peer"]), _ch(d.get("caller")),
        d.get("dialstatus", ""), d.get("dialstring", ""), d.get("forward", ""),
    )


def _bridge_only(cls: type[BridgeEvent]) -> Callable[[Mapping[str, Any]], AriEvent]:
    def make(d: Mapping[str, Any]) -> AriEvent:
        t, ts, app = _common(d)
        return cls(t, ts, app, d, Bridge.from_json(d["bridge"]))

    return make


def _bridge_membership(
    cls: type[ChannelEnteredBridge] | type[ChannelLeftBridge],
) -> Callable[[Mapping[str, Any]], AriEvent]:
    def make(d: Mapping[str, Any]) -> AriEvent:
        t, ts, app = _common(d)
        return cls(t, ts, app, d, Bridge.from_json(d["bridge"]), Channel.from_json(d["channel"]))

    return make


def _playback(cls: type[PlaybackEvent]) -> Callable[[Mapping[str, Any]], AriEvent]:
    def make(d: Mapping[str, Any]) -> AriEvent:
        t, ts, app = _common(d)
        return cls(t, ts, app, d, Playback.from_json(d["playback"]))

    return make


def _recording(cls: type[RecordingEvent]) -> Callable[[Mapping[str, Any]], AriEvent]:
    def make(d: Mapping[str, Any]) -> AriEvent:
        t, ts, app = _common(d)
        return cls(t, ts, app, d, LiveRecording.from_json(d["recording"]))

    return make


def _app_replaced(d: Mapping[str, Any]) -> AriEvent:
    t, ts, app = _common(d)
    return ApplicationReplaced(t, ts, app, d)


_PARSERS: dict[str, Callable[[Mapping[str, Any]], AriEvent]] = {
    "StasisStart": _stasis_start,
    "StasisEnd": _channel_only(StasisEnd),
    "ChannelStateChange": _channel_only(ChannelStateChange),
    "ChannelHangupRequest": _hangup_request,
    "ChannelDestroyed": _destroyed,
    "ChannelVarset": _varset,
    "ChannelUserevent": _userevent,
    "Dial": _dial,
    "BridgeCreated": _bridge_only(BridgeCreated),
    "BridgeDestroyed": _bridge_only(BridgeDestroyed),
    "ChannelEnteredBridge": _bridge_membership(ChannelEnteredBridge),
    "ChannelLeftBridge": _bridge_membership(ChannelLeftBridge),
    "PlaybackStarted": _playback(PlaybackStarted),
    "PlaybackFinished": _playback(PlaybackFinished),
    "RecordingStarted": _recording(RecordingStarted),
    "RecordingFinished": _recording(RecordingFinished),
    "RecordingFailed": _recording(RecordingFailed),
    "ApplicationReplaced": _app_replaced,
}

TYPED_EVENTS: frozenset[str] = frozenset(_PARSERS)
"""Wire names that get a typed wrapper."""


class AriEventParseError(ValueError):
    """A WebSocket message was not a well-formed ARI event."""


def parse_event(d: Mapping[str, Any]) -> AriEvent:
    """Build the typed event for one decoded ARI message.

    Raises AriEventParseError when ``d`` is not an object with a ``type`` or a typed
    event lacks a required part (``channel``, ``bridge``, ...).
    """
    if not isinstance(d, dict):
        raise AriEventParseError(f"ARI event is not a JSON object: {type(d).__name__}")
    t = d.get("type")
    if not isinstance(t, str):
        raise AriEventParseError("ARI event has no 'type'")
    parser = _PARSERS.get(t)
    try:
        if parser is None:
            return GenericEvent(t, d.get("timestamp", ""), d.get("application", ""), d)
        return parser(d)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AriEventParseError(f"malformed {t} event: {exc!r}") from exc
