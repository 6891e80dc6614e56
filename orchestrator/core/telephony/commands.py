"""What the call and agent machines ask of Asterisk: channels, bridges and media.

Each command is one ARI request (or a short fixed sequence of them); the shell
executes them in the order a machine returned them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from orchestrator.core.common import Command

__all__ = [
    "AddToBridge",
    "CreateAndDial",
    "CreateBridge",
    "DestroyBridge",
    "Hangup",
    "HangupReason",
    "Hold",
    "Originate",
    "PauseRecording",
    "Play",
    "Record",
    "RemoveFromBridge",
    "ResumeRecording",
    "SetVariable",
    "Snoop",
    "StartMoh",
    "StopMoh",
    "StopPlayback",
    "StopRecording",
    "Unhold",
]


class HangupReason(StrEnum):
    """``reason`` values of ARI ``DELETE /channels/{id}``."""

    NORMAL = "normal"
    BUSY = "busy"
    CONGESTION = "congestion"
    NO_ANSWER = "no_answer"
    TIMEOUT = "timeout"


# ---------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class Originate(Command):
    """``POST /channels`` into our Stasis app (or through the AMD dialplan context)."""

    channel_id: str
    "Our id for the channel; for a customer leg it is the attempt id, so a retry is refused."
    endpoint: str
    "Dial string (``PJSIP/+4420...@trunk``, ``Local/1001@customers``)."
    caller_id: str
    "Caller id presented."
    timeout_s: int
    "Originate timeout in seconds (Asterisk hangs up with cause 19 when it runs out)."
    attempt_id: str | None = None
    "The attempt this leg belongs to, for logs (None for an agent's own leg)."
    variables: Mapping[str, str] = field(default_factory=dict)
    "Channel variables to set."
    app_args: tuple[str, ...] = ()
    "Stasis arguments."
    amd: bool = False
    "Route through the dialplan context that runs ``AMD()`` before entering Stasis."


@dataclass(frozen=True, slots=True)
class CreateAndDial(Command):
    """``POST /channels/create``, add it to ``bridge_id`` (early media), then ``/dial``.

    Asterisk does not hang up such a channel on a final dial status (it would
    sit in the bridge playing busy tone); the core emits :class:`Hangup` itself.
    """

    channel_id: str
    "Our id for the channel (the attempt id for a customer leg)."
    endpoint: str
    "Dial string."
    caller_id: str
    "Caller id presented."
    timeout_s: int
    "Dial timeout in seconds."
    bridge_id: str
    "Bridge to put the channel in before dialing, so the agent hears the progress."
    attempt_id: str | None = None
    "The attempt this leg belongs to."
    variables: Mapping[str, str] = field(default_factory=dict)
    "Channel variables to set."


@dataclass(frozen=True, slots=True)
class Hangup(Command):
    """``DELETE /channels/{id}``; a 404 (already gone) is fine."""

    channel_id: str
    "The channel."
    reason: HangupReason = HangupReason.NORMAL
    "Hangup reason sent to Asterisk."


@dataclass(frozen=True, slots=True)
class Hold(Command):
    """``POST /channels/{id}/hold`` (mutes the channel towards the bridge)."""

    channel_id: str
    "The channel."


@dataclass(frozen=True, slots=True)
class Unhold(Command):
    """``DELETE /channels/{id}/hold``."""

    channel_id: str
    "The channel."


@dataclass(frozen=True, slots=True)
class SetVariable(Command):
    """``POST /channels/{id}/variable``."""

    channel_id: str
    "The channel."
    name: str
    "Variable name."
    value: str
    "Value."


@dataclass(frozen=True, slots=True)
class Snoop(Command):
    """``POST /channels/{id}/snoop`` for listen / whisper / barge."""

    channel_id: str
    "Channel snooped on."
    snoop_id: str
    "Our id for the snoop channel."
    spy: str = "none"
    "Direction heard: none, in, out, both."
    whisper: str = "none"
    "Direction spoken into: none, in, out, both."


# ----------------------------------------------------------------- bridges


@dataclass(frozen=True, slots=True)
class CreateBridge(Command):
    """``POST /bridges`` with our id."""

    bridge_id: str
    "Our id for the bridge."
    kind: str = "mixing"
    "Bridge type (``mixing``, ``holding``)."


@dataclass(frozen=True, slots=True)
class DestroyBridge(Command):
    """``DELETE /bridges/{id}`` (an empty bridge is never destroyed by Asterisk)."""

    bridge_id: str
    "The bridge."


@dataclass(frozen=True, slots=True)
class AddToBridge(Command):
    """``POST /bridges/{id}/addChannel``."""

    bridge_id: str
    "The bridge."
    channel_id: str
    "The channel to add."
    role: str | None = None
    "Bridge role (``holding_participant`` for MOH in a holding bridge)."


@dataclass(frozen=True, slots=True)
class RemoveFromBridge(Command):
    """``POST /bridges/{id}/removeChannel``."""

    bridge_id: str
    "The bridge."
    channel_id: str
    "The channel to remove."


# ------------------------------------------------------------------- media


@dataclass(frozen=True, slots=True)
class Play(Command):
    """``POST /channels/{id}/play`` or ``/bridges/{id}/play`` with our playback id."""

    playback_id: str
    "Our id; comes back in :class:`~oldorch.core.events.PlaybackFinished`."
    media: str
    "Media URI (``sound:...``, ``tone:...``)."
    channel_id: str | None = None
    "Play to this channel only (what the zip tone needs: only the agent hears it)."
    bridge_id: str | None = None
    "Play to everyone in this bridge."

    def __post_init__(self) -> None:
        if (self.channel_id is None) == (self.bridge_id is None):
            raise ValueError("Play: give exactly one of channel_id and bridge_id")


@dataclass(frozen=True, slots=True)
class StopPlayback(Command):
    """``DELETE /playbacks/{id}``."""

    playback_id: str
    "The playback."


@dataclass(frozen=True, slots=True)
class StartMoh(Command):
    """``POST /channels/{id}/moh`` (AMI-only events; no ARI event comes back)."""

    channel_id: str
    "The channel."
    moh_class: str = "default"
    "Music class (an unknown class falls back to default)."


@dataclass(frozen=True, slots=True)
class StopMoh(Command):
    """``DELETE /channels/{id}/moh``."""

    channel_id: str
    "The channel."


@dataclass(frozen=True, slots=True)
class Record(Command):
    """``POST /bridges/{id}/record`` (or a channel's)."""

    name: str
    "Recording name (our id)."
    bridge_id: str | None = None
    "Record this bridge."
    channel_id: str | None = None
    "Record this channel (fails for a bridged channel: record the bridge)."
    format: str = "wav"
    "File format."

    def __post_init__(self) -> None:
        if (self.channel_id is None) == (self.bridge_id is None):
            raise ValueError("Record: give exactly one of channel_id and bridge_id")


@dataclass(frozen=True, slots=True)
class StopRecording(Command):
    """``POST /recordings/live/{name}/stop``."""

    name: str
    "Recording name."


@dataclass(frozen=True, slots=True)
class PauseRecording(Command):
    """``POST /recordings/live/{name}/pause``."""

    name: str
    "Recording name."


@dataclass(frozen=True, slots=True)
class ResumeRecording(Command):
    """``DELETE /recordings/live/{name}/pause``."""

    name: str
    "Recording name."
