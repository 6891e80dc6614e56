"""ARI calls on bridges: create, destroy, add and remove channels, media on a bridge."""

from __future__ import annotations

from collections.abc import Sequence

from .models import (
    Bridge,
    LiveRecording,
    Playback,
)
from .rest import AriRest, _csv, _seg, play_at, record_at


class BridgeCalls(AriRest):
    """``/bridges``: where an agent and a customer meet."""

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
        return await play_at(
            self, f"/bridges/{_seg(bridge_id, 'bridge_id')}/play/{_seg(playback_id, 'playback_id')}",
            media, lang, offsetms, skipms)

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
        return await record_at(self, f"/bridges/{_seg(bridge_id, 'bridge_id')}/record", name,
                               format, max_duration, max_silence, if_exists, beep, terminate_on)

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        """``POST /bridges/{id}/moh``."""
        await self.request("POST", f"/bridges/{_seg(bridge_id, 'bridge_id')}/moh",
                           params={"mohClass": moh_class})

    async def stop_bridge_moh(self, bridge_id: str) -> None:
        """``DELETE /bridges/{id}/moh``."""
        await self.request("DELETE", f"/bridges/{_seg(bridge_id, 'bridge_id')}/moh")
