"""The admin CLI: `orchestrator <command> ...`.

Each command lives in its own module under orchestrator/commands/ and exposes
`register(subparsers)`; the parser it adds sets `func(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from orchestrator.commands import CliError

# Command modules, in the order they appear in --help.
COMMAND_MODULES = [
    "orchestrator.commands.migrate",
    "orchestrator.commands.contacts",
    "orchestrator.commands.dnc",
    "orchestrator.commands.campaign",
    "orchestrator.commands.callbacks",
    "orchestrator.commands.agent",
    "orchestrator.commands.report",
    "orchestrator.commands.run",
    "orchestrator.commands.simulate_agents",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchestrator", description="Contact-center dialer for Asterisk")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except CliError as exc:
        print(f"orchestrator: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
