"""The ARI events WebSocket: one session per socket, engine events -> ARI JSON.

An app is carried by one socket at a time; a second socket for it replaces the first
(ApplicationReplaced, surprise 17). Events reach an app by its subscriptions (the
event's `targets`) or, with subscribeAll, all of them. The control endpoint cuts and
stalls the sockets here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from pbxsim.engine import ASTERISK_ID, Engine
from pbxsim.model import SimEvent


@dataclass
class WsSession:
    """One ARI WebSocket: the apps it carries and its send queue."""

    apps: list[str]
    subscribe_all: bool
    ws: web.WebSocketResponse
    request: web.Request
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    replaced: set[str] = field(default_factory=set)
    stalled_until: float = 0.0
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def abort(self) -> None:
        """Close the TCP connection without a close frame (a cut cable)."""
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self.queue.put_nowait(None)
        self.resume.set()


def event_json(ev: SimEvent, app: str) -> dict[str, Any]:
    """The ARI JSON of an engine event, keys in Asterisk's order."""
    ts = iso(ev.timestamp)
    k = ev.kind
    d: dict[str, Any]
    chan = ev.channel.ari() if ev.channel is not None else None
    if k == "ChannelVarset":
        d = {"variable": ev.data["variable"], "value": ev.data["value"], "type": k,
             "timestamp": ts}
        if chan is not None:
            d["channel"] = chan
    elif k == "ChannelHangupRequest":
        d = {"cause": ev.data["cause"]}
        if ev.data.get("soft"):
            d["soft"] = True
        if "tech_cause" in ev.data:
            d["tech_cause"] = ev.data["tech_cause"]
        d.update({"type": k, "timestamp": ts, "channel": chan})
    elif k == "DeviceStateChanged":
        return {"type": k, "application": app, "timestamp": ts,
                "device_state": ev.data["device_state"], "asterisk_id": ASTERISK_ID}
    elif k == "ApplicationReplaced":
        return {"type": k, "timestamp": ts, "application": app, "asterisk_id": ASTERISK_ID}
    else:
        d = {"type": k, "timestamp": ts}
        if k == "ChannelDestroyed":
            d["cause"] = ev.data["cause"]
            d["cause_txt"] = ev.data["cause_txt"]
            if "tech_cause" in ev.data:
                d["tech_cause"] = ev.data["tech_cause"]
            d["channel"] = chan
        elif k == "ChannelDialplan":
            d["dialplan_app"] = ev.data["dialplan_app"]
            d["dialplan_app_data"] = ev.data["dialplan_app_data"]
            d["channel"] = chan
        elif k == "ChannelCallerId":
            d["caller_presentation"] = ev.data["caller_presentation"]
            d["caller_presentation_txt"] = ev.data["caller_presentation_txt"]
            d["channel"] = chan
        elif k == "Dial":
            d.update({"dialstatus": ev.data["dialstatus"], "forward": ev.data["forward"],
                      "dialstring": ev.data["dialstring"]})
            if "caller" in ev.data:
                # a dial made by a dialplan app (Queue() ringing a member) names its caller
                d["caller"] = ev.data["caller"].ari()
            d["peer"] = chan
        elif k == "ChannelDtmfReceived":
            d["digit"] = ev.data["digit"]
            d["duration_ms"] = ev.data["duration_ms"]
            d["channel"] = chan
        elif k == "StasisStart":
            d["args"] = ev.data["args"]
            d["channel"] = chan
        elif k in ("ChannelEnteredBridge", "ChannelLeftBridge"):
            d["bridge"] = ev.bridge.ari() if ev.bridge else None
            d["channel"] = chan
        elif k in ("BridgeCreated", "BridgeDestroyed"):
            d["bridge"] = ev.bridge.ari() if ev.bridge else None
        elif k.startswith("Playback"):
            d["playback"] = ev.data["playback"]
        elif k.startswith("Recording"):
            d["recording"] = ev.data["recording"]
        elif k == "ChannelUserevent":
            d["eventname"] = ev.data["eventname"]
            d["userevent"] = ev.data["userevent"]
            if chan is not None:
                d["channel"] = chan
        elif k == "ApplicationMoveFailed":
            d["channel"] = chan
            d["destination"] = ev.data["destination"]
            d["args"] = ev.data["args"]
        else:
            if chan is not None:
                d["channel"] = chan
    d["asterisk_id"] = ASTERISK_ID
    d["application"] = app
    return d


