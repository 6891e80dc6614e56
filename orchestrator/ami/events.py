"""Typed AMI events (only those the dialer reads; the rest are `GenericAmiEvent`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

HeaderValue = str | list[str]
"""A header's value; repeated headers (``Tag: a``/``Tag: b``) give a list."""

# Headers every UserEvent carries that are not part of its payload.
_USEREVENT_ENVELOPE = frozenset(
    {"event", "privilege", "timestamp", "userevent", "actionid", "channel", "channelstate",
     "channelstatedesc", "calleridnum", "calleridname", "connectedlinenum", "connectedlinename",
     "language", "accountcode", "context", "exten", "priority", "uniqueid", "linkedid"}
)


def _s(v: HeaderValue | None) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return v[-1] if v else ""
    return v


def _int(v: HeaderValue | None, default: int = 0) -> int:
    try:
        return int(_s(v))
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class AmiEvent:
    """Fields common to every AMI event."""

    name: str
    """The ``Event:`` header, e.g. ``Hangup``."""
    headers: Mapping[str, HeaderValue] = field(repr=False, compare=False)
    """All headers, keyed as sent (look up with `get`, which ignores case)."""

    def get(self, key: str, default: str = "") -> str:
        """A header's value (last one if repeated), case-insensitively."""
        v = self.headers.get(key)
        if v is None:
            low = key.lower()
            for k, val in self.headers.items():
                if k.lower() == low:
                    v = val
                    break
        return _s(v) if v is not None else default


@dataclass(frozen=True, slots=True)
class ChannelAmiEvent(AmiEvent):
    """An AMI event about one channel."""

    channel: str
    """Channel name, e.g. ``Local/1001@customers-0000002e;1``."""
    uniqueid: str
    """Channel unique id (the ARI channel id: ours for originated channels)."""
    linkedid: str
    """Id of the oldest channel of the call."""


@dataclass(frozen=True, slots=True)
class Newchannel(ChannelAmiEvent):
    """A channel was created."""

    state: int
    """Numeric channel state (0 Down, 4 Ring, 5 Ringing, 6 Up)."""
    context: str
    """Dialplan context."""
    exten: str
    """Dialplan extension."""


@dataclass(frozen=True, slots=True)
class Newstate(ChannelAmiEvent):
    """A channel changed state."""

    state: int
    """Numeric channel state."""
    state_desc: str
    """State name (Ring, Ringing, Up, ...)."""


@dataclass(frozen=True, slots=True)
class Hangup(ChannelAmiEvent):
    """A channel hung up; ``cause`` is the real Q.850 cause (not ARI's 32, surprise 3)."""

    cause: int
    """Q.850 cause code."""
    cause_txt: str
    """Cause text."""


@dataclass(frozen=True, slots=True)
class VarSet(ChannelAmiEvent):
    """A channel variable was set (AMDSTATUS, STASISSTATUS, ...)."""

    variable: str
    """Variable name."""
    value: str
    """Its new value."""

    @property
    def is_amd_status(self) -> bool:
        """True for the AMD() result variable."""
        return self.variable == "AMDSTATUS"


@dataclass(frozen=True, slots=True)
class MusicOnHoldStart(ChannelAmiEvent):
    """MOH started on a channel: the only trace of an ARI hold (surprises 9 and 24)."""

    moh_class: str
    """The class actually playing (an unknown class falls back to ``default``)."""


@dataclass(frozen=True, slots=True)
class MusicOnHoldStop(ChannelAmiEvent):
    """MOH stopped on a channel."""


@dataclass(frozen=True, slots=True)
class DialBegin(AmiEvent):
    """A dial started. ``channel``/``uniqueid`` (the caller) are empty for an ARI originate."""

    channel: str
    """Calling channel name, if any."""
    uniqueid: str
    """Calling channel id, if any."""
    dest_channel: str
    """Dialled channel name."""
    dest_uniqueid: str
    """Dialled channel id."""
    dial_string: str
    """The dial string."""


@dataclass(frozen=True, slots=True)
class DialEnd(AmiEvent):
    """A dial ended (no DialEnd at all when an originate times out, surprise 2)."""

    channel: str
    """Calling channel name, if any."""
    uniqueid: str
    """Calling channel id, if any."""
    dest_channel: str
    """Dialled channel name."""
    dest_uniqueid: str
    """Dialled channel id."""
    dial_status: str
    """ANSWER, BUSY, CONGESTION, NOANSWER, CANCEL, CHANUNAVAIL, ..."""


