"""Agents: the state machine of one logged-in agent and their phone.

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

The phone: per-call ringing (the call machine dials the agent's phone for
each call), or a nailed-up line this machine dials at login and keeps open
between calls, in the agent's own bridge. Preview reservation calls are also
dialed here and kept until the previewed call ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from orchestrator.core.calls import AgentLeg
from orchestrator.core.campaigns import CampaignSettings
from orchestrator.core.commands import (
    AddToBridge,
    CancelTimer,
    Command,
    CreateBridge,
    DestroyBridge,
    Hangup,
    NotifyCall,
    Originate,
    PublishAgentState,
    RecordDisposition,
    ReservationReady,
    StartTimer,
)
from orchestrator.core.events import (
    AgentCallEnded,
    AgentConnected,
    AgentDisposition,
    AgentHangupRequest,
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
    CallAnswered,
    CallRinging,
    ChannelGone,
    ConferenceEnd,
    ConferenceStart,
    ConsultEnd,
    ConsultStart,
    DialFailed,
    Event,
    HoldRequest,
    OriginateAccepted,
    OriginateRefused,
    TimerFired,
    UnholdRequest,
)

__all__ = [
    "AgentMachine",
    "AgentState",
    "AgentStateError",
    "LegState",
    "PhoneMode",
    "PHONE_UNREACHABLE_REASON",
    "RONA_REASON",
    "longest_idle",
]

RONA_REASON = "RONA"
"Not-ready reason after an offered call was not answered."
PHONE_LOST_REASON = "phone_lost"
"Not-ready reason when the agent's nailed-up line dropped or could not be dialed."
PHONE_UNREACHABLE_REASON = "Phone unreachable"
"Not-ready reason when the agent's phone could not be made to ring (not a RONA)."
#: After this many phone faults in a row the agent stays Not ready until they say Ready.
PHONE_FAULTS_MAX = 3
#: Back-off before the next offer after a phone fault: doubles per fault, up to the max.
PHONE_RETRY_FIRST_S = 5.0
PHONE_RETRY_MAX_S = 300.0
LOGIN_REASON = "login"
"Not-ready reason right after login."
#: How long the agent's phone may ring for a nailed-up line or reservation call.
STATION_RING_S = 30


class AgentState(StrEnum):
    """Agent states (MISSION D)."""

    LOGGED_OUT = "logged_out"
    NOT_READY = "not_ready"
    AVAILABLE = "available"
    RESERVED = "reserved"
    RINGING = "ringing"
    ON_CALL = "on_call"
    HOLD = "hold"
    CONSULTING = "consulting"
    CONFERENCING = "conferencing"
    WRAP_UP = "wrap_up"


class PhoneMode(StrEnum):
    """How the agent's phone is used."""

    PER_CALL = "per_call"
    NAILED_UP = "nailed_up"


class LegState(StrEnum):
    """State of the agent's own (nailed-up or reservation) leg."""

    DOWN = "down"
    DIALING = "dialing"
    UP = "up"


