"""Conformance: pbxsim as Asterisk's FastAGI client, compared line by line with the
FastAGI transcripts recorded on Asterisk 22.10.1 (shared/asterisk-traces/narrow/agi_*.txt,
README surprises 40-41).

A small recording FastAGI server in the test plays the recorded server's part (the
``>>`` lines of a transcript: the same commands, or closing at once) against pbxsim
(a subprocess, driven through its control endpoint POST /_pbxsim/agi), and keeps what
pbxsim sends. Compared: the environment's keys in order and their values (the port in
agi_request and agi_threadid excepted: ours differ), every reply, the closing behaviour
and AGISTATUS. Nothing listening gives FAILURE and the dialplan goes on.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.pbxsim.test_conformance import TRACES
from tests.support.pbxsim import PbxSim, start_pbxsim_blocking

pytestmark = pytest.mark.timeout(60)

NARROW = TRACES / "narrow"
_LINE = re.compile(r"\[[0-9.]+\] (<<|>>) (.*)$")


def transcript(name: str) -> list[tuple[str, str]]:
    """A recorded transcript's lines: ("<<", what Asterisk sent) / (">>", what the server sent)."""
    out = []
    for raw in (NARROW / name).read_text().splitlines():
        m = _LINE.match(raw)
        if m:
            text = ast.literal_eval(m.group(2))
            assert text.endswith("\n"), raw
            out.append((m.group(1), text[:-1]))
    return out


def environment(lines: list[tuple[str, str]]) -> list[str]:
    """The environment lines (up to and without the empty line)."""
    env = []
    for direction, text in lines:
        assert direction == "<<"
        if text == "":
            return env
        env.append(text)
    raise AssertionError("no empty line after the environment")


@dataclass
class Recorder:
    """A FastAGI server that sends given commands (then closes) and records everything."""

    commands: list[str]
    received: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    port: int = 0

    async def on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (line := await reader.readline()) not in (b"\n", b""):
            self.received.append(line.decode()[:-1])
        for cmd in self.commands:
            writer.write(cmd.encode() + b"\n")
            await writer.drain()
            self.replies.append((await reader.readline()).decode()[:-1])
        writer.close()


