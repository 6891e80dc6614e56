"""Numbered plain-SQL migrations, applied in order, one transaction each.

Safe when several processes run `orchestrator migrate` at once: a session advisory lock
serialises them, and each re-reads the applied set after taking it.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

# Any fixed 64-bit number, unique to this purpose.
MIGRATION_LOCK_KEY = 0x0D1A1E5_0001
_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """A migration file is malformed, or an applied one was changed afterwards."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def sql_dir() -> Path:
    """The migrations folder: $ORCH_SQL_DIR, else the repository's sql/ (a source checkout or
    an editable install), else ./sql."""
    override = os.environ.get("ORCH_SQL_DIR")
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parents[2] / "sql"
    if repo.is_dir():
        return repo
    return Path.cwd() / "sql"


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or sql_dir()
    if not folder.is_dir() or not any(folder.glob("*.sql")):
        raise MigrationError(f"no migration files in {folder} (set ORCH_SQL_DIR to the sql/ folder)")
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lower_snake.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration version in {folder}")
    return found


def migrate(conninfo: str, folder: Path | None = None) -> list[Migration]:
    """Apply every pending migration; returns those applied by this call."""
    migrations = load_migrations(folder)
    applied_now: list[Migration] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            applied = {
                row[0]: row[1]
                for row in conn.execute("SELECT version, checksum FROM schema_migrations")
            }
            for m in migrations:
                if m.version in applied:
                    if applied[m.version] != m.checksum:
                        raise MigrationError(
                            f"migration {m.version:03d}_{m.name} was changed after it was applied"
                        )
                    continue
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                applied_now.append(m)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


def ensure_database(conninfo: str) -> bool:
    """Create the database named in conninfo if it does not exist. Returns True if created."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    dbname = str(params.get("dbname") or "")
    if not dbname:
        return False
    params["dbname"] = "postgres"
    admin = psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return False
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))
        return True
