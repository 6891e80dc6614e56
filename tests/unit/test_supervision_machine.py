"""The supervision machine alone (pure): which ARI requests each mode makes, in which
order, with which snoop directions (pbxsim carries no audio, so the directions are held
here), and that ending it leaves nothing of it up."""

from __future__ import annotations

import pytest

from orchestrator.core.commands import (
    AddToBridge,
    Command,
    CreateBridge,
    DestroyBridge,
    Hangup,
    Originate,
)
from orchestrator.core.events import (
    CallAnswered,
    ChannelGone,
    DialFailed,
    DialStatus,
    OriginateRefused,
)
from orchestrator.dialer.supervision import (
    SnoopIntoBridge,
    SupervisionEnded,
    SupervisionMachine,
    SupervisionMode,
    SupervisionPhase,
)
from orchestrator.dialer.supervision.events import (
    CallLeft,
    ModeRequested,
    SnoopRefused,
    StopRequested,
    SupervisedCall,
)

SID = "5d0c1c8e-0000-4000-8000-000000000001"
CALL = SupervisedCall("a1b2c3d4-0000-4000-8000-00000000000a", "7",
                      "agent:a1b2c3d4-0000-4000-8000-00000000000a",
                      "a1b2c3d4-0000-4000-8000-00000000000a:bridge")
LEG, OWN = f"sup:{SID}", f"supervision:{SID}"


def _answered(mode: SupervisionMode) -> tuple[SupervisionMachine, list[Command]]:
    m = SupervisionMachine(SID, CALL, "PJSIP/2001", mode)
    m.start()
    return m, m.handle(CallAnswered(LEG))


def test_the_supervisors_phone_is_rung_into_our_app_on_a_leg_of_its_own() -> None:
    m = SupervisionMachine(SID, CALL, "PJSIP/2001", SupervisionMode.LISTEN)
    (orig,) = m.start()
    assert isinstance(orig, Originate)
    assert (orig.channel_id, orig.endpoint, orig.app_args) == (LEG, "PJSIP/2001",
                                                               ("supervisor", SID))
    assert orig.attempt_id is None, "not a customer leg: the dial gate checks it as a phone"
    assert m.phase is SupervisionPhase.RINGING


@pytest.mark.parametrize(("mode", "spy", "whisper"), [
    (SupervisionMode.LISTEN, "both", "none"),
    (SupervisionMode.WHISPER, "both", "out"),
])
def test_listen_and_whisper_snoop_on_the_agents_channel(mode: SupervisionMode, spy: str,
                                                        whisper: str) -> None:
    m, out = _answered(mode)
    assert out == [CreateBridge(OWN), AddToBridge(OWN, LEG),
                   SnoopIntoBridge(CALL.agent_channel_id or "", f"snoop1:{SID}", spy, whisper,
                                   OWN, SID, mode.value)]
    assert m.phase is SupervisionPhase.ACTIVE
    assert m.handle(CallAnswered(LEG)) == [], "the answer is told more than once"


def test_barge_puts_the_leg_in_the_calls_bridge() -> None:
    _, out = _answered(SupervisionMode.BARGE)
    assert out == [CreateBridge(OWN), AddToBridge(OWN, LEG), AddToBridge(CALL.bridge_id or "", LEG)]


