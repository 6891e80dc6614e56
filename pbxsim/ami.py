"""AMI over TCP (asyncio): the manager interface, with Asterisk 22's header order.

Supported actions: Login, Logoff, Ping, Events, UserEvent, CoreStatus, the queue actions
of queues.py, and a polite error for anything else. Events are derived from the same
engine events as ARI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from pbxsim.engine import Engine
from pbxsim.model import STATE_CODES, BridgeSnap, ChanSnap, SimEvent

log = logging.getLogger("pbxsim.ami")

BANNER = "Asterisk Call Manager/11.0.0\r\n"


def chan_headers(s: ChanSnap, prefix: str = "") -> list[tuple[str, str]]:
    def unk(v: str) -> str:
        return v if v else "<unknown>"

    return [
        (prefix + "Channel", s.name),
        (prefix + "ChannelState", str(STATE_CODES.get(s.state, 0))),
        (prefix + "ChannelStateDesc", s.state),
        (prefix + "CallerIDNum", unk(s.caller_number)),
        (prefix + "CallerIDName", unk(s.caller_name)),
        (prefix + "ConnectedLineNum", unk(s.connected_number)),
        (prefix + "ConnectedLineName", unk(s.connected_name)),
        (prefix + "Language", s.language),
        (prefix + "AccountCode", s.accountcode),
        (prefix + "Context", s.context),
        (prefix + "Exten", s.exten),
        (prefix + "Priority", str(s.priority)),
        (prefix + "Uniqueid", s.id),
        (prefix + "Linkedid", s.linkedid),
    ]


def bridge_headers(b: BridgeSnap) -> list[tuple[str, str]]:
    return [
        ("BridgeUniqueid", b.id),
        ("BridgeType", "stasis"),
        ("BridgeTechnology", b.technology),
        ("BridgeCreator", "Stasis"),
        ("BridgeName", b.name),
        ("BridgeNumChannels", str(len(b.channels))),
        ("BridgeVideoSourceMode", b.video_mode),
    ]


def ami_event(ev: SimEvent) -> tuple[str, str, list[tuple[str, str]]] | None:
    """-> (event name, privilege, headers after Timestamp), or None when AMI has none."""
    k = ev.kind
    c = ev.channel
    ch = chan_headers(c) if c is not None else []
    if k == "ChannelCreated" and c is not None:
        return "Newchannel", "call,all", ch
    if k == "ChannelStateChange":
        return "Newstate", "call,all", ch
    if k == "ChannelDialplan" and c is not None:
        return "Newexten", "dialplan,all", ch + [
            ("Extension", c.exten), ("Application", ev.data["dialplan_app"]),
            ("AppData", ev.data["dialplan_app_data"])]
    if k == "ChannelVarset" and c is not None:
        return "VarSet", "dialplan,all", ch + [("Variable", ev.data["variable"]),
                                                ("Value", ev.data["value"])]
    if k == "ChannelCallerId":
        return "NewCallerid", "call,all", ch + [
            ("CID-CallingPres", f"{ev.data['caller_presentation']} ({ev.data['caller_presentation_txt']})")]
    if k == "ChannelConnectedLine":
        return "NewConnectedLine", "call,all", ch
    if k == "LocalBridge" and c is not None:
        peer: ChanSnap = ev.data["peer"]
        return "LocalBridge", "call,all", (
            chan_headers(c, "LocalOne") + chan_headers(peer, "LocalTwo")
            + [("Context", c.context), ("Exten", c.exten), ("LocalOptimization", "Yes")])
    if k == "Dial" and c is not None:
        dh = chan_headers(c, "Dest")
        status = ev.data["dialstatus"]
        if ev.data.get("first"):
            return "DialBegin", "call,all", dh + [("DialString", ev.data["dialstring"])]
        if status in ("RINGING", "PROCEEDING", "PROGRESS"):
            return "DialState", "call,all", dh + [("DialStatus", status)]
        return "DialEnd", "call,all", dh + [("DialStatus", status)]
    if k == "ChannelHangupRequest":
        name = "SoftHangupRequest" if ev.data.get("soft") else "HangupRequest"
        h = ch + [("Cause", str(ev.data["cause"]))]
        if "tech_cause" in ev.data:
            h.append(("TechCause", str(ev.data["tech_cause"])))
        return name, "call,all", h
    if k == "ChannelDestroyed":
        h = ch + [("Cause", str(ev.data["cause"])), ("Cause-txt", ev.data["cause_txt"])]
        if "tech_cause" in ev.data:
            h.append(("TechCause", str(ev.data["tech_cause"])))
        return "Hangup", "call,all", h
    if k == "BridgeCreated" and ev.bridge is not None:
        return "BridgeCreate", "call,all", bridge_headers(ev.bridge)
    if k == "BridgeDestroyed" and ev.bridge is not None:
        return "BridgeDestroy", "call,all", bridge_headers(ev.bridge)
    if k in ("ChannelEnteredBridge", "ChannelLeftBridge") and ev.bridge is not None:
        name = "BridgeEnter" if k == "ChannelEnteredBridge" else "BridgeLeave"
        return name, "call,all", bridge_headers(ev.bridge) + ch
    if k == "MusicOnHoldStart":
        return "MusicOnHoldStart", "call,all", ch + [("Class", ev.data.get("class", "default"))]
    if k == "MusicOnHoldStop":
        return "MusicOnHoldStop", "call,all", ch
    if k == "ChannelUserevent" and c is not None:
        h = ch + [("UserEvent", ev.data["eventname"])]
        h += [(kk, str(vv)) for kk, vv in ev.data["userevent"].items()]
        return "UserEvent", "user,all", h
    if k == "UserEvent":
        return "UserEvent", "user,all", list(ev.data["headers"])
    if k == "AmiEvent":
        # app_queue's events (queues.py): head, the channel, the Dest channel, the fields
        dest: ChanSnap | None = ev.data["dest"]
        h = list(ev.data["head"]) + ch + (chan_headers(dest, "Dest") if dest else [])
        return ev.data["event"], ev.data["privilege"], h + list(ev.data["fields"])
    return None


def render(name: str, privilege: str, ts: float, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"Event: {name}", f"Privilege: {privilege}", f"Timestamp: {ts:.6f}"]
    lines += [f"{k}: {_clean(v)}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _clean(v: str) -> str:
    # a value never spans lines on the wire
    return v.replace("\r", " ").replace("\n", " ")


@dataclass
class AmiSession:
    writer: asyncio.StreamWriter
    authed: bool = False
    events: bool = True
    username: str = ""
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


class AmiServer:
    """The AMI listener: one reader and one writer task per connection."""

    def __init__(self, engine: Engine, user: str, password: str) -> None:
        self.engine = engine
        self.user = user
        self.password = password
        self.sessions: list[AmiSession] = []
        self.started = time.time()
        engine.listeners.append(self.on_event)

    def on_event(self, ev: SimEvent) -> None:
        if not ev.ami or not self.sessions:
            return
        out = ami_event(ev)
        if out is None:
            return
        data = render(out[0], out[1], ev.timestamp, out[2])
        for s in self.sessions:
            if s.authed and s.events:
                s.queue.put_nowait(data)

    def close_all(self) -> None:
        for s in list(self.sessions):
            with contextlib.suppress(Exception):
                s.writer.transport.abort()
            s.queue.put_nowait(None)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sess = AmiSession(writer=writer)
        self.sessions.append(sess)
        writer.write(BANNER.encode())
        wtask = asyncio.get_running_loop().create_task(self._writer(sess))
        try:
            while True:
                block = await self._read_block(reader)
                if block is None:
                    break
                if not block:
                    continue
                if not await self._action(sess, block):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if sess in self.sessions:
                self.sessions.remove(sess)
            sess.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(wtask, 1.0)
            with contextlib.suppress(Exception):
                writer.close()

    async def _writer(self, sess: AmiSession) -> None:
        while True:
            data = await sess.queue.get()
            if data is None:
                return
            try:
                sess.writer.write(data)
                await sess.writer.drain()
            except (ConnectionError, RuntimeError):
                return

    @staticmethod
    async def _read_block(reader: asyncio.StreamReader) -> list[tuple[str, str]] | None:
        """One action: 'Key: Value' lines up to an empty line (CRLF or LF)."""
        headers: list[tuple[str, str]] = []
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            if text == "":
                return headers
            key, sep, value = text.partition(":")
            if not sep:
                # a stray line (e.g. a value split by a raw CR/LF): ignored, not fatal
                continue
            headers.append((key.strip(), value.strip()))

    def _reply(self, sess: AmiSession, headers: list[tuple[str, str]]) -> None:
        text = "".join(f"{k}: {_clean(v)}\r\n" for k, v in headers) + "\r\n"
        sess.queue.put_nowait(text.encode("utf-8"))

    async def _action(self, sess: AmiSession, block: list[tuple[str, str]]) -> bool:
        h = {k.lower(): v for k, v in block}
        action = h.get("action", "").lower()
        aid = [("ActionID", h["actionid"])] if "actionid" in h else []
        if action and self.engine.shutting_down:
            # manager.c refuses every action, Login included, while Asterisk shuts down
            # gracefully (seen on 22.10.1: a dialer starting then could not log in)
            self._reply(sess, [("Response", "Error"), *aid,
                               ("Message", "Asterisk is shutting down")])
            return True
        if action == "login":
            ok = h.get("username") == self.user and h.get("secret") == self.password
            if not ok:
                self._reply(sess, [("Response", "Error"), *aid,
                                   ("Message", "Authentication failed")])
                return True
            sess.authed = True
            sess.username = h.get("username", "")
            ev = h.get("events", "on").lower()
            sess.events = ev not in ("off", "no", "false", "0", "none")
            self._reply(sess, [("Response", "Success"), *aid,
                               ("Message", "Authentication accepted")])
            up = str(int(time.time() - self.started))
            self._reply(sess, [("Event", "FullyBooted"), ("Privilege", "system,all"),
                               ("Uptime", up), ("LastReload", up), ("Status", "Fully Booted")])
            return True
        if action == "logoff":
            self._reply(sess, [("Response", "Goodbye"), *aid,
                               ("Message", "Thanks for all the fish.")])
            sess.queue.put_nowait(None)
            return False
        if not sess.authed:
            self._reply(sess, [("Response", "Error"), *aid,
                               ("Message", "Missing action in request" if not action
                                else "Permission denied")])
            return True
        if action == "ping":
            self._reply(sess, [("Response", "Success"), *aid, ("Ping", "Pong"),
                               ("Timestamp", f"{time.time():.6f}")])
        elif action == "events":
            mask = h.get("eventmask", "on").lower()
            sess.events = mask not in ("off", "no", "false", "0", "none")
            self._reply(sess, [("Response", "Success"), *aid,
                               ("Events", "On" if sess.events else "Off")])
        elif action == "userevent":
            # the sender's ActionID is copied into the broadcast (notes 10)
            extra = [(k, v) for k, v in block
                     if k.lower() not in ("action", "userevent", "actionid")]
            headers = [("UserEvent", h.get("userevent", "")), *aid, *extra]
            self._reply(sess, [("Response", "Success"), *aid, ("Message", "Event Sent")])
            self.engine.ami_user_event(headers)
        elif (queue_reply := self.engine.queues.ami_action(action, h, aid)) is not None:
            # QueueAdd, QueueRemove, QueuePause, QueueStatus, QueueSummary... (queues.py)
            for reply in queue_reply:
                self._reply(sess, reply)
        elif action == "corestatus":
            now = time.localtime()
            start = time.localtime(self.started)
            self._reply(sess, [
                ("Response", "Success"), *aid,
                ("CoreStartupDate", time.strftime("%Y-%m-%d", start)),
                ("CoreStartupTime", time.strftime("%H:%M:%S", start)),
                ("CoreReloadDate", time.strftime("%Y-%m-%d", start)),
                ("CoreReloadTime", time.strftime("%H:%M:%S", start)),
                ("CoreCurrentCalls", str(len(self.engine.channel_list()))),
                ("CoreProcessedCalls", str(self.engine.stats["channels_created"])),
            ])
            del now
        else:
            self._reply(sess, [("Response", "Error"), *aid,
                               ("Message", "Invalid/unknown command")])
        return True
