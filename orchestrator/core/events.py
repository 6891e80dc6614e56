"""Every input of the pure core, in one namespace: what the shell tells the machines.

Each domain keeps its events beside its machine; this module only gathers them,
so the shell can write ``from orchestrator.core import events as ev`` and
``ev.CallAnswered``. The shell translates every wire fact into one of these
frozen dataclasses and hands it to the machine that owns the key it carries:

* channel events (:mod:`~orchestrator.core.telephony.events`) carry ``channel_id``,
  the id *we* gave the channel; the translation rules the shell must follow are
  written there.
* agent events (:mod:`~orchestrator.core.agents.events`) carry ``agent_id``;
  call-control requests also name the ``attempt_id`` they act on.
* a call's own events (:mod:`~orchestrator.core.calls.events`), a preview's
  (:mod:`~orchestrator.core.preview.events`) and a campaign's
  (:mod:`~orchestrator.core.campaigns.events`).
* :class:`TimerFired` goes back to the machine that issued the matching
  :class:`~orchestrator.core.common.StartTimer`.
"""

from orchestrator.core.agents.events import (
    AgentCallEnded,
    AgentConnected,
    AgentDisposition,
    AgentEvent,
    AgentHangupRequest,
    AgentLeftCall,
    AgentLegAnswered,
    AgentLegLost,
    AgentLegRinging,
    AgentLogin,
    AgentLogout,
    AgentNotReady,
    AgentReady,
    AgentReleased,
    AgentReserved,
    AgentRona,
    ConferenceEnd,
    ConferenceStart,
    ConsultEnd,
    ConsultStart,
    HoldRequest,
    UnholdRequest,
)
from orchestrator.core.calls.events import (
    AgentAssigned,
    AmdFalsePositiveReported,
    AmdResult,
    AmdStatus,
    BeepDetected,
    CampaignUnstaffed,
    ConferenceRequest,
    ConsultCancelRequest,
    ConsultRequest,
    ControlRequest,
    FaxDetected,
    LeaveRequest,
    RecordingFailed,
    RecordingRequest,
    RemovePartyRequest,
    SwitchRequest,
    TransferRequest,
)
from orchestrator.core.campaigns.events import (
    CampaignComplete,
    CampaignEvent,
    CampaignPause,
    CampaignStart,
    CampaignStop,
)
from orchestrator.core.common import (
    Event,
    TimerFired,
)
from orchestrator.core.preview.events import (
    CallbackAssignee,
    PreviewAccept,
    PreviewActionEvent,
    PreviewDelay,
    PreviewDisposition,
    PreviewRemove,
    PreviewRequeue,
    PreviewReschedule,
    PreviewSkip,
)
from orchestrator.core.telephony.events import (
    BridgeJoined,
    BridgeLeft,
    CallAnswered,
    CallRinging,
    ChannelGone,
    DialFailed,
    DialStatus,
    OriginateAccepted,
    OriginateRefused,
    PlaybackFinished,
)

__all__ = [
    "AgentAssigned",
    "AgentCallEnded",
    "AgentConnected",
    "AgentDisposition",
    "AgentEvent",
    "AgentHangupRequest",
    "AgentLegAnswered",
    "AgentLegLost",
    "AgentLegRinging",
    "AgentLogin",
    "AgentLogout",
    "AgentNotReady",
    "AgentReady",
    "AgentLeftCall",
    "AgentReleased",
    "ConferenceRequest",
    "ConsultCancelRequest",
    "ConsultRequest",
    "ControlRequest",
    "LeaveRequest",
    "RecordingFailed",
    "RecordingRequest",
    "RemovePartyRequest",
    "SwitchRequest",
    "TransferRequest",
    "AgentReserved",
    "AgentRona",
    "AmdFalsePositiveReported",
    "AmdResult",
    "AmdStatus",
    "BeepDetected",
    "BridgeJoined",
    "BridgeLeft",
    "CallAnswered",
    "CallbackAssignee",
    "CallRinging",
    "CampaignComplete",
    "CampaignEvent",
    "CampaignPause",
    "CampaignStart",
    "CampaignStop",
    "CampaignUnstaffed",
    "ChannelGone",
    "ConferenceEnd",
    "ConferenceStart",
    "ConsultEnd",
    "ConsultStart",
    "DialFailed",
    "DialStatus",
    "Event",
    "FaxDetected",
    "HoldRequest",
    "OriginateAccepted",
    "OriginateRefused",
    "PlaybackFinished",
    "PreviewAccept",
    "PreviewActionEvent",
    "PreviewDelay",
    "PreviewDisposition",
    "PreviewRemove",
    "PreviewRequeue",
    "PreviewReschedule",
    "PreviewSkip",
    "TimerFired",
    "UnholdRequest",
]
