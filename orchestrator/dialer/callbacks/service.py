"""`CallbacksService`: the callbacks as the HTTP API sees them (MISSION F).

Rights, beyond the route table's role: an agent lists, creates, edits and deletes the
callbacks of the campaigns it may work (its teams' campaigns and those open to all),
assigned to anyone, to itself, or to an agent of one of its teams; a supervisor or an
admin any callback, assigned to any agent. A callback of another campaign is "not
found" to an agent. Edits are allowed while it is pending and before its start time;
deletion too, and a supervisor may also delete a pending callback after its start (take
a waiting callback off the queue). Every deletion is logged as deleted.

A web-callback token (role ``web_callback``) may only create web callbacks, for its own
campaign, at most ``web_callback_rate`` a minute per token and per caller address.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from orchestrator.core.access import Principal, Role
from orchestrator.dialer.callbacks.host import CallbacksHost
from orchestrator.dialer.callbacks.rates import SlidingWindow
from orchestrator.dialer.callbacks.scheduler import CallbackScheduler
from orchestrator.dialer.errors import Conflict, Forbidden, Invalid, NotFound
from orchestrator.dialer.kernel.ids import ascii_int
from orchestrator.dialer.kernel.shown import shown_number
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import callbacks as callbacks_ledger
from orchestrator.ledger import campaigns as campaigns_ledger
from orchestrator.ledger.pool import AsyncConn, db_now

_WINDOW_FIELDS = ("date", "start_time", "end_time", "end_date", "time_zone")


class CallbacksService:
    def __init__(self, host: CallbacksHost, scheduler: CallbackScheduler) -> None:
        self.host = host
        self.scheduler = scheduler
        self.web_rate = SlidingWindow(host.settings.web_callback_rate, 60.0)
        """Web callbacks per minute, per web-callback token and per caller address."""

    # ------------------------------------------------------------------ reads

    async def list(self, who: Principal, *, campaign: str | None = None,
                   status: str | None = None, kind: str | None = None, queue: str | None = None,
                   mine: bool = False, limit: int = 200) -> dict[str, Any]:
        """``status``: one status, several comma-separated, ``open`` (pending, offered,
        dialing) or ``all`` (the default)."""
        async with self.host.pool.connection() as conn:
            allowed = await _workable(conn, who)
            ids = allowed
            if campaign is not None:
                cid = await _campaign_id(conn, campaign)
                if allowed is not None and cid not in allowed:
                    raise NotFound(f"no campaign {campaign!r}", "campaign")
                ids = {cid}
            statuses = (list(callbacks_ledger.OPEN_STATUSES) if status == "open"
                        else None if status in (None, "all")
                        else [s.strip() for s in status.split(",") if s.strip()])
            try:
                rows = await callbacks_ledger.list_callbacks(
                    conn, campaign_ids=sorted(ids) if ids is not None else None, statuses=statuses,
                    kind=kind, queue=queue, assigned_agent_id=who.agent_id if mine else None,
                    limit=limit)
            except callbacks_ledger.CallbackError as exc:
                raise Invalid(exc.message, exc.field) from None
        return {"callbacks": [_json(cb) for cb in rows]}

    async def get(self, who: Principal, callback_id: int) -> dict[str, Any]:
        async with self.host.pool.connection() as conn:
            return _json(await _visible(conn, who, callback_id))

    # ------------------------------------------------------------------ writes

    async def create(self, who: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """A scheduled (or, assigned to an agent, personal) callback."""
        async with self.host.pool.connection() as conn:
            cid = await self._campaign_for(conn, who, body.get("campaign"), body.get("queue"))
            agent = await _assignee(conn, who, cid, body.get("assign_to", "anyone"),
                                    body.get("agent"))
            try:
                start, end, zone = await _api_window(conn, body)
                cb = await callbacks_ledger.create_callback(
                    conn, phone=body.get("phone", ""), window_start=start, window_end=end,
                    time_zone=zone, kind="scheduled", campaign_id=cid, name=body.get("name"),
                    queue=body.get("queue"), reason=body.get("reason"), notes=body.get("notes"),
                    assigned_agent_id=agent, created_by=who.agent_id or None,
                    name_required=True, actor=who.actor)
            except callbacks_ledger.CallbackError as exc:
                raise Invalid(exc.message, exc.field) from None
        await self._changed(cb.id)
        return _json(cb)

    async def update(self, who: Principal, callback_id: int,
                     body: Mapping[str, Any]) -> dict[str, Any]:
        """Change a pending callback before its start (only the fields given)."""
        async with self.host.pool.connection() as conn:
            cb = await _visible(conn, who, callback_id)
            changes: dict[str, Any] = {k: body[k] for k in ("phone", "name", "reason", "notes",
                                                            "queue") if k in body}
            if any(k in body for k in _WINDOW_FIELDS):
                changes.update(_new_window(cb, body))
                now = await db_now(conn)
                if cb.status == "pending" and now < cb.window_start:  # else: 409 below
                    try:
                        callbacks_ledger.check_window(
                            changes["window_start"], changes["window_end"], now,
                            start_field="start_time", end_field="end_time", ahead_field="date")
                    except callbacks_ledger.CallbackError as exc:
                        raise Invalid(exc.message, exc.field) from None
            if "assign_to" in body or "agent" in body:
                assert cb.campaign_id is not None
                changes["assigned_agent_id"] = await _assignee(
                    conn, who, cb.campaign_id, body.get("assign_to", "agent"), body.get("agent"))
            if not changes:
                raise Invalid("nothing to change", "body")
            with _refusals():
                cb = await callbacks_ledger.update_callback(
                    conn, callback_id, changes, actor=who.actor, default_region=_region(cb.e164))
        await self._changed(callback_id)
        return _json(cb)

    async def delete(self, who: Principal, callback_id: int,
                     reason: str | None = None) -> dict[str, Any]:
        async with self.host.pool.connection() as conn:
            await _visible(conn, who, callback_id)
            with _refusals():
                cb = await callbacks_ledger.delete_callback(
                    conn, callback_id, actor=who.actor, reason=reason,
                    after_start=who.role.at_least(Role.SUPERVISOR))
        await self._changed(callback_id)
        return _json(cb)

    async def create_web(self, who: Principal, client: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A website's "call me back" form: name and number (and a reason), due at once.
        A web-callback token is rate limited and bound to its campaign; a person names
        the campaign (an agent one of its own)."""
        if who.role is Role.WEB_CALLBACK:
            self.web_rate.admit(f"token:{who.username}", f"address:{client}")
        async with self.host.pool.connection() as conn:
            if who.role is Role.WEB_CALLBACK:
                assert who.campaign_id is not None
                cid = who.campaign_id
                ref = body.get("campaign")
                if ref is not None and await _campaign_id(conn, ref) != cid:
                    raise Forbidden("this token creates web callbacks for its own campaign only",
                                    "campaign")
            else:
                cid = await self._campaign_for(conn, who, body.get("campaign"), None)
            try:
                cb = await callbacks_ledger.create_web_callback(
                    conn, campaign_id=cid, phone=body.get("phone", ""), name=body.get("name", ""),
                    reason=body.get("reason"), actor=who.actor)
            except callbacks_ledger.CallbackError as exc:
                raise Invalid(exc.message, exc.field) from None
        await self._changed(cb.id)
        return {"callback_id": cb.id, "status": cb.status, "kind": cb.kind,
                "window_end": cb.window_end.isoformat()}

    # ------------------------------------------------------------------ helpers

    async def _campaign_for(self, conn: AsyncConn, who: Principal, ref: Any, queue: Any) -> int:
        """The campaign a new callback goes to: the one named, else the queue's; one the
        caller may work."""
        if ref is not None:
            cid = await _campaign_id(conn, str(ref))
        elif queue:
            try:
                name = callbacks_ledger.check_queue(queue)
            except callbacks_ledger.CallbackError as exc:
                raise Invalid(exc.message, exc.field) from None
            found = await callbacks_ledger.campaign_for_queue(conn, name or "")
            if found is None:
                raise Invalid(f"no campaign dials the callbacks of queue {name!r}", "queue")
            cid = found
        else:
            raise Invalid("is required (or a queue whose callbacks a campaign dials)", "campaign")
        allowed = await _workable(conn, who)
        if allowed is not None and cid not in allowed:
            raise Forbidden("an agent schedules callbacks only for the campaigns it works "
                            "(its teams')", "campaign")
        return cid

    async def _changed(self, callback_id: int) -> None:
        self.scheduler.wake.set()
        await self.scheduler.publish([callback_id])