@contextlib.asynccontextmanager
async def recording_server(commands: list[str]) -> AsyncIterator[Recorder]:
    rec = Recorder(commands)
    server = await asyncio.start_server(rec.on_connect, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    try:
        yield rec
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture(scope="module")
def sim() -> Iterator[PbxSim]:
    if not NARROW.is_dir():
        pytest.skip(f"no recorded traces at {NARROW}")
    with start_pbxsim_blocking(speed=1.0) as pbx:
        yield pbx


async def run_agi(sim: PbxSim, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(sim.control_url + "/_pbxsim/agi", json=body) as r:
        return r.status, await r.json()


def lab_channel(seq: str, uniqueid: str, callerid: str = "+12125550100", name: str = "Lab",
                **variables: str) -> dict[str, Any]:
    """The lab's channel of the transcripts (Local/s@lab-agi, priority 4)."""
    return {"name": f"Local/s@lab-agi-{seq};2", "uniqueid": uniqueid, "type": "Local",
            "callerid": callerid, "calleridname": name, "context": "lab-agi", "extension": "s",
            "priority": 4, "variables": variables}


def assert_same_environment(got: list[str], recorded: list[str], port: int) -> None:
    """Key by key in order; values equal but for the port in agi_request and the thread id."""
    assert [g.split(":", 1)[0] for g in got] == [r.split(":", 1)[0] for r in recorded]
    for g, r in zip(got, recorded, strict=True):
        if r.startswith("agi_threadid: "):
            assert re.fullmatch(r"agi_threadid: [0-9]+", g), g
        else:
            assert g == r.replace(":4573/", f":{port}/"), (g, r)


def exchange(lines: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """A transcript's commands and the replies Asterisk gave, after the environment."""
    after = lines[lines.index(("<<", "")) + 1:]
    commands = [t for d, t in after if d == ">>"]
    replies = [t for d, t in after if d == "<<"]
    assert len(commands) == len(replies)
    return commands, replies


@pytest.mark.parametrize(("trace", "channel", "args"), [
    ("agi_callback_offer.txt", lab_channel("00000028", "agi-callback-offer;2", DIALER_QUEUE="support"),
     ["support", "2", "+12125550100"]),
    ("agi_queue_dtmf.txt",
     {"name": "Local/support@dialer-queue-00000020;2", "uniqueid": "q-c2;2", "callerid": "+12125550102",
      "calleridname": "Caller2", "context": "dialer-callback-offer", "extension": "1", "priority": 2,
      "variables": {"DIALER_QUEUE": "support", "QUEUEPOSITION": "4"}},
     ["support", "4", "+12125550102"]),
])
async def test_exchange_matches_the_recording(sim: PbxSim, trace: str, channel: dict[str, Any],
                                              args: list[str]) -> None:
    lines = transcript(trace)
    commands, recorded_replies = exchange(lines)
    async with recording_server(commands) as rec:
        status, out = await run_agi(sim, {"url": f"agi://127.0.0.1:{rec.port}/callback-offer",
                                          "args": args, "channel": channel})
    assert status == 200, out
    assert_same_environment(rec.received, environment(lines), rec.port)
    assert rec.replies == recorded_replies
    assert out["status"] == "SUCCESS" and out["dialplan_continues"] is True
    assert out["variables"]["DIALER_CALLBACK"] == "accepted"
    assert out["variables"]["AGISTATUS"] == "SUCCESS"
    assert out["set"] == [["DIALER_CALLBACK", "accepted"]]
    assert out["verbose"] == ["lab fastagi: callback accepted"]
    # pbxsim's own transcript says the same, in the recording's notation
    sent = [e["line"] for e in out["transcript"] if e["dir"] == ">>"]
    assert sent == commands


async def test_server_closing_at_once_is_success(sim: PbxSim) -> None:
    lines = transcript("agi_server_closes.txt")
    assert exchange(lines) == ([], [])
    async with recording_server([]) as rec:
        status, out = await run_agi(sim, {
            "url": f"agi://127.0.0.1:{rec.port}/callback-offer", "args": ["support", "2", "+12125550100"],
            "channel": lab_channel("00000029", "agi-server-closes;2", DIALER_QUEUE="support")})
    assert status == 200, out
    assert_same_environment(rec.received, environment(lines), rec.port)
    assert out["status"] == "SUCCESS" and out["dialplan_continues"] is True
    assert "DIALER_CALLBACK" not in out["variables"] and out["set"] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_nothing_listening_is_failure_and_the_dialplan_goes_on(sim: PbxSim) -> None:
    text = (NARROW / "agi_not_listening.txt").read_text()
    assert "AGISTATUS=FAILURE" in text and "Connection refused" in text
    port = _free_port()
    status, out = await run_agi(sim, {"url": f"agi://127.0.0.1:{port}/callback-offer",
                                      "args": ["support", "2", "+12125550100"],
                                      "channel": lab_channel("0000002a", "agi-not-listening;2")})
    assert status == 200, out
    assert out["status"] == "FAILURE" and out["dialplan_continues"] is True
    assert out["variables"]["AGISTATUS"] == "FAILURE" and "DIALER_CALLBACK" not in out["variables"]
    assert out["transcript"] == []
    assert f"Connecting to '127.0.0.1:{port}' failed" in out["error"] and "Connection refused" in out["error"]


async def test_url_without_a_path_sends_no_script_line(sim: PbxSim) -> None:
    async with recording_server([]) as rec:
        status, out = await run_agi(sim, {"url": f"agi://127.0.0.1:{rec.port}", "args": []})
    assert status == 200, out
    keys = [line.split(":", 1)[0] for line in rec.received]
    assert keys[:3] == ["agi_network", "agi_request", "agi_channel"]
    assert not any(k.startswith("agi_arg_") for k in keys)


async def test_replies_taken_from_res_agi(sim: PbxSim) -> None:
    """Not recorded, from res_agi.c: unknown command, usage error, quoting, EXEC, ANSWER."""
    commands = ["FOO BAR", "SET VARIABLE DIALER_X two words", 'SET VARIABLE DIALER_X "a \\"quoted\\" value"',
                "GET VARIABLE DIALER_X", "GET FULL VARIABLE ${CALLERID(name)}-${DIALER_UNSET}",
                "EXEC NoSuchApp x", "ANSWER", "GET VARIABLE CHANNEL"]
    async with recording_server(commands) as rec:
        status, out = await run_agi(sim, {"url": f"agi://127.0.0.1:{rec.port}/x",
                                          "channel": {"name": "PJSIP/trunk-00000001", "calleridname": "Zoë"}})
    assert status == 200, out
    # The recorder reads one line per command: the 520 block's other lines come after.
    assert rec.replies[0] == "510 Invalid or unknown command"
    assert rec.replies[1] == "520-Invalid command syntax.  Proper usage follows:"
    lines = [e["line"] for e in out["transcript"] if e["dir"] == "<<"]
    usage = lines.index("520-Invalid command syntax.  Proper usage follows:")
    assert lines[usage + 2] == "520 End of proper usage."
    assert out["variables"]["DIALER_X"] == 'a "quoted" value'
    assert '200 result=1 (a "quoted" value)' in lines
    assert "200 result=1 (Zoë-)" in lines
    assert "200 result=-2" in lines and "200 result=0" in lines
    assert "200 result=1 (PJSIP/trunk-00000001)" in lines


async def test_caller_hanging_up_mid_script(sim: PbxSim) -> None:
    """HANGUP is sent once; dead-channel commands still answer, others get 511; AGISTATUS
    is HANGUP and the dialplan stops."""
    commands = ["VERBOSE \"one\" 1", "GET VARIABLE DIALER_QUEUE", "ANSWER"]
    async with recording_server(commands) as rec:
        status, out = await run_agi(sim, {"url": f"agi://127.0.0.1:{rec.port}/x",
                                          "channel": {"variables": {"DIALER_QUEUE": "support"}},
                                          "hangup_after_commands": 1})
    assert status == 200, out
    # the recorder reads the HANGUP line in place of the second reply
    assert rec.replies == ["200 result=1", "HANGUP", "200 result=1 (support)"]
    lines = [e["line"] for e in out["transcript"] if e["dir"] == "<<"]
    assert lines.count("HANGUP") == 1
    assert lines[-1] == "511 Command Not Permitted on a dead channel or intercept routine"
    assert out["status"] == "HANGUP" and out["dialplan_continues"] is False


async def test_a_server_that_never_answers_keeps_the_caller_until_it_gives_up(sim: PbxSim) -> None:
    hold = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hold.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        status, out = await run_agi(sim, {"url": f"agi://127.0.0.1:{port}/x", "give_up_after_s": 0.3})
    finally:
        hold.set()
        server.close()
        await server.wait_closed()
    assert status == 200, out
    assert out["status"] == "HANGUP"
    assert [e["line"] for e in out["transcript"]][-1] == "HANGUP"


@pytest.mark.parametrize(("body", "field_name"), [
    ({}, "url"),
    ({"url": "http://127.0.0.1/x"}, "url"),
    ({"url": "agi://127.0.0.1:x/y"}, "url"),
    ({"url": "agi://127.0.0.1/x", "args": "a,b"}, "args"),
    ({"url": "agi://127.0.0.1/x", "channel": {"priority": 0}}, "channel.priority"),
    ({"url": "agi://127.0.0.1/x", "channel": {"variables": {"A": 1}}}, "channel.variables"),
    ({"url": "agi://127.0.0.1/x", "give_up_after_s": 0}, "give_up_after_s"),
])
async def test_control_endpoint_names_the_bad_field(sim: PbxSim, body: dict[str, Any], field_name: str) -> None:
    status, out = await run_agi(sim, body)
    assert status == 400 and out["error"].startswith(field_name + ":"), out


def test_transcripts_are_where_the_readme_says() -> None:
    if not NARROW.is_dir():
        pytest.skip(f"no recorded traces at {NARROW}")
    readme = (NARROW / "README.md").read_text()
    assert "FastAGI environment" in readme and "AGISTATUS=FAILURE" in readme
    for name in ("agi_callback_offer.txt", "agi_queue_dtmf.txt", "agi_server_closes.txt"):
        assert environment(transcript(name))[0] == "agi_network: yes"
    assert Path(NARROW / "agi_not_listening.txt").exists()
