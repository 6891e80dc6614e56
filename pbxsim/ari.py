"""ARI over HTTP (aiohttp): the REST side of the engine; the events WebSocket is in
ari_events.py.

Status codes and bodies follow Asterisk 22 as recorded in shared/asterisk-traces
(more/README-NOTES.txt is precise about the error cases).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pbxsim.ari_events import AriSockets, iso
from pbxsim.engine import ASTERISK_ID, Engine
from pbxsim.model import AriError, Channel
from pbxsim.params import int_or

#: longer request lines get Asterisk's HTML 400 (5000 characters in a query did)
MAX_REQUEST_LINE = 4096

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AriServer:
    """The ARI HTTP application, its WebSocket sessions included."""

    def __init__(self, engine: Engine, user: str, password: str) -> None:
        self.engine = engine
        self.user = user
        self.password = password
        self.sockets = AriSockets(engine)
        self.latency_ms = 0.0
        self.app = self._make_app()

    # ------------------------------------------------------------------ app
    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        r = app.router
        a = "/ari"
        r.add_get(a + "/events", self.sockets.ws_events)
        r.add_get(a + "/asterisk/info", self.asterisk_info)
        r.add_get(a + "/asterisk/ping", self.asterisk_ping)
        r.add_get(a + "/channels", self.channels_list)
        r.add_post(a + "/channels", self.channels_originate)
        r.add_post(a + "/channels/create", self.channels_create)
        r.add_get(a + "/channels/{id}", self.channel_get)
        r.add_post(a + "/channels/{id}", self.channels_originate_id)
        r.add_delete(a + "/channels/{id}", self.channel_delete)
        r.add_post(a + "/channels/{id}/answer", self.ch_answer)
        r.add_post(a + "/channels/{id}/ring", self.ch_ring)
        r.add_delete(a + "/channels/{id}/ring", self.ch_ring_stop)
        r.add_post(a + "/channels/{id}/hold", self.ch_hold)
        r.add_delete(a + "/channels/{id}/hold", self.ch_unhold)
        r.add_post(a + "/channels/{id}/moh", self.ch_moh)
        r.add_delete(a + "/channels/{id}/moh", self.ch_moh_stop)
        r.add_post(a + "/channels/{id}/silence", self.ch_silence)
        r.add_delete(a + "/channels/{id}/silence", self.ch_silence)
        r.add_post(a + "/channels/{id}/mute", self.ch_silence)
        r.add_delete(a + "/channels/{id}/mute", self.ch_silence)
        r.add_post(a + "/channels/{id}/dtmf", self.ch_dtmf)
        r.add_post(a + "/channels/{id}/play", self.ch_play)
        r.add_post(a + "/channels/{id}/play/{pid}", self.ch_play)
        r.add_post(a + "/channels/{id}/record", self.ch_record)
        r.add_post(a + "/channels/{id}/snoop", self.ch_snoop)
        r.add_post(a + "/channels/{id}/snoop/{sid}", self.ch_snoop)
        r.add_get(a + "/channels/{id}/variable", self.ch_var_get)
        r.add_post(a + "/channels/{id}/variable", self.ch_var_set)
        r.add_get(a + "/channels/{id}/variables", self.ch_vars_get)
        r.add_post(a + "/channels/{id}/variables", self.ch_vars_set)
        r.add_post(a + "/channels/{id}/continue", self.ch_continue)
        r.add_post(a + "/channels/{id}/move", self.ch_move)
        r.add_post(a + "/channels/{id}/redirect", self.ch_redirect)
        r.add_post(a + "/channels/{id}/dial", self.ch_dial)
        r.add_get(a + "/channels/{id}/rtp_statistics", self.ch_rtp)
        r.add_get(a + "/bridges", self.bridges_list)
        r.add_post(a + "/bridges", self.bridges_create)
        r.add_get(a + "/bridges/{bid}", self.bridge_get)
        r.add_post(a + "/bridges/{bid}", self.bridges_create_id)
        r.add_delete(a + "/bridges/{bid}", self.bridge_delete)
        r.add_post(a + "/bridges/{bid}/addChannel", self.br_add)
        r.add_post(a + "/bridges/{bid}/removeChannel", self.br_remove)
        r.add_post(a + "/bridges/{bid}/moh", self.br_moh)
        r.add_delete(a + "/bridges/{bid}/moh", self.br_moh_stop)
        r.add_post(a + "/bridges/{bid}/play", self.br_play)
        r.add_post(a + "/bridges/{bid}/play/{pid}", self.br_play)
        r.add_post(a + "/bridges/{bid}/record", self.br_record)
        r.add_get(a + "/bridges/{bid}/variable", self.br_var_get)
        r.add_post(a + "/bridges/{bid}/variable", self.br_var_set)
        r.add_get(a + "/applications", self.apps_list)
        r.add_get(a + "/applications/{app}", self.app_get)
        r.add_post(a + "/applications/{app}/subscription", self.app_subscribe)
        r.add_delete(a + "/applications/{app}/subscription", self.app_unsubscribe)
        r.add_get(a + "/playbacks/{pid}", self.pb_get)
        r.add_delete(a + "/playbacks/{pid}", self.pb_stop)
        r.add_post(a + "/playbacks/{pid}/control", self.pb_control)
        r.add_get(a + "/recordings/live/{name}", self.rec_get)
        r.add_post(a + "/recordings/live/{name}/stop", self.rec_stop)
        r.add_delete(a + "/recordings/live/{name}", self.rec_cancel)
        r.add_post(a + "/recordings/live/{name}/pause", self.rec_pause)
        r.add_delete(a + "/recordings/live/{name}/pause", self.rec_unpause)
        r.add_post(a + "/recordings/live/{name}/mute", self.rec_mute)
        r.add_delete(a + "/recordings/live/{name}/mute", self.rec_unmute)
        r.add_get(a + "/recordings/stored", self.stored_list)
        r.add_get(a + "/recordings/stored/{name}", self.stored_get)
        r.add_get(a + "/recordings/stored/{name}/file", self.stored_file)
        r.add_delete(a + "/recordings/stored/{name}", self.stored_delete)
        r.add_post(a + "/recordings/stored/{name}/copy", self.stored_copy)
        r.add_post(a + "/events/user/{name}", self.user_event)
        r.add_get(a + "/sounds", self.sounds)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if len(request.raw_path) > MAX_REQUEST_LINE:
            # Asterisk's HTTP server: an HTML page, not ARI JSON (notes 7)
            return web.Response(status=400, content_type="text/html",
                                text="<html><body><h1>400 Bad Request</h1>"
                                     "Request line too long</body></html>")
        if not self._authorized(request):
            return web.json_response({"message": "Authentication required"}, status=401,
                                     headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'})
        self.engine.stats["rest_requests"] += 1
        if self.latency_ms > 0 and request.path != "/ari/events":
            await asyncio.sleep(self.latency_ms / 1000.0)
        try:
            return await handler(request)
        except AriError as e:
            return web.json_response({e.key: e.message}, status=e.status)
        except web.HTTPMethodNotAllowed:
            return web.json_response({"message": "Invalid method"}, status=405)
        except web.HTTPNotFound:
            return web.json_response({"message": "Resource not found"}, status=404)
        except _BadBody:
            return web.json_response({"message": "Error parsing request body"}, status=400)

    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                raw = base64.b64decode(auth[6:]).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return False
            return raw == f"{self.user}:{self.password}"
        key = request.query.get("api_key")
        return key is not None and key == f"{self.user}:{self.password}"

    async def _params(self, request: web.Request) -> dict[str, Any]:
        """Query parameters, overlaid with the JSON body (ARI accepts both)."""
        p: dict[str, Any] = {k: v for k, v in request.query.items() if k != "api_key"}
        if request.can_read_body:
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise _BadBody() from exc
                if isinstance(body, dict):
                    for k, v in body.items():
                        p[k] = v
        return p

    @staticmethod
    def _ok(body: Any = None, status: int = 200) -> web.Response:
        if body is None:
            return web.Response(status=204)
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    # ------------------------------------------------------------------ asterisk
    async def asterisk_info(self, request: web.Request) -> web.Response:
        return self._ok({"system": {"version": "22.10.1", "entity_id": ASTERISK_ID},
                         "status": {"startup_time": iso(self.engine.started),
                                    "last_reload_time": iso(self.engine.started)}})

    async def asterisk_ping(self, request: web.Request) -> web.Response:
        return self._ok({"asterisk_id": ASTERISK_ID, "ping": "pong",
                         "timestamp": self.engine.clock.iso()})

    async def sounds(self, request: web.Request) -> web.Response:
        return self._ok([{"id": n, "formats": [{"language": "lab", "format": "slin"}]}
                         for n in ("machine-greeting", "beep", "hello")])

    # ------------------------------------------------------------------ channels
    async def channels_list(self, request: web.Request) -> web.Response:
        return self._ok([c.snap().ari() for c in self.engine.channel_list()])

    async def channel_get(self, request: web.Request) -> web.Response:
        c = self.engine.get_channel(request.match_info["id"])
        return self._ok(c.snap().ari())

    def _chan_reply(self, c: Channel) -> web.Response:
        return self._ok(c.snap().ari())

    async def channels_originate(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        return self._chan_reply(self.engine.originate(p))

    async def channels_originate_id(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        p["channelId"] = request.match_info["id"]
        return self._chan_reply(self.engine.originate(p))

    async def channels_create(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        return self._chan_reply(self.engine.create(p))

    async def channel_delete(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        self.engine.hangup(request.match_info["id"], p.get("reason"), p.get("reason_code"))
        return self._ok()

    async def ch_answer(self, request: web.Request) -> web.Response:
        self.engine.answer(request.match_info["id"])
        return self._ok()

    async def ch_ring(self, request: web.Request) -> web.Response:
        self.engine.ring(request.match_info["id"], True)
        return self._ok()

    async def ch_ring_stop(self, request: web.Request) -> web.Response:
        self.engine.ring(request.match_info["id"], False)
        return self._ok()

    async def ch_hold(self, request: web.Request) -> web.Response:
        self.engine.hold(request.match_info["id"], True)
        return self._ok()

    async def ch_unhold(self, request: web.Request) -> web.Response:
        self.engine.hold(request.match_info["id"], False)
        return self._ok()

    async def ch_moh(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        self.engine.moh(request.match_info["id"], True, p.get("mohClass"))
        return self._ok()

    async def ch_moh_stop(self, request: web.Request) -> web.Response:
        self.engine.moh(request.match_info["id"], False, None)
        return self._ok()

    async def ch_silence(self, request: web.Request) -> web.Response:
        self.engine.silence(request.match_info["id"])
        return self._ok()

    async def ch_dtmf(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        ms = {name: int_or(p.get(name), default) or default
              for name, default in (("before", 0), ("between", 100), ("duration", 100),
                                    ("after", 0))}
        self.engine.send_dtmf(request.match_info["id"], p.get("dtmf"), ms["before"],
                              ms["between"], ms["duration"], ms["after"])
        return self._ok()

    async def ch_play(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        media = _media(p.get("media"))
        pid = request.match_info.get("pid") or p.get("playbackId")
        pb = self.engine.play("channel", request.match_info["id"], media, pid, p.get("lang"))
        return self._ok(pb.ari(), status=201)

    async def ch_record(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        rec = self.engine.record("channel", request.match_info["id"], p)
        return self._ok(rec.ari(), status=201)

    async def ch_snoop(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        if request.match_info.get("sid"):
            p["snoopId"] = request.match_info["sid"]
        return self._chan_reply(self.engine.snoop(request.match_info["id"], p))

    async def ch_var_get(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        return self._ok({"value": self.engine.get_var(request.match_info["id"], p.get("variable"))})

    async def ch_var_set(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        value = p.get("value")
        report = str(p.get("report_events", "false")).lower() in ("true", "1")
        self.engine.set_var(request.match_info["id"], p.get("variable"),
                            None if value is None else str(value), report)
        return self._ok()

    async def ch_vars_get(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        names = [n for n in str(_csv(p.get("variables")) or "").split(",") if n]
        return self._ok({"variables": self.engine.get_vars(request.match_info["id"], names)})

    async def ch_vars_set(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        self.engine.set_vars(request.match_info["id"], p.get("variables"))
        return self._ok()

    async def ch_continue(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        prio = p.get("priority")
        label = p.get("label")
        pr: int | None = None
        if prio not in (None, ""):
            try:
                pr = int(prio)
            except (TypeError, ValueError):
                pr = 1
        del label
        self.engine.continue_(request.match_info["id"], p.get("context"), p.get("extension"), pr)
        return self._ok()

    async def ch_move(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        app = p.get("app") or ""
        if not app:
            raise AriError(400, "Missing parameter app")
        args = [a for a in str(p.get("appArgs") or "").split(",") if a]
        self.engine.move(request.match_info["id"], app, args)
        return self._ok()

    async def ch_redirect(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        self.engine.redirect(request.match_info["id"], p.get("endpoint"))
        return self._ok()

    async def ch_dial(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        t = p.get("timeout")
        timeout: int | None = None
        if t not in (None, ""):
            try:
                timeout = int(t)
            except (TypeError, ValueError):
                timeout = None
        self.engine.dial(request.match_info["id"], timeout)
        return self._ok()

    async def ch_rtp(self, request: web.Request) -> web.Response:
        c = self.engine.get_channel(request.match_info["id"])
        if c.tech != "PJSIP":
            raise AriError(404, "Channel does not have RTP")
        zero = ("txcount", "rxcount", "txploss", "rxploss", "txoctetcount", "rxoctetcount")
        return self._ok({**{k: 0 for k in zero}, "channel_uniqueid": c.id})

    # ------------------------------------------------------------------ bridges
    async def bridges_list(self, request: web.Request) -> web.Response:
        return self._ok([b.snap().ari() for b in self.engine.bridges.values()])

    async def bridges_create(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        b = self.engine.create_bridge(p.get("type"), p.get("bridgeId"), p.get("name"))
        return self._ok(b.snap().ari())

    async def bridges_create_id(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        b = self.engine.create_bridge(p.get("type"), request.match_info["bid"], p.get("name"))
        return self._ok(b.snap().ari())

    async def bridge_get(self, request: web.Request) -> web.Response:
        return self._ok(self.engine.get_bridge(request.match_info["bid"]).snap().ari())

    async def bridge_delete(self, request: web.Request) -> web.Response:
        self.engine.destroy_bridge(request.match_info["bid"])
        return self._ok()

    async def br_add(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        self.engine.add_to_bridge(request.match_info["bid"], _csv(p.get("channel")), p.get("role"))
        return self._ok()

    async def br_remove(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        self.engine.remove_from_bridge(request.match_info["bid"], _csv(p.get("channel")))
        return self._ok()

    async def br_moh(self, request: web.Request) -> web.Response:
        self.engine.bridge_moh(request.match_info["bid"], True)
        return self._ok()

    async def br_moh_stop(self, request: web.Request) -> web.Response:
        self.engine.bridge_moh(request.match_info["bid"], False)
        return self._ok()

    async def br_play(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        pid = request.match_info.get("pid") or p.get("playbackId")
        pb = self.engine.play("bridge", request.match_info["bid"], _media(p.get("media")), pid,
                              p.get("lang"))
        return self._ok(pb.ari(), status=201)

    async def br_record(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        rec = self.engine.record("bridge", request.match_info["bid"], p)
        return self._ok(rec.ari(), status=201)

    async def br_var_get(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        b = self.engine.get_bridge(request.match_info["bid"])
        name = p.get("variable")
        if not name:
            raise AriError(400, "Variable name is required")
        if name not in b.vars:
            raise AriError(404, "Provided variable was not found")
        return self._ok({"value": b.vars[name]})

    async def br_var_set(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        b = self.engine.get_bridge(request.match_info["bid"])
        name = p.get("variable")
        if not name:
            raise AriError(400, "Variable name is required")
        b.vars[str(name)] = str(p.get("value") or "")
        return self._ok()

    # ------------------------------------------------------------------ applications
    async def apps_list(self, request: web.Request) -> web.Response:
        return self._ok([self.engine.app_json(a) for a in self.engine.apps])

    async def app_get(self, request: web.Request) -> web.Response:
        return self._ok(self.engine.app_json(request.match_info["app"]))

    async def app_subscribe(self, request: web.Request) -> web.Response:
        app = request.match_info["app"]
        p = await self._params(request)
        if app not in self.engine.apps:
            raise AriError(404, "Application not found")
        sources = _csv(p.get("eventSource")) or ""
        if not sources:
            raise AriError(400, "Missing parameter eventSource")
        for src in sources.split(","):
            kind, _, oid = src.partition(":")
            if kind == "channel":
                c = self.engine.channels.get(oid)
                if c is None:
                    raise AriError(422, "Event source does not exist")
                c.subscribers.add(app)
            elif kind == "bridge":
                b = self.engine.bridges.get(oid)
                if b is None:
                    raise AriError(422, "Event source does not exist")
                b.subscribers.add(app)
            elif kind not in ("endpoint", "deviceState"):
                raise AriError(400, "Invalid event source URI scheme")
        return self._ok(self.engine.app_json(app))

    async def app_unsubscribe(self, request: web.Request) -> web.Response:
        app = request.match_info["app"]
        p = await self._params(request)
        if app not in self.engine.apps:
            raise AriError(404, "Application not found")
        for src in (_csv(p.get("eventSource")) or "").split(","):
            kind, _, oid = src.partition(":")
            obj: Any = (self.engine.channels.get(oid) if kind == "channel"
                        else self.engine.bridges.get(oid) if kind == "bridge" else None)
            if obj is not None:
                obj.subscribers.discard(app)
        return self._ok(self.engine.app_json(app))

    # ------------------------------------------------------------------ playbacks, recordings
    async def pb_get(self, request: web.Request) -> web.Response:
        return self._ok(self.engine.get_playback(request.match_info["pid"]).ari())

    async def pb_stop(self, request: web.Request) -> web.Response:
        self.engine.stop_playback(request.match_info["pid"])
        return self._ok()

    async def pb_control(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        self.engine.control_playback(request.match_info["pid"], p.get("operation"))
        return self._ok()

    async def rec_get(self, request: web.Request) -> web.Response:
        return self._ok(self.engine.get_live(request.match_info["name"]).ari())

    async def _rec_op(self, request: web.Request, op: str) -> web.Response:
        self.engine.recording_op(request.match_info["name"], op)
        return self._ok()

    async def rec_stop(self, request: web.Request) -> web.Response:
        return await self._rec_op(request, "stop")

    async def rec_cancel(self, request: web.Request) -> web.Response:
        return await self._rec_op(request, "cancel")

    async def rec_pause(self, request: web.Request) -> web.Response:
        return await self._rec_op(request, "pause")

    async def rec_unpause(self, request: web.Request) -> web.Response:
        return await self._rec_op(request, "unpause")

    async def rec_mute(self, request: web.Request) -> web.Response:
        return await self._rec_op(request, "mute")

    async def rec_unmute(self, request: web.Request) -> web.Response:
        return await self._rec_op(request, "unmute")

    async def stored_list(self, request: web.Request) -> web.Response:
        return self._ok(list(self.engine.stored_recordings.values()))

    async def stored_get(self, request: web.Request) -> web.Response:
        rec = self.engine.stored_recordings.get(request.match_info["name"])
        if rec is None:
            raise AriError(404, "Recording not found")
        return self._ok(rec)

    async def stored_file(self, request: web.Request) -> web.Response:
        rec = self.engine.stored_recordings.get(request.match_info["name"])
        if rec is None:
            raise AriError(404, "Recording not found")
        seconds = self.engine.stored_durations.get(request.match_info["name"], 0.0)
        return web.Response(body=_silent_wav(seconds),
                            content_type="audio/wav")

    async def stored_delete(self, request: web.Request) -> web.Response:
        if self.engine.stored_recordings.pop(request.match_info["name"], None) is None:
            raise AriError(404, "Recording not found")
        return self._ok()

    async def stored_copy(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        rec = self.engine.stored_recordings.get(request.match_info["name"])
        if rec is None:
            raise AriError(404, "Recording not found")
        dest = p.get("destinationRecordingName") or ""
        if not dest:
            raise AriError(400, "Missing parameter destinationRecordingName")
        if dest in self.engine.stored_recordings:
            raise AriError(409, "A recording with the same name already exists on the system")
        self.engine.stored_recordings[dest] = {"name": dest, "format": rec["format"]}
        return self._ok(self.engine.stored_recordings[dest])

    # ------------------------------------------------------------------ events
    async def user_event(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        src = _csv(p.get("source")) or ""
        variables = p.get("variables") if isinstance(p.get("variables"), dict) else {}
        assert isinstance(variables, dict)
        self.engine.user_event(request.match_info["name"], p.get("application"),
                               [s for s in src.split(",") if s], variables)
        return self._ok()


def _silent_wav(seconds: float) -> bytes:
    """A valid 8 kHz 16-bit mono WAV of silence (pbxsim records no audio)."""
    import struct

    frames = int(max(0.0, seconds) * 8000)
    data = b"\x00\x00" * frames
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
            + b"data" + struct.pack("<I", len(data)) + data)


class _BadBody(Exception):
    pass


def _media(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    return [m for m in str(v).split(",") if m]


def _csv(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)
