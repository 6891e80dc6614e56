"""The dialer's own AMI UserEvents, for supervisors' wallboards and AMI tools.

Each payload is a frozen dataclass with ``to_headers()`` (what `AmiListener.publish`
sends) and ``from_event()`` (what a listener gets back). Phone numbers are never
part of these events: attempts are identified by ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from .events import UserEvent


def _opt(headers: dict[str, str], key: str, value: object) -> None:
    if value is not None:
        headers[key] = str(value)


def _field(ev: UserEvent, key: str) -> str | None:
    v = ev.fields.get(key)
    if v is None:
        return None
    return v[-1] if isinstance(v, list) else v


def _req(ev: UserEvent, key: str) -> str:
    v = _field(ev, key)
    if v is None:
        raise ValueError(f"{ev.user_event} UserEvent: missing header {key!r}")
    return v


def _float(ev: UserEvent, key: str) -> float:
    try:
        return float(_req(ev, key))
    except ValueError as exc:
        raise ValueError(f"{ev.user_event} UserEvent: header {key!r} is not a number") from exc


def _int(ev: UserEvent, key: str) -> int:
    try:
        return int(_req(ev, key))
    except ValueError as exc:
        raise ValueError(f"{ev.user_event} UserEvent: header {key!r} is not an integer") from exc


@dataclass(frozen=True, slots=True)
class DialerAgentState:
    """``UserEvent: DialerAgentState``: an agent changed state."""

    NAME: ClassVar[str] = "DialerAgentState"

    agent: str
    """Agent id."""
    state: str
    """LoggedOut, NotReady, Available, Reserved, Ringing, OnCall, Hold, Consulting, Conferencing, WrapUp."""
    campaign: str | None = None
    """Campaign the state relates to, if any."""
    reason: str | None = None
    """Not-ready reason code, if any."""

    def to_headers(self) -> dict[str, str]:
        h = {"Agent": self.agent, "State": self.state}
        _opt(h, "Campaign", self.campaign)
        _opt(h, "Reason", self.reason)
        return h

    @classmethod
    def from_event(cls, ev: UserEvent) -> DialerAgentState:
        return cls(agent=_req(ev, "Agent"), state=_req(ev, "State"),
                   campaign=_field(ev, "Campaign"), reason=_field(ev, "Reason"))


@dataclass(frozen=True, slots=True)
class DialerAttempt:
    """``UserEvent: DialerAttempt``: a dial attempt reached an outcome."""

    NAME: ClassVar[str] = "DialerAttempt"

    attempt: str
    """Attempt id (also the ARI channel id)."""
    campaign: str
    """Campaign name."""
    outcome: str
    """human, machine, fax, busy, no_answer, congestion, invalid, abandoned, cancelled, rejected."""
    agent: str | None = None
    """Agent connected, if any."""
    cause: int | None = None
    """Q.850 cause of the customer leg, if known."""

    def to_headers(self) -> dict[str, str]:
        h = {"Attempt": self.attempt, "Campaign": self.campaign, "Outcome": self.outcome}
        _opt(h, "Agent", self.agent)
        _opt(h, "Cause", self.cause)
        return h

    @classmethod
    def from_event(cls, ev: UserEvent) -> DialerAttempt:
        cause = _field(ev, "Cause")
        return cls(attempt=_req(ev, "Attempt"), campaign=_req(ev, "Campaign"),
                   outcome=_req(ev, "Outcome"), agent=_field(ev, "Agent"),
                   cause=int(cause) if cause not in (None, "") else None)


@dataclass(frozen=True, slots=True)
class DialerCampaignStats:
    """``UserEvent: DialerCampaignStats``: a campaign's live figures."""

    NAME: ClassVar[str] = "DialerCampaignStats"

    campaign: str
    """Campaign name (as in the other UserEvents)."""
    dial_level: float
    """Lines dialled per available agent."""
    abandon_rate: float
    """Abandon rate over the regulator's window, 0..1."""
    answer_rate: float
    """Answered / placed, 0..1."""
    calls_in_progress: int
    """Live attempts."""
    agents_available: int
    """Agents waiting for a call."""
    contacts_left: int
    """Contacts still callable."""

    def to_headers(self) -> dict[str, str]:
        return {
            "Campaign": self.campaign,
            "DialLevel": f"{self.dial_level:.3f}",
            "AbandonRate": f"{self.abandon_rate:.5f}",
            "AnswerRate": f"{self.answer_rate:.5f}",
            "CallsInProgress": str(self.calls_in_progress),
            "AgentsAvailable": str(self.agents_available),
            "ContactsLeft": str(self.contacts_left),
        }

    @classmethod
    def from_event(cls, ev: UserEvent) -> DialerCampaignStats:
        return cls(
            campaign=_req(ev, "Campaign"),
            dial_level=_float(ev, "DialLevel"),
            abandon_rate=_float(ev, "AbandonRate"),
            answer_rate=_float(ev, "AnswerRate"),
            calls_in_progress=_int(ev, "CallsInProgress"),
            agents_available=_int(ev, "AgentsAvailable"),
            contacts_left=_int(ev, "ContactsLeft"),
        )


@dataclass(frozen=True, slots=True)
class DialerAbandon:
    """``UserEvent: DialerAbandon``: a live answer reached no agent in time (or may have,
    unseen). The information message is an ARI playback, so without this an AMI
    wallboard would never see an abandon."""

    NAME: ClassVar[str] = "DialerAbandon"

    attempt: str
    """Attempt id."""
    campaign: str
    """Campaign name."""
    reason: str
    """not_connected_in_grace, amd_false_positive, presumed_unseen or presumed."""

    def to_headers(self) -> dict[str, str]:
        return {"Attempt": self.attempt, "Campaign": self.campaign, "Reason": self.reason}

    @classmethod
    def from_event(cls, ev: UserEvent) -> DialerAbandon:
        return cls(attempt=_req(ev, "Attempt"), campaign=_req(ev, "Campaign"),
                   reason=_req(ev, "Reason"))


DialerUserEvent = DialerAgentState | DialerAttempt | DialerCampaignStats | DialerAbandon
"""Any of the dialer's own user events."""

_BY_NAME: Mapping[str, type[DialerAgentState] | type[DialerAttempt] | type[DialerCampaignStats]
                  | type[DialerAbandon]] = {
    c.NAME: c for c in (DialerAgentState, DialerAttempt, DialerCampaignStats, DialerAbandon)
}


def parse_dialer_user_event(ev: UserEvent) -> DialerUserEvent | None:
    """The typed payload of one of our UserEvents, or None for anyone else's."""
    cls = _BY_NAME.get(ev.user_event)
    return cls.from_event(ev) if cls is not None else None
