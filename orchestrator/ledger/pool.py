"""Connections to the ledger (psycopg 3).

Conventions of the whole `orchestrator.ledger` package, so that callers can compose calls:

- Every ledger function takes an open `psycopg.AsyncConnection` as its first argument.
- Connections are in autocommit mode; a function that writes more than one statement opens
  its own `async with conn.transaction()`. Called inside a caller's transaction it becomes a
  savepoint, so several ledger calls can be made atomic by wrapping them in one transaction.
- Times: functions take `now: datetime | None`. None means the database clock (`now()`),
  which is the one clock every orchestrator instance shares; tests pass explicit times.

The service opens one pool (`open_pool`) at start-up; CLI commands use `connect`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg
import psycopg.errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

AsyncConn = psycopg.AsyncConnection[Any]
"""The connection type every ledger function takes."""


async def _configure(conn: AsyncConn) -> None:
    # Autocommit: each ledger function decides its own transaction boundaries.
    await conn.set_autocommit(True)


async def open_pool(
    conninfo: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    name: str = "ledger",
    connect_timeout: float = 10.0,
) -> AsyncConnectionPool[AsyncConn]:
    """Create and open the service's pool; waits until `min_size` connections are up.

    Close it with `await pool.close()` at shutdown.
    """
    pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        name=name,
        timeout=connect_timeout,
        open=False,
        configure=_configure,
        # A connection killed while idle in the pool (pg_terminate_backend, a restart) is
        # found at checkout and replaced, rather than failing the next write.
        check=AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=True, timeout=connect_timeout)
    return pool


TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError, psycopg.errors.TransactionRollback, PoolTimeout)
"""The database could not be reached or gave up on a transaction (connection killed or
lost, server restarting, pool exhausted, deadlock or serialization failure): nothing was
committed that a replay of an idempotent ledger call would not recognise, so it may be sent
again. Anything else (a constraint, a bad value) is a bug or bad input: never retried."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)


@asynccontextmanager
async def connect(conninfo: str) -> AsyncIterator[AsyncConn]:
    """One autocommit connection, closed on exit (CLI commands, tests)."""
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


async def db_now(conn: AsyncConn, now: datetime | None = None) -> datetime:
    """`now` if given, else the database clock (transaction start time inside a transaction)."""
    if now is not None:
        return now
    async with conn.cursor() as cur:
        await cur.execute("SELECT now()")
        row = await cur.fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


async def fetch_all(conn: AsyncConn, query: Any, params: Any = None) -> list[dict[str, Any]]:
    """Run a parameterized query; rows as dicts."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_one(conn: AsyncConn, query: Any, params: Any = None) -> dict[str, Any] | None:
    """Run a parameterized query; the first row as a dict, or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def execute(conn: AsyncConn, query: Any, params: Any = None) -> int:
    """Run a parameterized statement; the number of rows it touched."""
    async with conn.cursor() as cur:
        await cur.execute(query, params)
        return cur.rowcount


async def audit(
    conn: AsyncConn,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one row to audit_log (append-only by trigger). Never put secrets in details."""
    await execute(
        conn,
        "INSERT INTO audit_log (actor, action, object_type, object_id, details)"
        " VALUES (%s, %s, %s, %s, %s)",
        (actor, action, object_type, None if object_id is None else str(object_id), Jsonb(details or {})),
    )
