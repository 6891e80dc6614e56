"""Configuration from the environment (ORCH_*). Secrets are SecretStr: never printed or logged."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    customer_endpoint: str = "Local/{number}@dialer-out"
    amd_endpoint: str = "Local/{number}@dialer-amd"


def database_url() -> str:
    """The PostgreSQL URL for CLI commands (ORCH_DATABASE_URL, else the local default)."""
    return Settings().database_url.get_secret_value()
