"""``screen-pop``: an inbound call looks up its caller in the ledger and sets channel
variables for the agent's phone or desktop (a queue's member macro, a SIP header).

    AGI(${DIALER_AGI}/screen-pop[,<number>[,<region>]])

The number defaults to ``${CALLERID(num)}``; a national number needs a region (the
argument, else ORCH_AGI_DEFAULT_REGION). Variables set:

    DIALER_SCREEN_POP      found | unknown
    DIALER_CONTACT_ID      the contact's id                       (found)
    DIALER_CONTACT_NAME    first and last name                    (found, when known)
    DIALER_CAMPAIGN        the contact's campaign                 (found)
    DIALER_LAST_OUTCOME    the last attempt's disposition or outcome (found, when called)
    DIALER_OPEN_CALLBACKS  callbacks pending for this number or contact (always)

No value carries a phone number: the caller's number is the channel's own, and text
from the ledger (a name typed with a number in it) is masked to its last 4 digits.
"""

from __future__ import annotations

import structlog

from orchestrator.agi import AgiSession
from orchestrator.dialer.dialplan_hooks.common import Pool, arg, caller_number, to_e164
from orchestrator.ledger.campaigns import OUTCOME_LABELS
from orchestrator.ledger.screen_pop import CallerCard, caller_card
from orchestrator.logs import mask_text

log = structlog.get_logger("orchestrator.dialplan_hooks")


class ScreenPopHook:
    """The ``screen-pop`` script."""

    def __init__(self, pool: Pool, *, default_region: str = "") -> None:
        self.pool = pool
        self.default_region = default_region

    async def __call__(self, session: AgiSession) -> None:
        raw = await caller_number(session, arg(session, 1))
        e164 = to_e164(raw, arg(session, 2) or self.default_region)
        if e164 is None:
            await session.set_variable("DIALER_SCREEN_POP", "unknown")
            await session.set_variable("DIALER_OPEN_CALLBACKS", "0")
            log.info("agi.screen_pop", found=False, number_valid=False, uniqueid=session.env.uniqueid)
            return
        async with self.pool.connection() as conn:
            card = await caller_card(conn, e164)
        for name, value in screen_pop_variables(card):
            await session.set_variable(name, value)
        log.info("agi.screen_pop", found=card.contact_id is not None, contact_id=card.contact_id,
                 uniqueid=session.env.uniqueid)


def screen_pop_variables(card: CallerCard) -> list[tuple[str, str]]:
    """The channel variables for a caller card, in the order they are set."""
    if card.contact_id is None:
        return [("DIALER_SCREEN_POP", "unknown"), ("DIALER_OPEN_CALLBACKS", str(card.open_callbacks))]
    out = [("DIALER_SCREEN_POP", "found"), ("DIALER_CONTACT_ID", str(card.contact_id))]
    name = " ".join(p for p in (card.first_name, card.last_name) if p)
    if name:
        out.append(("DIALER_CONTACT_NAME", mask_text(name)))
    if card.campaign_name:
        out.append(("DIALER_CAMPAIGN", mask_text(card.campaign_name)))
    if card.last_outcome:
        out.append(("DIALER_LAST_OUTCOME", mask_text(OUTCOME_LABELS.get(card.last_outcome, card.last_outcome))))
    out.append(("DIALER_OPEN_CALLBACKS", str(card.open_callbacks)))
    return out
