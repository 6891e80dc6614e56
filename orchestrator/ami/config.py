"""AMI connection settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, repr=False)
class AmiConfig:
    """Where and how to reach Asterisk's manager interface. ``repr()`` masks the secret."""

    host: str
    """AMI host (loopback in the shipped config)."""
    port: int
    """AMI TCP port (5038)."""
    username: str
    """manager.conf user."""
    secret: str
    """manager.conf secret; sent only in the Login action, never logged."""
    events: str = "on"
    """Login ``Events:`` value: ``on`` (everything the user may read) or a class list."""
    action_timeout: float = 5.0
    """Every action's answer must arrive within this many seconds."""
    connect_timeout: float = 5.0
    """TCP connect plus login must complete within this many seconds."""
    ping_interval: float = 10.0
    """A Ping action is sent this often; no answer within ``action_timeout`` = dead socket."""
    backoff_initial: float = 0.2
    """Multiplier of the jittered exponential reconnect backoff, in seconds."""
    backoff_max: float = 15.0
    """Ceiling of one reconnect wait, in seconds."""
    attention_after: int = 3
    """After this many failed connects in a row, log at error level."""

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("AmiConfig.host: must not be empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"AmiConfig.port: {self.port} is not a TCP port")
        if not self.username:
            raise ValueError("AmiConfig.username: must not be empty")
        for name in ("username", "secret", "events"):
            if any(c in getattr(self, name) for c in "\r\n"):
                raise ValueError(f"AmiConfig.{name}: must not contain CR or LF")
        for name in ("action_timeout", "connect_timeout", "ping_interval", "backoff_initial",
                     "backoff_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"AmiConfig.{name}: must be > 0")

    def __repr__(self) -> str:
        return (f"AmiConfig(host={self.host!r}, port={self.port}, username={self.username!r}, "
                f"secret='***')")

    __str__ = __repr__
