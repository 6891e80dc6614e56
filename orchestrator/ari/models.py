"""Typed snapshots of the ARI objects we use (channels, bridges, playbacks, recordings).

Only the fields the dialer reads are typed; ``raw`` keeps Asterisk's dict for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def base_channel_id(channel_id: str) -> str:
    """The id of the call leg a channel belongs to: ``"a1;2"`` -> ``"a1"``.

    A Local channel's second half is named ``<channelId>;2`` (surprise 6); its events
    are ordered with the first half's.
    """
    head, _, _ = channel_id.partition(";")
    return head


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel snapshot, as in ARI's ``Channel`` model."""

    id: str
    """Unique id; ours when we originated it (the attempt id), ``<id>;2`` for a Local second half."""
    name: str
    """Technology name, e.g. ``Local/1001@customers-0000002e;1`` or ``PJSIP/agent1-00000004``."""
    state: str
    """Down, Rsrved, OffHook, Dialing, Ring, Ringing, Up, Busy, Dialing Offhook, Pre-ring, Unknown."""
    caller_number: str
    """Caller id number (may be empty)."""
    connected_number: str
    """Connected line number (may be empty)."""
    context: str
    """Current dialplan context."""
    exten: str
    """Current dialplan extension."""
    channelvars: Mapping[str, str]
    """Variables reported with ``report_events`` (or ``channelvars`` in ari.conf)."""
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    """Asterisk's JSON object."""

    @property
    def base_id(self) -> str:
        """The id of the call leg (without a ``;2`` suffix)."""
        return base_channel_id(self.id)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Channel:
        caller = d.get("caller") or {}
        connected = d.get("connected") or {}
        dialplan = d.get("dialplan") or {}
        return cls(
            id=d["id"],
            name=d.get("name", ""),
            state=d.get("state", ""),
            caller_number=caller.get("number", ""),
            connected_number=connected.get("number", ""),
            context=dialplan.get("context", ""),
            exten=dialplan.get("exten", ""),
            channelvars=d.get("channelvars") or {},
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    """A bridge snapshot, as in ARI's ``Bridge`` model."""

    id: str
    """Bridge id (ours when we created it)."""
    technology: str
    """``simple_bridge`` up to two members, ``softmix`` from three (surprise 8), ``holding_bridge``."""
    bridge_type: str
    """``mixing`` or ``holding``."""
    channels: tuple[str, ...]
    """Ids of the member channels (hidden Announcer/Recorder channels are not listed)."""
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    """Asterisk's JSON object."""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Bridge:
        return cls(
            id=d["id"],
            technology=d.get("technology", ""),
            bridge_type=d.get("bridge_type", ""),
            channels=tuple(d.get("channels") or ()),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Playback:
    """A playback, as in ARI's ``Playback`` model."""

    id: str
    """Playback id (ours when we gave one)."""
    media_uri: str
    """What is played, e.g. ``sound:dialer/silent-call``."""
    target_uri: str
    """``channel:<id>`` or ``bridge:<id>``."""
    state: str
    """queued, playing, continuing, done, failed (a DELETE ends with ``done``)."""
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    """Asterisk's JSON object."""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Playback:
        return cls(
            id=d["id"],
            media_uri=d.get("media_uri", ""),
            target_uri=d.get("target_uri", ""),
            state=d.get("state", ""),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class LiveRecording:
    """A live recording, as in ARI's ``LiveRecording`` model."""

    name: str
    """Recording name (the file name without extension)."""
    format: str
    """File format, e.g. ``wav``."""
    state: str
    """queued, recording, paused, done, failed, canceled."""
    target_uri: str
    """``channel:<id>`` or ``bridge:<id>``."""
    duration: int | None
    """Seconds recorded (paused time is cut out, surprise 20); set when finished."""
    cause: str
    """Why it failed, e.g. "Cannot record channel while in bridge"."""
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    """Asterisk's JSON object."""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LiveRecording:
        return cls(
            name=d["name"],
            format=d.get("format", ""),
            state=d.get("state", ""),
            target_uri=d.get("target_uri", ""),
            duration=d.get("duration"),
            cause=d.get("cause", ""),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """A recording file on the Asterisk server."""

    name: str
    """Recording name."""
    format: str
    """File format."""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StoredRecording:
        return cls(name=d["name"], format=d.get("format", ""))


@dataclass(frozen=True, slots=True)
class Application:
    """What Asterisk knows of a Stasis application (``GET /applications/{app}``)."""

    name: str
    """Application name."""
    channel_ids: frozenset[str]
    """Channels currently in the application (or subscribed)."""
    bridge_ids: frozenset[str]
    """Bridges the application is subscribed to."""
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    """Asterisk's JSON object."""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Application:
        return cls(
            name=d["name"],
            channel_ids=frozenset(d.get("channel_ids") or ()),
            bridge_ids=frozenset(d.get("bridge_ids") or ()),
            raw=d,
        )
