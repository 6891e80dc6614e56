"""PreviewSession: actions, countdown auto-action, hidden actions, reschedule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from orchestrator.core.campaigns import CampaignSettings, DialMode, PreviewAutoAction
from orchestrator.core.commands import (
    CancelTimer,
    Command,
    CreateCallback,
    DialTarget,
    NotifyAgent,
    PublishPreview,
    RecordDisposition,
    RejectTarget,
    RemoveTarget,
    RequeueTarget,
    StartTimer,
)
from orchestrator.core.events import (
    AgentLegLost,
    AgentReleased,
    AgentRona,
    CallbackAssignee,
    PreviewAccept,
    PreviewDelay,
    PreviewDisposition,
    PreviewRemove,
    PreviewRequeue,
    PreviewReschedule,
    PreviewSkip,
    TimerFired,
)
from orchestrator.core.preview import (
    PreviewAction,
    PreviewActionRefused,
    PreviewSession,
    PreviewState,
    PreviewTarget,
    local_callback_time,
)

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
C = TypeVar("C", bound=Command)
TARGET = PreviewTarget("camp", "contact-1", "target-1", "+33142685300")


def of(cmds: Sequence[Command], kind: type[C]) -> list[C]:
    return [c for c in cmds if isinstance(c, kind)]


def session(**kw: Any) -> PreviewSession:
    s = PreviewSession("pv1", "ag1", TARGET, CampaignSettings(mode=DialMode.PREVIEW, **kw))
    s.start(NOW)
    return s


def released(cmds: Sequence[Command]) -> bool:
    return any(isinstance(c, NotifyAgent) and isinstance(c.event, AgentReleased) for c in cmds)


def test_start_shows_preview_with_countdown() -> None:
    s = PreviewSession("pv1", "ag1", TARGET, CampaignSettings(preview_timeout_s=20))
    out = s.start(NOW)
    pub = of(out, PublishPreview)[0]
    assert pub.expires_at == NOW + timedelta(seconds=20)
    assert "skip" in pub.allowed_actions and "remove" in pub.allowed_actions
    assert StartTimer("preview/pv1/countdown", NOW + timedelta(seconds=20)) in out
    assert s.remaining(NOW + timedelta(seconds=5)) == timedelta(seconds=15)
    assert s.remaining(NOW + timedelta(seconds=50)) == timedelta(0)


def test_no_countdown() -> None:
    s = session(preview_timeout_s=None)
    assert s.expires_at is None and s.remaining(NOW) is None


def test_accept_dials_keeping_the_agent_reserved() -> None:
    s = session()
    out = s.handle(PreviewAccept("pv1", "ag1"), NOW)
    assert CancelTimer("preview/pv1/countdown") in out
    assert of(out, DialTarget) == [
        DialTarget("camp", "contact-1", "target-1", "+33142685300", "ag1", "pv1")
    ]
    assert not released(out) and s.state is PreviewState.CLOSED
    with pytest.raises(PreviewActionRefused, match="already closed by accept"):
        s.handle(PreviewSkip("pv1", "ag1"), NOW)


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (PreviewSkip("pv1", "ag1"), RejectTarget),
        (PreviewRemove("pv1", "ag1"), RemoveTarget),
        (PreviewRequeue("pv1", "ag1"), RequeueTarget),
        (PreviewDelay("pv1", "ag1"), RequeueTarget),
        (PreviewDisposition("pv1", "ag1", "sale"), RecordDisposition),
    ],
)
def test_closing_actions_release_the_agent(event: Any, kind: type[Command]) -> None:
    s = session(preview_delay_s=600)
    out = s.handle(event, NOW)
    assert len(of(out, kind)) == 1 and released(out)
    if isinstance(event, PreviewDelay):
        assert of(out, RequeueTarget)[0].available_from == NOW + timedelta(seconds=600)
    if isinstance(event, PreviewRequeue):
        assert of(out, RequeueTarget)[0].available_from == NOW
    if isinstance(event, PreviewDisposition):
        rec = of(out, RecordDisposition)[0]
        assert rec.attempt_id is None and rec.target_id == "target-1"


def test_hidden_actions_refused_clearly() -> None:
    s = session(preview_hide_skip=True, preview_hide_remove=True)
    assert PreviewAction.SKIP not in s.allowed_actions
    with pytest.raises(PreviewActionRefused, match="skip is hidden by the campaign"):
        s.handle(PreviewSkip("pv1", "ag1"), NOW)
    with pytest.raises(PreviewActionRefused, match="remove is hidden"):
        s.handle(PreviewRemove("pv1", "ag1"), NOW)
    assert s.state is PreviewState.SHOWING


def test_other_agent_and_not_yet_shown_refused() -> None:
    s = session()
    with pytest.raises(PreviewActionRefused, match="belongs to agent ag1"):
        s.handle(PreviewAccept("pv1", "ag2"), NOW)
    p = PreviewSession("pv2", "ag1", TARGET, CampaignSettings())
    with pytest.raises(PreviewActionRefused, match="not shown yet"):
        p.handle(PreviewAccept("pv2", "ag1"), NOW)


@pytest.mark.parametrize(
    ("auto", "kind"),
    [(PreviewAutoAction.SKIP, RejectTarget), (PreviewAutoAction.ACCEPT, DialTarget),
     (PreviewAutoAction.REMOVE, RemoveTarget)],
)
def test_countdown_zero_runs_auto_action(auto: PreviewAutoAction, kind: type[Command]) -> None:
    # The auto-action runs even when the campaign hides that action from agents.
    s = session(preview_auto_action=auto, preview_hide_skip=True, preview_hide_remove=True)
    out = s.handle(TimerFired("preview/pv1/countdown"), NOW + timedelta(seconds=30))
    assert len(of(out, kind)) == 1 and s.automatic
    assert not of(out, CancelTimer)
    assert s.handle(TimerFired("preview/pv1/countdown"), NOW + timedelta(seconds=31)) == []


def test_reschedule_creates_callback_in_agents_zone() -> None:
    s = session()
    out = s.handle(
        PreviewReschedule("pv1", "ag1", date(2025, 3, 4), time(14, 30), "Europe/Paris",
                          CallbackAssignee.ME, "+33 1 42 68 53 01", "call after lunch"),
        NOW,
    )
    cb = of(out, CreateCallback)[0]
    assert cb.start_at == datetime(2025, 3, 4, 14, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert cb.start_at.astimezone(UTC).hour == 13
    assert cb.e164 == "+33142685301" and cb.assigned_agent_id == "ag1"
    assert cb.notes == "call after lunch" and released(out)


def test_reschedule_to_anyone_keeps_the_number() -> None:
    s = session()
    out = s.handle(PreviewReschedule("pv1", "ag1", date(2025, 3, 5), time(9), "America/New_York"),
                   NOW)
    cb = of(out, CreateCallback)[0]
    assert cb.assigned_agent_id is None and cb.e164 == TARGET.e164


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((date(2025, 3, 4), time(10), "Mars/Olympus"), "time_zone"),
        ((date(2025, 3, 1), time(10), "Europe/Paris"), "future"),
        # 02:30 does not exist in Paris on 2025-03-30 (clocks go 02:00 -> 03:00).
        ((date(2025, 3, 30), time(2, 30), "Europe/Paris"), "does not exist"),
    ],
)
def test_bad_reschedule_keeps_the_preview_open(args: tuple[Any, ...], field: str) -> None:
    s = session()
    with pytest.raises(ValueError, match=field):
        s.handle(PreviewReschedule("pv1", "ag1", *args), NOW)
    assert s.state is PreviewState.SHOWING


def test_bad_other_number_names_the_field() -> None:
    s = session()
    with pytest.raises(ValueError, match="other_number"):
        s.handle(PreviewReschedule("pv1", "ag1", date(2025, 3, 4), time(10), "Europe/Paris",
                                   other_number="12"), NOW)


def test_ambiguous_fall_back_time_is_first_occurrence() -> None:
    when = local_callback_time(date(2025, 10, 26), time(2, 30), "Europe/Paris")
    assert when.utcoffset() == timedelta(hours=2)


def test_reservation_rona_requeues() -> None:
    s = PreviewSession("pv1", "ag1", TARGET, CampaignSettings(mode=DialMode.DIRECT_PREVIEW))
    out = s.handle(AgentRona("ag1", "pv1"), NOW)
    req = of(out, RequeueTarget)[0]
    assert req.reason == "rona" and req.available_from == NOW and s.state is PreviewState.CLOSED


def test_reservation_leg_lost_requeues_and_releases() -> None:
    s = session()
    out = s.handle(AgentLegLost("ag1", "pv1"), NOW)
    assert of(out, RequeueTarget)[0].reason == "agent_phone_lost" and released(out)
    assert s.handle(AgentLegLost("ag1", "pv1"), NOW) == []


def test_preview_session_needs_preview_mode() -> None:
    with pytest.raises(ValueError, match="not a preview mode"):
        PreviewSession("pv1", "ag1", TARGET,
                       CampaignSettings(mode=DialMode.POWER, info_message="sound:x"))
