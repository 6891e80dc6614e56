"""Dialing rules: may this target be dialed now, and if not, why and when.

One pure function, :func:`evaluate`, answers for a target at an instant
either "dialable" or exactly one :class:`UnavailableReason`, with the
earliest instant it becomes dialable when that is only a matter of time.
The ledger calls it when a contact is claimed and again just before the
attempt row is committed; the importer and the agent desktop use it to show
a target's unavailable reason.

Priority (the first that applies is the reason; documented because the UI
shows only one):

1. ``Invalid target``   - no number, flagged invalid, or not E.164.
2. ``DNC``              - on the global or campaign DNC list (the caller
   resolves both lists and their expiry into ``on_dnc``), or the last
   outcome was classed do-not-call.
3. ``Complete``         - contact or target marked complete.
4. ``Exhausted``        - target attempts >= its max, contact attempts >= the
   campaign's per-contact max, or the contact has expired.
5. ``Max answering machine detections``.
6. ``Last outcome not valid for calling`` - last outcome is final (success or
   failure), or is a code the policy cannot classify (never guess a retry).
7. ``Offered``          - offered to an agent who rejected it.
8. ``Not in cadence``   - a time lock: retry delay for the last outcome, the
   minimum gap between calls to the number across all campaigns, the lock
   after an abandoned call (72 h by default), or ``available_from``.
9. ``Outside calling window``.

Reasons 1-7 are permanent (``next_dialable_at`` is None): only a change of
the facts (a requeue, a DNC expiry) makes the target dialable again. For 8
and 9, ``next_dialable_at`` is the earliest instant at which every time
constraint holds at once, or None when no such instant exists within
``policy.horizon`` (14 days) of the end of the time locks, when the zone is
unknown, or when the contact expires first.

Calling window semantics (how DST is settled): see :mod:`orchestrator.core.calling_window`;
the policy's outcome classes and cadence: :mod:`orchestrator.core.dialing_policy`.

The target's zones are the contact's own IANA zone when known, otherwise
every zone its number may be in (phonenumbers' prefix data); the window must
hold in all of them at once (strictest wins). No zone, or a zone name that
tzdata does not know, means never dialable.

All datetimes in and out are timezone-aware; results are in UTC. A naive
datetime raises ValueError naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from orchestrator.core.calling_window import (
    CallingWindow,
    _check_aware,
    _require_aware,
    _search_opening,
    next_window_opening,
    resolve_zones,
    window_intervals,
    window_open,
)
from orchestrator.core.dialing_policy import (
    DEFAULT_CADENCE,
    DEFAULT_OUTCOME_CLASSES,
    DialingPolicy,
    OutcomeClass,
    normalize_outcome,
)
from orchestrator.core.phones import candidate_time_zones

__all__ = [
    "DEFAULT_CADENCE",
    "DEFAULT_OUTCOME_CLASSES",
    "PERMANENT_REASONS",
    "CallingWindow",
    "DialingPolicy",
    "OutcomeClass",
    "TargetFacts",
    "UnavailableReason",
    "Verdict",
    "evaluate",
    "next_window_opening",
    "normalize_outcome",
    "resolve_zones",
    "target_zones",
    "window_intervals",
    "window_open",
]


class UnavailableReason(StrEnum):
    """Why a target cannot be dialed; values are the exact product strings."""

    EXHAUSTED = "Exhausted"
    COMPLETE = "Complete"
    DNC = "DNC"
    LAST_OUTCOME_NOT_VALID = "Last outcome not valid for calling"
    INVALID_TARGET = "Invalid target"
    MAX_AMD = "Max answering machine detections"
    NOT_IN_CADENCE = "Not in cadence"
    OFFERED = "Offered"
    OUTSIDE_CALLING_WINDOW = "Outside calling window"


PERMANENT_REASONS: frozenset[UnavailableReason] = frozenset(
    {
        UnavailableReason.INVALID_TARGET,
        UnavailableReason.DNC,
        UnavailableReason.COMPLETE,
        UnavailableReason.EXHAUSTED,
        UnavailableReason.MAX_AMD,
        UnavailableReason.LAST_OUTCOME_NOT_VALID,
        UnavailableReason.OFFERED,
    }
)
"""Reasons that time alone never clears (``next_dialable_at`` is None)."""


_DATETIME_FIELDS = (
    "last_attempt_at",
    "available_from",
    "last_call_at_any_campaign",
    "last_abandoned_at",
    "contact_expires_at",
)
_COUNT_FIELDS = ("attempts_made", "contact_attempts_made", "amd_count")


@dataclass(frozen=True)
class TargetFacts:
    """What the ledger knows about one target (phone number of a contact)."""

    e164: str | None
    """The number in E.164 form; None when the contact row had no usable number."""
    contact_time_zone: str | None = None
    """The contact's own IANA zone when known; it then overrides the number's zones."""
    number_time_zones: tuple[str, ...] | None = None
    """Zones the number may be in, as stored at import; None = derive from ``e164``."""
    invalid: bool = False
    """Flagged invalid (e.g. the network said the number does not exist)."""
    attempts_made: int = 0
    """Attempts made on this target."""
    max_attempts: int | None = None
    """Maximum attempts on this target ("5/10"); None = no per-target cap."""
    contact_attempts_made: int = 0
    """Attempts made on all targets of the contact."""
    contact_complete: bool = False
    """The contact was completed (e.g. final disposition on another target)."""
    target_complete: bool = False
    """This target was completed."""
    last_outcome: str | None = None
    """Last outcome or wrap-up code on this target."""
    last_outcome_class: OutcomeClass | None = None
    """Its class if the caller knows it; None = classify ``last_outcome`` by the policy."""
    last_attempt_at: datetime | None = None
    """When the last attempt on this target ended (cadence counts from here)."""
    amd_count: int = 0
    """Answering machines detected on this target."""
    available_from: datetime | None = None
    """Not before this instant (a reschedule or a snooze)."""
    offered_rejected: bool = False
    """Offered to an agent in preview who rejected it."""
    on_dnc: bool = False
    """On the global or this campaign's DNC list, expiry already applied by the caller."""
    last_call_at_any_campaign: datetime | None = None
    """Last call to this number in any campaign (for the minimum gap)."""
    last_abandoned_at: datetime | None = None
    """Last abandoned call to this number in any campaign."""
    contact_expires_at: datetime | None = None
    """The contact is not dialed at or after this instant."""

    def __post_init__(self) -> None:
        for name in _DATETIME_FIELDS:
            object.__setattr__(self, name, _check_aware(getattr(self, name), name))
        for name in _COUNT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.max_attempts is not None and (
            not isinstance(self.max_attempts, int) or self.max_attempts < 0
        ):
            raise ValueError(f"max_attempts must be a non-negative integer, got {self.max_attempts!r}")
        if self.last_outcome_class is not None:
            object.__setattr__(self, "last_outcome_class", OutcomeClass(self.last_outcome_class))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of :func:`evaluate`."""

    dialable: bool
    """True when the target may be dialed at ``now``."""
    reason: UnavailableReason | None
    """None when dialable, else the one reason (see the priority in the module doc)."""
    next_dialable_at: datetime | None
    """``now`` when dialable; for time reasons the earliest instant every time rule
    holds; None for permanent reasons or when nothing opens within the horizon."""
    detail: str = ""
    """Human-readable explanation for logs and the agent desktop (no phone number)."""
    time_zones: tuple[str, ...] = ()
    """The zones the calling window was checked in."""


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")



def target_zones(target: TargetFacts) -> tuple[str, ...]:
    """Zone names whose calling window applies to ``target`` (may be empty: unknown)."""
    if target.contact_time_zone:
        return (target.contact_time_zone,)
    if target.number_time_zones is not None:
        return target.number_time_zones
    if target.e164 is None:
        return ()
    return candidate_time_zones(target.e164)




# --- the rule -------------------------------------------------------------------


def _permanent(target: TargetFacts, policy: DialingPolicy, now: datetime) -> Verdict | None:
    def no(reason: UnavailableReason, detail: str) -> Verdict:
        return Verdict(False, reason, None, detail)

    if target.invalid:
        return no(UnavailableReason.INVALID_TARGET, "target flagged invalid")
    if target.e164 is None or not _E164.fullmatch(target.e164):
        return no(UnavailableReason.INVALID_TARGET, "no E.164 number")
    outcome_class = target.last_outcome_class
    if outcome_class is None and target.last_outcome is not None:
        outcome_class = policy.classify(target.last_outcome)
    if target.on_dnc:
        return no(UnavailableReason.DNC, "number on a do-not-call list")
    if outcome_class is OutcomeClass.DNC:
        return no(UnavailableReason.DNC, f"last outcome {target.last_outcome!r} is do-not-call")
    if target.contact_complete:
        return no(UnavailableReason.COMPLETE, "contact complete")
    if target.target_complete:
        return no(UnavailableReason.COMPLETE, "target complete")
    if target.max_attempts is not None and target.attempts_made >= target.max_attempts:
        return no(
            UnavailableReason.EXHAUSTED,
            f"attempts {target.attempts_made}/{target.max_attempts}",
        )
    cap = policy.max_attempts_per_contact
    if cap is not None and target.contact_attempts_made >= cap:
        return no(
            UnavailableReason.EXHAUSTED,
            f"contact attempts {target.contact_attempts_made}/{cap}",
        )
    if target.contact_expires_at is not None and now >= target.contact_expires_at:
        return no(UnavailableReason.EXHAUSTED, "contact expired")
    if policy.max_amd_detections is not None and target.amd_count >= policy.max_amd_detections:
        return no(
            UnavailableReason.MAX_AMD,
            f"answering machines {target.amd_count}/{policy.max_amd_detections}",
        )
    if target.last_outcome is not None or outcome_class is not None:
        if outcome_class is None:
            return no(
                UnavailableReason.LAST_OUTCOME_NOT_VALID,
                f"last outcome {target.last_outcome!r} has no outcome class",
            )
        if outcome_class in (OutcomeClass.FINAL_SUCCESS, OutcomeClass.FINAL_FAILURE):
            return no(
                UnavailableReason.LAST_OUTCOME_NOT_VALID,
                f"last outcome {target.last_outcome!r} is {outcome_class.value}",
            )
    if target.offered_rejected:
        return no(UnavailableReason.OFFERED, "rejected by an agent")
    return None


def _time_locks(target: TargetFacts, policy: DialingPolicy) -> list[tuple[datetime, str]]:
    """(end, name) of every time lock on the target, in no particular order."""
    locks: list[tuple[datetime, str]] = []
    if target.available_from is not None:
        locks.append((target.available_from, "available from"))
    if target.last_attempt_at is not None and target.last_outcome is not None:
        locks.append(
            (target.last_attempt_at + policy.retry_delay(target.last_outcome), "retry cadence")
        )
    elif target.last_attempt_at is not None:
        locks.append((target.last_attempt_at + policy.default_retry_delay, "retry cadence"))
    if target.last_call_at_any_campaign is not None and policy.min_gap_between_calls:
        locks.append(
            (target.last_call_at_any_campaign + policy.min_gap_between_calls, "minimum gap")
        )
    if target.last_abandoned_at is not None and policy.abandon_lock:
        locks.append((target.last_abandoned_at + policy.abandon_lock, "abandon lock"))
    return locks


def evaluate(target: TargetFacts, policy: DialingPolicy, now: datetime) -> Verdict:
    """Whether ``target`` may be dialed at ``now`` under ``policy``; see the module doc
    for the reasons, their priority and the calling-window semantics."""
    now = _require_aware(now, "now")
    permanent = _permanent(target, policy, now)
    if permanent is not None:
        return permanent

    earliest, lock_name = now, ""
    for end, name in _time_locks(target, policy):
        if end > earliest:
            earliest, lock_name = end, name
    time_reason = (
        UnavailableReason.NOT_IN_CADENCE if earliest > now
        else UnavailableReason.OUTSIDE_CALLING_WINDOW
    )
    names = target_zones(target)
    zones = resolve_zones(names)
    if zones is None:
        return Verdict(
            False, time_reason, None,
            "time zone unknown: never dialable" if not names
            else f"time zone not in tzdata: {', '.join(names)}",
            names,
        )
    if earliest == now and window_open(policy.window, zones, now):
        return Verdict(True, None, now, "", names)

    if earliest == now:  # the window is what is closed: already checked at now
        opening = _search_opening(policy.window, zones, now, policy.horizon)
    else:
        opening = next_window_opening(policy.window, zones, earliest, policy.horizon)
    if opening is not None and target.contact_expires_at is not None:
        if opening >= target.contact_expires_at:
            opening = None
    if time_reason is UnavailableReason.NOT_IN_CADENCE:
        detail = f"{lock_name} until {earliest.isoformat()}"
    else:
        detail = "outside the calling window"
    if opening is None:
        detail += "; no calling window opens within the horizon"
    return Verdict(False, time_reason, opening, detail, names)
