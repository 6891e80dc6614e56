"""What every machine of the core shares: the base of its inputs and outputs, named
timers, and the two mailboxes between machines.

Each domain keeps its own events and commands beside its machine (``calls/``,
``agents/``, ``preview/``, ``campaigns/``, ``telephony/``); they all derive from
:class:`Event` and :class:`Command` here, so the shell can route and execute them
without knowing which domain made them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "CancelTimer",
    "Command",
    "Event",
    "NotifyAgent",
    "NotifyCall",
    "StartTimer",
    "TimerFired",
    "Timers",
    "check_aware",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every core input."""


@dataclass(frozen=True, slots=True)
class Command:
    """Base class of every core output."""


# ------------------------------------------------------------------ timers


@dataclass(frozen=True, slots=True)
class TimerFired(Event):
    """A timer started with :class:`StartTimer` expired."""

    name: str
    "The timer's name, as given when it was started."


@dataclass(frozen=True, slots=True)
class StartTimer(Command):
    """Arm (or re-arm) a timer; at ``at`` feed ``TimerFired(name)`` to the issuer."""

    name: str
    "Timer name, unique per machine (also globally: it embeds the machine's id)."
    at: datetime
    "Expiry instant (timezone-aware)."


@dataclass(frozen=True, slots=True)
class CancelTimer(Command):
    """Disarm a timer; cancelling an unknown or expired timer is a no-op."""

    name: str
    "Timer name."


class Timers:
    """The timers one machine has armed, named ``<prefix>/<purpose>``.

    The prefix embeds the machine's id, so names are unique across machines and a
    fired timer finds its way back. A timer that fires after it was cancelled (the
    shell's wheel may already have queued it) is recognised as stale.
    """

    __slots__ = ("armed", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.armed: set[str] = set()
        "Names of the timers started and not yet cancelled nor fired."

    def __len__(self) -> int:
        return len(self.armed)

    def name(self, purpose: str) -> str:
        """The full name of this machine's timer for ``purpose``."""
        return f"{self.prefix}/{purpose}"

    def is_armed(self, purpose: str) -> bool:
        """True while the timer for ``purpose`` runs."""
        return self.name(purpose) in self.armed

    def start(self, purpose: str, at: datetime) -> StartTimer:
        """Arm the timer for ``purpose``."""
        name = self.name(purpose)
        self.armed.add(name)
        return StartTimer(name, at)

    def cancel(self, purpose: str) -> CancelTimer:
        """Disarm the timer for ``purpose`` (a no-op for the shell if it is not running)."""
        name = self.name(purpose)
        self.armed.discard(name)
        return CancelTimer(name)

    def cancel_all(self) -> list[CancelTimer]:
        """Disarm every running timer, in name order."""
        out = [CancelTimer(name) for name in sorted(self.armed)]
        self.armed.clear()
        return out

    def fired(self, name: str) -> str | None:
        """The purpose of a timer that fired while armed (now disarmed), else None (stale)."""
        if name not in self.armed:
            return None
        self.armed.discard(name)
        return name[len(self.prefix) + 1 :]


# ------------------------------------------------------- between machines


@dataclass(frozen=True, slots=True)
class NotifyAgent(Command):
    """Feed ``event`` to agent ``agent_id``'s machine."""

    agent_id: str
    "The agent."
    event: Event
    "The event to deliver."


@dataclass(frozen=True, slots=True)
class NotifyCall(Command):
    """Feed ``event`` to the call machine (or preview session) whose id is ``attempt_id``."""

    attempt_id: str
    "The call."
    event: Event
    "The event to deliver."


def check_aware(now: datetime) -> None:
    """Refuse a naive ``now``: every instant in the core is timezone-aware."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now: must be a timezone-aware datetime")