def iso(ts: float) -> str:
    """ARI's timestamp format, e.g. 2026-11-21T18:29:57.463+0000."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


class AriSockets:
    """The ARI WebSocket sessions (GET /ari/events) and the events they carry."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: list[WsSession] = []
        self.owner: dict[str, WsSession] = {}
        """app name -> the session that currently carries it."""
        engine.listeners.append(self.on_event)

    # ------------------------------------------------------------------ events out
    def on_event(self, ev: SimEvent) -> None:
        if not ev.ari:
            return
        for app, sess in list(self.owner.items()):
            if sess.closed or app in sess.replaced:
                continue
            if ev.kind == "ChannelUserevent" and not ev.to_all:
                if app not in ev.targets:
                    continue
            elif not ((ev.to_all and sess.subscribe_all) or app in ev.targets):
                continue
            msg = json.dumps(event_json(ev, app), ensure_ascii=False)
            sess.queue.put_nowait(msg)
            if ev.dup_for_all and sess.subscribe_all:
                # bridge playback/recording events arrive twice (surprise 18)
                sess.queue.put_nowait(msg)

    # ------------------------------------------------------------------ control hooks
    def cut_all(self) -> int:
        n = 0
        for s in list(self.sessions):
            s.abort()
            n += 1
        return n

    def stall_all(self, seconds: float) -> int:
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        for s in self.sessions:
            s.stalled_until = until
            s.resume.clear()
        loop.call_later(seconds, self._unstall)
        return len(self.sessions)

    def _unstall(self) -> None:
        loop = asyncio.get_running_loop()
        for s in self.sessions:
            if s.stalled_until <= loop.time() + 0.001:
                s.stalled_until = 0.0
                s.resume.set()

    # ------------------------------------------------------------------ websocket
    async def ws_events(self, request: web.Request) -> web.StreamResponse:
        """GET /ari/events?app=NAME[&subscribeAll=true]: the socket, until it closes."""
        apps = [a for a in request.query.get("app", "").split(",") if a]
        if not apps:
            return web.json_response({"message": "Missing parameter app"}, status=400)
        sub_all = request.query.get("subscribeAll", "false").lower() in ("true", "1", "yes")
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        sess = WsSession(apps=apps, subscribe_all=sub_all, ws=ws, request=request)
        sess.resume.set()
        for a in apps:
            old = self.owner.get(a)
            if old is not None and not old.closed:
                # the first socket gets ApplicationReplaced and then nothing (surprise 17)
                old.queue.put_nowait(json.dumps({"type": "ApplicationReplaced",
                                                 "timestamp": self.engine.clock.iso(),
                                                 "application": a, "asterisk_id": ASTERISK_ID}))
                old.replaced.add(a)
            self.owner[a] = sess
            self.engine.register_app(a, sub_all)
        self.sessions.append(sess)
        writer = asyncio.get_running_loop().create_task(self._writer(sess))
        try:
            while not sess.closed:
                if sess.stalled_until:
                    # half-open: stop reading (no pong either) until the stall ends
                    await sess.resume.wait()
                    continue
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout=0.5)
                except TimeoutError:
                    continue
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                WSMsgType.ERROR):
                    break
        finally:
            sess.closed = True
            sess.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            if sess in self.sessions:
                self.sessions.remove(sess)
            for a in apps:
                if self.owner.get(a) is sess:
                    del self.owner[a]
                    # channels stay in Stasis; their events are dropped (surprise 12, 16)
                    self.engine.unregister_app(a)
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    async def _writer(self, sess: WsSession) -> None:
        while True:
            msg = await sess.queue.get()
            if msg is None or sess.closed:
                return
            while sess.stalled_until and not sess.closed:
                await sess.resume.wait()
            try:
                await sess.ws.send_str(msg)
            except (ConnectionError, RuntimeError):
                sess.closed = True
                return
