"""Call-associated data (MISSION E) for the HTTP API: an agent reads and saves the
variables of a call it handles; supervisors read any call's; admins define a campaign's
variables. The ledger (`orchestrator.ledger.call_data`) keeps the values and the versions;
what a page may see of them is `kernel.shown_call_data`'s (secure values masked for
everyone, numbers masked when the campaign masks them).

Object rights beyond the route table (which lets only the agent itself save, and the
agent or a supervisor read):

* An agent handles a call when it is its current call (on call, on hold, in wrap-up:
  the agent machine's call), the latest call it was connected to, or an attempt
  assigned to it in the ledger (it dispositions it). Any other call: 403.
* A save needs the version the client read: a stale one is refused whole with what was
  saved since (`StaleCallData`, 409), so the first of two concurrent saves wins. A
  dispositioned call's data is final (409).
* A page that sends back a masked value unchanged (``****1234``) leaves the value as it
  was, rather than overwriting the secret with its mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from orchestrator.core.access import Principal, Role
from orchestrator.dialer.errors import Conflict, Forbidden, Invalid, NotFound
from orchestrator.dialer.kernel.ids import ascii_int
from orchestrator.dialer.kernel.shown_call_data import call_data_json, changes_json, shown_value
from orchestrator.hub import EventHub
from orchestrator.ledger import call_data as ledger
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger.pool import AsyncConn

EVENT = "call.data"
"""The hub event sent to the call's agent (and supervisors) after a save."""


class _Machine(Protocol):
    @property
    def attempt_id(self) -> str | None: ...


class _Session(Protocol):
    @property
    def machine(self) -> _Machine: ...
    @property
    def last_attempt(self) -> str | None: ...


class _Sessions(Protocol):
    @property
    def sessions(self) -> Mapping[int, _Session]: ...


class CallDataHost(Protocol):
    """What call data needs of the process (today the `Dialer` bundle): the ledger, the
    agents' sessions (which call is whose) and the event hub."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]: ...
    @property
    def sessions(self) -> _Sessions: ...
    @property
    def hub(self) -> EventHub: ...


class StaleCallData(Conflict):
    """A save from a version older than the call's: nothing was written."""

    def __init__(self, version: int, sent: int, changed: list[dict[str, Any]],
                 current: dict[str, Any]) -> None:
        if sent > version:
            why = f"version {sent} is newer than the call's ({version})"
        else:
            names = ", ".join(c["name"] for c in changed) or "variables no longer defined"
            why = f"the call's data changed since version {sent} (now {version}: {names})"
        super().__init__(f"{why}; nothing was saved: read it again", "version")
        self.version = version
        self.changed = changed
        """What was saved since the client's version (`shown_call_data.changes_json`)."""
        self.current = current
        """The call's data now, as a GET would answer it."""


def _campaign_ref(ref: str) -> str | int:
    number = ascii_int(ref)
    return ref if number is None else number


