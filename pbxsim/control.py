"""The control endpoint: tests cut or stall sockets, add latency, restart, script parties.

It listens on its own loopback port, apart from ARI, and needs no ARI credentials (the
way wazo-calld's ARI mock exposes `/_send_ws_event`).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from pbxsim.agi import agi_request_from_json, run_agi_request
from pbxsim.ami import AmiServer
from pbxsim.ari import AriServer
from pbxsim.engine import Engine
from pbxsim.model import AriError
from pbxsim.state import REFUSE_RECORDING

#: The cause of a recording told to fail: the one res_stasis_recording gives a recording
#: that could not start on any target (the other, "Cannot record channel while in
#: bridge", pbxsim gives by itself when it applies).
DEFAULT_RECORDING_FAILURE = "Failed to answer channel"


class ControlServer:
    def __init__(self, engine: Engine, ari: AriServer, ami: AmiServer) -> None:
        self.engine = engine
        self.ari = ari
        self.ami = ami
        app = web.Application()
        r = app.router
        r.add_post("/_pbxsim/ws/cut", self.ws_cut)
        r.add_post("/_pbxsim/ws/stall", self.ws_stall)
        r.add_post("/_pbxsim/latency", self.latency)
        r.add_post("/_pbxsim/restart", self.restart)
        r.add_post("/_pbxsim/script", self.script)
        r.add_post("/_pbxsim/hangup/{channel_id}", self.hangup)
        r.add_post("/_pbxsim/shutdown", self.shutdown)
        r.add_post("/_pbxsim/recordings/fail", self.recordings_fail)
        r.add_delete("/_pbxsim/recordings/fail", self.recordings_fail_clear)
        r.add_get("/_pbxsim/calls", self.calls)
        r.add_post("/_pbxsim/agi", self.agi)
        r.add_get("/_pbxsim/stats", self.stats)
        r.add_get("/_pbxsim/queues", self.queues)
        r.add_post("/_pbxsim/queues/{queue}/members", self.queue_member_add)
        r.add_delete("/_pbxsim/queues/{queue}/members", self.queue_member_remove)
        r.add_post("/_pbxsim/dtmf/{channel_id}", self.dtmf)
        self.app = app

    @staticmethod
    def _bad(message: str) -> web.Response:
        return web.json_response({"error": message}, status=400)

    async def ws_cut(self, request: web.Request) -> web.Response:
        return web.json_response({"cut": self.ari.sockets.cut_all()})

    async def ws_stall(self, request: web.Request) -> web.Response:
        try:
            seconds = float(request.query.get("seconds", "5"))
        except ValueError:
            return self._bad("seconds: not a number")
        if seconds < 0:
            return self._bad("seconds: must be >= 0")
        return web.json_response({"stalled": self.ari.sockets.stall_all(seconds), "seconds": seconds})

    async def latency(self, request: web.Request) -> web.Response:
        try:
            ms = float(request.query.get("ms", "0"))
        except ValueError:
            return self._bad("ms: not a number")
        if ms < 0:
            return self._bad("ms: must be >= 0")
        self.ari.latency_ms = ms
        return web.json_response({"latency_ms": ms})

    async def restart(self, request: web.Request) -> web.Response:
        self.ari.sockets.cut_all()
        self.ami.close_all()
        await self.engine.restart()
        return web.json_response({"restarted": True})

    async def _object(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The request's JSON object body ({} when empty), or the 400 naming `body`."""
        try:
            body: Any = json.loads(await request.read() or b"{}")
        except ValueError:
            return self._bad("body: not JSON")
        if not isinstance(body, dict):
            return self._bad("body: expected a JSON object")
        return body

    async def script(self, request: web.Request) -> web.Response:
        body = await self._object(request)
        if isinstance(body, web.Response):
            return body
        number = body.get("number")
        if not isinstance(number, str) or not number.strip():
            return self._bad("number: required string")
        outcome = body.get("outcome")
        if not isinstance(outcome, str):
            return self._bad("outcome: required string")
        kw: dict[str, float | None] = {}
        for name in ("ring_seconds", "talk_seconds"):
            v = body.get(name)
            if v is not None and not isinstance(v, int | float):
                return self._bad(f"{name}: must be a number")
            kw[name] = None if v is None else float(v)
        try:
            plan = self.engine.parties.script(number, outcome, kw["ring_seconds"],
                                              kw["talk_seconds"])
        except ValueError as e:
            return self._bad(str(e))
        return web.json_response({"number": number, "outcome": plan.outcome,
                                  "ring_seconds": plan.ring_seconds,
                                  "talk_seconds": plan.talk_seconds})

    async def hangup(self, request: web.Request) -> web.Response:
        try:
            self.engine.far_end_hangup(request.match_info["channel_id"])
        except AriError as e:
            return web.json_response({"error": e.message}, status=e.status)
        return web.json_response({"hungup": request.match_info["channel_id"]})

    async def shutdown(self, request: web.Request) -> web.Response:
        """`core stop gracefully` (mode=graceful) or `core abort shutdown` (mode=abort)."""
        mode = request.query.get("mode", "")
        try:
            self.engine.shutdown(mode)
        except ValueError as e:
            return self._bad(str(e))
        return web.json_response({"shutting_down": self.engine.shutting_down})

    async def recordings_fail(self, request: web.Request) -> web.Response:
        """Body {"name": glob, "cause": text}: recordings so named answer 201, then fail;
        with "refuse": true they are answered 500 at once (Asterisk without its recording
        directory)."""
        body = await self._object(request)
        if isinstance(body, web.Response):
            return body
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return self._bad("name: required string (a recording name or glob pattern)")
        cause = body.get("cause", DEFAULT_RECORDING_FAILURE)
        if not isinstance(cause, str) or not cause:
            return self._bad("cause: must be a non-empty string")
        refuse = body.get("refuse", False)
        if not isinstance(refuse, bool):
            return self._bad("refuse: must be true or false")
        if refuse:
            cause = REFUSE_RECORDING  # answered 500 at once, no RecordingFailed
        return web.json_response({"failing": self.engine.fail_recordings(name, cause)})

    async def recordings_fail_clear(self, request: web.Request) -> web.Response:
        """?name=glob forgets that pattern; without it, all of them."""
        name = request.query.get("name")
        if name == "":
            return self._bad("name: empty (leave it out to clear all)")
        return web.json_response({"failing": self.engine.clear_recording_failures(name)})

    async def agi(self, request: web.Request) -> web.Response:
        """Run one AGI() as Asterisk would (pbxsim/agi.py): body {"url", "args", "channel":
        {name, uniqueid, callerid, ..., "variables"}, "globals", "hangup_after_commands",
        "give_up_after_s"}; answers the transcript, the variables set and AGISTATUS."""
        try:
            req = agi_request_from_json(json.loads(await request.read() or b"{}"))
        except ValueError as e:
            return self._bad(str(e) if not isinstance(e, json.JSONDecodeError) else "body: not JSON")
        return web.json_response(await run_agi_request(req))

    async def calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.engine.calls_summary())

    async def queues(self, request: web.Request) -> web.Response:
        """Each queue: its callers in order (position, channel id), members and calls."""
        return web.json_response(self.engine.queues.state_json())

    async def queue_member_add(self, request: web.Request) -> web.Response:
        """Body {"interface", "member_name", "paused", "penalty"}: what AMI QueueAdd does
        (QueueMemberAdded included); 409 when the interface is a member already."""
        body = await self._object(request)
        if isinstance(body, web.Response):
            return body
        interface, name = body.get("interface"), body.get("member_name", "")
        paused, penalty = body.get("paused", False), body.get("penalty", 0)
        if not isinstance(interface, str) or not interface:
            return self._bad("interface: required string, e.g. Local/agent1001@dialer-agents")
        if not isinstance(name, str):
            return self._bad("member_name: must be a string")
        if not isinstance(paused, bool):
            return self._bad("paused: must be true or false")
        if not isinstance(penalty, int) or isinstance(penalty, bool) or penalty < 0:
            return self._bad("penalty: must be an integer >= 0")
        queue = request.match_info["queue"]
        if not self.engine.queues.add_member(queue, interface, member_name=name,
                                             paused=paused, penalty=penalty):
            return web.json_response({"error": "interface: already a member"}, status=409)
        return web.json_response({"queue": queue, "interface": interface})

    async def queue_member_remove(self, request: web.Request) -> web.Response:
        """?interface=...: what AMI QueueRemove does; 404 when it is not a member."""
        interface = request.query.get("interface", "")
        if not interface:
            return self._bad("interface: required")
        outcome = self.engine.queues.remove_member(request.match_info["queue"], interface)
        if outcome != "removed":
            return web.json_response({"error": f"interface: {outcome}"}, status=404)
        return web.json_response({"removed": interface})

    async def dtmf(self, request: web.Request) -> web.Response:
        """?digit=1 (or several, e.g. 12#), optional duration_ms: the channel receives the
        keys as if its far end pressed them (a queued caller asking for a callback)."""
        try:
            duration = int(request.query.get("duration_ms", "100"))
        except ValueError:
            return self._bad("duration_ms: not an integer")
        try:
            c = self.engine.receive_dtmf(request.match_info["channel_id"],
                                         request.query.get("digit", ""), duration)
        except ValueError as e:
            return self._bad(str(e))
        except AriError as e:
            return web.json_response({"error": e.message}, status=e.status)
        return web.json_response({"channel": c.id, "digits": request.query["digit"].upper()})

    async def stats(self, request: web.Request) -> web.Response:
        e = self.engine
        return web.json_response({
            **e.stats,
            "live_channels": len(e.channel_list()),
            "bridges": len(e.bridges),
            "apps": sorted(e.apps),
            "websockets": len(self.ari.sockets.sessions),
            "ami_sessions": len(self.ami.sessions),
            "outcomes": e.outcomes,
            "speed": e.clock.speed,
        })
