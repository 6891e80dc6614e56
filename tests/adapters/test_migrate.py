"""Migrations against a real PostgreSQL: order, idempotence, concurrency, tamper detection."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from orchestrator.ledger.migrate import MigrationError, load_migrations, migrate


def test_applies_all_then_nothing(empty_database_url: str) -> None:
    first = migrate(empty_database_url)
    assert [m.version for m in first] == [m.version for m in load_migrations()]
    assert migrate(empty_database_url) == []
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in first]


def test_two_processes_migrating_at_once_apply_each_file_once(empty_database_url: str) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        try:
            results.append([m.version for m in migrate(empty_database_url)])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in load_migrations()]


def test_failed_migration_leaves_nothing_half_written(empty_database_url: str, tmp_path: Path) -> None:
    (tmp_path / "001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE half (id int);\nSELECT no_such_function();")
    with pytest.raises(psycopg.Error):
        migrate(empty_database_url, tmp_path)
    with psycopg.connect(empty_database_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert "good" in tables and "half" not in tables
    assert versions == [1]


def test_changed_applied_migration_is_refused(empty_database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "001_one.sql"
    path.write_text("CREATE TABLE one (id int);")
    migrate(empty_database_url, tmp_path)
    path.write_text("CREATE TABLE one (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(empty_database_url, tmp_path)


def test_badly_named_file_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "init.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="init.sql"):
        load_migrations(tmp_path)


def test_missing_migrations_folder_is_an_error_not_an_empty_schema(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no migration files"):
        load_migrations(tmp_path / "nowhere")
