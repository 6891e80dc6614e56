"""ARI calls on our application, recordings, playbacks and user events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .models import (
    Application,
    LiveRecording,
    Playback,
    StoredRecording,
)
from .rest import AriRest, _csv, _seg


class ApplicationCalls(AriRest):
    """``/applications``, ``/recordings``, ``/playbacks``, ``/events/user``."""

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
