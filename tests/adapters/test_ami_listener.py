"""AMI listener: typed events from pbxsim, UserEvents, guarded actions, no re-send on reconnect."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from orchestrator.ami import (
    AmiActionTimeout,
    AmiAuthError,
    AmiConfig,
    AmiDisconnected,
    AmiEvent,
    AmiHeaderError,
    AmiListener,
    AmiNotConnected,
    AmiRefused,
    DialBegin,
    DialerAgentState,
    DialerAttempt,
    DialerCampaignStats,
    FullyBooted,
    Hangup,
    Newchannel,
    UserEvent,
    parse_dialer_user_event,
)
from orchestrator.ari import AriClient, AriEventStream
from tests.adapters.ari_helpers import ari_config
from tests.support.pbxsim import PbxSim, run_pbxsim

pytestmark = [pytest.mark.timeout(30), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[PbxSim]:
    async with run_pbxsim(speed=10) as pbx:
        yield pbx


def ami_config(host: str, port: int, user: str = "dialer", secret: str = "dialer-secret",
               **kw: float) -> AmiConfig:
    opts = {"action_timeout": 1.0, "connect_timeout": 2.0, "ping_interval": 5.0,
            "backoff_initial": 0.05, "backoff_max": 0.3, **kw}
    return AmiConfig(host=host, port=port, username=user, secret=secret, **opts)  # type: ignore[arg-type]


@dataclass
class Collector:
    events: list[AmiEvent] = field(default_factory=list)
    cond: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, ev: AmiEvent) -> None:
        self.events.append(ev)
        async with self.cond:
            self.cond.notify_all()

    async def wait_for(self, pred: Callable[[AmiEvent], bool], within: float = 5.0) -> AmiEvent:
        async with asyncio.timeout(within), self.cond:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                await self.cond.wait()


async def eventually(pred: Callable[[], bool], within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


@contextlib.asynccontextmanager
async def listening(cfg: AmiConfig, handler: Collector | None = None,
                    ) -> AsyncIterator[AmiListener]:
    listener = AmiListener(cfg, handler)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(listener.run())
        async with asyncio.timeout(5):
            await listener.connected.wait()
        try:
            yield listener
        finally:
            await listener.close()


async def test_user_events_round_trip_to_a_second_listener(sim: PbxSim) -> None:
    seen = Collector()
    cfg = ami_config(sim.ami_host, sim.ami_port, sim.user, sim.password)
    async with listening(cfg) as sender, listening(cfg, seen):
        payloads = [
            DialerAgentState(agent="1001", state="NotReady", campaign="c-42", reason="Café ☕"),
            DialerAttempt(attempt="att-7", campaign="c-42", outcome="busy", cause=17),
            DialerCampaignStats(campaign="c-42", dial_level=2.5, abandon_rate=0.0213,
                                answer_rate=0.31, calls_in_progress=12, agents_available=3,
                                contacts_left=4711),
        ]
        for p in payloads:
            resp = await sender.publish(p)
            assert resp.success and resp.message == "Event Sent"
        got = []
        for p in payloads:
            ev = await seen.wait_for(lambda e, n=p.NAME: isinstance(e, UserEvent)
                                     and e.user_event == n)
            assert isinstance(ev, UserEvent)
            got.append(parse_dialer_user_event(ev))
        assert got == payloads
        assert sender.stats.actions_sent == 3


async def test_crlf_and_originate_are_refused_before_sending(sim: PbxSim) -> None:
    cfg = ami_config(sim.ami_host, sim.ami_port, sim.user, sim.password)
    async with listening(cfg) as ami:
        before = ami.stats.actions_sent
        with pytest.raises(AmiHeaderError, match="'State'.*CR or LF"):
            await ami.publish_agent_state("1001", "Available\r\nAction: Originate")
        with pytest.raises(AmiHeaderError, match="CR or LF"):
            await ami.user_event("DialerAgentState", {"Bad\nName": "x"})
        with pytest.raises(AmiHeaderError, match="CR or LF"):
            await ami.user_event("Dialer\rAgentState")
        with pytest.raises(AmiHeaderError, match="value contains CR or LF"):
            await ami.user_event("X", {"Tag": ["a", "b\n"]})
        with pytest.raises(AmiRefused, match="ARI"):
            await ami.send_action({"Action": "Originate", "Channel": "Local/1@x"})
        with pytest.raises(AmiRefused):
            await ami.send_action({"action": "ORIGINATE"})
        assert ami.stats.actions_sent == before
        # repeated headers are fine
        resp = await ami.user_event("DialerTest", {"Tag": ["a", "b"]})
        assert resp.success


async def test_typed_call_events_and_reconnect_after_restart(sim: PbxSim) -> None:
    seen = Collector()
    cfg = ami_config(sim.ami_host, sim.ami_port, sim.user, sim.password)
    async with listening(cfg, seen) as ami, AriClient(ari_config(sim)) as ari:
        await seen.wait_for(lambda e: isinstance(e, FullyBooted))
        stream = AriEventStream(ari, lambda e: asyncio.sleep(0))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(stream.run())
            async with asyncio.timeout(5):
                await stream.wait_connected()
            await ari.originate("ami-busy", "Local/1005@customers")
            hang = await seen.wait_for(lambda e: isinstance(e, Hangup)
                                       and e.uniqueid == "ami-busy;2")
            assert isinstance(hang, Hangup) and hang.cause == 17
            newc = await seen.wait_for(lambda e: isinstance(e, Newchannel)
                                       and e.uniqueid == "ami-busy")
            assert isinstance(newc, Newchannel) and newc.channel.startswith("Local/1005@")
            await seen.wait_for(lambda e: isinstance(e, DialBegin)
                                and e.dest_uniqueid == "ami-busy")
            await stream.close()

        await sim.restart()
        await eventually(lambda: ami.stats.connects >= 2 and ami.connected.is_set())
        assert (await ami.send_action({"Action": "Ping"})).success


async def test_bad_login_is_not_retried(sim: PbxSim) -> None:
    ami = AmiListener(ami_config(sim.ami_host, sim.ami_port, sim.user, "wrong"))
    with pytest.raises(AmiAuthError):
        async with asyncio.timeout(5):
            await ami.run()
    assert "wrong" not in repr(ami.config)
    with pytest.raises(AmiNotConnected):
        await ami.user_event("X")


async def test_a_login_refused_while_asterisk_shuts_down_is_retried(sim: PbxSim) -> None:
    # Asterisk 22 refuses every action, Login included, during `core stop gracefully`
    # ("Asterisk is shutting down"): not bad credentials; the service must not die of it.
    await sim.shutdown("graceful")
    ami = AmiListener(ami_config(sim.ami_host, sim.ami_port, sim.user, sim.password))
    try:
        async with asyncio.TaskGroup() as tg:
            runner = tg.create_task(ami.run())
            await asyncio.sleep(0.5)
            assert not runner.done() and not ami.connected.is_set()
            await sim.shutdown("abort")
            async with asyncio.timeout(5):
                await ami.connected.wait()
            assert (await ami.send_action({"Action": "Ping"})).success
            await ami.close()
    finally:
        await sim.shutdown("abort")


class FakeAmi:
    """A raw AMI server at the protocol boundary: counts actions, can drop or ignore them."""

    def __init__(self, drop_on: str | None = None, ignore: str | None = None) -> None:
        self.drop_on = drop_on
        self.ignore = ignore
        self.actions: list[dict[str, str]] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                headers = dict(line.split(": ", 1) for line in
                               block.decode().strip().split("\r\n") if ": " in line)
                self.actions.append(headers)
                name = headers.get("Action", "").lower()
                aid = headers.get("ActionID", "")
                if name == self.drop_on:
                    writer.transport.abort()  # the link dies mid-action
                    return
                if name == self.ignore:
                    continue
                writer.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: ok\r\n\r\n"
                             .encode())
                if name == "login":
                    # panoramisk re-sends its awaiting actions when it sees this
                    writer.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\n"
                                 b"Status: Fully Booted\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    def count(self, action: str) -> int:
        return sum(1 for a in self.actions if a.get("Action", "").lower() == action)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_action_in_flight_at_disconnect_is_never_resent() -> None:
    fake = FakeAmi(drop_on="userevent")
    port = await fake.start()
    try:
        async with listening(ami_config("127.0.0.1", port)) as ami:
            with pytest.raises(AmiDisconnected, match="not re-sent"):
                await ami.publish_agent_state("1001", "Available")
            await eventually(lambda: ami.stats.connects >= 2 and ami.connected.is_set())
            # give a would-be re-send (on FullyBooted) every chance to happen
            resp = await ami.send_action({"Action": "Ping"})
            assert resp.success
            await asyncio.sleep(0.2)
        assert fake.connections == 2
        assert fake.count("userevent") == 1
        assert fake.count("login") == 2
        assert ami.stats.actions_lost == 1
    finally:
        await fake.stop()


async def test_unanswered_action_times_out_and_is_forgotten() -> None:
    fake = FakeAmi(ignore="userevent")
    port = await fake.start()
    try:
        async with listening(ami_config("127.0.0.1", port, action_timeout=0.3)) as ami:
            with pytest.raises(AmiActionTimeout):
                await ami.user_event("DialerAgentState", {"Agent": "1"})
            assert (await ami.send_action({"Action": "Ping"})).success
            assert ami.stats.actions_timed_out == 1
        assert fake.count("userevent") == 1
    finally:
        await fake.stop()


async def test_dead_socket_is_detected_by_ping_timeout() -> None:
    fake = FakeAmi(ignore="ping")
    port = await fake.start()
    try:
        cfg = ami_config("127.0.0.1", port, action_timeout=0.2, ping_interval=0.2)
        async with listening(cfg) as ami:
            await eventually(lambda: ami.stats.connects >= 2)
        assert fake.connections >= 2
    finally:
        await fake.stop()
