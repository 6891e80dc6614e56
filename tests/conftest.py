"""Test-wide fixtures: a real PostgreSQL database per test run (and per test when asked).

The run's template database is migrated once; `database_url` hands each test its own
copy (CREATE DATABASE ... TEMPLATE is fast), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from orchestrator.ledger.migrate import migrate

REPO_ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("ORCH_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url_for(dbname: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})


def _drop(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """A migrated database made once per test run; the name of it."""
    name = f"dialer_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        migrate(_url_for(name))
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            _drop(conn, name)


class _DatabasePool:
    """Databases copied from the template, reset and handed out again.

    DROP DATABASE forces a checkpoint (a second or more on a busy machine), so a test's
    database is not dropped but reset: other sessions on it are ended, every table is
    truncated and the rows the migrations seeded are copied back in.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self.free: list[str] = []
        self.all: list[str] = []
        self.seed: dict[str, bytes] = {}
        self.tables: list[str] = []
        with psycopg.connect(_url_for(template)) as conn:
            self.tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'schema_migrations' ORDER BY tablename"
                )
            ]
            for table in self.tables:
                buf = bytearray()
                with conn.cursor().copy(
                    sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))
                ) as copy:
                    for chunk in copy:
                        buf += chunk
                if buf:
                    self.seed[table] = bytes(buf)

    def checkout(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"{self.template}_{len(self.all)}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(self.template)
                )
            )
        self.all.append(name)
        return name

    def checkin(self, name: str) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        with psycopg.connect(_url_for(name)) as conn:
            conn.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in self.tables)
                )
            )
            for table, data in self.seed.items():
                with conn.cursor().copy(
                    sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
                ) as copy:
                    copy.write(data)
            # Sequences of seeded tables continue after the seeded ids.
            for table in self.seed:
                conn.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, 'id'), max(id)) FROM {i}"
                    ).format(t=sql.Literal(table), i=sql.Identifier(table))
                )
        self.free.append(name)

    def drop_all(self) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            for name in self.all:
                _drop(conn, name)


@pytest.fixture(scope="session")
def _database_pool(template_database: str) -> Iterator[_DatabasePool]:
    pool = _DatabasePool(template_database)
    try:
        yield pool
    finally:
        pool.drop_all()


@pytest.fixture
def database_url(_database_pool: _DatabasePool) -> Iterator[str]:
    """A migrated database for this test alone (seeded rows only); its URL."""
    name = _database_pool.checkout()
    try:
        yield _url_for(name)
    finally:
        _database_pool.checkin(name)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    name = f"dialer_empty_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            _drop(conn, name)
