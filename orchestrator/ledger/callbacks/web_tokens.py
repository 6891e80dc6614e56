"""Tokens of a website's "call me back" form: each may only create web callbacks, for its
one campaign (the API's role ``web_callback``). Shown once when created; the ledger keeps
only its sha256, compared in constant time as agents' tokens are."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import errors

from orchestrator.ledger.callbacks.validation import CallbackError
from orchestrator.ledger.pool import AsyncConn, audit, fetch_one

TOKEN_PREFIX = "dlw_"
"""Web-callback tokens start so (agents' start dlr_): a leaked one is told apart at once."""
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}\Z")


@dataclass(frozen=True)
class WebCallbackToken:
    """A web-callback token's row (never the token or its hash)."""

    id: int
    name: str
    campaign_id: int
    active: bool
    created_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _row(r: dict[str, Any]) -> WebCallbackToken:
    return WebCallbackToken(r["id"], r["name"], r["campaign_id"], r["active"], r["created_at"])


async def create_web_token(conn: AsyncConn, name: str, campaign_id: int, *,
                           actor: str = "system") -> tuple[WebCallbackToken, str]:
    """A new token for one campaign's web callbacks; returns it with the token (shown once)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise CallbackError("must be 1-64 characters of a-z 0-9 _ . - starting with a letter "
                            f"or digit; got {name!r}", "name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        async with conn.transaction():
            row = await fetch_one(
                conn,
                "INSERT INTO web_callback_tokens (name, campaign_id, token_hash, created_by)"
                " VALUES (%s, %s, %s, %s) RETURNING *",
                (name, campaign_id, _hash(token), actor))
            assert row is not None
            await audit(conn, actor=actor, action="web_callback_token.create",
                        object_type="web_callback_token", object_id=row["id"],
                        details={"name": name, "campaign_id": campaign_id})
    except errors.UniqueViolation:
        raise CallbackError("a web-callback token with this name exists", "name") from None
    except errors.ForeignKeyViolation:
        raise CallbackError("does not exist", "campaign") from None
    return _row(row), token


async def revoke_web_token(conn: AsyncConn, name: str, *, actor: str = "system") -> bool:
    """Deactivate a token (it stops working within the API's token cache lifetime)."""
    async with conn.transaction():
        row = await fetch_one(conn, "UPDATE web_callback_tokens SET active = false"
                                    " WHERE name = %s AND active RETURNING id", (name,))
        if row is None:
            return False
        await audit(conn, actor=actor, action="web_callback_token.revoke",
                    object_type="web_callback_token", object_id=row["id"], details={"name": name})
    return True


async def web_token_by_token(conn: AsyncConn, token: str) -> WebCallbackToken | None:
    """The active web-callback token presented, or None."""
    if not token or len(token) > 512 or not token.startswith(TOKEN_PREFIX):
        return None
    presented = _hash(token)
    row = await fetch_one(conn, "SELECT * FROM web_callback_tokens WHERE token_hash = %s AND active",
                          (presented,))
    if row is None or not hmac.compare_digest(str(row["token_hash"]), presented):
        return None
    return _row(row)
