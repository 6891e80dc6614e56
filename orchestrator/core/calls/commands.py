"""Outputs of a call's machine besides channel commands, timers and notifications.

:class:`RecordAttempt` is a write-ahead: the shell commits it to the ledger before
executing any later command of the same list (in particular the customer's
``Originate`` / ``CreateAndDial`` that follows it). If the commit fails, the later
commands are dropped and the call is reported failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orchestrator.core.calls.events import AmdStatus
from orchestrator.core.common import Command

__all__ = [
    "CallOutcome",
    "CountAbandon",
    "DetectBeep",
    "LockNumber",
    "NoteCall",
    "OptOutNumber",
    "PublishAttempt",
    "RecordAttempt",
    "RecordOutcome",
    "RecordProgress",
    "ReleaseTarget",
    "RequestAgent",
]


class CallOutcome(StrEnum):
    """Telephony outcome of one attempt (MISSION B), one per attempt.

    Not the same thing as a wrap-up code's outcome *class* (final success,
    retry, ...): the rules map outcomes and codes to classes.
    """

    HUMAN_ANSWER = "human_answer"
    ANSWERING_MACHINE = "answering_machine"
    FAX = "fax"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    "Congestion or any other failure (including a no-answer shorter than the minimum ring)."
    INVALID_NUMBER = "invalid_number"
    ABANDONED = "abandoned"
    CANCELLED_BY_AGENT = "cancelled_by_agent"
    REJECTED_BY_AGENT = "rejected_by_agent"
    NOT_DIALED = "not_dialed"
    "Asterisk refused the originate before any channel existed: the number never left."


# ------------------------------------------------------------------ ledger


@dataclass(frozen=True, slots=True)
class RecordAttempt(Command):
    """Write-ahead: commit the attempt row before the customer is dialed."""

    attempt_id: str
    "Attempt id (= customer channel id)."
    campaign_id: str
    "Campaign."
    contact_id: str
    "Contact."
    target_id: str
    "Target (phone number row)."
    e164: str
    "Number dialed."
    at: datetime
    "When the attempt was started."
    agent_id: str | None = None
    "Agent reserved for it, if any (progressive, preview)."


@dataclass(frozen=True, slots=True)
class RecordOutcome(Command):
    """The attempt's one final telephony outcome."""

    attempt_id: str
    "Attempt id."
    outcome: CallOutcome
    "Telephony outcome."
    at: datetime
    "When the call ended."
    cause: int | None = None
    "Q.850 cause of the customer channel's end, when known."
    cause_txt: str = ""
    "Asterisk's cause text."
    detail: str = ""
    "Why this outcome (``dialstatus=BUSY``, ``rang 12s < 15s``...)."
    ring_seconds: float = 0.0
    "Ringing time (from first ringing, or from dialing when no ringing was seen)."
    talk_seconds: float = 0.0
    "Time connected to an agent."
    answered_at: datetime | None = None
    "Answer instant, if answered."
    agent_id: str | None = None
    "Agent who talked to the customer, if any."
    amd_status: AmdStatus | None = None
    "AMD verdict, if AMD ran."


@dataclass(frozen=True, slots=True)
class CountAbandon(Command):
    """Count one abandoned call in the campaign's abandon-rate windows."""

    attempt_id: str
    "The call."
    campaign_id: str
    "Campaign."
    at: datetime
    "When the abandon happened."
    reason: str
    "``not_connected_in_grace`` or ``amd_false_positive``."


@dataclass(frozen=True, slots=True)
class LockNumber(Command):
    """No call to this number from any campaign before ``until`` (after an abandon)."""

    e164: str
    "The number."
    until: datetime
    "Lock expiry."
    reason: str = "abandoned"
    "Why."
    attempt_id: str | None = None
    "The attempt that caused the lock."


@dataclass(frozen=True, slots=True)
class ReleaseTarget(Command):
    """Give a claimed target back without an attempt (the customer was never dialed)."""

    target_id: str
    "Target."
    campaign_id: str
    "Campaign."
    reason: str
    "Why (``rona``, ``agent_unreachable``...)."


# ---------------------------------------------------------- customer, agents


@dataclass(frozen=True, slots=True)
class DetectBeep(Command):
    """Start answering-machine beep / end-of-greeting detection on a channel.

    The shell answers with :class:`~oldorch.core.events.BeepDetected`
    (e.g. from ``TALK_DETECT`` + ``ChannelTalkingFinished``).
    """

    channel_id: str
    "The customer channel."


@dataclass(frozen=True, slots=True)
class RequestAgent(Command):
    """A live customer needs an agent now; answer with ``AgentAssigned`` (or nothing)."""

    attempt_id: str
    "The call."
    campaign_id: str
    "Its campaign."


@dataclass(frozen=True, slots=True)
class RecordProgress(Command):
    """Write an attempt's progress to the ledger: ringing, answered, the AMD verdict.

    Emitted with each `PublishAttempt` that has any of them to tell; the shell writes
    each fact once per attempt (a later repeat changes nothing), so the history reads
    ringing, answered, then bridged, and an AMD verdict is known before the call ends
    (an agent may report a false positive while it is up).
    """

    attempt_id: str
    "Attempt."
    ringing: bool
    "The customer's phone is ringing (the call is in state ringing)."
    answered: bool
    "The customer has answered."
    amd_status: AmdStatus | None = None
    "AMD's verdict, once known."


@dataclass(frozen=True, slots=True)
class PublishAttempt(Command):
    """Tell supervisors an attempt's progress."""

    attempt_id: str
    "Attempt."
    campaign_id: str
    "Campaign."
    state: str
    "Call state value."
    at: datetime
    "When."
    outcome: CallOutcome | None = None
    "Final outcome, once known."


@dataclass(frozen=True, slots=True)
class NoteCall(Command):
    """Append an event to the attempt's history (who joined or left the call and for how
    long, transfers, conferences, control passing, recording paused or failed)."""

    attempt_id: str
    kind: str
    at: datetime
    data: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class OptOutNumber(Command):
    """The customer pressed the opt-out key: the attempt's number goes on the DNC list at
    once, the attempt recorded as the source."""

    attempt_id: str
    at: datetime
