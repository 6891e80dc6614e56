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


@pytest.fixture
def database_url(template_database: str) -> Iterator[str]:
    """A fresh, migrated database for this test alone; its URL."""
    name = f"{template_database}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_database)
            )
        )
    try:
        yield _url_for(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            _drop(conn, name)


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
