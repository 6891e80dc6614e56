"""`orchestrator run`: the service, configured from the environment (ORCH_*).

SIGTERM and SIGINT start a graceful shutdown; a second signal exits at once.
Logs are JSON lines on stderr with phone numbers masked and secrets dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from orchestrator.commands import CliError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help="run the dialer service (ORCH_DATABASE_URL, ORCH_ARI_*, ORCH_AMI_*, ORCH_HTTP_PORT)")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default ORCH_LOG_LEVEL or INFO)")
    p.add_argument("--log-format", choices=("json", "console"), default=None,
                   help="json lines (default) or human-readable console lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from orchestrator.config import Settings
    from orchestrator.logs import configure_logging

    try:
        settings = Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "ORCH_" + str(err["loc"][0]).upper() if err.get("loc") else "environment"
        raise CliError(f"run: {field}: {err['msg']}") from None
    level = args.log_level or settings.log_level
    fmt = args.log_format or settings.log_format
    try:
        configure_logging(level, json=fmt == "json")
    except ValueError as exc:
        raise CliError(f"run: {exc}") from None
    return asyncio.run(_serve(settings))


async def _serve(settings: object) -> int:
    import structlog

    from orchestrator.runtime import Runtime

    log = structlog.get_logger("orchestrator.run")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            log.warning("run.second_signal_exit_now", signal=signal.Signals(signum).name)
            os._exit(1)
        log.info("run.signal", signal=signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    runtime = Runtime(settings)  # type: ignore[arg-type]

    def announce(rt: Runtime) -> None:
        # One plain line on stdout for scripts and tests: where the API listens.
        print(f"orchestrator listening on http://{rt.settings.http_host}:{rt.http_port}",
              flush=True)

    try:
        await runtime.run(stop, on_started=announce)
    except Exception as exc:  # startup failures: say what failed, not a traceback
        log.error("run.failed", error=repr(exc))
        print(f"orchestrator: run: {exc}", file=sys.stderr)
        return 1
    return 0
