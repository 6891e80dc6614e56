"""The state machine of one logged-in agent.

States (MISSION D): Logged out, Not ready (reason code), Available, Reserved,
Ringing, On call, Hold, Consulting, Conferencing, Wrap-up. ::

    logged_out -login-> not_ready -ready-> available -reserved-> reserved
    reserved -leg ringing-> ringing -leg answered-> on_call
    reserved/ringing -connected-> on_call <-> hold / consulting -> conferencing
    on_call -call ended-> wrap_up -disposition or countdown-> available
    reserved/ringing/on_call(not connected) -released-> available
    ringing -RONA-> not_ready("RONA")

Requests that the state does not allow raise :class:`AgentStateError`
naming the state and the event. Not ready and logout asked during a call are
deferred to its end. Notifications about a call the agent no longer holds
(late releases, duplicates) are ignored.

The phone (:mod:`~orchestrator.core.agents.phone`): per-call ringing (the call
machine dials the agent's phone for each call), or a nailed-up line this machine
dials at login and keeps open between calls, in the agent's own bridge. Preview
reservation calls are also dialed here and kept until the previewed call ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from orchestrator.core.agents.commands import (
    PublishAgentState,
    RecordDisposition,
    ReservationReady,
)
from orchestrator.core.agents.events import (
    AgentCallEnded,
    AgentConnected,
    AgentDisposition,
    AgentHangupRequest,
    AgentLeftCall,
    AgentLegAnswered,
    AgentLegLost,
    AgentLegRinging,
    AgentLogin,
    AgentLogout,
    AgentNotReady,
    AgentReady,
    AgentReleased,
    AgentReserved,
    AgentRona,
    ConferenceEnd,
    ConferenceStart,
    ConsultEnd,
    ConsultStart,
    HoldRequest,
    UnholdRequest,
)
from orchestrator.core.agents.phone import AgentLeg, LegState, PhoneMode, Station
from orchestrator.core.agents.states import (
    LOGIN_REASON,
    PHONE_FAULTS_MAX,
    PHONE_LOST_REASON,
    PHONE_RETRY_FIRST_S,
    PHONE_RETRY_MAX_S,
    PHONE_UNREACHABLE_REASON,
    RONA_REASON,
    AgentState,
    AgentStateError,
)
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.core.common import (
    Command,
    Event,
    NotifyCall,
    TimerFired,
    Timers,
    check_aware,
)
from orchestrator.core.telephony.commands import Hangup
from orchestrator.core.telephony.events import (
    CallAnswered,
    CallRinging,
    ChannelGone,
    DialFailed,
    OriginateAccepted,
    OriginateRefused,
)

__all__ = ["AgentMachine"]

_StationEvent = (
    OriginateAccepted | CallRinging | OriginateRefused | CallAnswered | DialFailed | ChannelGone
)
"Wire facts about the agent's own leg."

_IN_CALL = frozenset(
    {AgentState.ON_CALL, AgentState.HOLD, AgentState.CONSULTING, AgentState.CONFERENCING}
)
_OFFERED = frozenset({AgentState.RESERVED, AgentState.RINGING})
_BUSY = _OFFERED | _IN_CALL | {AgentState.WRAP_UP}

#: Consultation and conference requests: the states each is allowed from, and where it leads.
_CONSULT_STEPS: dict[type[Event], tuple[frozenset[AgentState], AgentState]] = {
    ConsultStart: (frozenset({AgentState.ON_CALL, AgentState.HOLD}), AgentState.CONSULTING),
    ConsultEnd: (frozenset({AgentState.CONSULTING}), AgentState.ON_CALL),
    ConferenceStart: (frozenset({AgentState.CONSULTING}), AgentState.CONFERENCING),
    ConferenceEnd: (frozenset({AgentState.CONFERENCING}), AgentState.ON_CALL),
}


class AgentMachine:
    """One agent; ``campaigns`` maps campaign ids to their (current) settings."""

    def __init__(self, agent_id: str, campaigns: Mapping[str, CampaignSettings]) -> None:
        if not agent_id:
            raise ValueError("agent_id: must not be empty")
        self.agent_id = agent_id
        self._campaigns = campaigns
        self.state = AgentState.LOGGED_OUT
        self.reason = ""
        self.attempt_id: str | None = None
        "The call or preview the agent is reserved for / on."
        self.campaign_id: str | None = None
        self.connected = False
        "True once a customer was bridged with the agent in the current call."
        self.state_since: datetime | None = None
        self.station = Station(agent_id)
        "The agent's own leg (nailed-up line, reservation call) and bridge."
        self.phone_faults = 0
        "Phone faults in a row (reset when the phone answers)."
        self.phone_retry_at: datetime | None = None
        "No call is offered before this instant after a phone fault."
        self._ready_when_leg_up = False
        self._pending_not_ready: str | None = None
        self._pending_logout = False
        self._pending_disposition: AgentDisposition | None = None
        self._timers = Timers(f"agent/{agent_id}")

    # ------------------------------------------------------------ queries

    @property
    def can_take_call(self) -> bool:
        """True when the dialer may reserve this agent."""
        return self.state is AgentState.AVAILABLE

    @property
    def logged_in(self) -> bool:
        """True unless logged out."""
        return self.state is not AgentState.LOGGED_OUT

    @property
    def channel_ids(self) -> tuple[str, ...]:
        """Channel ids this machine wants events for (its own leg)."""
        return (self.leg_id,) if self.leg_id is not None else ()

    @property
    def endpoint(self) -> str:
        """The phone the agent logged in with."""
        return self.station.endpoint

    @property
    def phone_mode(self) -> PhoneMode:
        """Per-call ringing or a nailed-up line."""
        return self.station.mode

    @property
    def leg_id(self) -> str | None:
        """The agent's own leg, if one is dialing or up."""
        return self.station.leg_id

    @property
    def leg_state(self) -> LegState:
        """State of the agent's own leg."""
        return self.station.leg_state

    @property
    def bridge_id(self) -> str:
        """The agent's own bridge (holds the nailed-up or reservation leg)."""
        return self.station.bridge_id

    def phone_leg(self) -> AgentLeg:
        """What a call needs to reach this agent: the endpoint, and the leg if it is up."""
        return self.station.leg()

    # ------------------------------------------------------------- events

    def handle(self, event: Event, now: datetime) -> list[Command]:
        """Apply one event; return the commands to execute, in order."""
        check_aware(now)
        agent_id = getattr(event, "agent_id", None)
        if agent_id is not None and agent_id != self.agent_id:
            raise ValueError(f"agent_id: event for {agent_id!r} sent to agent {self.agent_id!r}")
        match event:
            case AgentLogin():
                return self._on_login(event, now)
            case AgentLogout():
                return self._on_logout(event, now)
            case AgentReady():
                return self._on_ready(event, now)
            case AgentNotReady():
                return self._on_not_ready(event, now)
            case AgentReserved():
                return self._on_reserved(event, now)
            case AgentLegRinging():
                return self._on_leg_ringing(event, now)
            case AgentLegAnswered():
                return self._on_leg_answered(event, now)
            case AgentConnected():
                return self._on_connected(event, now)
            case AgentReleased():
                return self._on_released(event, now)
            case AgentLeftCall():
                return self._on_left_call(event, now)
            case AgentCallEnded():
                return self._on_call_ended(event, now)
            case AgentRona():
                return self._on_rona(event, now)
            case AgentDisposition():
                return self._on_disposition(event, now)
            case HoldRequest() | UnholdRequest() | AgentHangupRequest():
                return self._on_call_control(event, now)
            case ConsultStart() | ConsultEnd() | ConferenceStart() | ConferenceEnd():
                return self._on_consult(event, now)
            case TimerFired():
                return self._on_timer(event, now)
            case (OriginateAccepted() | CallRinging() | OriginateRefused() | CallAnswered()
                  | DialFailed() | ChannelGone()):
                return self._on_station_event(event, now)
        raise TypeError(f"agent {self.agent_id}: unexpected event {type(event).__name__}")

    # ------------------------------------------------- the agent's requests

    def _on_login(self, ev: AgentLogin, now: datetime) -> list[Command]:
        # Before the state check: a refused second login only starts a new series
        # of leg ids, still unique.
        self.station.new_epoch(now)
        if self.state is not AgentState.LOGGED_OUT:
            raise AgentStateError(self.agent_id, self.state, ev, "already logged in")
        if not ev.endpoint.strip():
            raise ValueError("endpoint: must not be empty")
        self.station.plug(ev.endpoint.strip(), ev.nailed_up)
        self._pending_logout = False
        self._pending_not_ready = None
        out = self._set_state(AgentState.NOT_READY, now, LOGIN_REASON)
        if self.station.nailed_up:
            out += self.station.dial(reservation=False)
        return out

    def _on_logout(self, ev: AgentLogout, now: datetime) -> list[Command]:
        if self.state is AgentState.LOGGED_OUT:
            raise AgentStateError(self.agent_id, self.state, ev, "not logged in")
        if self.state in _BUSY:
            self._pending_logout = True
            return []
        return self._logout(now)

    def _on_ready(self, ev: AgentReady, now: datetime) -> list[Command]:
        if self.state is not AgentState.NOT_READY:
            raise AgentStateError(self.agent_id, self.state, ev)
        if self.phone_retry_at is not None and now < self.phone_retry_at:
            wait = (self.phone_retry_at - now).total_seconds()
            raise AgentStateError(self.agent_id, self.state, ev,
                                  f"phone unreachable: try again in {wait:.0f} s")
        if self.station.nailed_up and self.station.leg_state is not LegState.UP:
            # Available only with a working line: (re)dial it, ready once it answers.
            self._ready_when_leg_up = True
            if self.station.leg_state is LegState.DOWN:
                return self.station.dial(reservation=False)
            return []
        return self._set_state(AgentState.AVAILABLE, now)

    def _on_not_ready(self, ev: AgentNotReady, now: datetime) -> list[Command]:
        reason = ev.reason.strip()
        if not reason:
            raise ValueError("reason: a not-ready reason code is required")
        if self.state is AgentState.LOGGED_OUT:
            raise AgentStateError(self.agent_id, self.state, ev, "not logged in")
        if self.state in _BUSY:
            self._pending_not_ready = reason
            return []
        self._ready_when_leg_up = False
        return self._set_state(AgentState.NOT_READY, now, reason)

    def _on_disposition(self, ev: AgentDisposition, now: datetime) -> list[Command]:
        if not ev.code.strip():
            raise ValueError("code: a wrap-up code is required")
        if not self._holds(ev.attempt_id):
            raise AgentStateError(
                self.agent_id, self.state, ev, f"not handling call {ev.attempt_id}"
            )
        if self.state is AgentState.WRAP_UP:
            out: list[Command] = [
                self._timers.cancel("wrapup"),
                self._disposition(ev.code.strip(), now, automatic=False, notes=ev.notes),
            ]
            return out + self._finish(now)
        if self.state in _IN_CALL and self.connected:
            # One-click Answering machine / Fax: recorded when the call ends, no wrap-up.
            self._pending_disposition = ev
            return []
        raise AgentStateError(self.agent_id, self.state, ev)

    def _on_call_control(
        self, ev: HoldRequest | UnholdRequest | AgentHangupRequest, now: datetime
    ) -> list[Command]:
        if not self._holds(ev.attempt_id):
            raise AgentStateError(
                self.agent_id, self.state, ev, f"not handling call {ev.attempt_id}"
            )
        state = self.state
        if isinstance(ev, HoldRequest):
            if state is AgentState.CONSULTING:
                raise AgentStateError(self.agent_id, state, ev, "hold is for a plain call: during "
                                      "a consultation switch between the parties")
            if state is not AgentState.ON_CALL or not self.connected:
                raise AgentStateError(self.agent_id, state, ev)
            return self._set_state(AgentState.HOLD, now) + [NotifyCall(ev.attempt_id, ev)]
        if isinstance(ev, UnholdRequest):
            if state is not AgentState.HOLD:
                raise AgentStateError(self.agent_id, state, ev)
            return self._set_state(AgentState.ON_CALL, now) + [NotifyCall(ev.attempt_id, ev)]
        if state in (AgentState.HOLD, AgentState.CONSULTING):
            raise AgentStateError(self.agent_id, state, ev, "a held call cannot be ended (during "
                                  "a consultation the customer is held)")
        if state is AgentState.CONFERENCING:
            return [NotifyCall(ev.attempt_id, ev)]  # hanging up a conference is leaving it
        if state not in (AgentState.ON_CALL, AgentState.RESERVED, AgentState.RINGING):
            raise AgentStateError(self.agent_id, state, ev)
        # The call machine decides (end, or cancel while ringing) and reports back.
        return [NotifyCall(ev.attempt_id, ev)]

    def _on_consult(
        self, ev: ConsultStart | ConsultEnd | ConferenceStart | ConferenceEnd, now: datetime
    ) -> list[Command]:
        if not self._holds(ev.attempt_id):
            raise AgentStateError(
                self.agent_id, self.state, ev, f"not handling call {ev.attempt_id}"
            )
        sources, target = _CONSULT_STEPS[type(ev)]
        if self.state not in sources or not self.connected:
            raise AgentStateError(self.agent_id, self.state, ev)
        return self._set_state(target, now)

    # ---------------------------------------------------- the offered call

    def _on_reserved(self, ev: AgentReserved, now: datetime) -> list[Command]:
        if self.state is not AgentState.AVAILABLE:
            raise AgentStateError(self.agent_id, self.state, ev, "only an Available agent")
        if ev.campaign_id not in self._campaigns:
            raise ValueError(f"campaign_id: unknown campaign {ev.campaign_id!r}")
        self.attempt_id = ev.attempt_id
        self.campaign_id = ev.campaign_id
        self.connected = False
        self._pending_disposition = None
        out = self._set_state(AgentState.RESERVED, now)
        station = self.station
        if ev.reservation_call:
            if station.leg_state is LegState.UP and station.leg_id is not None:
                out.append(
                    ReservationReady(self.agent_id, ev.attempt_id, station.leg_id, station.bridge_id)
                )
            else:
                out += station.dial(reservation=True)
                out += self._set_state(AgentState.RINGING, now)
                out.append(self._timers.start("rona", now + self._rona_delay()))
        return out

    def _on_leg_ringing(self, ev: AgentLegRinging, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id) or self.state is not AgentState.RESERVED:
            return []
        out = self._set_state(AgentState.RINGING, now)
        out.append(self._timers.start("rona", now + self._rona_delay()))
        return out

    def _on_leg_answered(self, ev: AgentLegAnswered, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id) or self.state not in _OFFERED:
            return []
        self._phone_works()
        return [self._timers.cancel("rona")] + self._set_state(AgentState.ON_CALL, now)

    def _on_connected(self, ev: AgentConnected, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id):
            return []
        if self.state not in _OFFERED | {AgentState.ON_CALL}:
            return []
        self.connected = True
        out: list[Command] = [self._timers.cancel("rona")]
        if self.state is not AgentState.ON_CALL:
            out += self._set_state(AgentState.ON_CALL, now)
        return out

    def _on_released(self, ev: AgentReleased, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id):
            return []
        if self.state in _OFFERED or (self.state is AgentState.ON_CALL and not self.connected):
            out: list[Command] = [self._timers.cancel("rona")]
            out += self.station.drop_reservation_leg()
            return out + self._finish(now)
        return []

    def _on_left_call(self, ev: AgentLeftCall, now: datetime) -> list[Command]:
        # A consulted or conferenced agent: the call goes on without them, and its
        # wrap-up belongs to the agent in control.
        if not self._holds(ev.attempt_id) or self.state not in _IN_CALL | _OFFERED:
            return []
        out: list[Command] = [self._timers.cancel("rona")]
        out += self.station.drop_reservation_leg()
        return out + self._finish(now)

    def _on_call_ended(self, ev: AgentCallEnded, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id) or self.state not in _IN_CALL | _OFFERED:
            return []
        out: list[Command] = [self._timers.cancel("rona")]
        out += self.station.drop_reservation_leg()
        if not self.connected:
            return out + self._finish(now)  # never talked to the customer: nothing to wrap up
        settings = self._settings()
        pending = self._pending_disposition
        if pending is not None:
            self._pending_disposition = None
            out.append(self._disposition(pending.code, now, automatic=False, notes=pending.notes))
            return out + self._finish(now)
        if settings.wrapup_s == 0:
            out.append(self._disposition(settings.default_wrapup_code, now, automatic=True))
            return out + self._finish(now)
        out += self._set_state(AgentState.WRAP_UP, now)
        out.append(self._timers.start("wrapup", now + timedelta(seconds=settings.wrapup_s)))
        return out

    def _on_rona(self, ev: AgentRona, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id) or self.state not in _OFFERED | {AgentState.ON_CALL}:
            return []
        if self.state is AgentState.ON_CALL and self.connected:
            return []
        if ev.phone_failed:
            return self._phone_fault(now)
        return self._rona(now, notify_call=False)

    def _on_timer(self, ev: TimerFired, now: datetime) -> list[Command]:
        purpose = self._timers.fired(ev.name)
        if purpose == "wrapup" and self.state is AgentState.WRAP_UP:
            code = self._settings().default_wrapup_code
            return [self._disposition(code, now, automatic=True)] + self._finish(now)
        if purpose == "rona" and self.state is AgentState.RINGING:
            return self._rona(now, notify_call=True)
        if purpose == "phone_retry":
            self.phone_retry_at = None
            if (self.state is AgentState.NOT_READY and self.reason == PHONE_UNREACHABLE_REASON
                    and self.phone_faults < PHONE_FAULTS_MAX):
                return self._set_state(AgentState.AVAILABLE, now)  # a passing fault: try again
        return []

    # ----------------------------------------------------- the agent's leg

    def _on_station_event(self, ev: _StationEvent, now: datetime) -> list[Command]:
        """A wire fact about the agent's own leg; facts about an earlier leg are late."""
        if not self.station.is_current(ev.channel_id):
            return []
        match ev:
            case OriginateRefused() if ev.status != 409:
                return self._on_leg_down(now)
            case CallAnswered():
                return self._on_station_answered(now)
            case DialFailed() if (ev.dialstatus.is_final
                                  and self.station.leg_state is LegState.DIALING):
                out: list[Command] = [Hangup(ev.channel_id)]
                return out + self._on_leg_down(now)
            case ChannelGone():
                return self._on_leg_down(now)
        return []

    def _on_station_answered(self, now: datetime) -> list[Command]:
        station = self.station
        out = station.answered()
        if not out:
            return []
        assert station.leg_id is not None
        self._phone_works()
        if station.for_reservation and self.state is AgentState.RINGING:
            assert self.attempt_id is not None
            out.append(self._timers.cancel("rona"))
            out += self._set_state(AgentState.RESERVED, now)
            out.append(
                ReservationReady(self.agent_id, self.attempt_id, station.leg_id, station.bridge_id)
            )
        elif self._ready_when_leg_up and self.state is AgentState.NOT_READY:
            self._ready_when_leg_up = False
            out += self._set_state(AgentState.AVAILABLE, now)
        return out

    def _on_leg_down(self, now: datetime) -> list[Command]:
        was, reservation = self.station.lost()
        if was is LegState.DOWN:
            return []
        state = self.state
        nailed_up = self.station.nailed_up
        if reservation and state is AgentState.RINGING:
            return self._rona(now, notify_call=True)
        if state in _IN_CALL | _OFFERED and self.attempt_id is not None:
            if nailed_up:
                self._pending_not_ready = self._pending_not_ready or PHONE_LOST_REASON
            return [NotifyCall(self.attempt_id, AgentLegLost(self.agent_id, self.attempt_id))]
        if nailed_up and state in (AgentState.AVAILABLE, AgentState.NOT_READY):
            self._ready_when_leg_up = False
            if state is AgentState.AVAILABLE or self.reason == LOGIN_REASON:
                return self._set_state(AgentState.NOT_READY, now, PHONE_LOST_REASON)
        if nailed_up and state is AgentState.WRAP_UP:
            self._pending_not_ready = self._pending_not_ready or PHONE_LOST_REASON
        return []

    # --------------------------------------------------------- transitions

    def _rona(self, now: datetime, notify_call: bool, reason: str = RONA_REASON) -> list[Command]:
        attempt = self.attempt_id
        out: list[Command] = [self._timers.cancel("rona")]
        out += self.station.drop_reservation_leg()
        if notify_call and attempt is not None:
            out.append(NotifyCall(attempt, AgentRona(self.agent_id, attempt)))
        self.attempt_id = None
        self.campaign_id = None
        self.connected = False
        out += self._set_state(AgentState.NOT_READY, now, reason)
        return out

    def _phone_fault(self, now: datetime) -> list[Command]:
        """The phone could not be made to ring: Not ready "Phone unreachable", with a back-off
        before the next offer. A few faults in a row and it stays Not ready until the agent
        says Ready (after the back-off): offering calls to a dead phone would abandon every
        answered customer meant for it."""
        self.phone_faults += 1
        wait = min(PHONE_RETRY_MAX_S, PHONE_RETRY_FIRST_S * 2 ** (self.phone_faults - 1))
        self.phone_retry_at = now + timedelta(seconds=wait)
        out = self._rona(now, notify_call=False, reason=PHONE_UNREACHABLE_REASON)
        return out + [self._timers.start("phone_retry", self.phone_retry_at)]

    def _phone_works(self) -> None:
        self.phone_faults = 0
        self.phone_retry_at = None

    def _finish(self, now: datetime) -> list[Command]:
        """Leave a call or reservation: apply deferred logout / not ready, else Available."""
        self.attempt_id = None
        self.campaign_id = None
        self.connected = False
        self._pending_disposition = None
        if self._pending_logout:
            return self._logout(now)
        if self._pending_not_ready is not None:
            reason, self._pending_not_ready = self._pending_not_ready, None
            return self._set_state(AgentState.NOT_READY, now, reason)
        if self.station.nailed_up and self.station.leg_state is not LegState.UP:
            return self._set_state(AgentState.NOT_READY, now, PHONE_LOST_REASON)
        return self._set_state(AgentState.AVAILABLE, now)

    def _logout(self, now: datetime) -> list[Command]:
        out: list[Command] = [*self._timers.cancel_all(), *self.station.unplug()]
        self._ready_when_leg_up = False
        self._pending_logout = False
        self._pending_not_ready = None
        return out + self._set_state(AgentState.LOGGED_OUT, now)

    def _disposition(
        self, code: str, now: datetime, automatic: bool, notes: str = ""
    ) -> RecordDisposition:
        return RecordDisposition(
            agent_id=self.agent_id,
            code=code,
            at=now,
            attempt_id=self.attempt_id,
            automatic=automatic,
            notes=notes,
        )

    def _set_state(self, state: AgentState, now: datetime, reason: str = "") -> list[Command]:
        self.state = state
        self.reason = reason if state is AgentState.NOT_READY else ""
        self.state_since = now
        return [
            PublishAgentState(self.agent_id, state.value, now, self.reason, self.attempt_id)
        ]

    # ------------------------------------------------------------- helpers

    def _holds(self, attempt_id: str) -> bool:
        return self.attempt_id is not None and self.attempt_id == attempt_id

    def _settings(self) -> CampaignSettings:
        assert self.campaign_id is not None
        return self._campaigns[self.campaign_id]

    def _rona_delay(self) -> timedelta:
        return timedelta(seconds=self._settings().rona_s)
