"""Thin asyncio client for ARI's REST interface (aiohttp).

One `aiohttp.ClientSession` per client, created inside the running loop. Every
request has a timeout; every error status becomes a typed `AriHTTPError`
(errors.py). Credentials go in the ``Authorization`` header only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from .config import AriConfig
from .errors import (
    AriChannelExists,
    AriConflict,
    AriConnectionError,
    AriError,
    AriHTTPError,
    AriNotConnected,
    AriNotFound,
    error_for_status,
)
from .models import (
    Application,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    StoredRecording,
)

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


class AriClient:
    """REST side of ARI: channels, bridges, applications, recordings, playbacks.

    Use as ``async with AriClient(config) as ari: ...`` (or ``await start()`` /
    ``await close()``). Methods raise a subclass of `AriHTTPError` on an error status
    and `AriConnectionError` when Asterisk cannot be reached or the request times out.

    Originating into our own application (``originate``/``create_channel``/``snoop``
    with ``app`` equal to ``config.app``) is refused with `AriNotConnected` while the
    application's WebSocket is down (surprise 14), once an `AriEventStream` is
    attached; without a stream it is refused unless ``allow_disconnected=True``.
    """

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

    async def __aenter__(self) -> AriClient:
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

    # -- channels ----------------------------------------------------------------------

    async def list_channels(self) -> list[Channel]:
        """``GET /channels``: every channel Asterisk knows (snapshot cache)."""
        data = await self.request("GET", "/channels")
        return [Channel.from_json(d) for d in data or ()]

    async def get_channel(self, channel_id: str) -> Channel:
        """``GET /channels/{id}``."""
        return Channel.from_json(
            await self.request("GET", "/channels/" + _seg(channel_id, "channel_id"))
        )

    async def _created_or_conflict(
        self, method: str, path: str, channel_id: str | None, params: dict[str, Any],
        body: dict[str, Any] | None,
    ) -> Channel:
        try:
            data = await self.request(method, path, params=params, json_body=body,
                                      fresh_connection=True)
        except AriConflict as exc:
            if channel_id is None:
                raise
            # A 409 alone does not prove a duplicate (surprise 15): look for the channel.
            try:
                await self.get_channel(channel_id)
            except AriNotFound:
                raise AriConflict(exc.status, exc.method, exc.path, exc.message,
                                  duplicate_confirmed=False) from exc
            raise AriChannelExists(exc.status, exc.method, exc.path, exc.message,
                                   duplicate_confirmed=True) from exc
        return Channel.from_json(data)

    async def originate(
        self,
        channel_id: str,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: Sequence[str] | str = (),
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
        caller_id: str | None = None,
        ring_timeout: int | None = None,
        variables: Mapping[str, str] | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
        allow_disconnected: bool = False,
    ) -> Channel:
        """``POST /channels/{channelId}``: originate with our own id (the attempt id).

        The channel goes to ``app`` (default: ours) unless ``context``/``extension`` are
        given (e.g. ``dialer-amd``). ``ring_timeout`` is in seconds. A
        second originate with the same id raises `AriChannelExists`, so a retry never
        places a second call.
        """
        if context is None and extension is None and app is None:
            app = self.config.app
        self._check_app_up(app, allow_disconnected)
        params: dict[str, Any] = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": _csv(app_args) if app is not None and app_args else None,
            "context": context,
            "extension": extension,
            "priority": priority,
            "label": label,
            "callerId": caller_id,
            "timeout": ring_timeout,
            "otherChannelId": other_channel_id,
            "originator": originator,
            "formats": formats,
        }
        body = {"variables": dict(variables)} if variables else None
        return await self._created_or_conflict(
            "POST", "/channels/" + _seg(channel_id, "channel_id"), channel_id, params, body
        )

    async def create_channel(
        self,
        channel_id: str,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: Sequence[str] | str = (),
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
        variables: Mapping[str, str] | None = None,
        allow_disconnected: bool = False,
    ) -> Channel:
        """``POST /channels/create``: a channel in Stasis (state Down), dialled later with `dial`.

        After a final Dial status (BUSY, ...) the channel stays in Stasis: hang it up
        yourself (surprises 5 and 22).
        """
        app = app or self.config.app
        self._check_app_up(app, allow_disconnected)
        params: dict[str, Any] = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": _csv(app_args) if app_args else None,
            "channelId": channel_id,
            "otherChannelId": other_channel_id,
            "originator": originator,
            "formats": formats,
        }
        body = {"variables": dict(variables)} if variables else None
        return await self._created_or_conflict("POST", "/channels/create", channel_id, params, body)

    async def dial(self, channel_id: str, *, caller: str | None = None,
                   ring_timeout: int | None = None) -> None:
        """``POST /channels/{id}/dial``: dial a channel made by `create_channel`."""
        await self.request("POST", f"/channels/{_seg(channel_id, 'channel_id')}/dial",
                           params={"caller": caller, "timeout": ring_timeout})

    async def answer(self, channel_id: str) -> None:
        """``POST /channels/{id}/answer``."""
        await self.request("POST", f"/channels/{_seg(channel_id, 'channel_id')}/answer")

    async def hangup(self, channel_id: str, *, reason: str | None = None,
                     reason_code: int | None = None) -> None:
        """``DELETE /channels/{id}`` with a named ``reason`` or a Q.850 ``reason_code``.

        The ChannelHangupRequest that follows says cause 32: read the real cause from
        ChannelDestroyed (surprise 3).
        """
        if reason is not None and reason not in HANGUP_REASONS:
            raise ValueError(f"hangup reason: {reason!r} is not one of {sorted(HANGUP_REASONS)}")
        if reason is not None and reason_code is not None:
            raise ValueError("hangup: give reason or reason_code, not both")
        await self.request("DELETE", "/channels/" + _seg(channel_id, "channel_id"),
                           params={"reason": reason, "reason_code": reason_code})

    async def hold(self, channel_id: str) -> None:
        """``POST /channels/{id}/hold`` (no ARI event follows, surprise 9)."""
        await self.request("POST", f"/channels/{_seg(channel_id, 'channel_id')}/hold")

    async def unhold(self, channel_id: str) -> None:
        """``DELETE /channels/{id}/hold``."""
        await self.request("DELETE", f"/channels/{_seg(channel_id, 'channel_id')}/hold")

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        """``POST /channels/{id}/moh`` (an unknown class silently falls back to default)."""
        await self.request("POST", f"/channels/{_seg(channel_id, 'channel_id')}/moh",
                           params={"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        """``DELETE /channels/{id}/moh``."""
        await self.request("DELETE", f"/channels/{_seg(channel_id, 'channel_id')}/moh")

    async def ring(self, channel_id: str) -> None:
        """``POST /channels/{id}/ring``: indicate ringing."""
        await self.request("POST", f"/channels/{_seg(channel_id, 'channel_id')}/ring")

    async def stop_ring(self, channel_id: str) -> None:
        """``DELETE /channels/{id}/ring``."""
        await self.request("DELETE", f"/channels/{_seg(channel_id, 'channel_id')}/ring")

    async def play(
        self,
        channel_id: str,
        playback_id: str,
        media: str | Sequence[str],
        *,
        lang: str | None = None,
        offsetms: int | None = None,
        skipms: int | None = None,
    ) -> Playback:
        """``POST /channels/{id}/play/{playbackId}``; ``media`` may be a list."""
        data = await self.request(
            "POST",
            f"/channels/{_seg(channel_id, 'channel_id')}/play/{_seg(playback_id, 'playback_id')}",
            params={"media": _csv(media), "lang": lang, "offsetms": offsetms, "skipms": skipms},
        )
        return Playback.from_json(data)

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        format: str = "wav",
        max_duration: int | None = None,
        max_silence: int | None = None,
        if_exists: str = "fail",
        beep: bool = False,
        terminate_on: str | None = None,
    ) -> LiveRecording:
        """``POST /channels/{id}/record``. A channel in a bridge answers 201 and then
        fails with RecordingFailed (surprise 20): record the bridge instead."""
        data = await self.request(
            "POST", f"/channels/{_seg(channel_id, 'channel_id')}/record",
            params=_record_params(name, format, max_duration, max_silence, if_exists, beep,
                                  terminate_on),
        )
        return LiveRecording.from_json(data)

    async def snoop(
        self,
        channel_id: str,
        snoop_id: str,
        *,
        spy: str = "none",
        whisper: str = "none",
        app: str | None = None,
        app_args: Sequence[str] | str = (),
        allow_disconnected: bool = False,
    ) -> Channel:
        """``POST /channels/{id}/snoop/{snoopId}``: listen (spy) and/or whisper.

        ``spy``/``whisper`` are none, both, out or in. A snoop's directions cannot be
        changed: create a second one and delete the first.
        """
        for what, v in (("spy", spy), ("whisper", whisper)):
            if v not in ("none", "both", "out", "in"):
                raise ValueError(f"snoop {what}: {v!r} is not one of none, both, out, in")
        if spy == "none" and whisper == "none":
            raise ValueError("snoop: spy or whisper must be given")
        app = app or self.config.app
        self._check_app_up(app, allow_disconnected)
        data = await self.request(
            "POST",
            f"/channels/{_seg(channel_id, 'channel_id')}/snoop/{_seg(snoop_id, 'snoop_id')}",
            params={"spy": spy, "whisper": whisper, "app": app,
                    "appArgs": _csv(app_args) if app_args else None},
            fresh_connection=True,
        )
        return Channel.from_json(data)

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """``GET /channels/{id}/variable``; an unset variable raises `AriNotFound`."""
        data = await self.request("GET", f"/channels/{_seg(channel_id, 'channel_id')}/variable",
                                  params={"variable": variable})
        return str(data.get("value", "")) if isinstance(data, dict) else ""

    async def set_variable(self, channel_id: str, variable: str, value: str | None, *,
                           report_events: bool | None = None) -> None:
        """``POST /channels/{id}/variable``; ``value=None`` unsets it.

        ``report_events`` resets to false on every set unless given again (surprise 21).
        Long values travel in a JSON body (a long query string is refused).
        """
        if not variable:
            raise ValueError("set_variable: variable name must not be empty")
        path = f"/channels/{_seg(channel_id, 'channel_id')}/variable"
        params: dict[str, Any] = {"variable": variable, "report_events": report_events}
        if value is not None and len(value.encode()) > _MAX_QUERY_VALUE:
            body = {k: v for k, v in params.items() if v is not None}
            body["value"] = value
            await self.request("POST", path, json_body=body)
        else:
            params["value"] = value
            await self.request("POST", path, params=params)

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """``POST /channels/{id}/continue``: leave Stasis for the dialplan (StasisEnd first)."""
        await self.request(
            "POST", f"/channels/{_seg(channel_id, 'channel_id')}/continue",
            params={"context": context, "extension": extension, "priority": priority,
                    "label": label},
        )

    # -- bridges -----------------------------------------------------------------------

    async def list_bridges(self) -> list[Bridge]:
        """``GET /bridges``."""
        data = await self.request("GET", "/bridges")
        return [Bridge.from_json(d) for d in data or ()]

    async def get_bridge(self, bridge_id: str) -> Bridge:
        """``GET /bridges/{id}``."""
        return Bridge.from_json(
            await self.request("GET", "/bridges/" + _seg(bridge_id, "bridge_id"))
        )

    async def create_bridge(self, bridge_id: str, *, type: str = "mixing",
                            name: str | None = None) -> Bridge:
        """``POST /bridges/{bridgeId}``; ``type`` is e.g. ``mixing`` or ``holding``
        (comma-separated flags allowed: ``mixing,dtmf_events``). An id in use raises
        `AriConflict`."""
        data = await self.request("POST", "/bridges/" + _seg(bridge_id, "bridge_id"),
                                  params={"type": type, "name": name})
        return Bridge.from_json(data)

    async def destroy_bridge(self, bridge_id: str) -> None:
        """``DELETE /bridges/{id}`` (BridgeDestroyed follows later, surprise 10).

        Bridges are never destroyed by Asterisk when they empty (surprise 23)."""
        await self.request("DELETE", "/bridges/" + _seg(bridge_id, "bridge_id"))

    async def add_to_bridge(
        self,
        bridge_id: str,
        channel_ids: str | Sequence[str],
        *,
        role: str | None = None,
        absorb_dtmf: bool | None = None,
        mute: bool | None = None,
        inhibit_connected_line_updates: bool | None = None,
    ) -> None:
        """``POST /bridges/{id}/addChannel``.

        Not in Stasis (a ``;2`` half, a ringing channel): `AriUnprocessable`; an
        unknown channel: `AriBadRequest`, and then none of the list is added
        (surprise 19). In a holding bridge use ``role="holding_participant"`` for MOH.
        """
        await self.request(
            "POST", f"/bridges/{_seg(bridge_id, 'bridge_id')}/addChannel",
            params={"channel": _csv(channel_ids), "role": role, "absorbDTMF": absorb_dtmf,
                    "mute": mute, "inhibitConnectedLineUpdates": inhibit_connected_line_updates},
        )

    async def remove_from_bridge(self, bridge_id: str, channel_ids: str | Sequence[str]) -> None:
        """``POST /bridges/{id}/removeChannel``."""
        await self.request("POST", f"/bridges/{_seg(bridge_id, 'bridge_id')}/removeChannel",
                           params={"channel": _csv(channel_ids)})

    async def play_on_bridge(
        self,
        bridge_id: str,
        playback_id: str,
        media: str | Sequence[str],
        *,
        lang: str | None = None,
        offsetms: int | None = None,
        skipms: int | None = None,
    ) -> Playback:
        """``POST /bridges/{id}/play/{playbackId}`` (e.g. ringback ``tone:ring``)."""
        data = await self.request(
            "POST",
            f"/bridges/{_seg(bridge_id, 'bridge_id')}/play/{_seg(playback_id, 'playback_id')}",
            params={"media": _csv(media), "lang": lang, "offsetms": offsetms, "skipms": skipms},
        )
        return Playback.from_json(data)

    async def record_bridge(
        self,
        bridge_id: str,
        name: str,
        *,
        format: str = "wav",
        max_duration: int | None = None,
        max_silence: int | None = None,
        if_exists: str = "fail",
        beep: bool = False,
        terminate_on: str | None = None,
    ) -> LiveRecording:
        """``POST /bridges/{id}/record``; it stops when the last member leaves (surprise 20)."""
        data = await self.request(
            "POST", f"/bridges/{_seg(bridge_id, 'bridge_id')}/record",
            params=_record_params(name, format, max_duration, max_silence, if_exists, beep,
                                  terminate_on),
        )
        return LiveRecording.from_json(data)

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        """``POST /bridges/{id}/moh``."""
        await self.request("POST", f"/bridges/{_seg(bridge_id, 'bridge_id')}/moh",
                           params={"mohClass": moh_class})

    async def stop_bridge_moh(self, bridge_id: str) -> None:
        """``DELETE /bridges/{id}/moh``."""
        await self.request("DELETE", f"/bridges/{_seg(bridge_id, 'bridge_id')}/moh")

    # -- applications ------------------------------------------------------------------

    async def get_application(self, app: str | None = None) -> Application:
        """``GET /applications/{app}``; `AriNotFound` when its WebSocket is gone (surprise 16)."""
        data = await self.request("GET", "/applications/" + _seg(app or self.config.app, "app"))
        return Application.from_json(data)

    async def subscribe(self, event_sources: str | Sequence[str],
                        app: str | None = None) -> Application:
        """``POST /applications/{app}/subscription``; sources like ``channel:<id>``,
        ``bridge:<id>``, ``endpoint:PJSIP/1001``."""
        data = await self.request(
            "POST", f"/applications/{_seg(app or self.config.app, 'app')}/subscription",
            params={"eventSource": _csv(event_sources)},
        )
        return Application.from_json(data)

    async def unsubscribe(self, event_sources: str | Sequence[str],
                          app: str | None = None) -> Application:
        """``DELETE /applications/{app}/subscription``."""
        data = await self.request(
            "DELETE", f"/applications/{_seg(app or self.config.app, 'app')}/subscription",
            params={"eventSource": _csv(event_sources)},
        )
        return Application.from_json(data)

    # -- recordings --------------------------------------------------------------------

    async def get_live_recording(self, name: str) -> LiveRecording:
        """``GET /recordings/live/{name}``."""
        return LiveRecording.from_json(
            await self.request("GET", "/recordings/live/" + _seg(name, "name"))
        )

    async def pause_recording(self, name: str) -> None:
        """``POST /recordings/live/{name}/pause`` (paused time is cut from the file)."""
        await self.request("POST", f"/recordings/live/{_seg(name, 'name')}/pause")

    async def unpause_recording(self, name: str) -> None:
        """``DELETE /recordings/live/{name}/pause``."""
        await self.request("DELETE", f"/recordings/live/{_seg(name, 'name')}/pause")

    async def stop_recording(self, name: str) -> None:
        """``POST /recordings/live/{name}/stop``: stop and keep the file."""
        await self.request("POST", f"/recordings/live/{_seg(name, 'name')}/stop")

    async def cancel_recording(self, name: str) -> None:
        """``DELETE /recordings/live/{name}``: stop and discard."""
        await self.request("DELETE", "/recordings/live/" + _seg(name, "name"))

    async def get_stored_recording(self, name: str) -> StoredRecording:
        """``GET /recordings/stored/{name}``."""
        return StoredRecording.from_json(
            await self.request("GET", "/recordings/stored/" + _seg(name, "name"))
        )

    async def delete_stored_recording(self, name: str) -> None:
        """``DELETE /recordings/stored/{name}``."""
        await self.request("DELETE", "/recordings/stored/" + _seg(name, "name"))

    # -- playbacks ---------------------------------------------------------------------

    async def get_playback(self, playback_id: str) -> Playback:
        """``GET /playbacks/{id}``."""
        return Playback.from_json(
            await self.request("GET", "/playbacks/" + _seg(playback_id, "playback_id"))
        )

    async def stop_playback(self, playback_id: str) -> None:
        """``DELETE /playbacks/{id}`` (PlaybackFinished then says ``done``)."""
        await self.request("DELETE", "/playbacks/" + _seg(playback_id, "playback_id"))

    # -- user events -------------------------------------------------------------------

    async def send_user_event(self, event_name: str, *, source: str | None = None,
                              variables: Mapping[str, str] | None = None) -> None:
        """``POST /events/user/{name}``: a ChannelUserevent to the app; AMI sees it only
        with ``source=channel:<id>``. Supervisors' AMI tools get `AmiListener`'s events."""
        await self.request(
            "POST", "/events/user/" + _seg(event_name, "event_name"),
            params={"application": self.config.app, "source": source},
            json_body={"variables": dict(variables)} if variables else None,
        )


def _record_params(name: str, format: str, max_duration: int | None, max_silence: int | None,
                   if_exists: str, beep: bool, terminate_on: str | None) -> dict[str, Any]:
    if not name:
        raise ValueError("record: name must not be empty")
    if if_exists not in ("fail", "overwrite", "append"):
        raise ValueError(f"record if_exists: {if_exists!r} is not one of fail, overwrite, append")
    return {"name": name, "format": format, "maxDurationSeconds": max_duration,
            "maxSilenceSeconds": max_silence, "ifExists": if_exists, "beep": beep,
            "terminateOn": terminate_on}
