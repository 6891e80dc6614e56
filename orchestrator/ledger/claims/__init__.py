"""Claiming targets to dial, and the write-ahead attempt.

Several orchestrator instances share one database without double dialing:

1. `claim_targets` picks dialable targets of a running campaign with
   `SELECT ... FOR UPDATE OF t, k SKIP LOCKED` and puts a lease on each (lease_owner =
   the instance id, lease_expires_at = now + lease). A target leased by someone else,
   whose lease has not expired, is never returned. The SQL pre-filters everything the
   database knows (status, permanent reasons, attempt caps, contact complete/expired,
   available_from, live or undispositioned attempts, DNC, abandon lock, minimum gap);
   `rules.evaluate` then decides the calling window in Python. Targets it rejects get its
   `unavailable_reason` and `available_from = next_dialable_at` and are not leased.
   At most one target per contact is leased at a time. A contact with an open callback,
   and a target made for a callback alone, are dialed only by their callbacks
   (`ledger.callbacks`).
2. Just before originating, `write_ahead_attempt` re-checks in ONE transaction (target and
   contact rows locked, lease still ours, campaign running, rules again, call caps) and
   INSERTs the attempt (its uuid is the future ARI channelId) plus an attempt_events row
   'created'. The database itself refuses a DNC number (trigger), a second live attempt
   for a number (unique index) and attempts above max (CHECK via the counting trigger);
   those errors come back as typed refusals. Only after this commits does the caller
   originate. The lease is cleared: from here the attempt itself, which stays
   undispositioned until its outcome is settled, keeps the contact from being claimed.

Leases are a liveness device, not a safety one: safety comes from the row locks and the
constraints at write-ahead. An instance renews its leases while it holds targets (preview
on screen, waiting for an agent) and releases them when it gives up.

Its rooms: `results` (what claims and the write-ahead answer), `facts` (a target's facts
for the rules), `leases` (claiming and leases) and `write_ahead`.
"""

from __future__ import annotations

from orchestrator.ledger.claims.facts import target_facts
from orchestrator.ledger.claims.leases import (
    claim_targets,
    count_live_attempts,
    expire_stale_leases,
    mark_offered_rejected,
    mark_shown,
    release_campaign_leases,
    release_leases,
    renew_leases,
)
from orchestrator.ledger.claims.results import (
    DEFAULT_LEASE,
    RECHECK_UNKNOWN,
    TIME_REASONS,
    TRANSIENT_REFUSALS,
    AttemptRefusal,
    AttemptTicket,
    ClaimedTarget,
    ClaimResult,
    RefusalReason,
    Rejection,
)
from orchestrator.ledger.claims.write_ahead import write_ahead_attempt

__all__ = [
    "AttemptRefusal", "AttemptTicket", "ClaimResult", "ClaimedTarget", "DEFAULT_LEASE",
    "RECHECK_UNKNOWN", "RefusalReason", "Rejection", "TIME_REASONS", "TRANSIENT_REFUSALS",
    "claim_targets", "count_live_attempts", "expire_stale_leases", "mark_offered_rejected",
    "mark_shown", "release_campaign_leases", "release_leases", "renew_leases", "target_facts", "write_ahead_attempt",
]
