"""The REST core of the ARI client: session lifecycle, one request with its timeout and
typed errors, and the quoting helpers the per-resource calls share.

Credentials go in the ``Authorization`` header only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Any, Self
from urllib.parse import quote

import aiohttp
import structlog

from .config import AriConfig
from .errors import (
    AriConnectionError,
    AriError,
    AriHTTPError,
    AriNotConnected,
    error_for_status,
)
from .models import LiveRecording, Playback

log = structlog.get_logger("orchestrator.ari.client")

# Query strings longer than this go as a JSON body instead: Asterisk's HTTP server
# rejects a long request line with an HTML 400 (traces more/, channel_variables).
_MAX_QUERY_VALUE = 1024

HANGUP_REASONS = frozenset(
    {"normal", "busy", "congestion", "no_answer", "timeout", "rejected", "unallocated",
     "normal_unspecified", "number_incomplete", "codec_mismatch", "interworking",
     "failure", "answered_elsewhere"}
)
"""Values Asterisk accepts for ``DELETE /channels/{id}?reason=``."""


def _seg(value: str, what: str) -> str:
    """Quote one path segment; refuse empty ids (they would change the route)."""
    if not value:
        raise ValueError(f"{what}: must not be empty")
    return quote(value, safe="")


def _csv(values: str | Iterable[str]) -> str:
    if isinstance(values, str):
        return values
    return ",".join(values)


def _bool(v: bool) -> str:
    return "true" if v else "false"


def _message_of(body: bytes, content_type: str) -> str:
    text = body.decode("utf-8", "replace")
    if "json" in content_type or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("message", "error"):
                if isinstance(data.get(key), str):
                    return str(data[key])
    text = " ".join(text.split())
    return text[:200]




class AriRest:
    """The session and the one request every ARI call goes through (see `AriClient`)."""

    def __init__(self, config: AriConfig, *, session: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self._session = session
        self._own_session = session is None
        self._app_connected: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"AriClient({self.config!r})"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session (must run inside the event loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": self.config.authorization_header()},
                timeout=aiohttp.ClientTimeout(total=self.config.request_timeout),
                connector=aiohttp.TCPConnector(limit=64),
            )
            self._own_session = True

    async def close(self) -> None:
        """Close the HTTP session if this client opened it."""
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        """The underlying session (for the WebSocket); raises if not started."""
        if self._session is None:
            raise AriError("AriClient is not started: use 'async with AriClient(...)'")
        return self._session

    def attach_app_state(self, connected: asyncio.Event) -> None:
        """Let originates into our app check that the app's WebSocket is up."""
        self._app_connected = connected

    def _check_app_up(self, app: str | None, allow_disconnected: bool) -> None:
        if app != self.config.app or allow_disconnected:
            return
        if self._app_connected is None or not self._app_connected.is_set():
            raise AriNotConnected(
                f"refusing to send a channel into app {app!r}: its WebSocket is not connected"
            )

    # -- transport ---------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | float | bool | None] | None = None,
        json_body: Any = None,
        request_timeout: float | None = None,
        fresh_connection: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON body (None for 204/empty).

        ``path`` is below the base URL and must already be quoted. ``None`` params are
        dropped. ``fresh_connection`` sends the request on a connection of its own
        (``Connection: close``): Asterisk keeps an id-clash error in per-connection
        thread state and reports every later allocation failure on that keep-alive
        connection as a 409 (surprise 15), so channel-creating requests never share one.
        """
        url = self.config.rest_root + path
        query: dict[str, str] = {}
        if params:
            for k, v in params.items():
                if v is None:
                    continue
                query[k] = _bool(v) if isinstance(v, bool) else str(v)
        req_timeout = aiohttp.ClientTimeout(total=request_timeout or self.config.request_timeout)
        try:
            async with self.session.request(
                method, url, params=query or None, json=json_body, timeout=req_timeout,
                headers={"Connection": "close"} if fresh_connection else None,
            ) as resp:
                body = await resp.read()
                status = resp.status
                ctype = resp.headers.get("Content-Type", "")
                if status >= 400:
                    message = _message_of(body, ctype)
                    log.debug("ari.http_error", method=method, path=path, status=status,
                              message=message)
                    raise error_for_status(status, method, path, message)
        except AriHTTPError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise AriConnectionError(f"{method} {path}: {exc!r}") from exc
        if not body:
            return None
        if "json" not in ctype and not body.lstrip().startswith((b"{", b"[")):
            return body
        return json.loads(body)


async def play_at(rest: AriRest, path: str, media: str | Iterable[str], lang: str | None,
                  offsetms: int | None, skipms: int | None) -> Playback:
    """``POST <channel or bridge>/play/{playbackId}``: one body for both resources."""
    data = await rest.request("POST", path, params={
        "media": _csv(media), "lang": lang, "offsetms": offsetms, "skipms": skipms})
    return Playback.from_json(data)


async def record_at(rest: AriRest, path: str, name: str, format: str, max_duration: int | None,
                    max_silence: int | None, if_exists: str, beep: bool,
                    terminate_on: str | None) -> LiveRecording:
    """``POST <channel or bridge>/record``: one body for both resources."""
    data = await rest.request("POST", path, params=_record_params(
        name, format, max_duration, max_silence, if_exists, beep, terminate_on))
    return LiveRecording.from_json(data)


def _record_params(name: str, format: str, max_duration: int | None, max_silence: int | None,
                   if_exists: str, beep: bool, terminate_on: str | None) -> dict[str, Any]:
    if not name:
        raise ValueError("record: name must not be empty")
    if if_exists not in ("fail", "overwrite", "append"):
        raise ValueError(f"record if_exists: {if_exists!r} is not one of fail, overwrite, append")
    return {"name": name, "format": format, "maxDurationSeconds": max_duration,
            "maxSilenceSeconds": max_silence, "ifExists": if_exists, "beep": beep,
            "terminateOn": terminate_on}
