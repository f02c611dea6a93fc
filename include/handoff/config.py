"""Settings from the environment (HANDOFF_*), validated once at start.

A bad value fails immediately with the name of the environment variable, not deep inside a run.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """A setting is invalid; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_", extra="ignore")

    home: Path = Field(default=REPO_ROOT / ".local", description="state: postgres data, logs, secrets")
    pg_port: int = Field(default=55432, ge=1024, le=65535)
    airflow_port: int = Field(default=8280, ge=1024, le=65535)
    airflow_parallelism: int = Field(default=4, ge=1, le=64)
    scheduler_idle_sleep_seconds: float = Field(default=0.5, gt=0, le=10)
    warehouse_url: str | None = None
    airflow_db_url: str | None = None
    sim_port_base: int = Field(default=8701, ge=1024, le=65000, description="salesforce; the others follow")
    sim_scale: str = Field(default="default", pattern=r"^(tiny|default|bench(:\d+)?)$")
    sim_seed: int = 7
    # The simulators' latency and rate limits (docs/simulators.md): "documented" serves each system's
    # documented limits (the clients pace to them), "realistic" adds real latency, "off" neither.
    sim_pacing: str = Field(default="documented", pattern=r"^(off|documented|realistic)$")
    sim_tick_seconds: float = Field(default=5.0, ge=0)
    start_simulators: bool = True

    @field_validator("warehouse_url", "airflow_db_url")
    @classmethod
    def _postgres_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return v

    @property
    def external_postgres(self) -> bool:
        return bool(self.warehouse_url or self.airflow_db_url)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"HANDOFF_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
