"""`orchestrator migrate`: create the database if needed and apply pending migrations."""

from __future__ import annotations

import argparse

import psycopg

from orchestrator.commands import CliError, echo
from orchestrator.config import database_url
from orchestrator.ledger.migrate import MigrationError, ensure_database, migrate


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="apply pending SQL migrations (ORCH_DATABASE_URL)")
    p.add_argument("--no-create", action="store_true", help="do not create the database if missing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    url = database_url()
    try:
        if not args.no_create and ensure_database(url):
            echo("created database")
        applied = migrate(url)
    except (MigrationError, psycopg.Error) as exc:
        raise CliError(f"migrate: {exc}") from exc
    if applied:
        for m in applied:
            echo(f"applied {m.version:03d}_{m.name}")
    else:
        echo("schema is up to date")
    return 0
