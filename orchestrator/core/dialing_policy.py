"""A campaign's dialing policy: outcome classes, the retry cadence, and the limits `rules.evaluate` applies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

from orchestrator.core.calling_window import CallingWindow


class OutcomeClass(StrEnum):
    """What an outcome or wrap-up code means for further dialing."""

    FINAL_SUCCESS = "final_success"
    FINAL_FAILURE = "final_failure"
    RETRY = "retry"
    DNC = "dnc"


_OUTCOME_SEP = re.compile(r"[\s\-/]+")


def normalize_outcome(code: str) -> str:
    """Canonical key of an outcome or wrap-up code: ``"No answer"`` -> ``"no_answer"``."""
    return _OUTCOME_SEP.sub("_", code.strip().lower())


DEFAULT_OUTCOME_CLASSES: Mapping[str, OutcomeClass] = MappingProxyType(
    {
        # Default wrap-up codes (MISSION B), by their normalized labels.
        "answering_machine_detected": OutcomeClass.RETRY,
        "busy": OutcomeClass.RETRY,
        "fax": OutcomeClass.FINAL_FAILURE,
        "no_answer": OutcomeClass.RETRY,
        "sale": OutcomeClass.FINAL_SUCCESS,
        "voicemail": OutcomeClass.RETRY,
        # Dialer outcomes recorded without an agent disposition.
        "human_answer": OutcomeClass.RETRY,
        "answering_machine": OutcomeClass.RETRY,
        "congestion": OutcomeClass.RETRY,
        "failed": OutcomeClass.RETRY,
        "invalid_number": OutcomeClass.FINAL_FAILURE,
        "abandoned": OutcomeClass.RETRY,
        "cancelled_by_agent": OutcomeClass.RETRY,
        "rejected_by_agent": OutcomeClass.RETRY,
        "dnc": OutcomeClass.DNC,
        "do_not_call": OutcomeClass.DNC,
    }
)
"""Outcome class of each default outcome/wrap-up code; campaigns extend it."""

DEFAULT_CADENCE: Mapping[str, timedelta] = MappingProxyType(
    {
        "busy": timedelta(minutes=10),
        "congestion": timedelta(minutes=10),
        "failed": timedelta(minutes=10),
        "no_answer": timedelta(hours=1),
        "answering_machine": timedelta(hours=4),
        "answering_machine_detected": timedelta(hours=4),
        "voicemail": timedelta(days=1),
        "human_answer": timedelta(days=1),
        "cancelled_by_agent": timedelta(minutes=5),
        "rejected_by_agent": timedelta(minutes=5),
    }
)
"""Retry delay after each retry-class outcome; others use the policy default."""



def _check_delay(value: timedelta, name: str) -> None:
    if value < timedelta(0):
        raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True)
class DialingPolicy:
    """A campaign's dialing rules (everything :func:`evaluate` needs from it)."""

    window: CallingWindow = field(default_factory=CallingWindow)
    """Calling window in the contact's local time."""
    max_attempts_per_contact: int | None = None
    """Attempts across all of a contact's targets; None = no contact-level cap."""
    min_gap_between_calls: timedelta = timedelta(0)
    """Minimum time between two calls to the same number, across all campaigns."""
    abandon_lock: timedelta = timedelta(hours=72)
    """No call to a number within this long after an abandoned call to it."""
    max_amd_detections: int | None = None
    """A target whose answering-machine count reaches this is not dialed again."""
    cadence: Mapping[str, timedelta] = field(default_factory=lambda: DEFAULT_CADENCE)
    """Retry delay after each retry-class outcome (keys are outcome codes)."""
    default_retry_delay: timedelta = timedelta(hours=1)
    """Retry delay for retry-class outcomes missing from ``cadence``."""
    outcome_classes: Mapping[str, OutcomeClass] = field(
        default_factory=lambda: DEFAULT_OUTCOME_CLASSES
    )
    """Class of each outcome/wrap-up code (keys are outcome codes)."""
    horizon: timedelta = timedelta(days=14)
    """How far past the time locks to look for a window opening before giving up."""

    def __post_init__(self) -> None:
        for name in ("max_attempts_per_contact", "max_amd_detections"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        _check_delay(self.min_gap_between_calls, "min_gap_between_calls")
        _check_delay(self.abandon_lock, "abandon_lock")
        _check_delay(self.default_retry_delay, "default_retry_delay")
        if self.horizon <= timedelta(0):
            raise ValueError(f"horizon must be positive, got {self.horizon}")
        cadence: dict[str, timedelta] = {}
        for code, delay in self.cadence.items():
            _check_delay(delay, f"cadence[{code!r}]")
            cadence[normalize_outcome(code)] = delay
        classes = {normalize_outcome(c): OutcomeClass(k) for c, k in self.outcome_classes.items()}
        object.__setattr__(self, "cadence", MappingProxyType(cadence))
        object.__setattr__(self, "outcome_classes", MappingProxyType(classes))

    def classify(self, outcome: str) -> OutcomeClass | None:
        """Class of an outcome or wrap-up code, None when the policy does not know it."""
        return self.outcome_classes.get(normalize_outcome(outcome))

    def retry_delay(self, outcome: str) -> timedelta:
        """Cadence delay after a retry-class ``outcome``."""
        return self.cadence.get(normalize_outcome(outcome), self.default_retry_delay)
