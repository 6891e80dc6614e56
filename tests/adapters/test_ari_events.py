"""Typed ARI events parsed from the traces recorded on a real Asterisk 22.10.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.ari import (
    APP_KEY,
    ApplicationReplaced,
    AriEventParseError,
    ChannelDestroyed,
    ChannelHangupRequest,
    ChannelUserevent,
    ChannelVarset,
    Dial,
    GenericEvent,
    PlaybackStarted,
    RecordingFailed,
    StasisStart,
    dispatch_by_name,
    parse_event,
)
from orchestrator.ari.events import TYPED_EVENTS

TRACES = Path(__file__).resolve().parents[3] / "shared" / "asterisk-traces"
pytestmark = pytest.mark.skipif(not TRACES.is_dir(), reason="shared/asterisk-traces not found")


def _trace_events() -> list[dict[str, object]]:
    out = []
    for path in sorted(TRACES.rglob("*.jsonl")):
        if path.name.endswith(".actions.jsonl"):
            continue
        for line in path.read_text().splitlines():
            d = json.loads(line)
            if "type" in d:
                out.append(d)
    return out


def test_every_recorded_event_parses_with_a_key() -> None:
    events = [parse_event(d) for d in _trace_events()]
    assert len(events) > 3000
    seen = {e.type for e in events if not isinstance(e, GenericEvent)}
    # every typed wrapper is exercised by a real recording
    assert seen == TYPED_EVENTS
    for e in events:
        assert e.ordering_key  # never empty
        if isinstance(e, GenericEvent):
            assert e.type not in TYPED_EVENTS


def test_semantics_from_the_traces() -> None:
    by_file = {p.stem: [parse_event(json.loads(line)) for line in p.read_text().splitlines()]
               for p in TRACES.glob("*.jsonl") if not p.name.endswith(".actions.jsonl")}
    busy = by_file["originate_busy"]
    dial_statuses = [e.dialstatus for e in busy if isinstance(e, Dial)]
    assert "BUSY" in dial_statuses  # the reliable busy signal (surprise 1)
    destroyed = [e for e in busy if isinstance(e, ChannelDestroyed)]
    # ;2 and ;1 are ordered under the same key; ;1 says cause 0, ;2 says 17
    assert {e.ordering_key for e in destroyed} == {"ob-cust"}
    assert sorted(e.cause for e in destroyed) == [0, 17]

    hangup = [e for e in by_file["hangup"] if isinstance(e, ChannelHangupRequest)]
    assert any(e.cause == 32 and e.soft for e in hangup)  # surprise 3

    amd = [e for e in by_file["amd_machine"] if isinstance(e, StasisStart)]
    assert amd[0].args[:2] == ("amd", "MACHINE")
    varsets = [e for e in by_file["amd_machine"] if isinstance(e, ChannelVarset)]
    assert any(e.variable == "AMDSTATUS" and e.value == "MACHINE" for e in varsets)


def test_keys_for_bridges_playbacks_and_app_events() -> None:
    pb = parse_event({"type": "PlaybackStarted", "playback": {
        "id": "p", "media_uri": "sound:x", "target_uri": "bridge:b1", "state": "playing"}})
    assert isinstance(pb, PlaybackStarted) and pb.ordering_key == "bridge:b1"
    rf = parse_event({"type": "RecordingFailed", "recording": {
        "name": "r", "format": "wav", "state": "failed", "target_uri": "channel:c1;2",
        "cause": "Cannot record channel while in bridge"}})
    assert isinstance(rf, RecordingFailed) and rf.ordering_key == "c1"
    assert rf.recording.cause.startswith("Cannot record")
    ue = parse_event({"type": "ChannelUserevent", "eventname": "X", "userevent": {}})
    assert isinstance(ue, ChannelUserevent) and ue.ordering_key == APP_KEY
    ar = parse_event({"type": "ApplicationReplaced", "application": "dialer"})
    assert isinstance(ar, ApplicationReplaced) and ar.ordering_key == APP_KEY
    gen = parse_event({"type": "ChannelDtmfReceived", "digit": "1",
                       "channel": {"id": "c9;2", "name": "n", "state": "Up"}})
    assert isinstance(gen, GenericEvent) and gen.ordering_key == "c9"


@pytest.mark.parametrize("bad", [[], {"no": "type"}, {"type": "StasisStart"},
                                 {"type": "Dial", "peer": "nope"}])
def test_malformed_events_are_refused(bad: object) -> None:
    with pytest.raises(AriEventParseError):
        parse_event(bad)  # type: ignore[arg-type]


async def test_dispatch_by_name_calls_wire_named_methods() -> None:
    calls: list[str] = []

    class Stasis:
        async def on_StasisStart(self, ev: StasisStart) -> None:
            calls.append("start:" + ev.channel.id)

    async def other(ev: object) -> None:
        calls.append("other")

    handle = dispatch_by_name(Stasis(), fallback=other)
    await handle(parse_event({"type": "StasisStart", "args": [],
                              "channel": {"id": "a1", "name": "n", "state": "Up"}}))
    await handle(parse_event({"type": "StasisEnd",
                              "channel": {"id": "a1", "name": "n", "state": "Up"}}))
    assert calls == ["start:a1", "other"]
