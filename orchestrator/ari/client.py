"""Thin asyncio client for ARI's REST interface (aiohttp).

One `aiohttp.ClientSession` per client, created inside the running loop. Every
request has a timeout; every error status becomes a typed `AriHTTPError`
(errors.py). Credentials go in the ``Authorization`` header only.

The calls live by resource: `rest` (session, the one request, typed errors), `channels`,
`bridges`, `applications` (with recordings, playbacks, user events); `AriClient` is all
of them in one object, as the dialer uses it.
"""

from __future__ import annotations

from .applications import ApplicationCalls
from .bridges import BridgeCalls
from .channels import ChannelCalls
from .rest import HANGUP_REASONS

__all__ = ["HANGUP_REASONS", "AriClient"]


class AriClient(ChannelCalls, BridgeCalls, ApplicationCalls):
    """REST side of ARI: channels, bridges, applications, recordings, playbacks.

    Use as ``async with AriClient(config) as ari: ...`` (or ``await start()`` /
    ``await close()``). Methods raise a subclass of `AriHTTPError` on an error status
    and `AriConnectionError` when Asterisk cannot be reached or the request times out.

    Originating into our own application (``originate``/``create_channel``/``snoop``
    with ``app`` equal to ``config.app``) is refused with `AriNotConnected` while the
    application's WebSocket is down (surprise 14), once an `AriEventStream` is
    attached; without a stream it is refused unless ``allow_disconnected=True``.
    """

