"""Small ARI/AMI clients for pbxsim tests (the real client lives in orchestrator/)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from tests.support.pbxsim import PbxSim


class Ari:
    """REST calls plus one WebSocket collecting events."""

    def __init__(self, sim: PbxSim, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.s = session
        self.events: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def request(self, method: str, path: str, **params: Any) -> tuple[int, Any]:
        json_body = params.pop("json", None)
        async with self.s.request(method, self.sim.ari_url + path,
                                  params={k: str(v) for k, v in params.items()},
                                  json=json_body) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)

    async def connect(self, app: str = "dialer", subscribe_all: bool = True) -> None:
        q = f"?app={app}" + ("&subscribeAll=true" if subscribe_all else "")
        self.ws = await self.s.ws_connect(self.sim.ws_url + q)
        self._reader = asyncio.get_running_loop().create_task(self._read(self.ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(msg.data))
                self._new.set()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], within: float = 5.0,
                       start: int = 0) -> dict[str, Any]:
        """The first event (from index `start`) matching pred, within `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        i = start
        while True:
            while i < len(self.events):
                if pred(self.events[i]):
                    return self.events[i]
                i += 1
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"event not seen; got {[e['type'] for e in self.events]}")
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    def of(self, cid: str, *types: str) -> list[dict[str, Any]]:
        out = []
        for e in self.events:
            ch = e.get("channel") or e.get("peer") or {}
            if ch.get("id") == cid and (not types or e["type"] in types):
                out.append(e)
        return out


@contextlib.asynccontextmanager
async def ari_client(sim: PbxSim, app: str | None = "dialer",
                     subscribe_all: bool = True) -> AsyncIterator[Ari]:
    auth = aiohttp.encode_basic_auth(sim.user, sim.password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as s:
        ari = Ari(sim, s)
        if app:
            await ari.connect(app, subscribe_all)
        try:
            yield ari
        finally:
            await ari.close()


def is_(type_: str, cid: str | None = None, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    def pred(e: dict[str, Any]) -> bool:
        if e["type"] != type_:
            return False
        if cid is not None:
            ch = e.get("channel") or e.get("peer") or {}
            if ch.get("id") != cid:
                return False
        return all(e.get(k) == v for k, v in fields.items())

    return pred


class Ami:
    """A raw AMI connection: read blocks, send actions."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.blocks: list[list[tuple[str, str]]] = []

    @classmethod
    async def connect(cls, sim: PbxSim) -> Ami:
        r, w = await asyncio.open_connection(sim.ami_host, sim.ami_port)
        return cls(r, w)

    async def banner(self) -> str:
        return (await self.reader.readline()).decode()

    def send(self, *headers: tuple[str, str]) -> None:
        self.writer.write(("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode())

    async def block(self, within: float = 5.0) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), within)
            if not raw:
                raise EOFError
            text = raw.decode().rstrip("\r\n")
            if text == "":
                if lines:
                    self.blocks.append(lines)
                    return lines
                continue
            k, _, v = text.partition(": ")
            lines.append((k, v))

    async def until(self, pred: Callable[[dict[str, str]], bool],
                    within: float = 5.0) -> list[tuple[str, str]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            b = await self.block(max(0.01, deadline - loop.time()))
            if pred(dict(b)):
                return b

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
