"""Typed settings: environment variables ``LOOKOUT_*`` and an optional YAML file.

Precedence (highest first): explicit overrides, environment, YAML file, defaults.
The YAML file is ``$LOOKOUT_CONFIG`` or ``<data_dir>/lookout.yaml`` when present.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_", extra="ignore")

    data_dir: Path = Field(default=Path("./lookout-data"), description="folder for all state of a run")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default a SQLite file in data_dir")
    secret_key: str | None = Field(default=None, description="signs sessions, encrypts device credentials")
    timezone: str = "Asia/Shanghai"
    language: str = "zh-CN"
    host: str = "127.0.0.1"
    port: int = 8080
    login_attempts_per_minute: int = 10
    disk_free_alert_percent: float = 10.0

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lookout.db').resolve()}"

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "secret.key"

    def resolved_secret(self) -> str:
        """The secret key from settings, else the one ``lookout init`` stored."""
        if self.secret_key:
            return self.secret_key
        if self.secret_file.exists():
            return self.secret_file.read_text().strip()
        raise RuntimeError(
            f"no secret key: set LOOKOUT_SECRET_KEY or run `lookout init` (looked in {self.secret_file})"
        )


def _yaml_values(data_dir: Path | None) -> dict[str, Any]:
    path = os.environ.get("LOOKOUT_CONFIG")
    candidates = [Path(path)] if path else []
    base = data_dir or Path(os.environ.get("LOOKOUT_DATA_DIR", "./lookout-data"))
    candidates.append(base / "lookout.yaml")
    for c in candidates:
        if c.is_file():
            loaded = yaml.safe_load(c.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{c}: expected a mapping of settings, got {type(loaded).__name__}")
            return loaded
    return {}


def load_settings(**overrides: Any) -> Settings:
    """Build settings; YAML values only fill what the environment leaves unset."""
    data_dir = overrides.get("data_dir")
    file_values = _yaml_values(Path(data_dir) if data_dir else None)
    env_set = {k[len("LOOKOUT_"):].lower() for k in os.environ if k.startswith("LOOKOUT_")}
    merged = {k: v for k, v in file_values.items() if k not in env_set}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**merged)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
