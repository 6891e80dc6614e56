"""Screen pops: the contact of a call offered or connected to an agent, as the agent's
session and its WebSocket events carry it (MISSION D), with masking enforced here.

A card is read from the ledger by the consumer that needs it (an agent actor publishing
its state, an HTTP request, a prefetch task started when a call is assigned), never by
the ARI socket reader. Cards are cached per attempt while the call and its wrap-up last;
what is cached is the ledger's card (server side, numbers in full), never what a page got.

Masking (MISSION E): when the campaign has ``masking`` on, every number leaving the server
for a page is reduced to its last 4 digits. Numbers in full never reach an agent's page.
The decision is taken each time a card is sent (every push, every GET): the campaign's
masking is read from the ledger then, so masking turned on in the middle of a call masks
that call from its next send on. If it cannot be read, the number is masked.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any, Protocol

import structlog
from psycopg_pool import AsyncConnectionPool

from orchestrator.dialer.kernel.shown import history_json, iso_or_none, shown_number
from orchestrator.dialer.kernel.shown_call_data import call_data_json, shown_custom_fields
from orchestrator.ledger import call_data as call_data_ledger
from orchestrator.ledger import screen_pop as screen_pop_ledger
from orchestrator.ledger.pool import AsyncConn
from orchestrator.ledger.screen_pop import CallCard

log = structlog.get_logger("orchestrator.dialer.screen_pops")

CACHE_SIZE = 2000


def card_json(card: screen_pop_ledger.CallCard, masking: bool | None = None) -> dict[str, Any]:
    """The screen pop as the pages read it (agent.js: contact, target, history), with the
    number masked when ``masking`` (default: the campaign's setting when the card was read)."""
    c, t = card.contact, card.target
    masked = card.masking if masking is None else masking
    number = shown_number(card.e164 or t.e164, masked)
    return {
        "attempt_id": str(card.attempt_id) if card.attempt_id else None,
        "campaign_id": card.campaign_id,
        "contact": {
            "id": c.id, "contact_id": c.id, "external_id": c.external_id,
            "first_name": c.first_name, "last_name": c.last_name, "postal_code": c.postal_code,
            "time_zone": c.time_zone, "custom_fields": c.custom_fields,
            "expires_at": iso_or_none(c.expires_at),
        },
        "target": {
            "id": t.id, "target_id": t.id, "description": t.description,
            "number": number, "e164": number, "masked": masked,
            "attempts": f"{t.attempts_made}/{t.max_attempts}", "last_outcome": t.last_outcome,
        },
        "history": history_json(card.history),
    }


class ScreenPopsHost(Protocol):
    """What the cards need of the process (today the `Dialer` bundle): the ledger, and
    tasks to load them in."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConn]: ...
    @property
    def running(self) -> bool: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]: ...


class ScreenPops:
    """Cards of calls, loaded once per attempt (shared by every reader), masked per send."""

    def __init__(self, host: ScreenPopsHost) -> None:
        self.host = host
        self._cards: OrderedDict[str, asyncio.Future[CallCard | None]] = OrderedDict()

    def prefetch(self, attempt_id: str) -> None:
        """Start loading a call's card now (it is being offered to an agent)."""
        if attempt_id not in self._cards and self.host.running:
            self._start(attempt_id)

    async def _load(self, attempt_id: str) -> CallCard | None:
        try:
            async with self.host.pool.connection() as conn:
                return await screen_pop_ledger.attempt_card(conn, attempt_id)
        except Exception as exc:
            log.warning("screen_pop.load_failed", attempt=attempt_id, error=str(exc))
            return None

    def _start(self, attempt_id: str) -> asyncio.Future[CallCard | None]:
        fut: asyncio.Future[CallCard | None] = asyncio.get_running_loop().create_future()
        self._cards[attempt_id] = fut
        while len(self._cards) > CACHE_SIZE:
            self._cards.popitem(last=False)

        async def load() -> None:
            result = await self._load(attempt_id)
            if result is None and self._cards.get(attempt_id) is fut:
                # Not written yet (an agent reserved before the write-ahead commits) or a
                # database hiccup: the next reader tries again.
                del self._cards[attempt_id]
            if not fut.done():
                fut.set_result(result)

        self.host.spawn(load(), name=f"screen-pop-{attempt_id[:8]}")
        return fut

    async def get(self, attempt_id: str) -> dict[str, Any] | None:
        """The call's card as it may be sent now (None when the attempt does not exist):
        masked when its campaign masks numbers at this moment."""
        fut = self._cards.get(attempt_id)
        if fut is None:
            if not self.host.running:  # starting or stopped: read it once, uncached
                card = await self._load(attempt_id)
                return await self._shown(card) if card is not None else None
            fut = self._start(attempt_id)
        else:
            self._cards.move_to_end(attempt_id)
        card = await asyncio.shield(fut)
        return await self._shown(card) if card is not None else None

    async def _shown(self, card: CallCard) -> dict[str, Any]:
        if card.attempt_id is None:
            return card_json(card, masking=await self.masking(card.campaign_id))
        return await self._with_call_data(card, card.attempt_id)

    async def _with_call_data(self, card: CallCard, attempt_id: uuid.UUID) -> dict[str, Any]:
        """A call's card with its call data (MISSION E), both masked as they are sent now.
        The custom field that fills a secure variable is masked like it. If the data
        cannot be read the card goes without it, numbers masked and custom fields left
        out: which of them are secure is not known then."""
        try:
            async with self.host.pool.connection() as conn:
                data = await call_data_ledger.read_call_data(conn, attempt_id)
        except Exception as exc:
            log.warning("screen_pop.call_data_failed", attempt=str(attempt_id), error=str(exc))
            out = card_json(card, masking=True)
            out["contact"]["custom_fields"] = {}
            return out
        out = card_json(card, masking=data.masking)
        out["contact"]["custom_fields"] = shown_custom_fields(
            card.contact.custom_fields, (v.name for v in data.variables if v.secure),
            data.masking)
        out["call_data"] = call_data_json(data, writable=True)
        return out

    async def masking(self, campaign_id: int) -> bool:
        """The campaign's masking now (another instance's PATCH included); True when it
        cannot be read: a number is never shown in full by default."""
        try:
            async with self.host.pool.connection() as conn:
                masking = await screen_pop_ledger.campaign_masking(conn, campaign_id)
        except Exception as exc:
            log.warning("screen_pop.masking_unknown", campaign_id=campaign_id, error=str(exc))
            return True
        return True if masking is None else masking

    async def secure_fields(self, campaign_id: int) -> list[str] | None:
        """Names of the campaign's secure call-data variables (the contact fields that fill
        them are masked on every page); None when they cannot be read: mask every field."""
        try:
            async with self.host.pool.connection() as conn:
                variables = await call_data_ledger.campaign_variables(conn, campaign_id)
        except Exception as exc:
            log.warning("screen_pop.variables_unknown", campaign_id=campaign_id, error=str(exc))
            return None
        return [v.name for v in variables if v.secure]

    def forget(self, attempt_id: str) -> None:
        """The call is settled (dispositioned): its card is no longer shown."""
        self._cards.pop(attempt_id, None)
