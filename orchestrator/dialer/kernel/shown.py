"""How a contact's number and history leave the server for a page: masking (MISSION E)
and the attempt report, shared by the screen pops and the preview cards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.ledger.attempts import AttemptHistoryEntry
from orchestrator.ledger.campaigns import OUTCOME_LABELS

MASK = "****"


def mask_number(e164: str) -> str:
    """Only the last 4 digits: ``+33612345678`` -> ``****5678``."""
    digits = "".join(ch for ch in e164 if "0" <= ch <= "9")
    return MASK + digits[-4:]


def shown_number(e164: str, masking: bool) -> str:
    return mask_number(e164) if masking else e164


def iso_or_none(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def history_json(history: list[AttemptHistoryEntry]) -> list[dict[str, Any]]:
    """A contact's attempt report: "Attempt N (Mobile)", when, outcome, agent, disposition."""
    return [{
        "title": h.title, "attempt_no": h.attempt_number,
        "target_description": h.target_description or "Phone",
        "at": iso_or_none(h.created_at), "started_at": iso_or_none(h.created_at),
        "outcome": OUTCOME_LABELS.get(h.outcome, h.outcome) if h.outcome else None,
        "agent": h.agent, "disposition": h.disposition,
    } for h in history]