def _json(cb: callbacks_ledger.Callback) -> dict[str, Any]:
    return cb.to_json(number=shown_number(cb.e164, cb.masking))


async def _workable(conn: AsyncConn, who: Principal) -> set[int] | None:
    """The campaigns whose callbacks the caller may see (None: all)."""
    if who.role.at_least(Role.SUPERVISOR):
        return None
    if who.role is Role.WEB_CALLBACK:
        return {who.campaign_id} if who.campaign_id is not None else set()
    return {c.id for c in await campaigns_ledger.agent_campaigns(conn, who.agent_id)}


async def _campaign_id(conn: AsyncConn, ref: str) -> int:
    number = ascii_int(ref)
    try:
        c = await campaigns_ledger.get_campaign(conn, number if number is not None else ref)
    except campaigns_ledger.CampaignNotFound:
        raise NotFound(f"no campaign {ref!r}", "campaign") from None
    return c.id


async def _visible(conn: AsyncConn, who: Principal, callback_id: int) -> callbacks_ledger.Callback:
    """The callback, if the caller may see it (else 404, as for one that does not exist)."""
    try:
        cb = await callbacks_ledger.get_callback(conn, callback_id)
    except callbacks_ledger.CallbackError:
        raise NotFound(f"no callback {callback_id}", "callback_id") from None
    allowed = await _workable(conn, who)
    mine = who.agent_id and who.agent_id in (cb.created_by, cb.assigned_agent_id)
    if allowed is not None and cb.campaign_id not in allowed and not mine:
        raise NotFound(f"no callback {callback_id}", "callback_id")
    return cb


