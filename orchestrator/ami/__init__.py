"""AMI listener and guarded actions (panoramisk): typed events, UserEvents for supervisors."""

from .config import AmiConfig
from .errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAuthError,
    AmiDisconnected,
    AmiError,
    AmiHeaderError,
    AmiNotConnected,
    AmiRefused,
    AmiShuttingDown,
)
from .events import (
    AmiEvent,
    BridgeEnter,
    BridgeLeave,
    DialBegin,
    DialEnd,
    FullyBooted,
    GenericAmiEvent,
    Hangup,
    MusicOnHoldStart,
    MusicOnHoldStop,
    Newchannel,
    Newstate,
    UserEvent,
    VarSet,
    parse_ami_event,
)
from .listener import (
    REFUSED_ACTIONS,
    AmiHandler,
    AmiListener,
    AmiResponse,
    AmiStats,
    validate_action,
)
from .userevents import (
    DialerAbandon,
    DialerAgentState,
    DialerAttempt,
    DialerCampaignStats,
    DialerUserEvent,
    parse_dialer_user_event,
)

__all__ = [
    "REFUSED_ACTIONS", "AmiActionFailed", "AmiActionTimeout", "AmiAuthError", "AmiConfig", "AmiShuttingDown",
    "AmiDisconnected", "AmiError", "AmiEvent", "AmiHandler", "AmiHeaderError", "AmiListener",
    "AmiNotConnected", "AmiRefused", "AmiResponse", "AmiStats", "BridgeEnter", "BridgeLeave",
    "DialBegin", "DialEnd", "DialerAbandon", "DialerAgentState", "DialerAttempt", "DialerCampaignStats",
    "DialerUserEvent", "FullyBooted", "GenericAmiEvent", "Hangup", "MusicOnHoldStart",
    "MusicOnHoldStop", "Newchannel", "Newstate", "UserEvent", "VarSet", "parse_ami_event",
    "parse_dialer_user_event", "validate_action",
]
