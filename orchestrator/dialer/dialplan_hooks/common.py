"""What the dialplan hooks share: their arguments, the caller's number, the ledger pool."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from orchestrator.agi import AgiSession
from orchestrator.core.phones import PhoneError, normalize_e164
from orchestrator.ledger.pool import AsyncConn

Pool = AsyncConnectionPool[AsyncConn]

NO_NUMBER = ("", "unknown", "anonymous", "restricted", "private", "unavailable")
"""What Asterisk and trunks put in place of a caller's number when there is none."""


def arg(session: AgiSession, n: int) -> str:
    """The dialplan's n-th argument (1-based), stripped; "" when not given."""
    args = session.env.args
    return args[n - 1].strip() if len(args) >= n else ""


async def caller_number(session: AgiSession, given: str) -> str:
    """The caller's number as the dialplan gave it, else the channel's caller id
    (``GET FULL VARIABLE ${CALLERID(num)}``, as recorded on Asterisk 22)."""
    if given:
        return given
    return (await session.get_full_variable("${CALLERID(num)}") or "").strip()


def to_e164(raw: str, default_region: str | None) -> str | None:
    """The number in E.164, or None when there is none or it is not a valid number."""
    if raw.lower() in NO_NUMBER:
        return None
    try:
        return normalize_e164(raw, default_region or None)
    except PhoneError:
        return None
