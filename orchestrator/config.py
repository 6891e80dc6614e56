"""Configuration from the environment (ORCH_*). Secrets are SecretStr: never printed or logged."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.core.dialgate import DEFAULT_AGENT_PHONES, DEFAULT_TRUNKS

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/dialer"


class Settings(BaseSettings):
    """Every setting of the service; read from ORCH_<NAME> environment variables."""

    model_config = SettingsConfigDict(env_prefix="ORCH_", extra="ignore")

    database_url: SecretStr = Field(default=SecretStr(DEFAULT_DATABASE_URL))
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_user: str = "dialer"
    ari_password: SecretStr = SecretStr("")
    ari_app: str = "dialer"
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "dialer"
    ami_secret: SecretStr = SecretStr("")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    instance_id: str = ""
    customer_endpoint: str = "Local/{number}@dialer-out/n"
    """Dial string for customers; /n keeps Asterisk from optimising the Local channel away
    (our channel id must stay the call's id)."""
    agent_phones: str = ",".join(DEFAULT_AGENT_PHONES)
    """Phones an agent may name at login besides the one an admin configured for it: glob
    patterns, comma-separated (never a customer context, a trunk or a number: the dial
    gate refuses those whatever the list says)."""
    trunks: str = ",".join(DEFAULT_TRUNKS)
    """PJSIP/SIP/IAX2 endpoints that are trunks, comma-separated: never an agent's phone."""
    transfer_numbers: str = ""
    """Numbers agents may consult or transfer to: glob patterns, comma-separated (e.g.
    ``1???,+4930*``); none by default."""
    transfer_endpoint: str = "Local/{number}@dialer-transfer/n"
    """Dial string of a consulted or transferred-to number ({number} as kept)."""
    entry_points: str = ""
    """Dialplan entry points agents may consult or transfer to, comma-separated names."""
    entry_endpoint: str = "Local/{name}@dialer-entry/n"
    """Dial string of an entry point ({name})."""
    amd_context: str = "dialer-amd"
    """With AMD on, the customer channel runs this context (AMD() then Stasis with
    args amd,STATUS,CAUSE) instead of entering the app directly, as recorded on Asterisk 22."""
    # -- service runtime (orchestrator run)
    log_level: str = "INFO"
    log_format: str = "json"  # json | console
    db_pool_size: int = Field(default=10, ge=2, le=100)
    shutdown_grace_s: float = Field(default=10.0, ge=0, le=600)
    """On SIGTERM: how long calls in progress may take to finish before the process exits."""
    time_scale: float = Field(default=1.0, gt=0, le=100)
    """>1 only with a sped-up PBX simulator (pbxsim --speed): the dialer's timers run as fast."""
    system_max_calls: int | None = Field(default=None, ge=1)
    """System-wide cap on calls in progress (all campaigns, all instances)."""
    lease_seconds: int = Field(default=60, ge=5, le=3600)
    heartbeat_s: float = Field(default=2.0, gt=0, le=60)
    instance_stale_s: float = Field(default=20.0, gt=0)
    """Another instance silent for this long is dead: its live attempts are reconciled here."""
    reconcile_period_s: float = Field(default=10.0, gt=0, le=600)
    """A live attempt of this instance with no channel in Asterisk and no call machine here
    is ended within this long (a ledger write lost to a database blip, say)."""
    dial_tick_s: float = Field(default=0.25, gt=0, le=10)
    """How often each running campaign's dialing loop looks for work (also woken on events)."""
    # -- callbacks (orchestrator/dialer/callbacks)
    callback_tick_s: float = Field(default=1.0, gt=0, le=60)
    """How often due callbacks are claimed and dialed (a campaign's own loop also places
    the callbacks this instance holds first, each time it looks for work)."""
    web_callback_rate: int = Field(default=10, ge=1, le=10_000)
    """Web callbacks a web-callback token, and a caller address, may create per minute
    (then 429 with Retry-After)."""
    ami_enabled: bool = True
    # -- FastAGI server for the dialplan's hooks (orchestrator/agi, asterisk-conf DIALER_AGI)
    agi_enabled: bool = True
    agi_host: str = "127.0.0.1"
    """Loopback by default: Asterisk on the same host. FastAGI has no authentication, so
    listen elsewhere only on a network that only Asterisk can reach."""
    agi_port: int = Field(default=4573, ge=0, le=65535)
    """0 picks a free port (tests)."""
    agi_timeout_s: float = Field(default=5.0, gt=0, le=60)
    """Each FastAGI request, environment included, is cut off after this long; the
    caller's dialplan then goes on (AGISTATUS=SUCCESS, nothing set)."""
    agi_default_region: str = Field(default="", pattern=r"^([A-Za-z]{2})?$")
    """ISO 3166 region (e.g. GB) of caller numbers the dialplan hands over without a
    country code; empty: such numbers are not looked up (screen-pop says unknown)."""
    opt_out_scope: Literal["global", "campaign"] = "global"
    """Where an opt-out key press puts the number: the global DNC list (default: a person
    who asks not to be called again is not called by any campaign, as with a DNC wrap-up
    code) or only the dialed campaign's list."""


def database_url() -> str:
    """The PostgreSQL URL for CLI commands (ORCH_DATABASE_URL, else the local default)."""
    return Settings().database_url.get_secret_value()
