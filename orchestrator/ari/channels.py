"""ARI calls on channels: originate, create, dial, answer, hang up, hold, media, snoop, variables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import (
    AriChannelExists,
    AriConflict,
    AriNotFound,
)
from .models import (
    Channel,
    LiveRecording,
    Playback,
)
from .rest import _MAX_QUERY_VALUE, HANGUP_REASONS, AriRest, _csv, _seg, play_at, record_at


class ChannelCalls(AriRest):
    """``/channels``: what the dialer does to one call leg."""

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
        return await play_at(
            self, f"/channels/{_seg(channel_id, 'channel_id')}/play/{_seg(playback_id, 'playback_id')}",
            media, lang, offsetms, skipms)

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
        return await record_at(self, f"/channels/{_seg(channel_id, 'channel_id')}/record", name,
                               format, max_duration, max_silence, if_exists, beep, terminate_on)

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
