"""Callbacks in the ledger (MISSION F): scheduled, personal, web and queue (courtesy)
callbacks, validated field by field, stored, edited, deleted (logged as deleted), and
dialed: claimed when due under a lease, written ahead like any attempt, settled from
the attempt's outcome, missed when their window passed.

Its rooms: `validation` (the rules of each field, no database), `store` (the rows:
create, read, list, edit, delete), `dialing` (claims, leases, settling, missed) and
`web_tokens` (the tokens of a website's "call me back" form).
"""

from __future__ import annotations

from orchestrator.ledger.callbacks.dialing import (
    ANSWERED,
    CAMPAIGN_NOT_RUNNING,
    CONTACT_BUSY,
    CallbackClaim,
    DueCallback,
    Settled,
    Waiting,
    attempt_callback,
    claim_due_callbacks,
    ensure_target,
    lease_callback_target,
    mark_missed,
    note_waiting,
    offer_closed,
    recover_offers,
    release_callback,
    release_callback_leases,
    renew_callback_leases,
    settle_callbacks,
)
from orchestrator.ledger.callbacks.store import (
    QUEUE_CALLBACK_WINDOW,
    WEB_CALLBACK_WINDOW,
    Callback,
    CallbackAttempt,
    CallbackStateError,
    callback_attempts,
    campaign_for_queue,
    create_callback,
    create_queue_callback,
    create_web_callback,
    delete_callback,
    get_callback,
    list_callbacks,
    update_callback,
)
from orchestrator.ledger.callbacks.validation import (
    DEFAULT_WINDOW,
    KINDS,
    MAX_AHEAD,
    MIN_WINDOW,
    OPEN_STATUSES,
    STATUSES,
    CallbackError,
    CallbackRequest,
    check_name,
    check_notes,
    check_queue,
    check_reason,
    check_time_zone,
    check_window,
    local_window,
    normalize_phone,
    validate_callback,
)
from orchestrator.ledger.callbacks.web_tokens import (
    WebCallbackToken,
    create_web_token,
    revoke_web_token,
    web_token_by_token,
)

__all__ = [
    "ANSWERED", "CAMPAIGN_NOT_RUNNING", "CONTACT_BUSY", "DEFAULT_WINDOW", "KINDS", "MAX_AHEAD",
    "MIN_WINDOW", "OPEN_STATUSES", "QUEUE_CALLBACK_WINDOW", "STATUSES", "WEB_CALLBACK_WINDOW",
    "Callback", "CallbackAttempt", "CallbackClaim", "CallbackError", "CallbackRequest", "CallbackStateError",
    "DueCallback", "Settled", "Waiting", "WebCallbackToken", "attempt_callback", "callback_attempts",
    "campaign_for_queue", "check_name", "check_notes", "check_queue", "check_reason",
    "check_time_zone", "check_window", "claim_due_callbacks", "create_callback",
    "create_queue_callback", "create_web_callback", "create_web_token", "delete_callback",
    "ensure_target", "get_callback", "lease_callback_target", "list_callbacks", "local_window",
    "mark_missed", "normalize_phone", "note_waiting", "offer_closed", "recover_offers",
    "release_callback", "release_callback_leases", "renew_callback_leases", "revoke_web_token",
    "settle_callbacks", "update_callback", "validate_callback", "web_token_by_token",
]
