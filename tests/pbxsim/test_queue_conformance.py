"""Conformance: pbxsim's app_queue (pbxsim/queues.py) against the queue recorded on
Asterisk 22.10.1 (shared/asterisk-traces/narrow/queue_placeholder: .jsonl, .actions.jsonl,
ami_queue_placeholder.log and agi_queue_dtmf.txt; README surprises 37-41).

The recorded REST calls are replayed against pbxsim (a subprocess, real sockets) with a
narrow ARI app, a parallel AMI connection and a FastAGI server in the test playing the
lab server's part. Compared with the recording: QueueCallerJoin positions and counts,
the callers' order in QueueStatus, the field names (and their order) of every AMI queue
event, the ARI events of the queue caller's ;2 half, the FastAGI request of a caller who
pressed 1, and the events of a member answering. Where pbxsim knowingly differs:

* the member takes one caller at a time (ringinuse off, surprise 39), so only the head
  caller is connected when it is added (the recording connected all four);
* [dialer-queue]'s Queue() has the 9th argument ${DIALER_QUEUE_POSITION} (the placeholder
  contract): its data ends in ",,,," where the recorded line had none;
* what the traces do not show (an abandon, a member that does not answer, QueuePause
  and QueueRemove) follows app_queue.c, and the tests say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.pbxsim.helpers import Ari, ari_client, is_
from tests.pbxsim.test_conformance import TRACES
from tests.support.pbxsim import PbxSim, run_pbxsim

pytestmark = pytest.mark.timeout(60)

NARROW = TRACES / "narrow"
SPEED = 10.0
Block = list[tuple[str, str]]


# ---------------------------------------------------------------------- the recording
def recorded_ami() -> list[Block]:
    """ami_queue_placeholder.log as blocks of (header, value) in order."""
    text = (NARROW / "ami_queue_placeholder.log").read_text().replace("\r\n", "\n")
    blocks = []
    for raw in text.split("\n\n"):
        lines = [ln for ln in raw.split("\n") if ": " in ln or ln.endswith(":")]
        if lines:
            blocks.append([_header(ln) for ln in lines])
    return blocks


def _header(line: str) -> tuple[str, str]:
    k, _, v = line.partition(":")
    return k, v[1:] if v.startswith(" ") else v


def recorded_event(name: str, **where: str) -> Block:
    """The first recorded AMI event `name` whose headers include `where`."""
    for b in recorded_ami():
        d = dict(b)
        if d.get("Event") == name and all(d.get(k) == v for k, v in where.items()):
            return b
    raise AssertionError(f"no recorded {name} {where}")


def recorded_actions() -> list[dict[str, Any]]:
    lines = (NARROW / "queue_placeholder.actions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def recorded_status(action_id: str) -> list[str]:
    """The callers' uniqueids, in order, of a recorded QueueStatus."""
    for a in recorded_actions():
        note = a.get("note")
        if isinstance(note, dict) and note.get("ami_action") == f"QueueStatus ({action_id})":
            return [e["Uniqueid"] for e in note["entries"]]
    raise AssertionError(f"no recorded QueueStatus {action_id}")


def recorded_originates() -> list[dict[str, Any]]:
    """The recorded POST /channels of the five callers, in order."""
    return [a["params"] for a in recorded_actions()
            if a.get("method") == "POST" and a.get("path") == "/channels"]


