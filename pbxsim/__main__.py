"""pbxsim command line: `pbxsim --ari-port 8088 --ami-port 5038 --user U --password P ...`.

Prints `pbxsim ready ari=HOST:PORT ami=HOST:PORT control=HOST:PORT` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from aiohttp import web

from pbxsim.ami import AmiServer
from pbxsim.ari import AriServer
from pbxsim.clock import SimClock
from pbxsim.control import ControlServer
from pbxsim.dialplan import DEFAULT_AGI, GLOBALS
from pbxsim.engine import Engine
from pbxsim.parties import PartyDirectory, RandomProfile


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pbxsim", description="A PBX simulator speaking ARI and AMI")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--ari-port", type=int, default=8088)
    p.add_argument("--ami-port", type=int, default=5038)
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--user", default="dialer")
    p.add_argument("--password", default="dialer")
    p.add_argument("--speed", type=float, default=1.0, help="all timers N times faster")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--call-log", default=None, help="append one JSON line per call placed")
    p.add_argument("--agi-url", default=DEFAULT_AGI,
                   help="the dialplan's ${DIALER_AGI} (asterisk-conf [globals]): where AGI() "
                        "calls the orchestrator's FastAGI server")
    p.add_argument("--profile", choices=("digits", "random"), default="digits")
    p.add_argument("--stasis-entry-ms", type=float, default=5.0,
                   help="real ms between a channel's create reply or answer and its "
                        "StasisStart (Asterisk's thread hop; 0: at once)")
    rp = RandomProfile()
    p.add_argument("--answer-rate", type=float, default=rp.answer_rate)
    p.add_argument("--machine-share", type=float, default=rp.machine_share)
    p.add_argument("--fax-share", type=float, default=rp.fax_share)
    p.add_argument("--busy-share", type=float, default=rp.busy_share)
    p.add_argument("--congestion-share", type=float, default=rp.congestion_share)
    p.add_argument("--early-hangup-share", type=float, default=rp.early_hangup_share)
    p.add_argument("--ring-median", type=float, default=rp.ring_median)
    p.add_argument("--talk-median", type=float, default=rp.talk_median)
    return p


async def serve(
    args: argparse.Namespace, out: TextIO = sys.stdout, call_log: TextIO | None = None
) -> None:
    if args.speed <= 0:
        raise SystemExit("pbxsim: --speed must be > 0")
    profile = RandomProfile(
        answer_rate=args.answer_rate, machine_share=args.machine_share,
        fax_share=args.fax_share, busy_share=args.busy_share,
        congestion_share=args.congestion_share, early_hangup_share=args.early_hangup_share,
        ring_median=args.ring_median, talk_median=args.talk_median,
    )
    try:
        parties = PartyDirectory(profile=args.profile, seed=args.seed, random_profile=profile)
    except ValueError as e:
        raise SystemExit(f"pbxsim: {e}") from e
    if args.stasis_entry_ms < 0:
        raise SystemExit("pbxsim: --stasis-entry-ms must be >= 0")
    if not args.agi_url.startswith("agi://"):
        raise SystemExit("pbxsim: --agi-url must be agi://host[:port]")
    GLOBALS["DIALER_AGI"] = args.agi_url.rstrip("/")
    engine = Engine(SimClock(args.speed), parties, call_log=call_log)
    engine.stasis_entry_s = args.stasis_entry_ms / 1000.0
    ari = AriServer(engine, args.user, args.password)
    ami = AmiServer(engine, args.user, args.password)
    control = ControlServer(engine, ari, ami)

    ari_runner = web.AppRunner(ari.app, handle_signals=False, access_log=None)
    ctl_runner = web.AppRunner(control.app, handle_signals=False, access_log=None)
    await ari_runner.setup()
    await ctl_runner.setup()
    ari_site = web.TCPSite(ari_runner, args.host, args.ari_port, shutdown_timeout=0.5)
    ctl_site = web.TCPSite(ctl_runner, args.host, args.control_port, shutdown_timeout=0.5)
    await ari_site.start()
    await ctl_site.start()
    ami_server = await asyncio.start_server(ami.handle, args.host, args.ami_port)

    def port_of(site: web.TCPSite) -> int:
        server = site._server  # noqa: SLF001 - aiohttp exposes no public accessor
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        return int(server.sockets[0].getsockname()[1])

    ami_port = ami_server.sockets[0].getsockname()[1]
    out.write(
        f"pbxsim ready ari={args.host}:{port_of(ari_site)} ami={args.host}:{ami_port} "
        f"control={args.host}:{port_of(ctl_site)}\n"
    )
    out.flush()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        ari.sockets.cut_all()
        ami.close_all()
        ami_server.close()
        await engine.close()
        await ctl_runner.cleanup()
        await ari_runner.cleanup()
        with contextlib.suppress(Exception):
            await ami_server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.call_log:
        with open(args.call_log, "a", encoding="utf-8") as call_log:
            asyncio.run(serve(args, call_log=call_log))
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
