"""What claiming and the write-ahead answer: claimed targets, rejections, refusals, tickets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from orchestrator.core.rules import (
    UnavailableReason,
)

DEFAULT_LEASE = timedelta(seconds=60)
RECHECK_UNKNOWN = timedelta(hours=1)
"""When rules give a time reason but no next instant (unknown zone, nothing opens within the
horizon), the target is looked at again after this long instead of on every claim."""

# pg_advisory_xact_lock(classid, objid) keys serialising the call-cap checks.
_CAP_LOCK_CLASS = 0x0D1A
_SYSTEM_CAP_OBJ = 0  # campaign ids start at 1
TIME_REASONS = ("Not in cadence", "Outside calling window")


@dataclass(frozen=True)
class ClaimedTarget:
    """A target leased to this instance, with what the dialer and a preview screen need."""

    target_id: int
    contact_id: int
    campaign_id: int
    position: int
    description: str
    e164: str
    attempts_made: int
    max_attempts: int
    amd_count: int
    contact_attempts_made: int
    external_id: str | None
    first_name: str | None
    last_name: str | None
    postal_code: str | None
    time_zone: str | None
    custom_fields: dict[str, Any]
    lease_owner: str
    lease_expires_at: datetime
    time_zones: tuple[str, ...] = ()
    """Zones the calling window was checked in."""


@dataclass(frozen=True)
class Rejection:
    """A candidate the rules refused at claim time (stored on the target)."""

    target_id: int
    reason: UnavailableReason
    next_dialable_at: datetime | None
    detail: str


@dataclass(frozen=True)
class ClaimResult:
    claimed: list[ClaimedTarget] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class RefusalReason(StrEnum):
    """Why write_ahead_attempt did not write an attempt."""

    NOT_FOUND = "target not found"
    LEASE_LOST = "lease lost"
    """The target is not leased to this owner (expired and maybe claimed by another)."""
    CAMPAIGN_NOT_RUNNING = "campaign not running"
    CONTACT_BUSY = "contact has an attempt in progress"
    """Another target of the contact has a live or undispositioned attempt."""
    RULES = "rules"
    """rules.evaluate refused; see AttemptRefusal.unavailable_reason."""
    DNC = "DNC"
    LIVE_ATTEMPT = "live attempt for number"
    EXHAUSTED = "Exhausted"
    CAMPAIGN_CALL_CAP = "campaign call cap"
    SYSTEM_CALL_CAP = "system call cap"
    DUPLICATE_ID = "attempt id already used"


TRANSIENT_REFUSALS = frozenset(
    {RefusalReason.CAMPAIGN_CALL_CAP, RefusalReason.SYSTEM_CALL_CAP, RefusalReason.CONTACT_BUSY}
)
"""Refusals after which the caller keeps its lease and may try again shortly."""


@dataclass(frozen=True)
class AttemptRefusal:
    """No attempt was written; nothing may be originated."""

    reason: RefusalReason
    detail: str = ""
    unavailable_reason: UnavailableReason | None = None
    """The target's reason when the refusal made it unavailable (RULES, DNC, EXHAUSTED)."""
    next_dialable_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return False


@dataclass(frozen=True)
class AttemptTicket:
    """A committed attempt: originate it now with channelId = str(attempt_id)."""

    attempt_id: uuid.UUID
    attempt_number: int
    """Per contact: shown as "Attempt N (description)"."""
    campaign_id: int
    contact_id: int
    target_id: int
    description: str
    e164: str
    mode: str
    agent_id: int | None
    owner: str
    created_at: datetime
    caller_id: str | None
    no_answer_timeout_s: int
    amd_policy: str

    @property
    def ok(self) -> bool:
        return True

    @property
    def channel_id(self) -> str:
        return str(self.attempt_id)
