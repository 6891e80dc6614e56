"""Seed rows for ledger tests: contacts and targets written straight into PostgreSQL.

(The CSV importer has its own tests; these helpers keep ledger tests independent of it.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from orchestrator.ledger.pool import AsyncConn, fetch_one
from tests.conftest import ADMIN_URL, _url_for

# A Wednesday afternoon in UTC: inside a 09:00-21:00 window for contacts in UTC.
NOON = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)

_numbers = itertools.count(1)


def next_e164() -> str:
    """A fresh, valid UK mobile number (+447700900nnn is Ofcom's drama range)."""
    return f"+4477009{next(_numbers):05d}"


async def add_contact(
    conn: AsyncConn,
    campaign_id: int,
    *,
    numbers: list[str] | None = None,
    time_zone: str | None = "UTC",
    max_attempts: int = 10,
    external_id: str | None = None,
    **contact: Any,
) -> tuple[int, list[int]]:
    """Insert a contact with one target per number (position order); (contact_id, target_ids)."""
    numbers = numbers if numbers is not None else [next_e164()]
    row = await fetch_one(
        conn,
        "INSERT INTO contacts (campaign_id, external_id, first_name, last_name, time_zone, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (campaign_id, external_id, contact.get("first_name", "Ada"), contact.get("last_name", "Lovelace"),
         time_zone, contact.get("expires_at")),
    )
    assert row is not None
    cid = int(row["id"])
    targets = []
    for pos, e164 in enumerate(numbers, start=1):
        t = await fetch_one(
            conn,
            "INSERT INTO targets (contact_id, campaign_id, position, description, e164, max_attempts)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (cid, campaign_id, pos, "Mobile" if pos == 1 else f"Phone {pos}", e164, max_attempts),
        )
        assert t is not None
        targets.append(int(t["id"]))
    return cid, targets


# ---------------------------------------------------------------- a faster per-test database
#
# CREATE DATABASE ... TEMPLATE (or TRUNCATE) costs ~0.5 s per test on a loaded 2-core machine.
# Ledger tests instead share one migrated database per module and start each test from an
# emptied one: every row is deleted (triggers, including the append-only guards and foreign
# keys, are off for that transaction via session_replication_role) except schema_migrations
# and the system wrap-up codes seeded by migration 001, and every sequence restarts.
# A test module opts in with
#     database_url = ledger_seed.database_url
#     ledger_session_database = ledger_seed.ledger_session_database
# which overrides the conftest's `database_url` for that module only. The tests of all such
# modules share one database (they run one at a time).


_SHARED: dict[str, str] = {}


@pytest.fixture(scope="session")
def ledger_session_database(template_database: str) -> Iterator[str]:
    # Each opting-in module binds its own copy of this fixture; the first one creates the
    # database (and, being set up first, is torn down last and drops it), the others reuse it.
    if template_database in _SHARED:
        yield _SHARED[template_database]
        return
    name = f"{template_database}_ledger"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template_database)))
    _SHARED[template_database] = _url_for(name)
    try:
        yield _SHARED[template_database]
    finally:
        del _SHARED[template_database]
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(ledger_session_database: str) -> str:
    """The module's ledger database, emptied back to its freshly migrated content."""
    url = ledger_session_database
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT IN ('schema_migrations', 'wrapup_codes')")]
        sequences = [r[0] for r in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")]
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            conn.execute("DELETE FROM wrapup_codes WHERE NOT is_system")
            for seq in sequences:
                conn.execute(sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.Identifier(seq)))
            conn.execute("SELECT setval(pg_get_serial_sequence('wrapup_codes', 'id'), max(id)) FROM wrapup_codes")
    return url
