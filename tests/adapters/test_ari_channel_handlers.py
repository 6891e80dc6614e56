"""The wire-to-core translation of a dialplan-originated (AMD) channel, fed with the events a
real Asterisk 22 sent a narrowly subscribed app (shared/asterisk-traces/narrow).

Without an explicit subscription the app hears nothing after StasisEnd (surprise 27): the
StasisEnd of such a channel must end it, or the call stays "bridged" for ever. With the
subscription, ChannelDestroyed follows (surprise 29) and StasisEnd must NOT end it early:
the channel goes on in the dialplan.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from orchestrator.ari.events import parse_event
from orchestrator.core import events as ev
from orchestrator.core.commands import Command
from orchestrator.dialer.actors import Actor
from orchestrator.dialer.telephony.channels import AriChannelHandlers, ChannelDirectory

NARROW = Path(__file__).resolve().parents[3] / "shared" / "asterisk-traces" / "narrow"
pytestmark = pytest.mark.skipif(not NARROW.is_dir(), reason="shared/asterisk-traces not found")


def _load(trace: str) -> list[dict[str, object]]:
    with open(NARROW / f"{trace}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


async def _replay(trace: str, channel_id: str, *, subscribed: bool) -> list[ev.Event]:
    """Feed every recorded event of ``trace`` to the handlers; -> the core events the
    channel's owner received, in order."""
    seen: list[ev.Event] = []

    def step(event: ev.Event) -> list[Command]:
        seen.append(event)
        return []

    async def execute(_commands: list[Command], _actor: Actor) -> None:
        return None

    directory = ChannelDirectory()
    actor = Actor(channel_id, step, execute, kind="call")
    directory.register(channel_id, actor)
    # What the executor does after an originate into the dialplan (context=, no app):
    directory.mark_stasis_only(channel_id)
    if subscribed:
        directory.mark_subscribed(channel_id)
    orphans: list[str] = []
    handlers = AriChannelHandlers(directory, hangup_orphan=orphans.append,
                                  on_adopted_gone=lambda *_a: None)
    runner = asyncio.get_running_loop().create_task(actor.run())
    for d in _load(trace):
        e = parse_event(d)
        handler = getattr(handlers, f"on_{e.type}", None)
        if handler is not None:
            await handler(e)
    actor.stop()
    await runner
    assert not orphans
    return seen


async def test_stasis_end_ends_a_dialplan_channel_the_app_is_not_subscribed_to() -> None:
    # human + POST /continue: the whole trace is StasisStart, StasisEnd (surprise 27)
    seen = await _replay("amd_context_originate_human", "amdc-human", subscribed=False)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[:2] == ["CallAnswered", "AmdResult"], kinds
    gone = [e for e in seen if isinstance(e, ev.ChannelGone)]
    assert len(gone) == 1 and "StasisEnd" in gone[0].cause_txt, seen


async def test_a_deleted_machine_keeps_the_cause_of_its_hangup_request() -> None:
    # machine + DELETE: StasisStart, ChannelHangupRequest(32), StasisEnd; no ChannelDestroyed
    seen = await _replay("amd_context_originate_machine", "amdc-machine", subscribed=False)
    amd = [e for e in seen if isinstance(e, ev.AmdResult)]
    assert amd and amd[0].status is ev.AmdStatus.MACHINE
    gone = [e for e in seen if isinstance(e, ev.ChannelGone)]
    assert len(gone) == 1, seen


async def test_with_the_subscription_the_end_is_channel_destroyed_not_stasis_end() -> None:
    # subscribed: after StasisEnd come Hangup, ChannelHangupRequest 16 and ChannelDestroyed 16
    seen = await _replay("amd_context_subscribed_human", "amds-human", subscribed=True)
    gone = [e for e in seen if isinstance(e, ev.ChannelGone)]
    assert len(gone) == 1 and gone[0].cause == 16, seen
    assert "StasisEnd" not in gone[0].cause_txt
    # the ringing and the answer were heard too (the subscription's point)
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("CallRinging") < kinds.index("CallAnswered") < kinds.index("AmdResult")


async def test_a_subscribed_busy_ends_with_the_dial_status() -> None:
    seen = await _replay("amd_context_subscribed_busy", "amds-busy", subscribed=True)
    failed = [e for e in seen if isinstance(e, ev.DialFailed)]
    assert failed and failed[0].dialstatus is ev.DialStatus.BUSY, seen
    assert [e for e in seen if isinstance(e, ev.ChannelGone)], seen
