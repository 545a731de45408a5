"""Settings of the gateway: one pydantic model read by the CLI, `MUXGATE_*` environment variables and create_app.

Precedence: command-line flags, then environment variables, then the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MUXGATE_", extra="forbid", frozen=True)

    config_dir: Path = Field(default=Path("."), description="The config directory to serve (DIR).")
    host: str = Field(default="127.0.0.1", description="Address to bind; loopback by default.")
    port: int = Field(default=8989, ge=0, le=65535, description="Port to bind (0 picks a free one).")
    data_dir: Path = Field(default=Path(".muxgate"), description="Where state and analytics are kept.")
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, gt=0, description="Largest request body accepted from a client, in bytes."
    )
    transport: Literal["aiohttp", "httpx"] = Field(
        default="aiohttp",
        description="HTTP client for upstream calls: aiohttp's ClientSession or httpx (see docs/benchmarks.md).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="Log level.")
    default_workspace: str = Field(
        default="default", description="Workspace for requests that name none (until one is activated)."
    )
    watch: bool = Field(default=True, description="Watch DIR while serving and apply its changes (pull mode).")
    debounce_ms: int = Field(
        default=300, ge=0, le=60_000, description="Longest time a burst of file changes is grouped into one reconcile."
    )
    analytics: bool = Field(
        default=True, description="Record usage, cost and history in DATA_DIR/muxgate.duckdb (see docs/analytics.md)."
    )
    analytics_writer: Literal["process", "thread"] = Field(
        default="process",
        description="Where analytics are written to DuckDB: a process of their own, which leaves the gateway's "
        "interpreter to requests, or a thread of the gateway (one process less; see docs/analytics.md).",
    )
    prune_archived: bool = Field(
        default=False, description="Remove workspaces no longer declared instead of keeping them archived."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Token the admin API requires (Bearer); generated into DATA_DIR/admin-token when unset.",
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Host names served besides loopback ones (comma-separated; * turns the Host check off).",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Browser origins allowed by CORS (comma-separated); none by default."
    )

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
