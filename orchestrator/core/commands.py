"""Every output of the pure core, in one namespace: what the shell must do.

Each domain keeps its commands beside its machine; this module only gathers
them, so the shell can write ``from orchestrator.core import commands as c``.
State machines return lists of these frozen dataclasses; the shell executes
them **in order** (a command list is a small script). Two ordering rules
matter:

* :class:`RecordAttempt` is a write-ahead: the shell commits it to the ledger
  before executing any later command of the same list (in particular the
  :class:`Originate` / :class:`CreateAndDial` that follows it). If the commit
  fails, the later commands are dropped and the call is reported failed.
* :class:`NotifyAgent` / :class:`NotifyCall` carry an event for another
  machine; the shell feeds it to that machine (after the commands before it)
  and executes what that machine returns.
"""

from orchestrator.core.agents.commands import (
    PublishAgentState,
    RecordDisposition,
    ReservationReady,
)
from orchestrator.core.calls.commands import (
    CallOutcome,
    CountAbandon,
    DetectBeep,
    LockNumber,
    NoteCall,
    OptOutNumber,
    PublishAttempt,
    RecordAttempt,
    RecordOutcome,
    RecordProgress,
    ReleaseTarget,
    RequestAgent,
)
from orchestrator.core.campaigns.commands import PublishCampaignState
from orchestrator.core.common import (
    CancelTimer,
    Command,
    NotifyAgent,
    NotifyCall,
    StartTimer,
)
from orchestrator.core.preview.commands import (
    CreateCallback,
    DialTarget,
    PublishPreview,
    RejectTarget,
    RemoveTarget,
    RequeueTarget,
)
from orchestrator.core.telephony.commands import (
    AddToBridge,
    CreateAndDial,
    CreateBridge,
    DestroyBridge,
    Hangup,
    HangupReason,
    Hold,
    Originate,
    PauseRecording,
    Play,
    Record,
    RemoveFromBridge,
    ResumeRecording,
    SetVariable,
    Snoop,
    StartMoh,
    StopMoh,
    StopPlayback,
    StopRecording,
    Unhold,
)

__all__ = [
    "AddToBridge",
    "CallOutcome",
    "CancelTimer",
    "Command",
    "CountAbandon",
    "CreateAndDial",
    "CreateBridge",
    "CreateCallback",
    "DestroyBridge",
    "DetectBeep",
    "DialTarget",
    "Hangup",
    "HangupReason",
    "Hold",
    "LockNumber",
    "NotifyAgent",
    "NotifyCall",
    "Originate",
    "PauseRecording",
    "Play",
    "PublishAgentState",
    "NoteCall",
    "OptOutNumber",
    "PublishAttempt",
    "PublishCampaignState",
    "PublishPreview",
    "Record",
    "RecordAttempt",
    "RecordDisposition",
    "RecordOutcome",
    "RecordProgress",
    "RejectTarget",
    "ReleaseTarget",
    "RemoveFromBridge",
    "RemoveTarget",
    "RequestAgent",
    "RequeueTarget",
    "ReservationReady",
    "ResumeRecording",
    "SetVariable",
    "Snoop",
    "StartMoh",
    "StartTimer",
    "StopMoh",
    "StopPlayback",
    "StopRecording",
    "Unhold",
]
