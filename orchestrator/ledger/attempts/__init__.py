"""What happens to an attempt after its write-ahead: events, end, disposition, reconciliation.

History is append-only (attempt_events); the current state is mirrored on the attempts row.
Every function is idempotent: an event replayed after a reconnect is recorded once and
counted once (a unique index on (attempt_id, kind) for single-occurrence kinds, and on
(attempt_id, kind, data->>'key') for repeatable ones). The attempt row is locked FOR UPDATE
while an event is applied, so events for one attempt apply one at a time. A late event
never moves the state backwards (e.g. 'ringing' after 'answered').

Dispositions. A disposition names a wrap-up code; its outcome class decides the target:

- final_success: target 'Complete', the contact complete (its other targets 'Complete').
- final_failure: 'Last outcome not valid for calling' ('Invalid target' for an invalid number).
- dnc: a GLOBAL do-not-call entry (source 'disposition'). A customer who asks not to be
  called means no campaign may call that number, so the entry is not campaign-scoped;
  every target with the number gets 'DNC'.
- retry: available_from = the explicit retry time, else now + the policy's delay for the
  code (see campaigns.dialing_policy for the precedence), never before the number's abandon
  lock; reason 'Not in cadence'. Then, checked in the rules' order: attempts made reach the
  target's max (or the contact's max) -> 'Exhausted'; answering machines reach the
  campaign's max -> 'Max answering machine detections'.

Telephony outcomes nobody will disposition are dispositioned automatically when the
attempt ends (`end_attempt`): busy -> system code 'Busy', no_answer -> 'No answer',
machine (not passed to an agent) -> 'Answering machine detected', fax -> 'Fax'; the
others without a code (congestion, failed, invalid_number, abandoned, unknown,
not_dialed, cancelled_by_agent, human answered but never bridged) apply their class from
the policy to the target with the outcome's label; rejected_by_agent marks 'Offered'.
A human call bridged to an agent (or a machine passed to one) waits for the agent's
disposition (or the runtime's wrap-up timeout, which calls `record_disposition` with the
campaign's default code, or `auto_disposition`).

An abandoned call locks the number (phone_numbers.abandon_locked_until = time of abandon +
the campaign's abandon_lock) for every campaign.

Its rooms: `rows` (the types, the locked read and append every step shares), `events`
(life events), `disposition` (end and disposition), `reconciliation` (heartbeats, orphans,
presumed abandons) and `history` (attempt numbers and a contact's report).
"""

from __future__ import annotations

from orchestrator.core.rules import normalize_outcome
from orchestrator.ledger.attempts.disposition import (
    auto_disposition,
    disposition_without_dialing,
    end_attempt,
    record_disposition,
)
from orchestrator.ledger.attempts.events import (
    hand_over,
    mark_abandoned,
    mark_answered,
    mark_bridged,
    mark_originated,
    mark_ringing,
    record_amd,
    record_event,
)
from orchestrator.ledger.attempts.history import (
    AttemptHistoryEntry,
    attempt_title,
    contact_history,
    next_attempt_number,
)
from orchestrator.ledger.attempts.reconciliation import (
    PRESUMED_ABANDON_CRASH,
    PRESUMED_ABANDON_UNSEEN,
    adopt_attempt,
    end_unseen,
    heartbeat,
    live_attempts,
    live_attempts_elsewhere,
    orphaned_attempts,
    presume_abandoned,
    reconcile,
    undispositioned_attempts,
    undispositioned_of_dead_owners,
)
from orchestrator.ledger.attempts.rows import (
    AUTO_CODES,
    ONCE_KINDS,
    OUTCOMES,
    STATES,
    Attempt,
    AttemptError,
    AttemptNotFound,
    DispositionResult,
    ReconcileResult,
    get_attempt,
)

__all__ = [
    "AUTO_CODES", "ONCE_KINDS", "OUTCOMES", "PRESUMED_ABANDON_CRASH", "PRESUMED_ABANDON_UNSEEN", "STATES",
    "Attempt", "AttemptError", "AttemptHistoryEntry", "AttemptNotFound", "DispositionResult",
    "ReconcileResult", "adopt_attempt", "attempt_title", "auto_disposition", "contact_history",
    "disposition_without_dialing", "end_attempt", "end_unseen", "get_attempt", "heartbeat",
    "live_attempts", "live_attempts_elsewhere", "mark_abandoned", "mark_answered", "mark_bridged", "hand_over",
    "mark_originated", "mark_ringing", "next_attempt_number", "normalize_outcome", "orphaned_attempts",
    "presume_abandoned", "reconcile", "record_amd", "record_disposition", "record_event",
    "undispositioned_attempts", "undispositioned_of_dead_owners",
]