@dataclass(frozen=True, slots=True)
class BridgeAmiEvent(ChannelAmiEvent):
    """A channel entered or left a bridge."""

    bridge_uniqueid: str
    """Bridge id (ours for ARI bridges)."""
    bridge_technology: str
    """simple_bridge, softmix, holding_bridge."""
    bridge_num_channels: int
    """Members after the change."""


@dataclass(frozen=True, slots=True)
class BridgeEnter(BridgeAmiEvent):
    """A channel entered a bridge."""


@dataclass(frozen=True, slots=True)
class BridgeLeave(BridgeAmiEvent):
    """A channel left a bridge."""


@dataclass(frozen=True, slots=True)
class FullyBooted(AmiEvent):
    """Sent right after login when Asterisk is fully booted."""

    status: str
    """``Fully Booted``."""
    uptime: int
    """Seconds since start."""


@dataclass(frozen=True, slots=True)
class UserEvent(AmiEvent):
    """A user event (ours from `AmiListener.user_event`, or dialplan ``UserEvent()``)."""

    user_event: str
    """The ``UserEvent:`` name, e.g. ``DialerAgentState``."""
    channel: str
    """Channel name when channel-associated, else empty."""
    uniqueid: str
    """Channel id when channel-associated, else empty."""
    fields: Mapping[str, HeaderValue]
    """Payload headers (envelope headers such as Privilege and ActionID removed)."""


@dataclass(frozen=True, slots=True)
class GenericAmiEvent(AmiEvent):
    """Any other event; read ``headers``."""


def _chan(h: Mapping[str, HeaderValue]) -> tuple[str, str, str]:
    return _s(h.get("Channel")), _s(h.get("Uniqueid")), _s(h.get("Linkedid"))


def _newchannel(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return Newchannel(n, h, *_chan(h), _int(h.get("ChannelState")), _s(h.get("Context")),
                      _s(h.get("Exten")))


def _newstate(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return Newstate(n, h, *_chan(h), _int(h.get("ChannelState")), _s(h.get("ChannelStateDesc")))


def _hangup(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return Hangup(n, h, *_chan(h), _int(h.get("Cause")), _s(h.get("Cause-txt")))


def _varset(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return VarSet(n, h, *_chan(h), _s(h.get("Variable")), _s(h.get("Value")))


def _moh_start(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return MusicOnHoldStart(n, h, *_chan(h), _s(h.get("Class")))


def _moh_stop(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return MusicOnHoldStop(n, h, *_chan(h))


def _dial_begin(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return DialBegin(n, h, _s(h.get("Channel")), _s(h.get("Uniqueid")),
                     _s(h.get("DestChannel")), _s(h.get("DestUniqueid")), _s(h.get("DialString")))


def _dial_end(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return DialEnd(n, h, _s(h.get("Channel")), _s(h.get("Uniqueid")),
                   _s(h.get("DestChannel")), _s(h.get("DestUniqueid")), _s(h.get("DialStatus")))


def _bridge(cls: type[BridgeAmiEvent]) -> Callable[[str, Mapping[str, HeaderValue]], AmiEvent]:
    def make(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
        return cls(n, h, *_chan(h), _s(h.get("BridgeUniqueid")), _s(h.get("BridgeTechnology")),
                   _int(h.get("BridgeNumChannels")))

    return make


def _fully_booted(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    return FullyBooted(n, h, _s(h.get("Status")), _int(h.get("Uptime")))


def _user_event(n: str, h: Mapping[str, HeaderValue]) -> AmiEvent:
    fields = {k: v for k, v in h.items() if k.lower() not in _USEREVENT_ENVELOPE}
    return UserEvent(n, h, _s(h.get("UserEvent")), _s(h.get("Channel")), _s(h.get("Uniqueid")),
                     fields)


_PARSERS: dict[str, Callable[[str, Mapping[str, HeaderValue]], AmiEvent]] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "Hangup": _hangup,
    "VarSet": _varset,
    "MusicOnHoldStart": _moh_start,
    "MusicOnHoldStop": _moh_stop,
    "DialBegin": _dial_begin,
    "DialEnd": _dial_end,
    "BridgeEnter": _bridge(BridgeEnter),
    "BridgeLeave": _bridge(BridgeLeave),
    "FullyBooted": _fully_booted,
    "UserEvent": _user_event,
}


def parse_ami_event(headers: Mapping[str, HeaderValue]) -> AmiEvent:
    """Build the typed event for one AMI event's headers (must contain ``Event``)."""
    name = _s(headers.get("Event"))
    if not name:
        raise ValueError("AMI message has no Event header")
    parser = _PARSERS.get(name)
    if parser is None:
        return GenericAmiEvent(name, headers)
    return parser(name, headers)
