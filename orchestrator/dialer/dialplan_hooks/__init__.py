"""The dialplan's hooks into the dialer, reached over FastAGI (MISSION F and I).

Each hook is a script name of ``AGI(${DIALER_AGI}/<script>,...)`` in asterisk-conf:

    callback-offer  a queued caller asks to be called back        (callback_offer.py)
    screen-pop      an inbound caller's contact, for the agent    (screen_pop.py)
    opt-out         a customer's opt-out key press -> DNC at once (opt_out.py)

The FastAGI server (orchestrator/agi) owns the socket, the time limit and the routing;
a hook only reads its arguments and channel variables, uses the ledger and sets
variables. Whatever a hook fails to do, the caller's dialplan goes on.
"""

from __future__ import annotations

from orchestrator.agi import Handler
from orchestrator.dialer.dialplan_hooks.callback_offer import (
    CallbackOfferHook,
    QueueCallbackBooking,
    ledger_booking,
)
from orchestrator.dialer.dialplan_hooks.common import Pool
from orchestrator.dialer.dialplan_hooks.opt_out import OptOutHook
from orchestrator.dialer.dialplan_hooks.screen_pop import ScreenPopHook, screen_pop_variables
from orchestrator.ledger.dnc import OptOutScope

__all__ = [
    "CallbackOfferHook", "OptOutHook", "QueueCallbackBooking", "ScreenPopHook", "dialplan_hooks",
    "ledger_booking", "screen_pop_variables",
]


def dialplan_hooks(pool: Pool, *, opt_out_scope: OptOutScope = "global", default_region: str = "",
                   book_queue_callback: QueueCallbackBooking | None = None) -> dict[str, Handler]:
    """The FastAGI scripts by name. `book_queue_callback` None: the callbacks domain's
    own (`ledger_booking`)."""
    book = book_queue_callback or ledger_booking()
    return {
        "callback-offer": CallbackOfferHook(pool, book, default_region=default_region),
        "screen-pop": ScreenPopHook(pool, default_region=default_region),
        "opt-out": OptOutHook(pool, scope=opt_out_scope),
    }
