"""Thin asyncio ARI client: REST calls (`AriClient`) and one WebSocket reader (`AriEventStream`)."""

from .client import HANGUP_REASONS, AriClient
from .config import AriConfig
from .errors import (
    AriBadRequest,
    AriChannelExists,
    AriConflict,
    AriConnectionError,
    AriError,
    AriHTTPError,
    AriNotConnected,
    AriNotFound,
    AriServerError,
    AriUnauthorized,
    AriUnprocessable,
)
from .events import (
    APP_KEY,
    ApplicationReplaced,
    AriEvent,
    AriEventParseError,
    BridgeCreated,
    BridgeDestroyed,
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelUserevent,
    ChannelVarset,
    Dial,
    GenericEvent,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    parse_event,
)
from .models import (
    Application,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    StoredRecording,
    base_channel_id,
)
from .stream import (
    AriEventStream,
    AriSnapshot,
    AriStreamStats,
    EventHandler,
    ResyncHook,
    dispatch_by_name,
)

__all__ = [
    "APP_KEY", "HANGUP_REASONS", "Application", "ApplicationReplaced", "AriBadRequest",
    "AriChannelExists", "AriClient", "AriConfig", "AriConflict", "AriConnectionError",
    "AriError", "AriEvent", "AriEventParseError", "AriEventStream", "AriHTTPError",
    "AriNotConnected", "AriNotFound", "AriServerError", "AriSnapshot", "AriStreamStats",
    "AriUnauthorized", "AriUnprocessable", "Bridge", "BridgeCreated", "BridgeDestroyed",
    "Channel", "ChannelDestroyed", "ChannelEnteredBridge", "ChannelHangupRequest",
    "ChannelLeftBridge", "ChannelStateChange", "ChannelUserevent", "ChannelVarset", "Dial",
    "EventHandler", "GenericEvent", "LiveRecording", "Playback", "PlaybackFinished",
    "PlaybackStarted", "RecordingFailed", "RecordingFinished", "RecordingStarted",
    "ResyncHook", "StasisEnd", "StasisStart", "StoredRecording", "base_channel_id",
    "dispatch_by_name", "parse_event",
]
