"""What a call's end says about its outcome: Q.850 causes, SIP codes, dial statuses,
and the minimum ringing a no-answer needs (MISSION B)."""

from __future__ import annotations

from orchestrator.core.calls.commands import CallOutcome
from orchestrator.core.campaigns import MIN_RING_SECONDS
from orchestrator.core.telephony.commands import HangupReason
from orchestrator.core.telephony.events import DialStatus

__all__ = [
    "cause_of_dialstatus",
    "classify_cause",
    "classify_dialstatus",
    "hangup_reason",
    "no_answer_detail",
    "no_answer_or_failed",
]

_CAUSE_OUTCOME: dict[int, CallOutcome] = {
    1: CallOutcome.INVALID_NUMBER,  # unallocated number
    3: CallOutcome.INVALID_NUMBER,  # no route to destination
    22: CallOutcome.INVALID_NUMBER,  # number changed
    28: CallOutcome.INVALID_NUMBER,  # invalid number format
    17: CallOutcome.BUSY,
    18: CallOutcome.NO_ANSWER,  # no user responding
    19: CallOutcome.NO_ANSWER,  # user alerting, no answer
    21: CallOutcome.FAILED,  # call rejected
    27: CallOutcome.FAILED,  # destination out of order
    34: CallOutcome.FAILED,  # circuit congestion
    38: CallOutcome.FAILED,  # network out of order
    41: CallOutcome.FAILED,  # temporary failure
    42: CallOutcome.FAILED,  # switching equipment congestion
    44: CallOutcome.FAILED,
    47: CallOutcome.FAILED,
}
_SIP_OUTCOME: dict[int, CallOutcome] = {
    404: CallOutcome.INVALID_NUMBER,
    410: CallOutcome.INVALID_NUMBER,
    484: CallOutcome.INVALID_NUMBER,
    486: CallOutcome.BUSY,
    600: CallOutcome.BUSY,
    408: CallOutcome.NO_ANSWER,
    480: CallOutcome.NO_ANSWER,
    503: CallOutcome.FAILED,
    603: CallOutcome.FAILED,
}
_DIAL_OUTCOME: dict[DialStatus, CallOutcome] = {
    DialStatus.BUSY: CallOutcome.BUSY,
    DialStatus.CONGESTION: CallOutcome.FAILED,
    DialStatus.CHANUNAVAIL: CallOutcome.FAILED,
    DialStatus.NOANSWER: CallOutcome.NO_ANSWER,
    DialStatus.DONTCALL: CallOutcome.FAILED,
    DialStatus.TORTURE: CallOutcome.FAILED,
    DialStatus.INVALIDARGS: CallOutcome.INVALID_NUMBER,
    DialStatus.CANCEL: CallOutcome.FAILED,
}
#: The Q.850 cause a final dial status stands for: a busy or congested Local channel's
#: ``;1`` half ends with cause 0 "Unknown" (surprises 1, 26, 29); the real cause is only
#: on the ``;2`` half, which a narrowly subscribed app may never see.
_DIAL_CAUSE: dict[DialStatus, tuple[int, str]] = {
    DialStatus.BUSY: (17, "User busy"),
    DialStatus.CONGESTION: (34, "Circuit/channel congestion"),
    DialStatus.CHANUNAVAIL: (34, "Circuit/channel congestion"),
    DialStatus.NOANSWER: (19, "User alerting, no answer"),
}


def classify_cause(cause: int, tech_cause: int | None = None) -> CallOutcome | None:
    """Outcome implied by an unanswered channel's end cause, or None if it says nothing.

    Cause 0 (the ``;1`` half of a busy Local channel) and 16 (normal clearing)
    say nothing on their own: the Dial status is the reliable signal there.
    """
    if tech_cause is not None and tech_cause in _SIP_OUTCOME:
        return _SIP_OUTCOME[tech_cause]
    return _CAUSE_OUTCOME.get(cause)


def classify_dialstatus(status: DialStatus) -> CallOutcome:
    """Outcome implied by a final ``dialstatus`` other than ANSWER."""
    if status is DialStatus.ANSWER or not status.is_final:
        raise ValueError(f"dialstatus: {status.value} is not a failure")
    return _DIAL_OUTCOME[status]


def cause_of_dialstatus(status: DialStatus) -> tuple[int, str] | None:
    """The Q.850 cause and text a final dial status stands for, if it stands for one."""
    return _DIAL_CAUSE.get(status)


def no_answer_or_failed(ring_seconds: float) -> CallOutcome:
    """A no-answer needs the minimum ringing; shorter is a failure (unknown)."""
    if ring_seconds >= MIN_RING_SECONDS:
        return CallOutcome.NO_ANSWER
    return CallOutcome.FAILED


def no_answer_detail(ring_seconds: float, base: str) -> str:
    """The ledger's detail for a no-answer, or for a failure that rang too briefly."""
    if ring_seconds >= MIN_RING_SECONDS:
        return f"{base}, rang {ring_seconds:.0f}s"
    return f"{base}, unknown failure: rang {ring_seconds:.1f}s < {MIN_RING_SECONDS}s"


def hangup_reason(outcome: CallOutcome) -> HangupReason:
    """The reason to give Asterisk when we hang up a customer we settled as ``outcome``."""
    if outcome is CallOutcome.BUSY:
        return HangupReason.BUSY
    if outcome is CallOutcome.NO_ANSWER:
        return HangupReason.NO_ANSWER
    if outcome is CallOutcome.FAILED:
        return HangupReason.CONGESTION
    return HangupReason.NORMAL
