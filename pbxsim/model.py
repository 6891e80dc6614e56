"""The simulation's data: channels, bridges, playbacks, recordings and the events they emit.

Nothing here touches a socket. `SimEvent` is the PBX-internal message (Asterisk's stasis
message); the ARI and AMI layers translate it to their wire formats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pbxsim.parties import PartyPlan

STATE_CODES = {
    "Down": 0,
    "Rsrvd": 1,
    "OffHook": 2,
    "Dialing": 3,
    "Ring": 4,
    "Ringing": 5,
    "Up": 6,
    "Busy": 7,
}

CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not presently available",
    127: "Interworking, unspecified",
}

#: ARI DELETE /channels/{id}?reason=... -> Q.850 cause
HANGUP_REASONS = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}


class AriError(Exception):
    """An ARI error reply: HTTP status and Asterisk's message."""

    def __init__(self, status: int, message: str, *, key: str = "message") -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.key = key


@dataclass(frozen=True)
class ChanSnap:
    """A channel snapshot as of one event (Asterisk's ast_channel_snapshot)."""

    id: str
    name: str
    state: str
    protocol_id: str
    caller_name: str
    caller_number: str
    connected_name: str
    connected_number: str
    accountcode: str
    context: str
    exten: str
    priority: int
    app_name: str
    app_data: str
    creationtime: str
    language: str
    linkedid: str
    channelvars: tuple[tuple[str, str], ...] | None

    def ari(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": {"name": self.caller_name, "number": self.caller_number},
            "connected": {"name": self.connected_name, "number": self.connected_number},
            "accountcode": self.accountcode,
            "dialplan": {
                "context": self.context,
                "exten": self.exten,
                "priority": self.priority,
                "app_name": self.app_name,
                "app_data": self.app_data,
            },
            "creationtime": self.creationtime,
            "language": self.language,
        }
        if self.channelvars is not None:
            d["channelvars"] = dict(self.channelvars)
        return d


@dataclass(frozen=True)
class BridgeSnap:
    id: str
    technology: str
    bridge_type: str
    name: str
    channels: tuple[str, ...]
    creationtime: str
    video_mode: str

    def ari(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "technology": self.technology,
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": list(self.channels),
            "creationtime": self.creationtime,
            "video_mode": self.video_mode,
        }


@dataclass(frozen=True)
class SimEvent:
    """One PBX event. `kind` uses the ARI event name where there is one."""

    kind: str
    timestamp: float
    channel: ChanSnap | None = None
    bridge: BridgeSnap | None = None
    data: dict[str, Any] = field(default_factory=dict)
    targets: frozenset[str] = frozenset()
    """Apps subscribed to the objects of this event (default subscription)."""
    to_all: bool = True
    """Also delivered to subscribeAll apps."""
    ari: bool = True
    ami: bool = True
    dup_for_all: bool = False
    """Delivered twice to subscribeAll sockets (bridge playbacks/recordings, trace note)."""


@dataclass
class DialInfo:
    """A dial in progress on a channel (originate or /dial)."""

    dialstring: str
    mode: str
    """'originate' (POST /channels) or 'dial' (POST /channels/{id}/dial)."""
    timeout: float | None
    status: str = ""
    done: bool = False


@dataclass
class Playback:
    id: str
    media: list[str]
    target_uri: str
    language: str = "en"
    state: str = "queued"
    index: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    paused: bool = False
    resumed: asyncio.Event = field(default_factory=asyncio.Event)
    owner: Any = None
    """The Channel or Bridge it plays to."""

    def ari(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "media_uri": self.media[self.index]}
        if self.index + 1 < len(self.media):
            d["next_media_uri"] = self.media[self.index + 1]
        d.update({"target_uri": self.target_uri, "language": self.language, "state": self.state})
        return d


@dataclass
class LiveRecording:
    name: str
    format: str
    target_uri: str
    state: str = "queued"
    started_at: float = 0.0
    paused_total: float = 0.0
    paused_at: float | None = None
    muted: bool = False
    max_duration: float | None = None
    terminate_on: str = "none"
    beep: bool = False
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cause: str | None = None
    duration: int | None = None
    helper: str = ""
    """The hidden Recorder channel of a bridge recording."""
    owner: Any = None
    """The Channel or Bridge it records."""
    fail_cause: str | None = None
    """Set when the control endpoint said recordings of this name fail: the cause of
    the RecordingFailed that follows the 201."""

    def ari(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "format": self.format,
            "state": self.state,
            "target_uri": self.target_uri,
        }
        if self.duration is not None:
            d["duration"] = self.duration
        if self.cause is not None:
            d["cause"] = self.cause
        return d