class AgentStateError(Exception):
    """An event the agent's current state does not allow."""

    def __init__(self, agent_id: str, state: AgentState, event: Event, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(
            f"agent {agent_id}: {type(event).__name__} not allowed in state {state.value}{detail}"
        )
        self.state = state
        self.event = event


_IN_CALL = frozenset(
    {AgentState.ON_CALL, AgentState.HOLD, AgentState.CONSULTING, AgentState.CONFERENCING}
)
_OFFERED = frozenset({AgentState.RESERVED, AgentState.RINGING})
_BUSY = _OFFERED | _IN_CALL | {AgentState.WRAP_UP}


class AgentMachine:
    """One agent; ``campaigns`` maps campaign ids to their (current) settings."""

    def __init__(self, agent_id: str, campaigns: Mapping[str, CampaignSettings]) -> None:
        if not agent_id:
            raise ValueError("agent_id: must not be empty")
        self.agent_id = agent_id
        self._campaigns = campaigns
        self.state = AgentState.LOGGED_OUT
        self.reason = ""
        self.endpoint = ""
        self.phone_mode = PhoneMode.PER_CALL
        self.attempt_id: str | None = None
        "The call or preview the agent is reserved for / on."
        self.campaign_id: str | None = None
        self.connected = False
        "True once a customer was bridged with the agent in the current call."
        self.state_since: datetime | None = None
        self.leg_id: str | None = None
        self.leg_state = LegState.DOWN
        self.bridge_id = f"agent/{agent_id}/bridge"
        self._bridge_made = False
        self._leg_seq = 0
        self._leg_epoch = ""
        self.phone_faults = 0
        "Phone faults in a row (reset when the phone answers)."
        self.phone_retry_at: datetime | None = None
        "No call is offered before this instant after a phone fault."
        self._leg_for_reservation = False
        self._ready_when_leg_up = False
        self._pending_not_ready: str | None = None
        self._pending_logout = False
        self._pending_disposition: AgentDisposition | None = None
        self._timers: set[str] = set()

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

    def phone_leg(self) -> AgentLeg:
        """What a call needs to reach this agent: the endpoint, and the leg if it is up."""
        if self.leg_state is LegState.UP and self.leg_id is not None:
            return AgentLeg(self.agent_id, self.endpoint, self.leg_id, self.bridge_id)
        return AgentLeg(self.agent_id, self.endpoint)

    # ------------------------------------------------------------- events

    def handle(self, event: Event, now: datetime) -> list[Command]:
        """Apply one event; return the commands to execute, in order."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now: must be a timezone-aware datetime")
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
            case AgentCallEnded():
                return self._on_call_ended(event, now)
            case AgentRona():
                if self._holds(event.attempt_id) and self.state in _OFFERED | {
                    AgentState.ON_CALL
                }:
                    if self.state is AgentState.ON_CALL and self.connected:
                        return []
                    if event.phone_failed:
                        return self._phone_fault(now)
                    return self._rona(now, notify_call=False)
                return []
            case AgentDisposition():
                return self._on_disposition(event, now)
            case HoldRequest() | UnholdRequest() | AgentHangupRequest():
                return self._on_call_control(event, now)
            case ConsultStart() | ConsultEnd() | ConferenceStart() | ConferenceEnd():
                return self._on_consult(event, now)
            case TimerFired():
                return self._on_timer(event, now)
            case OriginateAccepted() | CallRinging():
                self._is_current_leg(event.channel_id)
                return []
            case OriginateRefused():
                if not self._is_current_leg(event.channel_id) or event.status == 409:
                    return []
                return self._on_leg_down(now)
            case CallAnswered():
                if not self._is_current_leg(event.channel_id):
                    return []
                return self._on_station_answered(now)
            case DialFailed():
                if not self._is_current_leg(event.channel_id):
                    return []
                if event.dialstatus.is_final and self.leg_state is LegState.DIALING:
                    out: list[Command] = [Hangup(event.channel_id)]
                    return out + self._on_leg_down(now)
                return []
            case ChannelGone():
                if not self._is_current_leg(event.channel_id):
                    return []
                return self._on_leg_down(now)
        raise TypeError(f"agent {self.agent_id}: unexpected event {type(event).__name__}")

    # ----------------------------------------------------------- handlers

    def _on_login(self, ev: AgentLogin, now: datetime) -> list[Command]:
        # Leg ids carry the login instant: after a restart the sequence starts again while
        # a leg of the previous life may still exist, and Asterisk refuses a new id that
        # is a prefix of an existing one (narrow surprise 31: "...leg/1" vs "...leg/12").
        self._leg_epoch = f"{int(now.timestamp() * 1000):013d}"
        if self.state is not AgentState.LOGGED_OUT:
            raise AgentStateError(self.agent_id, self.state, ev, "already logged in")
        if not ev.endpoint.strip():
            raise ValueError("endpoint: must not be empty")
        self.endpoint = ev.endpoint.strip()
        self.phone_mode = PhoneMode.NAILED_UP if ev.nailed_up else PhoneMode.PER_CALL
        self._pending_logout = False
        self._pending_not_ready = None
        out = self._set_state(AgentState.NOT_READY, now, LOGIN_REASON)
        if self.phone_mode is PhoneMode.NAILED_UP:
            out += self._dial_station(reservation=False)
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
        if self.phone_mode is PhoneMode.NAILED_UP and self.leg_state is not LegState.UP:
            # Available only with a working line: (re)dial it, ready once it answers.
            self._ready_when_leg_up = True
            if self.leg_state is LegState.DOWN:
                return self._dial_station(reservation=False)
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
        if ev.reservation_call:
            if self.leg_state is LegState.UP and self.leg_id is not None:
                out.append(
                    ReservationReady(self.agent_id, ev.attempt_id, self.leg_id, self.bridge_id)
                )
            else:
                out += self._dial_station(reservation=True)
                out += self._set_state(AgentState.RINGING, now)
                out.append(self._start_timer("rona", now + self._rona_delay()))
        return out

    def _on_leg_ringing(self, ev: AgentLegRinging, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id) or self.state is not AgentState.RESERVED:
            return []
        out = self._set_state(AgentState.RINGING, now)
        out.append(self._start_timer("rona", now + self._rona_delay()))
        return out

    def _on_leg_answered(self, ev: AgentLegAnswered, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id) or self.state not in _OFFERED:
            return []
        self._phone_works()
        return [self._cancel_timer("rona")] + self._set_state(AgentState.ON_CALL, now)

    def _on_connected(self, ev: AgentConnected, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id):
            return []
        if self.state not in _OFFERED | {AgentState.ON_CALL}:
            return []
        self.connected = True
        out: list[Command] = [self._cancel_timer("rona")]
        if self.state is not AgentState.ON_CALL:
            out += self._set_state(AgentState.ON_CALL, now)
        return out

    def _on_released(self, ev: AgentReleased, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id):
            return []
        if self.state in _OFFERED or (self.state is AgentState.ON_CALL and not self.connected):
            out: list[Command] = [self._cancel_timer("rona")]
            out += self._drop_reservation_leg()
            return out + self._finish(now)
        return []

    def _on_call_ended(self, ev: AgentCallEnded, now: datetime) -> list[Command]:
        if not self._holds(ev.attempt_id) or self.state not in _IN_CALL | _OFFERED:
            return []
        out: list[Command] = [self._cancel_timer("rona")]
        out += self._drop_reservation_leg()
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
        out.append(self._start_timer("wrapup", now + timedelta(seconds=settings.wrapup_s)))
        return out

    def _on_disposition(self, ev: AgentDisposition, now: datetime) -> list[Command]:
        if not ev.code.strip():
            raise ValueError("code: a wrap-up code is required")
        if not self._holds(ev.attempt_id):
            raise AgentStateError(
                self.agent_id, self.state, ev, f"not handling call {ev.attempt_id}"
            )
        if self.state is AgentState.WRAP_UP:
            out: list[Command] = [
                self._cancel_timer("wrapup"),
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
            if state is not AgentState.ON_CALL or not self.connected:
                raise AgentStateError(self.agent_id, state, ev)
            return self._set_state(AgentState.HOLD, now) + [NotifyCall(ev.attempt_id, ev)]
        if isinstance(ev, UnholdRequest):
            if state is not AgentState.HOLD:
                raise AgentStateError(self.agent_id, state, ev)
            return self._set_state(AgentState.ON_CALL, now) + [NotifyCall(ev.attempt_id, ev)]
        if state is AgentState.HOLD:
            raise AgentStateError(self.agent_id, state, ev, "a held call cannot be ended")
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
        allowed: dict[type[Event], tuple[frozenset[AgentState], AgentState]] = {
            ConsultStart: (frozenset({AgentState.ON_CALL, AgentState.HOLD}), AgentState.CONSULTING),
            ConsultEnd: (frozenset({AgentState.CONSULTING}), AgentState.ON_CALL),
            ConferenceStart: (frozenset({AgentState.CONSULTING}), AgentState.CONFERENCING),
            ConferenceEnd: (frozenset({AgentState.CONFERENCING}), AgentState.ON_CALL),
        }
        sources, target = allowed[type(ev)]
        if self.state not in sources or not self.connected:
            raise AgentStateError(self.agent_id, self.state, ev)
        return self._set_state(target, now)

    def _on_timer(self, ev: TimerFired, now: datetime) -> list[Command]:
        if ev.name not in self._timers:
            return []
        self._timers.discard(ev.name)
        if ev.name == self._timer_name("wrapup") and self.state is AgentState.WRAP_UP:
            code = self._settings().default_wrapup_code
            return [self._disposition(code, now, automatic=True)] + self._finish(now)
        if ev.name == self._timer_name("rona") and self.state is AgentState.RINGING:
            return self._rona(now, notify_call=True)
        if ev.name == self._timer_name("phone_retry"):
            self.phone_retry_at = None
            if (self.state is AgentState.NOT_READY and self.reason == PHONE_UNREACHABLE_REASON
                    and self.phone_faults < PHONE_FAULTS_MAX):
                return self._set_state(AgentState.AVAILABLE, now)  # a passing fault: try again
        return []

    # --------------------------------------------------------- station leg

    def _dial_station(self, reservation: bool) -> list[Command]:
        self._leg_seq += 1
        # Fixed-width, monotonic parts: no leg id is a prefix of another (surprise 31).
        self.leg_id = f"agent/{self.agent_id}/leg/{self._leg_epoch}-{self._leg_seq:06d}"
        self.leg_state = LegState.DIALING
        self._leg_for_reservation = reservation
        return [
            Originate(
                channel_id=self.leg_id,
                endpoint=self.endpoint,
                caller_id="dialer",
                timeout_s=STATION_RING_S,
                variables={"DIALER_AGENT": self.agent_id},
                app_args=("agent", self.agent_id),
            )
        ]

    def _on_station_answered(self, now: datetime) -> list[Command]:
        if self.leg_state is not LegState.DIALING:
            return []
        assert self.leg_id is not None
        self.leg_state = LegState.UP
        self._phone_works()
        out: list[Command] = []
        if not self._bridge_made:
            self._bridge_made = True
            out.append(CreateBridge(self.bridge_id))
        out.append(AddToBridge(self.bridge_id, self.leg_id))
        if self._leg_for_reservation and self.state is AgentState.RINGING:
            assert self.attempt_id is not None
            out.append(self._cancel_timer("rona"))
            out += self._set_state(AgentState.RESERVED, now)
            out.append(ReservationReady(self.agent_id, self.attempt_id, self.leg_id, self.bridge_id))
        elif self._ready_when_leg_up and self.state is AgentState.NOT_READY:
            self._ready_when_leg_up = False
            out += self._set_state(AgentState.AVAILABLE, now)
        return out

    def _on_leg_down(self, now: datetime) -> list[Command]:
        was = self.leg_state
        self.leg_state = LegState.DOWN
        self.leg_id = None
        reservation = self._leg_for_reservation
        self._leg_for_reservation = False
        if was is LegState.DOWN:
            return []
        state = self.state
        if reservation and state is AgentState.RINGING:
            return self._rona(now, notify_call=True)
        if state in _IN_CALL | _OFFERED and self.attempt_id is not None:
            if self.phone_mode is PhoneMode.NAILED_UP:
                self._pending_not_ready = self._pending_not_ready or PHONE_LOST_REASON
            return [NotifyCall(self.attempt_id, AgentLegLost(self.agent_id, self.attempt_id))]
        if self.phone_mode is PhoneMode.NAILED_UP and state in (
            AgentState.AVAILABLE,
            AgentState.NOT_READY,
        ):
            self._ready_when_leg_up = False
            if state is AgentState.AVAILABLE or self.reason == LOGIN_REASON:
                return self._set_state(AgentState.NOT_READY, now, PHONE_LOST_REASON)
        if self.phone_mode is PhoneMode.NAILED_UP and state is AgentState.WRAP_UP:
            self._pending_not_ready = self._pending_not_ready or PHONE_LOST_REASON
        return []

    def _drop_reservation_leg(self) -> list[Command]:
        """A reservation leg lives for one previewed call only."""
        if not self._leg_for_reservation or self.leg_id is None:
            return []
        leg = self.leg_id
        self.leg_id = None
        self.leg_state = LegState.DOWN
        self._leg_for_reservation = False
        return [Hangup(leg)]

    # --------------------------------------------------------- transitions

    def _rona(self, now: datetime, notify_call: bool, reason: str = RONA_REASON) -> list[Command]:
        attempt = self.attempt_id
        out: list[Command] = [self._cancel_timer("rona")]
        if self._leg_for_reservation and self.leg_id is not None:
            out += self._drop_reservation_leg()
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
        return out + [self._start_timer("phone_retry", self.phone_retry_at)]

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
        if self.phone_mode is PhoneMode.NAILED_UP and self.leg_state is not LegState.UP:
            return self._set_state(AgentState.NOT_READY, now, PHONE_LOST_REASON)
        return self._set_state(AgentState.AVAILABLE, now)

    def _logout(self, now: datetime) -> list[Command]:
        out: list[Command] = [CancelTimer(name) for name in sorted(self._timers)]
        self._timers.clear()
        if self.leg_id is not None and self.leg_state is not LegState.DOWN:
            out.append(Hangup(self.leg_id))
        if self._bridge_made:
            out.append(DestroyBridge(self.bridge_id))
            self._bridge_made = False
        self.leg_id = None
        self.leg_state = LegState.DOWN
        self._leg_for_reservation = False
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

    def _is_current_leg(self, channel_id: str) -> bool:
        """True for the current leg, False for an earlier one (late event), else an error."""
        if channel_id == self.leg_id:
            return True
        prefix = f"agent/{self.agent_id}/leg/"
        if channel_id.startswith(prefix):
            return False
        raise ValueError(f"channel_id: {channel_id!r} is not agent {self.agent_id}'s leg")

    def _timer_name(self, purpose: str) -> str:
        return f"agent/{self.agent_id}/{purpose}"

    def _start_timer(self, purpose: str, at: datetime) -> StartTimer:
        name = self._timer_name(purpose)
        self._timers.add(name)
        return StartTimer(name, at)

    def _cancel_timer(self, purpose: str) -> CancelTimer:
        name = self._timer_name(purpose)
        self._timers.discard(name)
        return CancelTimer(name)


def longest_idle(agents: Iterable[AgentMachine]) -> list[AgentMachine]:
    """Available agents, the one waiting longest first (who gets the next call)."""
    ready = [a for a in agents if a.can_take_call]
    ready.sort(key=lambda a: (_since(a), a.agent_id))
    return ready


def _since(agent: AgentMachine) -> datetime:
    assert agent.state_since is not None  # set on every transition, login included
    return agent.state_since
