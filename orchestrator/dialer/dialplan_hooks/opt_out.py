"""``opt-out``: the customer of a dialer call pressed the opt-out key; the number goes on
the internal DNC list at once, with the attempt recorded as the source.

    AGI(${DIALER_AGI}/opt-out[,<attempt id>])

The attempt defaults to the channel's DIALER_ATTEMPT (the dialer sets it on every
customer channel it originates). Where the entry goes, globally or for the attempt's
campaign only, is ORCH_OPT_OUT_SCOPE (default global). Sets ``DIALER_OPT_OUT=done``
once the entry is committed; without a known attempt nothing is set and a VERBOSE line
says why. asterisk-conf's [dialer-opt-out] is the dialplan side.
"""

from __future__ import annotations

import uuid

import structlog

from orchestrator.agi import AgiSession
from orchestrator.dialer.dialplan_hooks.common import Pool, arg
from orchestrator.ledger.dnc import OptOutScope, opt_out_attempt

log = structlog.get_logger("orchestrator.dialplan_hooks")


class OptOutHook:
    """The ``opt-out`` script."""

    def __init__(self, pool: Pool, *, scope: OptOutScope = "global") -> None:
        self.pool = pool
        self.scope: OptOutScope = scope

    async def __call__(self, session: AgiSession) -> None:
        raw = arg(session, 1) or (await session.get_variable("DIALER_ATTEMPT") or "").strip()
        try:
            attempt_id = uuid.UUID(raw)
        except ValueError:
            log.warning("agi.opt_out_refused", reason="no attempt id", uniqueid=session.env.uniqueid)
            await session.verbose("dialer: opt-out without an attempt id (DIALER_ATTEMPT)")
            return
        async with self.pool.connection() as conn:
            done = await opt_out_attempt(conn, attempt_id, scope=self.scope)
        if done is None:
            log.warning("agi.opt_out_refused", reason="no such attempt", attempt=str(attempt_id))
            await session.verbose("dialer: opt-out for an unknown attempt")
            return
        log.info("agi.opt_out", attempt=str(attempt_id), scope=self.scope, dnc_entry=done.entry_id,
                 created=done.created, targets_marked=done.targets_marked)
        await session.set_variable("DIALER_OPT_OUT", "done")