class CallDataService:
    """The API's side of call data (`DialerService.call_data`)."""

    def __init__(self, host: CallDataHost) -> None:
        self.host = host

    # ------------------------------------------------------------ per call

    def current_call(self, agent_id: int) -> str | None:
        session = self.host.sessions.sessions.get(agent_id)
        return session.machine.attempt_id if session is not None else None

    def _handles(self, agent_id: int, data: ledger.CallData) -> bool:
        aid = str(data.attempt_id)
        session = self.host.sessions.sessions.get(agent_id)
        if session is not None and aid in (session.machine.attempt_id, session.last_attempt):
            return True
        return data.agent_id == agent_id

    async def _load(self, conn: AsyncConn, attempt_id: str) -> ledger.CallData:
        try:
            return await ledger.read_call_data(conn, attempt_id)
        except ledger.CallDataError:  # no such attempt (or an id that cannot be one)
            raise NotFound(f"no call {attempt_id}", "attempt_id") from None

    async def read(self, who: Principal, agent_id: int, attempt_id: str | None) -> dict[str, Any]:
        """The call data of ``attempt_id``, or of the agent's current call."""
        aid = attempt_id or self.current_call(agent_id)
        if aid is None:
            raise NotFound("the agent has no call now; name one with ?attempt_id=", "attempt_id")
        async with self.host.pool.connection() as conn:
            data = await self._load(conn, aid)
        handles = self._handles(agent_id, data)
        if not handles and not who.role.at_least(Role.SUPERVISOR):
            raise Forbidden("this call is not one this agent handles", "attempt_id")
        return call_data_json(data, writable=handles and who.agent_id == agent_id)

    async def save(self, who: Principal, agent_id: int, attempt_id: str, version: int,
                   values: Mapping[str, str]) -> dict[str, Any]:
        """Save ``values`` if ``version`` is the call's: the call's data with its new
        version and ``saved`` (what this save wrote); `StaleCallData` if not."""
        if not values:
            raise Invalid("give the value of at least one variable", "values")
        async with self.host.pool.connection() as conn:
            data = await self._load(conn, attempt_id)
            if not self._handles(agent_id, data):
                raise Forbidden("this call is not one this agent handles", "attempt_id")
            if data.dispositioned:
                raise Conflict("the call is dispositioned: its data is final", "attempt_id")
            try:
                result = await ledger.save_call_data(
                    conn, data.attempt_id, agent_id=agent_id, version=version,
                    values=_unmasked(data, values))
            except ledger.AttemptNotFound:
                raise NotFound(f"no call {attempt_id}", "attempt_id") from None
            except ledger.CallDataError as exc:
                raise Invalid(exc.message, exc.field) from None
            now = await ledger.read_call_data(conn, data.attempt_id)
        current = call_data_json(now, writable=True)
        if not result.saved:
            raise StaleCallData(result.version, version, changes_json(now, result.changed),
                                current)
        out = {**current, "saved": changes_json(now, result.changed)}
        if result.changed:
            self._publish(agent_id, now, current)
        return out

    def _publish(self, agent_id: int, data: ledger.CallData, shown: dict[str, Any]) -> None:
        """Tell the call's desktops (another tab of the agent, a supervisor watching)."""
        for who in {agent_id, data.agent_id} - {None}:
            self.host.hub.publish(EVENT, {**shown, "writable": who == agent_id and
                                          shown["writable"]},
                                  agent_id=who, campaign_id=data.campaign_id)

    # ------------------------------------------------------- per campaign

    async def variables(self, ref: str) -> dict[str, Any]:
        """A campaign's variables, in their desktop order."""
        async with self.host.pool.connection() as conn:
            camp = await campaigns_ledger.get_campaign(conn, _campaign_ref(ref))
            variables = await ledger.campaign_variables(conn, camp.id)
        return _definitions(camp, variables)

    async def define(self, who: Principal, ref: str,
                     items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Replace a campaign's variables (nothing changes if one entry is refused)."""
        try:
            variables = ledger.check_variables(items)
        except ledger.CallDataError as exc:
            raise Invalid(exc.message, exc.field) from None
        async with self.host.pool.connection() as conn:
            camp = await campaigns_ledger.get_campaign(conn, _campaign_ref(ref))
            saved = await ledger.replace_variables(conn, camp.id, variables, actor=who.actor)
        return _definitions(camp, saved)


def _definitions(camp: campaigns_ledger.Campaign,
                 variables: list[ledger.Variable]) -> dict[str, Any]:
    return {"campaign_id": camp.id, "campaign": camp.name,
            "variables": [v.to_json() for v in variables]}


def _unmasked(data: ledger.CallData, values: Mapping[str, str]) -> dict[str, str]:
    """``values`` less those that are a masked value sent back as it was shown."""
    by_name = {v.name: v for v in data.variables}
    out = {}
    for name, value in values.items():
        var = by_name.get(name)
        if var is not None and isinstance(value, str):
            shown, masked = shown_value(data.values[name].value, secure=var.secure,
                                        masking=data.masking)
            if masked and value == shown:
                continue
        out[name] = value
    return out


__all__ = ["EVENT", "CallDataHost", "CallDataService", "StaleCallData"]

