"""Settings of the GB/T 28181 server: environment ``LOOKOUT_GB28181_*``, overridden from the command line."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lookout.registry import gbcode


class GbConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_GB28181_", extra="ignore")

    enabled: bool = Field(default=True, description="run the SIP server as a background service of `lookout serve`")
    host: str = Field(default="0.0.0.0", description="address to listen on (devices must reach it)")
    port: int = Field(default=5060, ge=0, le=65535)
    transports: str = Field(default="udp,tcp", description="comma-separated: udp, tcp")
    domain: str = Field(default="3402000000", description="10-digit SIP domain, the digest realm")
    server_id: str = Field(default="34020000002000000001", description="20-digit code of this platform")
    default_password: str | None = Field(default=None, description="for devices without their own password")
    keepalive_interval_s: float = Field(default=60.0, gt=0)
    keepalive_timeout_s: float = Field(default=180.0, gt=0, description="silence after which a device is offline")
    sweep_interval_s: float = Field(default=5.0, gt=0, description="how often timeouts are checked")
    catalog_timeout_s: float = Field(default=30.0, gt=0)
    catalog_on_register: bool = True
    nonce_ttl_s: float = Field(default=300.0, gt=0)
    max_expires_s: int = Field(default=86_400, gt=0)
    timezone: str = Field(default="Asia/Shanghai", description="zone of the Date header devices set clocks from")
    advertise_host: str | None = Field(default=None, description="address put in Via/From of requests we send")

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if len(v) != 10 or not v.isdigit():
            raise ValueError(f"domain '{v}' must be 10 digits (division code + industry, e.g. 3402000000)")
        return v

    @field_validator("server_id")
    @classmethod
    def _server_id(cls, v: str) -> str:
        g = gbcode.parse(v)  # raises naming the bad part
        if not g.type.startswith("2"):
            raise ValueError(f"server_id type '{g.type}' is not a platform/server type (2xx, e.g. 200)")
        return v

    @field_validator("transports")
    @classmethod
    def _transports(cls, v: str) -> str:
        ts = [t.strip().lower() for t in v.split(",") if t.strip()]
        bad = [t for t in ts if t not in ("udp", "tcp")]
        if bad or not ts:
            raise ValueError(f"transports '{v}': use udp, tcp or both")
        return ",".join(ts)

    @property
    def transport_list(self) -> list[str]:
        return self.transports.split(",")


def load_config(**overrides) -> GbConfig:
    return GbConfig(**{k: v for k, v in overrides.items() if v is not None})
