"""``callback-offer``: a caller waiting in an Asterisk queue pressed 1 and asks to be
called back, keeping their place (MISSION F, the courtesy callback).

    AGI(${DIALER_AGI}/callback-offer,${DIALER_QUEUE},${QUEUEPOSITION},${CALLERID(num)})

(asterisk-conf's [dialer-callback-offer]; each argument, when empty, is read from the
channel: DIALER_QUEUE, QUEUEPOSITION, ${CALLERID(num)}, as in the recorded transcript
asterisk-traces/narrow/agi_queue_dtmf.txt.) The request is handed to the callbacks
domain (`orchestrator.ledger.callbacks.create_queue_callback`), which keeps the place
and calls back. When it took the request: ``DIALER_CALLBACK=accepted`` and
``DIALER_CALLBACK_ID``; otherwise nothing is set and the dialplan sends the caller back
into the queue, as it does when this service is down (AGISTATUS=FAILURE) or too slow.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from orchestrator.agi import AgiSession
from orchestrator.dialer.dialplan_hooks.common import Pool, arg, caller_number, to_e164
from orchestrator.ledger import callbacks as callbacks_ledger
from orchestrator.ledger.pool import AsyncConn
from orchestrator.logs import mask_text

log = structlog.get_logger("orchestrator.dialplan_hooks")

MAX_QUEUE_NAME = 100
"""callbacks.queue holds at most this many characters (ledger.callbacks)."""
MAX_CHANNEL_NAME = 200
"""callbacks.source_channel (agi_channel, the ;2 half in the queue) holds at most this many."""


class QueueCallbackBooking(Protocol):
    """Books a queue callback; returns its id. Raises callbacks.CallbackError (naming the
    field) when it refuses."""

    async def __call__(self, conn: AsyncConn, *, queue: str, position: int, e164: str,
                      source_channel: str | None) -> int: ...


def ledger_booking() -> QueueCallbackBooking:
    """The callbacks domain's booking function."""
    return callbacks_ledger.create_queue_callback


class CallbackOfferHook:
    """The ``callback-offer`` script."""

    def __init__(self, pool: Pool, book: QueueCallbackBooking, *, default_region: str = "") -> None:
        self.pool = pool
        self.book = book
        self.default_region = default_region

    async def __call__(self, session: AgiSession) -> None:
        queue = arg(session, 1) or (await session.get_variable("DIALER_QUEUE") or "").strip()
        position = _position(arg(session, 2) or (await session.get_variable("QUEUEPOSITION") or ""))
        e164 = to_e164(await caller_number(session, arg(session, 3)), self.default_region)
        why = self._refusal(queue, position, e164)
        if why is not None:
            log.warning("agi.callback_declined", reason=why, uniqueid=session.env.uniqueid)
            await session.verbose(f"dialer: callback not booked: {why}")
            return
        assert e164 is not None and position is not None
        try:
            async with self.pool.connection() as conn:
                callback_id = await self.book(conn, queue=queue, position=position, e164=e164,
                                              source_channel=session.env.channel[:MAX_CHANNEL_NAME])
        except callbacks_ledger.CallbackError as exc:
            log.warning("agi.callback_declined", reason=mask_text(str(exc)), field=exc.field,
                        uniqueid=session.env.uniqueid)
            await session.verbose(f"dialer: callback not booked: {exc.field} refused")
            return
        await session.set_variable("DIALER_CALLBACK", "accepted")
        await session.set_variable("DIALER_CALLBACK_ID", str(callback_id))
        log.info("agi.callback_accepted", callback_id=callback_id, queue=queue, position=position,
                 uniqueid=session.env.uniqueid)

    @staticmethod
    def _refusal(queue: str, position: int | None, e164: str | None) -> str | None:
        if not queue or len(queue) > MAX_QUEUE_NAME:
            return "no queue name (argument 1 or DIALER_QUEUE)"
        if position is None:
            return "no place in the queue (argument 2 or QUEUEPOSITION)"
        if e164 is None:
            return "no valid number to call back"
        return None


def _position(raw: str) -> int | None:
    """The caller's place in the queue (1 = next); None when Asterisk gave none."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and int(raw) >= 1 else None
