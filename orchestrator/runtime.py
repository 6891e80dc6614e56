"""The one composition root: builds the pool, the ARI/AMI clients, the dialer and the web
app, and runs them in one TaskGroup until asked to stop.

    settings ─► Runtime.run(stop)
                  ├─ ledger pool (psycopg_pool)
                  ├─ AriClient + AriEventStream ──► telephony's AriChannelHandlers.on_<Event>
                  │                          │          (per-channel order)
                  │                          └────► recovery.reconcile (after every (re)connect)
                  ├─ AmiListener (UserEvents for wallboards; optional)
                  ├─ FastAgiServer (the dialplan's hooks: dialer/dialplan_hooks; optional)
                  ├─ Dialer: the bundle of the shell's domains (dialer/<domain>/: calls,
                  │   telephony, agents, campaigns, previews, recovery, notify), each given
                  │   the Protocols it declares; commands go through one CommandRouter
                  └─ aiohttp web app: REST + /api/v1/events + /metrics + /openapi.json

Graceful shutdown (SIGTERM → ``stop``): stop placing calls, give calls in progress
``shutdown_grace_s`` to finish, release unused leases, close the ARI socket at a quiet
moment, stop the web server, close the pool. Calls still up stay in Asterisk; the next
start (same instance id) or another instance (after this one's heartbeat goes stale)
reconciles them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable

import structlog
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from orchestrator.agi import FastAgiServer
from orchestrator.api.app import build_app
from orchestrator.ari import AriClient, AriConfig, AriEventStream, dispatch_by_name
from orchestrator.config import Settings
from orchestrator.core.access import Principal, Role
from orchestrator.dialer.dialer import Dialer
from orchestrator.dialer.dialplan_hooks import dialplan_hooks
from orchestrator.hub import EventHub
from orchestrator.ledger import agents as agents_ledger
from orchestrator.ledger import callbacks as callbacks_ledger
from orchestrator.ledger.pool import AsyncConn, open_pool
from orchestrator.metrics import DialerMetrics

log = structlog.get_logger("orchestrator.runtime")


def default_instance_id(settings: Settings) -> str:
    """ORCH_INSTANCE_ID, else ``<hostname>:<http port>``: stable across restarts on one host,
    so a restarted service reconciles its own attempts at once."""
    if settings.instance_id:
        return settings.instance_id
    return f"{socket.gethostname()}:{settings.http_port}"


class Runtime:
    """One service process. ``await Runtime(settings).run(stop)``."""

    def __init__(self, settings: Settings, *, instance_id: str | None = None) -> None:
        self.settings = settings
        self.instance_id = instance_id or default_instance_id(settings)
        self.metrics = DialerMetrics()
        self.hub = EventHub()
        self.http_port: int | None = None
        """The port the web server listens on (known once started; ORCH_HTTP_PORT=0 picks one)."""
        self.dialer: Dialer | None = None
        self.agi_port: int | None = None
        """The port the FastAGI server listens on (None: disabled or could not bind)."""
        self.started = asyncio.Event()
        """Set once the web server listens and the dialer runs."""

    def ari_config(self) -> AriConfig:
        s = self.settings
        return AriConfig(base_url=s.ari_url, app=s.ari_app, username=s.ari_user,
                         password=s.ari_password.get_secret_value())

    async def run(self, stop: asyncio.Event, *, on_started: Callable[[Runtime], None] | None = None) -> None:
        """Run until ``stop`` is set, then shut down gracefully."""
        s = self.settings
        structlog.contextvars.bind_contextvars(instance=self.instance_id)
        log.info("runtime.starting", instance=self.instance_id, ari_url=s.ari_url,
                 http=f"{s.http_host}:{s.http_port}", pid=os.getpid())
        pool = await open_pool(s.database_url.get_secret_value(), min_size=2,
                               max_size=s.db_pool_size)
        runner: web.AppRunner | None = None
        try:
            async with AriClient(self.ari_config()) as ari:
                dialer = self.dialer = Dialer(
                    pool=pool, ari=ari, settings=s, instance_id=self.instance_id,
                    hub=self.hub, metrics=self.metrics)
                stream = AriEventStream(ari, dispatch_by_name(dialer.channels),
                                        resync=dialer.recovery.reconcile)
                dialer.attach_stream(stream)

                async def token_lookup(token: str) -> Principal | None:
                    async with pool.connection() as conn:
                        agent = await agents_ledger.agent_by_token(conn, token)
                        if agent is None:
                            # a website's "call me back" form: web callbacks of one campaign only
                            web_token = await callbacks_ledger.web_token_by_token(conn, token)
                            if web_token is None:
                                return None
                            return Principal(0, f"web:{web_token.name}", Role.WEB_CALLBACK,
                                             campaign_id=web_token.campaign_id)
                    return Principal(agent.id, agent.username, Role(agent.role))

                app = build_app(dialer.service, token_lookup=token_lookup, hub=self.hub,
                                metrics=self.metrics)
                runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                       shutdown_timeout=2.0)
                await runner.setup()
                site = web.TCPSite(runner, s.http_host, s.http_port, reuse_address=True)
                await site.start()
                self.http_port = _bound_port(runner, s.http_port)
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(stream.run(), name="ari-stream")
                    tg.create_task(dialer.run(tg), name="dialer")
                    ami = dialer.make_ami_publisher()
                    if ami is not None:
                        tg.create_task(ami.run(), name="ami")
                    agi = await self._start_agi(pool)
                    if agi is not None:
                        tg.create_task(agi.serve(), name="agi")
                    self.started.set()
                    log.info("runtime.started", http_port=self.http_port)
                    if on_started is not None:
                        on_started(self)
                    await stop.wait()
                    log.info("runtime.stopping")
                    if agi is not None:
                        await agi.close()
                    await dialer.shutdown(grace=s.shutdown_grace_s)
                    self.hub.close_all()
                    await stream.close()
                    if ami is not None:
                        await ami.close()
        finally:
            if runner is not None:
                await runner.cleanup()
            with contextlib.suppress(Exception):
                await pool.close()
            log.info("runtime.stopped")
            structlog.contextvars.unbind_contextvars("instance")

    async def _start_agi(self, pool: AsyncConnectionPool[AsyncConn]) -> FastAgiServer | None:
        """The FastAGI server for the dialplan's hooks (ORCH_AGI_*), listening; None when
        disabled or when its address is taken (the dialplan's AGI() then gets FAILURE
        and goes on, as when the service is down: logged, not fatal)."""
        s = self.settings
        if not s.agi_enabled:
            return None
        server = FastAgiServer(
            dialplan_hooks(pool, opt_out_scope=s.opt_out_scope, default_region=s.agi_default_region),
            host=s.agi_host, port=s.agi_port, timeout_s=s.agi_timeout_s)
        try:
            await server.start()
        except OSError as exc:
            log.error("agi.listen_failed", host=s.agi_host, port=s.agi_port, error=str(exc))
            return None
        self.agi_port = server.port
        return server


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or ()
        for sock in sockets:
            port: int = sock.getsockname()[1]
            return port
    return configured
