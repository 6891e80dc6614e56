"""Preview: one agent looking at one target before deciding (MISSION A.1-2).

A :class:`PreviewSession` is created when a preview-mode agent is reserved
for a claimed target. It is *shown* with :meth:`PreviewSession.start` (at
once, or once the reservation call is answered: the shell starts it on
:class:`~orchestrator.core.agents.commands.ReservationReady`). The agent then picks
one action; at the countdown's zero the campaign's auto-action runs.

Every closing action releases the agent except Accept, which dials the
target (:class:`~orchestrator.core.preview.commands.DialTarget`) with the agent
still reserved (on the reservation leg when there is one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.core.agents.commands import RecordDisposition
from orchestrator.core.agents.events import AgentLegLost, AgentReleased, AgentRona
from orchestrator.core.campaigns import CampaignSettings, PreviewAutoAction
from orchestrator.core.common import (
    CancelTimer,
    Command,
    Event,
    NotifyAgent,
    StartTimer,
    TimerFired,
    check_aware,
)
from orchestrator.core.phones import PhoneError, normalize_e164
from orchestrator.core.preview.commands import (
    CreateCallback,
    DialTarget,
    PublishPreview,
    RejectTarget,
    RemoveTarget,
    RequeueTarget,
)
from orchestrator.core.preview.events import (
    CallbackAssignee,
    PreviewAccept,
    PreviewActionEvent,
    PreviewDelay,
    PreviewDisposition,
    PreviewRemove,
    PreviewRequeue,
    PreviewReschedule,
    PreviewSkip,
)

__all__ = [
    "PreviewAction",
    "PreviewActionRefused",
    "PreviewSession",
    "PreviewState",
    "PreviewTarget",
    "local_callback_time",
]


class PreviewAction(StrEnum):
    """Actions of the preview window."""

    ACCEPT = "accept"
    SKIP = "skip"
    REQUEUE = "requeue"
    DELAY = "delay"
    RESCHEDULE = "reschedule"
    DISPOSITION = "disposition"
    REMOVE = "remove"


_EVENT_ACTION: dict[type[PreviewActionEvent], PreviewAction] = {
    PreviewAccept: PreviewAction.ACCEPT,
    PreviewSkip: PreviewAction.SKIP,
    PreviewRequeue: PreviewAction.REQUEUE,
    PreviewDelay: PreviewAction.DELAY,
    PreviewReschedule: PreviewAction.RESCHEDULE,
    PreviewDisposition: PreviewAction.DISPOSITION,
    PreviewRemove: PreviewAction.REMOVE,
}


class PreviewState(StrEnum):
    """Preview life cycle."""

    PENDING = "pending"
    "Created; waiting to be shown (reservation call ringing)."
    SHOWING = "showing"
    CLOSED = "closed"


class PreviewActionRefused(Exception):
    """An action the session does not allow (hidden, closed, wrong agent...)."""

    def __init__(self, preview_id: str, action: str, why: str) -> None:
        super().__init__(f"preview {preview_id}: {action} refused: {why}")
        self.action = action
        self.why = why


@dataclass(frozen=True, slots=True)
class PreviewTarget:
    """The claimed target shown to the agent."""

    campaign_id: str
    "Campaign."
    contact_id: str
    "Contact."
    target_id: str
    "Target."
    e164: str
    "Number, E.164."


def local_callback_time(local_date: date, local_time: time, time_zone: str) -> datetime:
    """Aware instant of a wall-clock date and time in an IANA zone.

    A time skipped by a DST change (spring forward) is refused; an ambiguous
    one (fall back) means its first occurrence.
    """
    if not isinstance(local_date, date) or isinstance(local_date, datetime):
        raise ValueError("local_date: must be a date")
    if not isinstance(local_time, time) or local_time.tzinfo is not None:
        raise ValueError("local_time: must be a naive time of day")
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time_zone: unknown IANA time zone {time_zone!r}") from None
    wall = datetime.combine(local_date, local_time).replace(tzinfo=zone, fold=0)
    # Round-trip through UTC: a nonexistent wall time comes back different.
    back = wall.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != wall.replace(tzinfo=None):
        raise ValueError(
            f"local_time: {local_time.isoformat()} does not exist on "
            f"{local_date.isoformat()} in {time_zone} (daylight saving change)"
        )
    return wall


class PreviewSession:
    """One preview offered to one agent."""

    def __init__(
        self,
        preview_id: str,
        agent_id: str,
        target: PreviewTarget,
        settings: CampaignSettings,
    ) -> None:
        if not settings.mode.is_preview:
            raise ValueError(f"settings.mode: {settings.mode.value} is not a preview mode")
        self.preview_id = preview_id
        self.agent_id = agent_id
        self.target = target
        self.settings = settings
        self.state = PreviewState.PENDING
        self.shown_at: datetime | None = None
        self.expires_at: datetime | None = None
        self.closed_by: PreviewAction | None = None
        self.automatic = False

    @property
    def allowed_actions(self) -> tuple[PreviewAction, ...]:
        """Actions the desktop may show (the campaign can hide Skip and Remove)."""
        hidden: set[PreviewAction] = set()
        if self.settings.preview_hide_skip:
            hidden.add(PreviewAction.SKIP)
        if self.settings.preview_hide_remove:
            hidden.add(PreviewAction.REMOVE)
        return tuple(a for a in PreviewAction if a not in hidden)

    @property
    def timer_name(self) -> str:
        """Name of the countdown timer."""
        return f"preview/{self.preview_id}/countdown"

    def remaining(self, now: datetime) -> timedelta | None:
        """Countdown left (never negative), or None without a countdown."""
        if self.expires_at is None:
            return None
        return max(timedelta(0), self.expires_at - now)

    def start(self, now: datetime) -> list[Command]:
        """Show the preview and start the countdown."""
        check_aware(now)
        if self.state is not PreviewState.PENDING:
            raise RuntimeError(f"preview {self.preview_id}: already {self.state.value}")
        self.state = PreviewState.SHOWING
        self.shown_at = now
        out: list[Command] = []
        if self.settings.preview_timeout_s is not None:
            self.expires_at = now + timedelta(seconds=self.settings.preview_timeout_s)
            out.append(StartTimer(self.timer_name, self.expires_at))
        out.insert(
            0,
            PublishPreview(
                self.preview_id,
                self.agent_id,
                self.target.target_id,
                self.expires_at,
                tuple(a.value for a in self.allowed_actions),
            ),
        )
        return out

    def handle(self, event: Event, now: datetime) -> list[Command]:
        """Apply an agent action, the countdown's expiry, or the reservation call's RONA / loss."""
        check_aware(now)
        if isinstance(event, TimerFired):
            if event.name != self.timer_name or self.state is not PreviewState.SHOWING:
                return []
            self.expires_at = None
            return self._auto_action(now)
        if isinstance(event, AgentRona):
            if event.attempt_id != self.preview_id or self.state is PreviewState.CLOSED:
                return []
            # The agent never saw it: back into the queue at once.
            self._close(PreviewAction.REQUEUE, automatic=True)
            out: list[Command] = [self._cancel()]
            out.append(
                RequeueTarget(self.target.target_id, self.target.campaign_id, now, "rona")
            )
            return out
        if isinstance(event, AgentLegLost):
            if event.attempt_id != self.preview_id or self.state is PreviewState.CLOSED:
                return []
            # The reservation leg dropped: nobody can be dialed on it any more.
            self._close(PreviewAction.REQUEUE, automatic=True)
            t = self.target
            return [
                self._cancel(),
                RequeueTarget(t.target_id, t.campaign_id, now, "agent_phone_lost"),
                NotifyAgent(
                    self.agent_id,
                    AgentReleased(self.agent_id, self.preview_id, "agent phone lost"),
                ),
            ]
        if not isinstance(event, PreviewActionEvent):
            raise TypeError(f"preview {self.preview_id}: unexpected event {type(event).__name__}")
        action = _EVENT_ACTION[type(event)]
        self._check_action(event, action)
        return self._run(action, event, now, automatic=False)

    # ------------------------------------------------------------ internals

    def _check_action(self, event: PreviewActionEvent, action: PreviewAction) -> None:
        if event.preview_id != self.preview_id:
            raise ValueError(f"preview_id: {event.preview_id!r} sent to {self.preview_id!r}")
        if event.agent_id != self.agent_id:
            raise PreviewActionRefused(
                self.preview_id, action.value, f"the preview belongs to agent {self.agent_id}"
            )
        if self.state is PreviewState.PENDING:
            raise PreviewActionRefused(self.preview_id, action.value, "the preview is not shown yet")
        if self.state is PreviewState.CLOSED:
            assert self.closed_by is not None
            raise PreviewActionRefused(
                self.preview_id, action.value, f"already closed by {self.closed_by.value}"
            )
        if action not in self.allowed_actions:
            raise PreviewActionRefused(
                self.preview_id, action.value, f"{action.value} is hidden by the campaign"
            )

    def _auto_action(self, now: datetime) -> list[Command]:
        auto = self.settings.preview_auto_action
        action = {
            PreviewAutoAction.SKIP: PreviewAction.SKIP,
            PreviewAutoAction.ACCEPT: PreviewAction.ACCEPT,
            PreviewAutoAction.REMOVE: PreviewAction.REMOVE,
        }[auto]
        return self._run(action, None, now, automatic=True)

    def _run(
        self,
        action: PreviewAction,
        event: PreviewActionEvent | None,
        now: datetime,
        automatic: bool,
    ) -> list[Command]:
        t = self.target
        # Validate before closing, so a bad reschedule leaves the preview open.
        callback: CreateCallback | None = None
        if isinstance(event, PreviewReschedule):
            callback = self._callback(event, now)
        if isinstance(event, PreviewDisposition) and not event.code.strip():
            raise ValueError("code: a wrap-up code is required")
        self._close(action, automatic)
        out: list[Command] = [] if automatic else [self._cancel()]
        if action is PreviewAction.ACCEPT:
            out.append(
                DialTarget(
                    t.campaign_id, t.contact_id, t.target_id, t.e164, self.agent_id, self.preview_id
                )
            )
            return out  # the agent stays reserved for the call
        if action is PreviewAction.SKIP:
            out.append(RejectTarget(t.target_id, t.campaign_id, self.agent_id, now, automatic))
        elif action is PreviewAction.REMOVE:
            out.append(RemoveTarget(t.target_id, t.campaign_id, self.agent_id, now, automatic))
        elif action is PreviewAction.REQUEUE:
            out.append(RequeueTarget(t.target_id, t.campaign_id, now, "requeue"))
        elif action is PreviewAction.DELAY:
            later = now + timedelta(seconds=self.settings.preview_delay_s)
            out.append(RequeueTarget(t.target_id, t.campaign_id, later, "delay"))
        elif action is PreviewAction.RESCHEDULE:
            assert callback is not None
            out.append(callback)
        elif action is PreviewAction.DISPOSITION:
            assert isinstance(event, PreviewDisposition)
            out.append(
                RecordDisposition(
                    agent_id=self.agent_id,
                    code=event.code.strip(),
                    at=now,
                    attempt_id=None,
                    target_id=t.target_id,
                    notes=event.notes,
                )
            )
        out.append(
            NotifyAgent(
                self.agent_id, AgentReleased(self.agent_id, self.preview_id, f"preview {action}")
            )
        )
        return out

    def _callback(self, ev: PreviewReschedule, now: datetime) -> CreateCallback:
        start_at = local_callback_time(ev.local_date, ev.local_time, ev.time_zone)
        if start_at <= now:
            raise ValueError("local_time: the callback must be in the future")
        e164 = self.target.e164
        if ev.other_number is not None and ev.other_number.strip():
            try:
                e164 = normalize_e164(ev.other_number)
            except PhoneError as exc:
                raise ValueError(f"other_number: {exc}") from None
        assignee = CallbackAssignee(ev.assignee)
        return CreateCallback(
            contact_id=self.target.contact_id,
            target_id=self.target.target_id,
            campaign_id=self.target.campaign_id,
            start_at=start_at,
            time_zone=ev.time_zone,
            e164=e164,
            assigned_agent_id=self.agent_id if assignee is CallbackAssignee.ME else None,
            created_by=self.agent_id,
            notes=ev.notes,
        )

    def _close(self, action: PreviewAction, automatic: bool) -> None:
        self.state = PreviewState.CLOSED
        self.closed_by = action
        self.automatic = automatic

    def _cancel(self) -> CancelTimer:
        return CancelTimer(self.timer_name)
