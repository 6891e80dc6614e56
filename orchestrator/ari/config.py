"""ARI connection settings."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True, repr=False)
class AriConfig:
    """Where and how to reach Asterisk's ARI.

    The password travels only in the ``Authorization`` header: never in a URL, never
    in a log line, and ``repr()`` masks it.
    """

    base_url: str
    """ARI root, e.g. ``http://127.0.0.1:8088/ari`` (no credentials in it)."""
    app: str
    """The Stasis application name (the dialplan uses ``Stasis(<app>,...)``)."""
    username: str
    """ARI user from ``ari.conf``."""
    password: str
    """ARI user's password."""
    request_timeout: float = 5.0
    """Total time allowed for one REST request, in seconds."""
    connect_timeout: float = 5.0
    """Time allowed for the WebSocket upgrade; a hang beyond it is logged loudly (surprise 13)."""
    heartbeat: float = 5.0
    """WebSocket ping interval while the socket is idle (aiohttp heartbeat)."""
    liveness_timeout: float = 12.0
    """No frame at all (event or pong) for this long means a half-open socket: reconnect."""
    backoff_initial: float = 0.2
    """Multiplier of the jittered exponential reconnect backoff, in seconds."""
    backoff_max: float = 15.0
    """Ceiling of one reconnect wait, in seconds."""
    subscribe_all: bool = False
    """Ask for every event in the system. Off by default: it wedged Asterisk 22.10.1 (surprise 13)."""
    quiet_period: float = 0.5
    """On shutdown, wait for this long without a frame before closing (never close mid-burst)."""
    close_timeout: float = 5.0
    """Upper bound on the whole graceful close (quiet wait + close handshake + draining handlers)."""
    attention_after: int = 3
    """After this many failed connects in a row, log at error level that Asterisk needs attention."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"AriConfig.base_url: scheme must be http or https, got {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError("AriConfig.base_url: missing host")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "AriConfig.base_url: must not contain credentials; set username and password"
            )
        if parts.query or parts.fragment:
            raise ValueError("AriConfig.base_url: must not contain a query or fragment")
        if not self.app or any(c in self.app for c in "/?&#, "):
            raise ValueError(f"AriConfig.app: invalid application name {self.app!r}")
        if not self.username:
            raise ValueError("AriConfig.username: must not be empty")
        for name in ("request_timeout", "connect_timeout", "heartbeat", "liveness_timeout",
                     "backoff_initial", "backoff_max", "close_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"AriConfig.{name}: must be > 0")
        if self.liveness_timeout <= self.heartbeat:
            raise ValueError("AriConfig.liveness_timeout: must be longer than heartbeat")

    @property
    def rest_root(self) -> str:
        """The base URL without a trailing slash."""
        return self.base_url.rstrip("/")

    @property
    def events_url(self) -> str:
        """The WebSocket URL of ``/events`` (ws:// or wss://), without query string."""
        parts = urlsplit(self.rest_root)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + "/events", "", ""))

    def authorization_header(self) -> str:
        """The ``Authorization`` header value (HTTP Basic). Never log it."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return "Basic " + token

    def __repr__(self) -> str:
        return (
            f"AriConfig(base_url={self.base_url!r}, app={self.app!r}, "
            f"username={self.username!r}, password='***')"
        )

    __str__ = __repr__
