"""Settings read once from the environment (``FILEFLOW_*``) and validated."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fileflow_core.errors import ConfigError

ROOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ROOT_ID_RE = re.compile(ROOT_ID_PATTERN)


class RootConfig(BaseModel):
    """One watched folder: ``id`` names it in messages and rows, ``path`` is where it is."""

    id: str = Field(pattern=ROOT_ID_PATTERN)
    path: Path
    include: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    recursive: bool = True
    force_polling: bool | None = None


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fileflow"


def root_id_for(path: Path) -> str:
    """A root id derived from a folder name, for roots given as bare paths."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", path.resolve().name).strip("-.") or "root"
    return name[:64] if _ROOT_ID_RE.match(name) else f"r{name}"[:64]


def parse_roots(value: str) -> list[RootConfig]:
    """Parse ``id=/path,other=/path2`` (or bare paths, id from the folder name)."""
    roots: list[RootConfig] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        root_id, sep, path = item.partition("=")
        if not sep:
            path, root_id = root_id, root_id_for(Path(root_id))
        roots.append(RootConfig(id=root_id.strip(), path=Path(path.strip()).expanduser()))
    ids = [root.id for root in roots]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"root ids must be unique, repeated: {', '.join(duplicates)}")
    return roots


class Settings(BaseSettings):
    """Everything both services need to know; defaults work on a developer machine."""

    model_config = SettingsConfigDict(env_prefix="FILEFLOW_", extra="ignore")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://127.0.0.1:5432/fileflow"
    queue_name: str = Field(default="fileflow.events", pattern=r"^[A-Za-z0-9_.:-]{1,200}$")
    redis_key_prefix: str = "fileflow:"
    roots: Annotated[list[RootConfig], NoDecode] = Field(default_factory=list)
    state_dir: Path = Field(default_factory=_default_state_dir)

    concurrency: int = Field(default=100, ge=1, le=10_000)
    prefetch: int | None = Field(default=None, ge=1, le=65_535)
    read_chunk_bytes: int = Field(default=1 << 20, ge=4096)
    extract_max_bytes: int = Field(default=100 << 20, ge=0)
    extract_workers: int = Field(default=2, ge=1, le=64)
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_delay_s: float = Field(default=1.0, gt=0)
    cache_ttl_s: int = Field(default=30 * 24 * 3600, ge=1)

    debounce_ms: int = Field(default=300, ge=1)
    settle_s: float = Field(default=0.5, ge=0)
    max_backlog: int = Field(default=200_000, ge=1)
    publish_window: int = Field(default=500, ge=1, le=10_000)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    drain_timeout_s: float = Field(default=30.0, ge=0)
    log_level: str = Field(default="INFO", pattern=r"^(?i)(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("roots", mode="before")
    @classmethod
    def _parse_roots(cls, value: Any) -> Any:
        return parse_roots(value) if isinstance(value, str) else value

    @property
    def effective_prefetch(self) -> int:
        return self.prefetch or self.concurrency

    def root(self, root_id: str) -> RootConfig | None:
        return next((root for root in self.roots if root.id == root_id), None)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning a validation error into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            problems.append(f"FILEFLOW_{field.upper()}: {error['msg']}")
        raise ConfigError("invalid setting: " + "; ".join(problems)) from None