async def _assignee(conn: AsyncConn, who: Principal, campaign_id: int, assign_to: Any,
                    agent_ref: Any) -> int | None:
    """Anyone (None), the caller ("me"), or a named agent: one of the caller's teams
    (any agent for a supervisor) who may work the campaign."""
    if assign_to == "anyone":
        return None
    if assign_to == "me":
        if not who.agent_id:
            raise Invalid("a web-callback token is no agent", "assign_to")
        return who.agent_id
    if assign_to != "agent":
        raise Invalid(f"must be anyone, me or agent; got {assign_to!r}", "assign_to")
    if agent_ref is None or not str(agent_ref).strip():
        raise Invalid("is required with assign_to agent (a username or an id)", "agent")
    ref = str(agent_ref).strip()
    number = ascii_int(ref)
    try:
        agent = await agents_ledger.get_agent(conn, number if number is not None else ref)
    except agents_ledger.AgentNotFound:
        raise Invalid(f"no agent {ref!r}", "agent") from None
    if not agent.active:
        raise Invalid(f"agent {agent.username} is deactivated", "agent")
    if campaign_id not in {c.id for c in await campaigns_ledger.agent_campaigns(conn, agent.id)}:
        raise Invalid(f"agent {agent.username} does not work this campaign", "agent")
    if not who.role.at_least(Role.SUPERVISOR) and agent.id != who.agent_id:
        me = await agents_ledger.get_agent(conn, who.agent_id)
        if not set(me.teams) & set(agent.teams):
            raise Invalid(f"agent {agent.username} is in none of your teams", "agent")
    return agent.id


async def _api_window(conn: AsyncConn, body: Mapping[str, Any]) -> tuple[datetime, datetime, str]:
    """The window of an API body (a date, start and end times, a zone), checked with the
    refusals naming the body's fields (the ledger checks it again, in its own words)."""
    start, end, zone = callbacks_ledger.local_window(
        body.get("date"), body.get("start_time"), body.get("end_time"), body.get("time_zone"),
        end_date=body.get("end_date"))
    callbacks_ledger.check_window(
        start, end, await db_now(conn), start_field="start_time", end_field="end_time",
        ahead_field="end_date" if body.get("end_date") is not None else "date")
    return start, end, zone


def _new_window(cb: callbacks_ledger.Callback, body: Mapping[str, Any]) -> dict[str, Any]:
    """The window after an edit: the parts given, the others as they were (wall-clock
    times in the callback's zone, or the new zone given)."""
    zone = ZoneInfo(cb.time_zone)
    start = cb.window_start.astimezone(zone)
    end = cb.window_end.astimezone(zone)
    day = body.get("date", start.date())
    end_day = body.get("end_date", end.date() if "date" not in body else day)
    try:
        ws, we, tz = callbacks_ledger.local_window(
            day, body.get("start_time", start.time().replace(tzinfo=None)),
            body.get("end_time", end.time().replace(tzinfo=None)),
            body.get("time_zone", cb.time_zone), end_date=end_day)
    except callbacks_ledger.CallbackError as exc:
        raise Invalid(exc.message, exc.field) from None
    return {"window_start": ws, "window_end": we, "time_zone": tz}


def _region(e164: str) -> str | None:
    """The region of the callback's number (a new number typed without its country code
    is taken to be in the same country)."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None


__all__ = ["CallbacksService"]


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """An edit the ledger refuses: too late (started: 409) or a bad field (422)."""
    try:
        yield
    except callbacks_ledger.CallbackStateError as exc:
        raise Conflict(exc.message, exc.field) from None
    except callbacks_ledger.CallbackError as exc:
        raise Invalid(exc.message, exc.field) from None