def recorded_ari() -> list[dict[str, Any]]:
    lines = (NARROW / "queue_placeholder.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def recorded_agi() -> tuple[list[str], list[str], list[str]]:
    """agi_queue_dtmf.txt: the environment, the lab server's commands, Asterisk's replies."""
    env: list[str] = []
    commands: list[str] = []
    replies: list[str] = []
    in_env = True
    for raw in (NARROW / "agi_queue_dtmf.txt").read_text().splitlines():
        m = re.match(r"\[[0-9.]+\] (<<|>>) '(.*)\\n'$", raw)
        if not m:
            continue
        direction, text = m.group(1), m.group(2)
        if direction == "<<" and in_env:
            if text == "":
                in_env = False
            else:
                env.append(text)
        else:
            (commands if direction == ">>" else replies).append(text)
    return env, commands, replies


def keys(block: Block) -> list[str]:
    return [k for k, _ in block]


def _counterless(text: str) -> str:
    """A channel name without its hex counter (Local/x@ctx-00000020;2 -> Local/x@ctx-N;2)."""
    return re.sub(r"-[0-9a-f]{8};", "-N;", text)


# ---------------------------------------------------------------------- AMI and FastAGI
class AmiLog:
    """A logged-in AMI connection keeping every block it reads."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.blocks: list[Block] = []
        self._new = asyncio.Event()
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        lines: Block = []
        while raw := await self.reader.readline():
            text = raw.decode().rstrip("\r\n")
            if text:
                lines.append(_header(text))
            elif lines:
                self.blocks.append(lines)
                lines = []
                self._new.set()

    async def wait(self, pred: Callable[[dict[str, str]], bool], within: float = 10.0,
                   start: int = 0) -> int:
        """The index of the first block from `start` matching pred."""
        loop = asyncio.get_running_loop()
        deadline, seen = loop.time() + within, start
        while True:
            for i in range(seen, len(self.blocks)):
                if pred(dict(self.blocks[i])):
                    return i
            seen = len(self.blocks)
            if loop.time() >= deadline:
                raise AssertionError(f"AMI block not seen; got {[dict(b).get('Event') for b in self.blocks]}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), deadline - loop.time())

    def event(self, name: str, **where: str) -> Callable[[dict[str, str]], bool]:
        return lambda d: d.get("Event") == name and all(d.get(k) == v for k, v in where.items())

    async def action(self, name: str, *headers: tuple[str, str],
                     complete: str | None = None) -> list[Block]:
        """Send an action; its reply blocks (up to the `complete` event of a list)."""
        aid = f"t{next(self._ids)}"
        self.writer.write(("".join(f"{k}: {v}\r\n" for k, v in
                                   [("Action", name), ("ActionID", aid), *headers]) + "\r\n").encode())
        first = await self.wait(lambda d: d.get("Response") is not None and d.get("ActionID") == aid)
        end = first
        if complete is not None:
            end = await self.wait(lambda d: d.get("Event") == complete and d.get("ActionID") == aid,
                                  start=first)
        return [b for b in self.blocks[first:end + 1] if dict(b).get("ActionID") == aid]


@contextlib.asynccontextmanager
async def ami_log(sim: PbxSim) -> AsyncIterator[AmiLog]:
    reader, writer = await asyncio.open_connection(sim.ami_host, sim.ami_port)
    await reader.readline()  # the banner
    ami = AmiLog(reader, writer)
    ami._task = asyncio.get_running_loop().create_task(ami._read())
    writer.write(f"Action: Login\r\nUsername: {sim.user}\r\nSecret: {sim.password}\r\n\r\n".encode())
    await ami.wait(lambda d: d.get("Response") == "Success")
    try:
        yield ami
    finally:
        ami._task.cancel()
        writer.close()


@dataclass
class FastAgi:
    """The lab's FastAGI server: sends `commands` after the environment, then closes."""

    commands: list[str] = field(default_factory=list)
    requests: list[tuple[list[str], list[str]]] = field(default_factory=list)
    """(environment lines, replies) per connection."""
    port: int = 0

    async def on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env, replies = [], []
        while (line := await reader.readline()) not in (b"\n", b""):
            env.append(line.decode()[:-1])
        for cmd in self.commands:
            writer.write(cmd.encode() + b"\n")
            await writer.drain()
            replies.append((await reader.readline()).decode()[:-1])
        self.requests.append((env, replies))
        writer.close()


@pytest_asyncio.fixture
async def agi() -> AsyncIterator[FastAgi]:
    if not NARROW.is_dir():
        pytest.skip(f"no recorded traces at {NARROW}")
    server_side = FastAgi()
    server = await asyncio.start_server(server_side.on_connect, "127.0.0.1", 0)
    server_side.port = server.sockets[0].getsockname()[1]
    try:
        yield server_side
    finally:
        server.close()
        await server.wait_closed()


@pytest_asyncio.fixture
async def sim(agi: FastAgi) -> AsyncIterator[PbxSim]:
    async with run_pbxsim(speed=SPEED, extra_args=[
            "--agi-url", f"agi://127.0.0.1:{agi.port}", "--stasis-entry-ms", "0"]) as s:
        yield s


async def control(sim: PbxSim, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.request(method, sim.control_url + path, **kw) as r:
        return r.status, await r.json()


async def queue_state(sim: PbxSim, name: str = "support") -> dict[str, Any]:
    status, body = await control(sim, "GET", "/_pbxsim/queues")
    assert status == 200
    return next(q for q in body["queues"] if q["name"] == name)


async def join(ari: Ari, ami: AmiLog, params: dict[str, Any]) -> dict[str, str]:
    """Originate a caller as recorded; its QueueCallerJoin."""
    status, body = await ari.request("POST", "/channels", **params)
    assert status == 200, body
    i = await ami.wait(ami.event("QueueCallerJoin", Uniqueid=params["channelId"] + ";2"))
    return dict(ami.blocks[i])


def caller(n: int, **extra: Any) -> dict[str, Any]:
    """A caller of [dialer-queue] as the lab made them (Local/support@dialer-queue/n)."""
    return {"endpoint": "Local/support@dialer-queue/n", "channelId": f"q-c{n}", "app": "dialer",
            "appArgs": "queue-caller", "timeout": "30",
            "callerId": f"Caller{n} <+1212555010{n}>", **extra}


async def status_ids(ami: AmiLog) -> list[str]:
    blocks = await ami.action("QueueStatus", ("Queue", "support"), complete="QueueStatusComplete")
    return [dict(b)["Uniqueid"] for b in blocks if dict(b).get("Event") == "QueueEntry"]


def ari_steps(events: list[dict[str, Any]], cid: str, exact: set[str],
              port: int | None = None) -> list[tuple[Any, ...]]:
    """One channel's ARI events as comparable steps: variables by name (values only for
    `exact` ones: the others are durations), dialplan apps with their data, causes."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        ch = e.get("channel") or {}
        if ch.get("id") != cid:
            continue
        t = e["type"]
        if t == "ChannelVarset":
            out.append((t, e["variable"], e["value"] if e["variable"] in exact else "*"))
        elif t == "ChannelDialplan":
            data = e["dialplan_app_data"]
            if port is not None:
                data = data.replace(f":{port}/", ":4573/")
            if e["dialplan_app"] == "Queue":
                data = data.rstrip(",")  # the 9th argument's empty ${DIALER_QUEUE_POSITION}
            out.append((t, ch["dialplan"]["context"], ch["dialplan"]["priority"],
                        e["dialplan_app"], data))
        elif t in ("ChannelHangupRequest", "ChannelDestroyed"):
            out.append((t, e["cause"], bool(e.get("soft"))))
        elif t == "ChannelDtmfReceived":
            out.append((t, e["digit"], e["duration_ms"]))
        else:
            out.append((t,))
    return out


async def ari_seen(ari: Ari, pred: Callable[[dict[str, Any]], bool], n: int = 1,
                   within: float = 10.0) -> None:
    """Wait until `n` ARI events match (ARI and AMI are two sockets: an AMI event seen
    does not mean the ARI events published before it have arrived)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while sum(1 for e in ari.events if pred(e)) < n:
        assert loop.time() < deadline, f"{n} ARI events not seen"
        await asyncio.sleep(0.01)


def dialplan_of(cid: str, app: str, **dialplan: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (e["type"] == "ChannelDialplan" and e["channel"]["id"] == cid
                      and e["dialplan_app"] == app
                      and all(e["channel"]["dialplan"][k] == v for k, v in dialplan.items()))


def from_first(events: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    i = next(i for i, e in enumerate(events) if pred(e))
    return events[i:]


async def replay_joins(ari: Ari, ami: AmiLog) -> list[tuple[str, str, str]]:
    """The five recorded callers, each once the one before is in the queue, with the
    recorded QueueStatus checks in between: (uniqueid, Position, Count) of each join."""
    checkpoints = {"q-c2": "qs-2callers", "q-c3": "qs-pos1", "q-c4": "qs-10th", "q-c5": "qs-pos2"}
    joins = []
    for params in recorded_originates():
        d = await join(ari, ami, params)
        joins.append((d["Uniqueid"], d["Position"], d["Count"]))
        action_id = checkpoints.get(params["channelId"])
        if action_id:
            assert await status_ids(ami) == recorded_status(action_id), action_id
    return joins


# ---------------------------------------------------------------------- positions
async def test_callers_join_at_the_positions_recorded(sim: PbxSim) -> None:
    """Two callers, then Queue(...,,,,1) (9th argument: first), Queue(...,,,,,2) (10th:
    ignored, last), Queue(...,,,,2) (second): positions, counts and the order QueueStatus
    lists, as recorded (surprise 37); the events' fields in Asterisk's order."""
    recorded_joins = [(d["Uniqueid"], d["Position"], d["Count"])
                      for d in map(dict, recorded_ami()) if d.get("Event") == "QueueCallerJoin"]
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        assert await replay_joins(ari, ami) == recorded_joins
        for cid in ("q-c3;2", "q-c4;2"):
            await ari_seen(ari, dialplan_of(cid, "Queue"))
        blocks = await ami.action("QueueStatus", ("Queue", "support"), complete="QueueStatusComplete")
    joined = next(b for b in ami.blocks if dict(b).get("Event") == "QueueCallerJoin")
    assert keys(joined) == keys(recorded_event("QueueCallerJoin"))
    by_event = {dict(b).get("Event", dict(b).get("Response")): b for b in blocks}
    for name in ("QueueParams", "QueueEntry", "QueueStatusComplete"):
        assert keys(by_event[name]) == keys(recorded_event(name)), name
    assert keys(by_event["Success"]) == ["Response", "ActionID", "EventList", "Message"]
    params = dict(by_event["QueueParams"])
    assert (params["Strategy"], params["Calls"], params["Max"]) == ("rrmemory", "5", "0")
    # the lab contexts' Queue() data, as recorded (the 10th argument kept, and ignored)
    apps = {e["channel"]["id"]: e["dialplan_app_data"] for e in ari.events
            if e["type"] == "ChannelDialplan" and e["dialplan_app"] == "Queue"}
    assert apps["q-c3;2"] == "support,t,,,3600,,,,1"
    assert apps["q-c4;2"] == "support,t,,,3600,,,,,2"


@pytest.mark.parametrize(("position", "expected"), [("1", 1), ("2", 2), ("9", 3), ("", 3)])
async def test_placeholder_joins_at_the_position_it_is_given(
        sim: PbxSim, position: str, expected: int) -> None:
    """The courtesy callback's contract: originate Local/<queue>@dialer-queue/n with the
    variable DIALER_QUEUE_POSITION=<n>; [dialer-queue] passes it as Queue()'s 9th argument
    and the channel joins at that place (past the end, or empty: at the end)."""
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        for n in (1, 2):
            await join(ari, ami, caller(n))
        d = await join(ari, ami, caller(3, json={"variables": {"DIALER_QUEUE_POSITION": position}}))
        assert (d["Position"], d["Count"]) == (str(expected), "3")
        order = [c["channel_id"] for c in (await queue_state(sim))["callers"]]
        ahead = ["q-c1;2", "q-c2;2"]
        assert order == ahead[:expected - 1] + ["q-c3;2"] + ahead[expected - 1:]
        assert [c["position"] for c in (await queue_state(sim))["callers"]] == [1, 2, 3]
        await ari_seen(ari, dialplan_of("q-c3;2", "Queue"))
        queue_app = next(e for e in ari.events if dialplan_of("q-c3;2", "Queue")(e))
        assert queue_app["dialplan_app_data"] == f"support,t,,,3600,,,,{position}"


# ---------------------------------------------------------------------- key 1
async def test_key_1_leaves_for_the_callback_offer_as_recorded(sim: PbxSim, agi: FastAgi) -> None:
    """The recorded five callers; DTMF 1 sent to q-c2 (;1, in Stasis) reaches Queue() on
    its ;2 half, which leaves the queue at the place it held (4) for
    [dialer-callback-offer]; the FastAGI request and replies, the ARI events of q-c2;2 and
    the AMI events are the recorded ones, and the others keep their order."""
    env, commands, replies = recorded_agi()
    agi.commands = commands
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        await replay_joins(ari, ami)
        status, _ = await ari.request("POST", "/channels/q-c2/dtmf", dtmf="1")
        assert status == 204
        await ari.wait_for(is_("ChannelDestroyed", "q-c2"), within=10)
        assert await status_ids(ami) == recorded_status("qs-after-dtmf")

    # FastAGI: the environment (the channel's name counter, port and thread id aside)
    [(got_env, got_replies)] = agi.requests
    assert [g.split(":", 1)[0] for g in got_env] == [r.split(":", 1)[0] for r in env]
    for g, r in zip(got_env, env, strict=True):
        if r.startswith("agi_threadid: "):
            assert re.fullmatch(r"agi_threadid: [0-9]+", g), g
        else:
            assert _counterless(g).replace(f":{agi.port}/", ":4573/") == _counterless(r)
    assert got_replies == replies
    # ARI: q-c2;2 from the key to its end, step by step; q-c2 (;1) ends as recorded
    exact = {"QUEUEPOSITION", "DIALER_CALLBACK", "AGISTATUS", "PLAYBACKSTATUS", "STASISSTATUS"}
    recorded = from_first(recorded_ari(), lambda e: e["type"] == "ChannelDtmfReceived")
    ours = from_first(ari.events, lambda e: e["type"] == "ChannelDtmfReceived")
    for cid in ("q-c2;2", "q-c2"):
        assert ari_steps(ours, cid, exact, agi.port) == ari_steps(recorded, cid, exact), cid
    # AMI: the key, the music stopping, the leave (Position 4 of 5, 4 left), field by field
    names = ("DTMFBegin", "DTMFEnd", "MusicOnHoldStop", "QueueCallerLeave")
    ours_ami = [b for b in ami.blocks if dict(b).get("Event") in names
                and dict(b).get("Uniqueid") == "q-c2;2"]
    assert [dict(b)["Event"] for b in ours_ami] == list(names)
    for b in ours_ami:
        rec = recorded_event(dict(b)["Event"], Uniqueid="q-c2;2")
        assert keys(b) == keys(rec)
        for k in ("Digit", "Direction", "DurationMs", "Queue", "Position", "Count", "Context",
                  "Exten", "Priority"):
            assert dict(b).get(k) == dict(rec).get(k), (dict(b)["Event"], k)


async def test_refused_callback_goes_back_to_the_end_of_the_queue(
        sim: PbxSim, agi: FastAgi) -> None:
    """A service that closes the socket at once: AGISTATUS=SUCCESS, DIALER_CALLBACK empty,
    so [dialer-callback-offer] sends the caller back to Queue() (priority 4), where it
    joins at the end, behind those who were behind it (not recorded: surprise 41 and the
    dialplan)."""
    agi.commands = []
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        for n in (1, 2, 3):
            await join(ari, ami, caller(n))
        assert (await ari.request("POST", "/channels/q-c1/dtmf", dtmf="1"))[0] == 204
        left = await ami.wait(ami.event("QueueCallerLeave", Uniqueid="q-c1;2"))
        rejoined = await ami.wait(ami.event("QueueCallerJoin", Uniqueid="q-c1;2"), start=left)
        assert (dict(ami.blocks[left])["Position"], dict(ami.blocks[left])["Count"]) == ("1", "2")
        assert (dict(ami.blocks[rejoined])["Position"], dict(ami.blocks[rejoined])["Count"]) == ("3", "3")
        assert [c["channel_id"] for c in (await queue_state(sim))["callers"]] == [
            "q-c2;2", "q-c3;2", "q-c1;2"]
        await ari_seen(ari, dialplan_of("q-c1;2", "Queue", context="dialer-queue"), n=2)
        steps = ari_steps(ari.events, "q-c1;2", {"AGISTATUS", "QUEUEPOSITION"}, agi.port)
        after_key = steps[steps.index(("ChannelVarset", "QUEUEPOSITION", "1")):]
        assert [s for s in after_key if s[0] == "ChannelDialplan" or s[1] == "AGISTATUS"] == [
            ("ChannelDialplan", "dialer-callback-offer", 1, "NoOp",
             "dialer: callback requested from queue support pos 1"),
            ("ChannelDialplan", "dialer-callback-offer", 2, "AGI",
             "agi://127.0.0.1:4573/callback-offer,support,1,+12125550101"),
            ("ChannelVarset", "AGISTATUS", "SUCCESS"),
            ("ChannelDialplan", "dialer-callback-offer", 3, "GotoIf", "0?done"),
            ("ChannelDialplan", "dialer-callback-offer", 4, "Goto", "dialer-queue,support,4"),
            ("ChannelDialplan", "dialer-queue", 4, "Queue", "support,t,,,3600")]
    assert len(agi.requests) == 1


# ---------------------------------------------------------------------- members
def queue_events(blocks: list[Block], start: int, uniqueids: set[str]) -> list[Block]:
    """The AMI events of a member call from `start`: the queue caller's and the bridge's."""
    names = {"AgentCalled", "QueueMemberStatus", "DialBegin", "DialEnd", "MusicOnHoldStop",
             "QueueCallerLeave", "AgentConnect", "BridgeCreate", "BridgeEnter"}
    out = []
    for b in blocks[start:]:
        d = dict(b)
        if d.get("Event") not in names:
            continue
        if d["Event"] in ("QueueMemberStatus", "BridgeCreate") or d.get("Uniqueid") in uniqueids \
                or d.get("DestUniqueid") in uniqueids:
            out.append(b)
        if d["Event"] == "BridgeEnter" and d.get("BridgeNumChannels") == "2":
            break
    return out


async def test_member_added_connects_the_head_caller_as_recorded(sim: PbxSim) -> None:
    """QueueAdd of Local/agent905@agents (an agent phone that answers at once): the head
    caller is rung and connected with the recorded events in the recorded order and
    fields; its ;2 half's ARI events are the recorded ones (no bridge events, surprise
    38); the next caller waits (one call per member). The head caller hanging up ends it
    with AgentComplete Reason=caller, and the member takes the next caller."""
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        for n in (1, 2):
            await join(ari, ami, caller(n))
        start = len(ami.blocks)
        [reply] = await ami.action("QueueAdd", ("Queue", "support"),
                                   ("Interface", "Local/agent905@agents"))
        assert dict(reply)["Message"] == "Added interface to queue"
        added = ami.blocks[await ami.wait(ami.event("QueueMemberAdded"), start=start)]
        rec_added = recorded_event("QueueMemberAdded")
        assert keys(added) == keys(rec_added)
        for k in ("Membership", "Penalty", "CallsTaken", "InCall", "Status", "Paused"):
            assert dict(added)[k] == dict(rec_added)[k], k
        await ami.wait(ami.event("BridgeEnter", BridgeNumChannels="2"), start=start)
        member_id = dict(ami.blocks[await ami.wait(ami.event("AgentConnect"), start=start)])["DestUniqueid"]
        ours = queue_events(ami.blocks, start, {"q-c1;2", member_id})
        first_call = next(i for i, b in enumerate(recorded_ami()) if dict(b).get("Event") == "AgentCalled")
        recorded = queue_events(recorded_ami(), first_call, {"q-c3;2", "1796356010.74"})
        assert [dict(b)["Event"] for b in ours] == [dict(b)["Event"] for b in recorded]
        for o, r in zip(ours, recorded, strict=True):
            assert keys(o) == keys(r), dict(o)["Event"]
        d = {dict(b)["Event"] + dict(b).get("BridgeNumChannels", ""): dict(b) for b in ours}
        assert d["DialEnd"]["DialStatus"] == "ANSWER"
        assert (d["QueueCallerLeave"]["Position"], d["QueueCallerLeave"]["Count"]) == ("1", "1")
        assert d["AgentConnect"]["RingTime"] == "0" and d["AgentConnect"]["Queue"] == "support"
        assert d["BridgeEnter1"]["Uniqueid"] == member_id
        assert d["BridgeEnter2"]["Uniqueid"] == "q-c1;2"
        assert d["BridgeCreate0"]["BridgeType"] == "basic"

        # ARI: the caller's ;2 half hears the dial and its variables, nothing of the bridge
        await ari_seen(ari, lambda e: e["type"] == "ChannelVarset"
                       and e["channel"]["id"] == "q-c1;2" and e["variable"] == "BRIDGEPEER")
        ours_ari = from_first(ari.events, lambda e: e["type"] == "Dial" and "caller" in e)
        rec_ari = from_first(recorded_ari(), lambda e: e["type"] == "Dial" and "caller" in e)
        exact = {"QUEUEPOSITION"}
        assert _connect_steps(ours_ari, "q-c1;2", exact) == _connect_steps(rec_ari, "q-c3;2", exact)
        dial = next(e for e in ours_ari if e["type"] == "Dial")
        assert list(dial) == list(next(e for e in rec_ari if e["type"] == "Dial"))
        assert (dial["caller"]["id"], dial["peer"]["id"], dial["dialstring"]) == (
            "q-c1;2", member_id, "Local/agent905@agents")
        assert not [e for e in ari.events if e["type"].startswith(("ChannelEntered", "Bridge"))]

        state = await queue_state(sim)
        assert [c["channel_id"] for c in state["callers"]] == ["q-c2;2"]
        assert state["callers"][0]["position"] == 1
        [member] = state["members"]
        assert (member["in_call"], member["state"]) == (True, "INUSE")
        assert state["connected"] == [{"caller_channel_id": "q-c1;2",
                                       "member_channel_id": member_id,
                                       "interface": "Local/agent905@agents"}]

        # the head caller hangs up (DELETE its ;1, as the lab did with q-c3)
        mark = len(ami.blocks)
        assert (await ari.request("DELETE", "/channels/q-c1"))[0] == 204
        done = dict(ami.blocks[await ami.wait(ami.event("AgentComplete"), start=mark)])
        rec_done = recorded_event("AgentComplete", Reason="caller")
        assert list(done) == list(dict(rec_done))
        assert (done["Reason"], done["Uniqueid"], done["DestUniqueid"]) == ("caller", "q-c1;2", member_id)
        await ari.wait_for(is_("ChannelDestroyed", "q-c1;2"))
        end_steps = [s for s in ari_steps(ari.events, "q-c1;2", set()) if s[0] != "ChannelDialplan"]
        rec_end = [s for s in ari_steps(recorded_ari(), "q-c3;2", set()) if s[0] != "ChannelDialplan"]
        assert end_steps[-8:] == rec_end[-8:]
        # ... and the member, free again, takes the next caller
        await ami.wait(ami.event("AgentConnect", Uniqueid="q-c2;2"), start=mark)
    assert (await queue_state(sim))["completed"] == 1


def _connect_steps(events: list[dict[str, Any]], cid: str, exact: set[str]) -> list[tuple[Any, ...]]:
    """The caller's ;2 half from the member's dial to the bridge (its BRIDGEPEER)."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        if e["type"] == "Dial" and (e.get("caller") or {}).get("id") == cid:
            out.append(("Dial", e["dialstatus"]))
        elif e["type"] == "ChannelVarset" and e["channel"]["id"] == cid:
            out.append(("ChannelVarset", e["variable"],
                        e["value"] if e["variable"] in exact else "*"))
            if e["variable"] == "BRIDGEPEER":
                return out
    return out


async def test_agent_hanging_up_ends_the_call_and_the_caller(sim: PbxSim) -> None:
    """The member's phone hangs up: AgentComplete Reason=agent (fields as recorded), and
    the caller's ;2 half ends as q-c1;2 did (BRIDGEPEER emptied, ANSWEREDTIME,
    DIALEDTIME, hangup 16), its ;1 half leaving Stasis."""
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        await join(ari, ami, caller(1))
        status, _ = await control(sim, "POST", "/_pbxsim/queues/support/members",
                                  json={"interface": "Local/agent1001@dialer-agents"})
        assert status == 200
        connect = dict(ami.blocks[await ami.wait(ami.event("AgentConnect"))])
        assert connect["DestChannel"].startswith("Local/agent1001@dialer-agents-")
        assert (await control(sim, "POST", f"/_pbxsim/hangup/{connect['DestUniqueid']}"))[0] == 200
        done = dict(ami.blocks[await ami.wait(ami.event("AgentComplete"))])
        assert list(done) == list(dict(recorded_event("AgentComplete", Reason="agent")))
        assert done["Reason"] == "agent"
        await ari.wait_for(is_("StasisEnd", "q-c1"))
        await ari.wait_for(is_("ChannelDestroyed", "q-c1;2"))
    ours = [s for s in ari_steps(ari.events, "q-c1;2", set()) if s[0] != "ChannelDialplan"]
    recorded = [s for s in ari_steps(recorded_ari(), "q-c1;2", set()) if s[0] != "ChannelDialplan"]
    assert ours[-7:] == recorded[-7:]
    member = (await queue_state(sim))["members"][0]
    assert (member["calls_taken"], member["in_call"], member["state"]) == (1, False, "NOT_INUSE")


async def test_pjsip_member_is_rung_like_an_agent_phone(sim: PbxSim) -> None:
    """A member PJSIP/agent1001 (queues.conf's example): rung, answers, connected."""
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        await join(ari, ami, caller(1))
        [reply] = await ami.action("QueueAdd", ("Queue", "support"), ("Interface", "PJSIP/agent1001"),
                                   ("MemberName", "Agent 1001"))
        assert dict(reply)["Response"] == "Success"
        connect = dict(ami.blocks[await ami.wait(ami.event("AgentConnect"))])
        assert connect["DestChannel"].startswith("PJSIP/agent1001-")
        assert connect["MemberName"] == "Agent 1001"
        member = (await queue_state(sim))["members"][0]
        assert (member["name"], member["in_call"]) == ("Agent 1001", True)


async def test_hangup_while_waiting_is_an_abandon(sim: PbxSim) -> None:
    """Not recorded; app_queue.c's record_abandoned() then leave_queue(): the timing
    variables, ABANDONED=TRUE, QueueCallerAbandon (Position, OriginalPosition, HoldTime),
    QueueCallerLeave, QUEUEPOSITION; the callers behind move up."""
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        for n in (1, 2):
            await join(ari, ami, caller(n))
        assert (await ari.request("DELETE", "/channels/q-c1"))[0] == 204
        abandon = await ami.wait(ami.event("QueueCallerAbandon", Uniqueid="q-c1;2"))
        leave = await ami.wait(ami.event("QueueCallerLeave", Uniqueid="q-c1;2"), start=abandon)
        await ari.wait_for(is_("ChannelDestroyed", "q-c1;2"))
        d = dict(ami.blocks[abandon])
        assert keys(ami.blocks[abandon])[-4:] == ["Queue", "Position", "OriginalPosition", "HoldTime"]
        assert keys(ami.blocks[abandon])[:17] == keys(recorded_event("QueueCallerLeave"))[:17]
        assert (d["Queue"], d["Position"], d["OriginalPosition"]) == ("support", "1", "1")
        assert (dict(ami.blocks[leave])["Position"], dict(ami.blocks[leave])["Count"]) == ("1", "1")
        variables = [s[1:] for s in ari_steps(ari.events, "q-c1;2", {"ABANDONED", "QUEUEPOSITION"})
                     if s[0] == "ChannelVarset"]
        assert variables[-8:] == [("QUEUEWAIT", "*"), ("QUEUEWAIT_MS", "*"), ("DIALEDTIME", "*"),
                                  ("DIALEDTIME_MS", "*"), ("ANSWEREDTIME", "*"),
                                  ("ANSWEREDTIME_MS", "*"), ("ABANDONED", "TRUE"),
                                  ("QUEUEPOSITION", "1")]
        params = dict(next(b for b in await ami.action("QueueStatus", complete="QueueStatusComplete")
                           if dict(b).get("Event") == "QueueParams"))
        assert (params["Abandoned"], params["Calls"]) == ("1", "1")
    state = await queue_state(sim)
    assert ([c["channel_id"] for c in state["callers"]], state["abandoned"]) == (["q-c2;2"], 1)


async def test_member_that_does_not_answer_is_rung_again_after_retry(sim: PbxSim) -> None:
    """Not recorded; app_queue.c: after the queue's timeout (20 s) AgentRingNoAnswer
    (RingTime in ms) and DialEnd NOANSWER, the member's call is dropped, and after
    `retry` (2 s) it is rung again (rrmemory, one member)."""
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        await join(ari, ami, caller(1))
        [reply] = await ami.action("QueueAdd", ("Queue", "support"),
                                   ("Interface", "Local/testnoanswer@dialer-testlines"))
        assert dict(reply)["Response"] == "Success"
        first = await ami.wait(ami.event("AgentCalled"))
        rna = await ami.wait(ami.event("AgentRingNoAnswer"), start=first)
        end = await ami.wait(ami.event("DialEnd", Uniqueid="q-c1;2"), start=rna)
        again = await ami.wait(ami.event("AgentCalled"), start=end)
        d = dict(ami.blocks[rna])
        assert (d["RingTime"], d["Interface"]) == ("20000", "Local/testnoanswer@dialer-testlines")
        assert dict(ami.blocks[end])["DialStatus"] == "NOANSWER"
        gap = float(dict(ami.blocks[again])["Timestamp"]) - float(d["Timestamp"])
        assert 2.0 <= gap < 3.5, gap
        state = await queue_state(sim)
        assert state["callers"][0]["ringing"] == "Local/testnoanswer@dialer-testlines"
        await ari_seen(ari, lambda e: e["type"] == "Dial" and e["dialstatus"] == "", n=2)
    ari_dials = [e["dialstatus"] for e in ari.events if e["type"] == "Dial" and "caller" in e]
    assert ari_dials[:3] == ["", "NOANSWER", ""]


# ---------------------------------------------------------------------- AMI actions
async def test_queue_actions_reply_as_app_queue(sim: PbxSim) -> None:
    """QueueAdd, QueuePause, QueueRemove and QueueSummary: app_queue.c's replies and
    events (the recording added its member by CLI); a paused member is not rung."""
    iface = "Local/agent905@agents"
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        msg = await _replies(ami, "QueueAdd", ("Queue", "support"), ("Interface", iface),
                             ("Paused", "true"), ("Reason", "lunch"))
        assert msg == ("Success", "Added interface to queue")
        assert await _replies(ami, "QueueAdd", ("Queue", "support"), ("Interface", iface)) == (
            "Error", "Unable to add interface: Already there")
        assert await _replies(ami, "QueueAdd", ("Queue", "support")) == (
            "Error", "'Interface' not specified.")
        await join(ari, ami, caller(1))
        await asyncio.sleep(3 / SPEED)  # three RECHECKs: a paused member is not rung
        assert not [b for b in ami.blocks if dict(b).get("Event") == "AgentCalled"]
        summary = dict(next(b for b in await ami.action("QueueSummary", complete="QueueSummaryComplete")
                            if dict(b).get("Event") == "QueueSummary"))
        assert (summary["LoggedIn"], summary["Available"], summary["Callers"]) == ("1", "0", "1")

        mark = len(ami.blocks)
        assert await _replies(ami, "QueuePause", ("Interface", iface), ("Paused", "false")) == (
            "Success", "Interface unpaused successfully")
        pause = ami.blocks[await ami.wait(ami.event("QueueMemberPause"), start=mark)]
        # QueueMemberPause carries the member fields QueueMemberAdded was recorded with
        assert keys(pause) == keys(recorded_event("QueueMemberAdded"))
        assert dict(pause)["Paused"] == "0"
        await ami.wait(ami.event("AgentConnect", Uniqueid="q-c1;2"), start=mark)
        assert await _replies(ami, "QueuePause", ("Interface", "PJSIP/nobody"), ("Paused", "1")) == (
            "Error", "Interface not found")
        assert await _replies(ami, "QueuePause", ("Interface", iface)) == (
            "Error", "Need 'Interface' and 'Paused' parameters.")

        mark = len(ami.blocks)
        assert await _replies(ami, "QueueRemove", ("Queue", "support"), ("Interface", iface)) == (
            "Success", "Removed interface from queue")
        removed = ami.blocks[await ami.wait(ami.event("QueueMemberRemoved"), start=mark)]
        assert keys(removed) == keys(recorded_event("QueueMemberRemoved"))
        assert await _replies(ami, "QueueRemove", ("Queue", "support"), ("Interface", iface)) == (
            "Error", "Unable to remove interface: Not there")
        assert await _replies(ami, "QueueRemove", ("Queue", "nosuchqueue"), ("Interface", iface)) == (
            "Error", "Unable to remove interface from queue: No such queue")
        assert await _replies(ami, "QueueRemove", ("Interface", iface)) == (
            "Error", "Need 'Queue' and 'Interface' parameters.")
    assert (await queue_state(sim))["members"] == []


async def _replies(ami: AmiLog, action: str, *headers: tuple[str, str]) -> tuple[str, str]:
    [reply] = await ami.action(action, *headers)
    d = dict(reply)
    assert list(d) == ["Response", "ActionID", "Message"]
    return d["Response"], d["Message"]


# ---------------------------------------------------------------------- bad input
async def test_bad_input_is_refused_naming_the_field(sim: PbxSim) -> None:
    async with ari_client(sim, subscribe_all=False) as ari, ami_log(sim) as ami:
        await join(ari, ami, caller(1))
        assert await ari.request("POST", "/channels/q-c1/dtmf") == (400, {"message": "DTMF is required"})
        assert (await ari.request("POST", "/channels/nosuch/dtmf", dtmf="1"))[0] == 404
        status, body = await control(sim, "POST", "/_pbxsim/dtmf/q-c1;2", params={"digit": "x"})
        assert status == 400 and body["error"].startswith("digit:")
        status, body = await control(sim, "POST", "/_pbxsim/dtmf/q-c1;2",
                                     params={"digit": "1", "duration_ms": "soon"})
        assert status == 400 and body["error"].startswith("duration_ms:")
        assert (await control(sim, "POST", "/_pbxsim/dtmf/nosuch", params={"digit": "1"}))[0] == 404
        for body_, name in (({}, "interface"), ({"interface": "Local/a@agents", "paused": "no"}, "paused"),
                            ({"interface": "Local/a@agents", "penalty": -1}, "penalty")):
            status, body = await control(sim, "POST", "/_pbxsim/queues/support/members", json=body_)
            assert status == 400 and body["error"].startswith(name + ":"), body
        status, body = await control(sim, "DELETE", "/_pbxsim/queues/support/members")
        assert status == 400 and body["error"].startswith("interface:")
        # the control endpoint's key reaches the queue like a far-end key press
        assert (await control(sim, "POST", "/_pbxsim/dtmf/q-c1;2", params={"digit": "1"}))[0] == 200
        await ami.wait(ami.event("QueueCallerLeave", Uniqueid="q-c1;2"))