def test_switching_modes_keeps_the_leg_and_changes_the_snoop() -> None:
    m, _ = _answered(SupervisionMode.LISTEN)
    whisper = m.handle(ModeRequested(SupervisionMode.WHISPER, CALL))
    assert whisper == [Hangup(f"snoop1:{SID}"),
                       SnoopIntoBridge(CALL.agent_channel_id or "", f"snoop2:{SID}", "both", "out",
                                       OWN, SID, "whisper")]
    barge = m.handle(ModeRequested(SupervisionMode.BARGE, CALL))
    assert barge == [Hangup(f"snoop2:{SID}"), AddToBridge(CALL.bridge_id or "", LEG)]
    back = m.handle(ModeRequested(SupervisionMode.LISTEN, CALL))
    assert back == [AddToBridge(OWN, LEG),
                    SnoopIntoBridge(CALL.agent_channel_id or "", f"snoop3:{SID}", "both", "none",
                                    OWN, SID, "listen")]
    assert m.handle(ModeRequested(SupervisionMode.LISTEN, CALL)) == []
    assert not any(isinstance(c, Originate) for c in whisper + barge + back)
    # An old snoop's end is no news; the current one's is (its agent's channel is gone).
    assert m.handle(ChannelGone(f"snoop1:{SID}", 16)) == []
    assert m.handle(ChannelGone(f"snoop3:{SID}", 16)) == [
        Hangup(LEG), DestroyBridge(OWN),
        SupervisionEnded(SID, "the agent's channel ended", False)]


def test_a_mode_asked_while_ringing_applies_on_answer() -> None:
    m = SupervisionMachine(SID, CALL, "PJSIP/2001", SupervisionMode.LISTEN)
    m.start()
    assert m.handle(ModeRequested(SupervisionMode.BARGE, CALL)) == []
    assert m.handle(CallAnswered(LEG))[-1] == AddToBridge(CALL.bridge_id or "", LEG)


def test_stopping_hangs_up_everything_of_ours_once() -> None:
    m, _ = _answered(SupervisionMode.WHISPER)
    out = m.handle(StopRequested("stopped by the supervisor"))
    assert out == [Hangup(f"snoop1:{SID}"), Hangup(LEG), DestroyBridge(OWN),
                   SupervisionEnded(SID, "stopped by the supervisor", True)]
    assert m.ended and m.handle(CallLeft("the call is ended")) == []
    assert m.handle(ChannelGone(LEG, 16)) == []


def test_the_calls_end_while_barging_takes_the_leg_out() -> None:
    m, _ = _answered(SupervisionMode.BARGE)
    assert m.handle(CallLeft("the call is hanging up")) == [
        Hangup(LEG), DestroyBridge(OWN), SupervisionEnded(SID, "the call is hanging up", False)]


@pytest.mark.parametrize("event", [
    DialFailed(LEG, DialStatus.BUSY),
    OriginateRefused(LEG, 400, "dial refused"),
    ChannelGone(LEG, 19),
])
def test_a_phone_that_never_answers_ends_it_with_no_bridge(event: object) -> None:
    m = SupervisionMachine(SID, CALL, "PJSIP/2001", SupervisionMode.LISTEN)
    m.start()
    out = m.handle(event)  # type: ignore[arg-type]
    assert not any(isinstance(c, DestroyBridge | SnoopIntoBridge) for c in out)
    assert isinstance(out[-1], SupervisionEnded) and not out[-1].audited
    hung_up = [c for c in out if isinstance(c, Hangup)]
    assert hung_up == ([] if isinstance(event, OriginateRefused | ChannelGone) else [Hangup(LEG)])


def test_a_refused_snoop_ends_it_and_is_hung_up_if_it_was_made() -> None:
    m, _ = _answered(SupervisionMode.LISTEN)
    assert m.handle(SnoopRefused("snoop9:other", "404")) == []
    out = m.handle(SnoopRefused(f"snoop1:{SID}", "Channel not found"))
    assert out[:3] == [Hangup(f"snoop1:{SID}"), Hangup(LEG), DestroyBridge(OWN)]


def test_ids_never_prefix_one_another() -> None:
    """Asterisk refuses a new channel id that prefixes a live one (narrow surprise 31)."""
    m, _ = _answered(SupervisionMode.LISTEN)
    for n in range(2, 12):
        m.handle(ModeRequested(SupervisionMode.WHISPER if n % 2 == 0 else SupervisionMode.LISTEN, CALL))
    ids = [*m.channel_ids, CALL.attempt_id, CALL.agent_channel_id or ""]
    assert len(m.snoop_ids) == 11
    for a in ids:
        for b in ids:
            assert a == b or not b.casefold().startswith(a.casefold()), (a, b)
