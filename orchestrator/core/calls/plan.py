"""What to dial: one claimed target, which leg goes first, and the channel ids the legs get."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AGENT_LEG_PREFIX", "CallFlow", "CallPlan", "prefix_clash"]

#: The per-call agent leg's channel id is this plus the attempt id.
AGENT_LEG_PREFIX = "agent:"


class CallFlow(StrEnum):
    """Which leg is dialed first."""

    CUSTOMER_FIRST = "customer_first"
    AGENT_FIRST = "agent_first"


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What to dial: one claimed target of a campaign."""

    attempt_id: str
    "Attempt id, also the customer channel id."
    campaign_id: str
    "Campaign."
    contact_id: str
    "Contact."
    target_id: str
    "Target."
    e164: str
    "Number, E.164."
    endpoint: str
    "Dial string the shell built for the number (trunk, prefix)."

    def __post_init__(self) -> None:
        for name in ("attempt_id", "campaign_id", "contact_id", "target_id", "endpoint"):
            if not getattr(self, name):
                raise ValueError(f"CallPlan.{name}: must not be empty")
        if not (self.e164.startswith("+") and self.e164[1:].isascii() and self.e164[1:].isdigit() and len(self.e164) <= 16):
            raise ValueError("CallPlan.e164: not an E.164 number")


def prefix_clash(new_id: str, existing: Iterable[str]) -> str | None:
    """The existing channel id that makes Asterisk refuse ``new_id``, if any.

    Asterisk 22's channel storage finds a "duplicate" when an existing id *starts with*
    the new one, ignoring case (narrow surprise 31): with "X:agent" up, "X" is a 409.
    """
    new = new_id.casefold()
    for other in existing:
        if other.casefold().startswith(new):
            return other
    return None