@dataclass
class Channel:
    id: str
    name: str
    tech: str
    state: str
    context: str
    exten: str
    priority: int
    creationtime: str
    linkedid: str
    protocol_id: str = ""
    caller_name: str = ""
    caller_number: str = ""
    connected_name: str = ""
    connected_number: str = ""
    accountcode: str = ""
    language: str = "en"
    app_name: str = ""
    app_data: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    reported_vars: dict[str, str] | None = None
    peer: Channel | None = None
    half: int = 0
    kind: str = "other"
    """'customer', 'agent', 'transfer', 'entry', 'snoop' or 'other'."""
    number: str = ""
    endpoint: str = ""
    plan: PartyPlan | None = None
    subscribers: set[str] = field(default_factory=set)
    stasis_app: str | None = None
    stasis_args: list[str] = field(default_factory=list)
    bridge: Bridge | None = None
    hangup_requested: bool = False
    hangupcause: int = 0
    tech_cause: int | None = None
    destroyed: bool = False
    pbx_thread: bool = False
    dial: DialInfo | None = None
    answered: bool = False
    moh: bool = False
    holding: bool = False
    playbacks: list[Playback] = field(default_factory=list)
    recordings: list[LiveRecording] = field(default_factory=list)
    """Live ones, oldest first (a channel records them one after the other)."""
    snoops: list[Channel] = field(default_factory=list)
    snoop_target: Channel | None = None
    leave_stasis_to: tuple[str, str, int] | None = None
    move_to: tuple[str, list[str]] | None = None
    outcome: str = ""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    originate_vars: dict[str, str] = field(default_factory=dict)
    callerid_param: bool = False
    late_dialplan: bool = False
    started: bool = False
    """The called side started (a Local ;2 half runs its dialplan, a PJSIP callee rings)."""
    hr_done: bool = False
    """The end-of-thread ChannelHangupRequest was already sent (Hangup(cause))."""
    hung_in_stasis: bool = False
    stasis_status_pending: bool = False
    """Left Stasis by /continue: STASISSTATUS stays "" until the channel ends."""

    def poke(self) -> None:
        self.wake.set()

    @property
    def alive(self) -> bool:
        return not self.destroyed

    def snap(self) -> ChanSnap:
        cv: tuple[tuple[str, str], ...] | None = None
        if self.reported_vars is not None:
            cv = tuple(self.reported_vars.items())
        return ChanSnap(
            id=self.id,
            name=self.name,
            state=self.state,
            protocol_id=self.protocol_id,
            caller_name=self.caller_name,
            caller_number=self.caller_number,
            connected_name=self.connected_name,
            connected_number=self.connected_number,
            accountcode=self.accountcode,
            context=self.context,
            exten=self.exten,
            priority=self.priority,
            app_name=self.app_name,
            app_data=self.app_data,
            creationtime=self.creationtime,
            language=self.language,
            linkedid=self.linkedid,
            channelvars=cv,
        )


@dataclass
class Bridge:
    id: str
    bridge_type: str
    name: str
    creationtime: str
    technology: str
    channels: list[Channel] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    """Announcer/Recorder helper channels: count for the technology, never reported."""
    subscribers: set[str] = field(default_factory=set)
    member_refs: dict[str, int] = field(default_factory=dict)
    """app -> channels of it that joined and did not leave by a move (the bridge
    subscription Stasis holds for them; one that hung up never gives its back)."""
    moh: bool = False
    playbacks: list[Playback] = field(default_factory=list)
    recordings: list[LiveRecording] = field(default_factory=list)
    """Live ones, oldest first (a channel records them one after the other)."""
    vars: dict[str, str] = field(default_factory=dict)
    destroyed: bool = False
    video_mode: str = "talker"

    def snap(self) -> BridgeSnap:
        return BridgeSnap(
            id=self.id,
            technology=self.technology,
            bridge_type=self.bridge_type,
            name=self.name,
            channels=tuple(sorted(c.id for c in self.channels)),
            creationtime=self.creationtime,
            video_mode=self.video_mode,
        )

    def member_count(self) -> int:
        return len(self.channels) + len(self.hidden)


def subscribers_of(objs: Iterable[Channel | Bridge | None]) -> frozenset[str]:
    """Apps an event about these objects reaches without subscribeAll: those subscribed to
    an object (by creating it, or POST /applications/{app}/subscription), and the app a
    channel is in Stasis with, for as long as it is (narrow surprises 26, 27, 29)."""
    out: set[str] = set()
    for o in objs:
        if o is not None:
            out |= o.subscribers
            if isinstance(o, Channel) and o.stasis_app is not None:
                out.add(o.stasis_app)
    return frozenset(out)
