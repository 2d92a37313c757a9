"""Settings read once from the environment (``FILEFLOW_*``) and validated."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fileflow_core.errors import ConfigError
from fileflow_core.ids import ROOT_ID_PATTERN
from fileflow_core.paths import expand_home
from fileflow_core.setting_names import misnamed_variables, unknown_keys
from fileflow_core.urls import check_server_url, redact_list, split_url_list, sqlite_file

_ROOT_ID_RE = re.compile(ROOT_ID_PATTERN)
# Files an ingestor keeps waiting for their group commit, per slot of FILEFLOW_CONCURRENCY:
# with one, a single write batch held them all and the next could not form while it committed
# (10,000 small files: 3,000 files/s; with two, 3,500; with three, 3,650).
COMMIT_PLACES_PER_SLOT = 2


class RootConfig(BaseModel):
    """One watched folder: ``id`` names it in messages and rows, ``path`` is where it is."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ROOT_ID_PATTERN)
    path: Path
    collection: str | None = Field(default=None, min_length=1, max_length=200)
    include: list[str] = Field(default_factory=list)
    ignore: list[str] = Field(default_factory=list)
    default_ignores: bool = True
    recursive: bool = True
    # None: decided from the filesystem type (polling on network and FUSE mounts).
    force_polling: bool | None = None
    git: bool = False
    # A file or folder that must exist at the root for it to count as mounted (optional, so
    # read-only roots work without one): an extra guard besides the root's recorded identity.
    marker: str | None = Field(default=None, pattern=r"^[^/\x00]+$")

    @field_validator("path")
    @classmethod
    def _home_expanded(cls, value: Path) -> Path:
        # A value in a compose, systemd or .env file is not expanded by a shell, nor is one in
        # the config file: "~/inbox" is the home's, as in a shell.
        return expand_home(value)

    @field_validator("marker")
    @classmethod
    def _marker_is_a_name(cls, value: str | None) -> str | None:
        if value in (".", ".."):
            raise ValueError("marker must name a file or folder inside the root")
        return value

    @property
    def collection_name(self) -> str:
        return self.collection or self.id


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fileflow"


def default_data_dir() -> Path:
    """Where the embedded backends keep their database: ``$XDG_DATA_HOME/fileflow``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fileflow"


SQLITE_FILE_NAME = "fileflow.sqlite3"
# Setting any of these chooses the servers when ``backend`` is "auto".
SERVER_URL_FIELDS = frozenset({"amqp_url", "redis_url", "database_url"})
# Schemes whose URL names no host.
_HOSTLESS = frozenset({"memory", "sqlite", "unix"})


def root_id_for(path: Path) -> str:
    """A root id derived from a folder name, for roots given as bare paths."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", path.resolve().name).strip("-.") or "root"
    return name[:64] if _ROOT_ID_RE.match(name) else f"r{name}"[:64]


def parse_roots(value: str) -> list[RootConfig]:
    """Parse ``id=/path,other=/path2`` (or bare paths, id from the folder name), or a JSON list
    of root tables as in the TOML file."""
    if value.lstrip().startswith("["):
        return [RootConfig.model_validate(item) for item in json.loads(value)]
    roots: list[RootConfig] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        root_id, sep, path = item.partition("=")
        if not sep:
            path, root_id = root_id, root_id_for(Path(root_id))
        roots.append(RootConfig(id=root_id.strip(), path=Path(path.strip())))
    ids = [root.id for root in roots]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"root ids must be unique, repeated: {', '.join(duplicates)}")
    return roots


def _broker_urls(value: str, schemes: tuple[str, ...]) -> str:
    """One broker URL, or a comma-separated list of a RabbitMQ cluster's nodes."""
    urls = split_url_list(value)
    for url in urls:
        scheme = url.partition("://")[0]
        check_server_url(url, schemes, host_required=scheme not in _HOSTLESS)
    if len(urls) > 1 and any(not url.startswith(("amqp://", "amqps://")) for url in urls):
        raise ValueError(
            f"{redact_list(value)}: a list names the nodes of one RabbitMQ cluster, "
            "so every URL starts with amqp:// or amqps://"
        )
    return value


class Settings(BaseSettings):
    """Everything both services need to know; defaults work on a developer machine."""

    model_config = SettingsConfigDict(env_prefix="FILEFLOW_", extra="ignore")

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://127.0.0.1:5432/fileflow"
    queue_name: str = Field(default="fileflow.events", pattern=r"^[A-Za-z0-9_.:-]{1,200}$")
    # "quorum" replicates the queues across a RabbitMQ cluster's nodes (see topology.py).
    queue_type: Literal["classic", "quorum"] = "classic"
    redis_key_prefix: str = "fileflow:"
    roots: Annotated[list[RootConfig], NoDecode] = Field(default_factory=list)
    state_dir: Path = Field(default_factory=_default_state_dir)
    # "auto": embedded unless a server URL is set (only ``fileflow run`` and the operator
    # commands can run embedded; the standalone services always use the real servers).
    backend: Literal["auto", "embedded", "real"] = "auto"
    data_dir: Path = Field(default_factory=default_data_dir)
    embedded_queue_capacity: int = Field(default=10_000, ge=1)
    embedded_cache_entries: int = Field(default=100_000, ge=1)

    concurrency: int = Field(default=100, ge=1, le=10_000)
    prefetch: int | None = Field(default=None, ge=1, le=65_535)
    read_chunk_bytes: int = Field(default=1 << 20, ge=4096)
    extract_max_bytes: int = Field(default=100 << 20, ge=0)
    extract_workers: int = Field(default=2, ge=1, le=64)
    extract_timeout_s: float = Field(default=60.0, gt=0)
    extract_memory_bytes: int = Field(default=1 << 30, ge=256 << 20)
    chunk_chars: int = Field(default=2000, ge=100)
    chunk_overlap_chars: int = Field(default=200, ge=0)
    # Below RabbitMQ's consumer_timeout (30 min by default): longer work is handed over.
    delivery_renew_s: float = Field(default=900.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_delay_s: float = Field(default=1.0, gt=0)
    # Work for a root that is unavailable (unmounted, missing) waits this long between looks,
    # without spending attempts.
    hold_delay_s: float = Field(default=30.0, gt=0)
    # An extraction whose commit failed (the database went away) is kept, by content, for the
    # message's return: a bounded time and a bounded size, then it is done again if needed.
    kept_extractions_s: float = Field(default=3600.0, gt=0)
    kept_extractions_bytes: int = Field(default=256 << 20, ge=0)
    cache_ttl_s: int = Field(default=30 * 24 * 3600, ge=1)

    # The OS watch groups a burst's events for this long at most before handing them over:
    # an import's first files wait for it (300 ms held them 0.45 s, see docs/performance.md).
    debounce_ms: int = Field(default=100, ge=1)
    settle_s: float = Field(default=0.5, ge=0)
    poll_interval_ms: int = Field(default=1000, ge=50)
    reconcile_interval_s: float = Field(default=600.0, ge=0)
    max_backlog: int = Field(default=200_000, ge=1)
    publish_window: int = Field(default=500, ge=1, le=10_000)
    # Events a message: the broker's cost is per message, the ingestor's work per event.
    publish_batch_events: int = Field(default=20, ge=1, le=500)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    drain_timeout_s: float = Field(default=30.0, ge=0)
    http_host: str = "127.0.0.1"
    # The ingest API (/ingest, /files) asks for this as a bearer token; required when the API
    # listens beyond loopback, unless api_auth is "off" (an explicit choice to leave it open).
    api_token: SecretStr | None = Field(default=None, min_length=16)
    api_auth: Literal["token", "off"] = "token"
    watcher_http_port: int = Field(default=9101, ge=0, le=65535)
    ingestor_http_port: int = Field(default=9102, ge=0, le=65535)
    log_level: str = Field(default="INFO", pattern=r"^(?i)(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("amqp_url", "redis_url", "database_url")
    @classmethod
    def _backend_url(cls, value: str, info: ValidationInfo) -> str:
        # The schemes are the adapters' (``fileflow_core.adapters``), read when checked.
        from fileflow_core import adapters

        table: dict[str, object] = {
            "amqp_url": adapters.BROKERS,
            "redis_url": adapters.CACHES,
            "database_url": adapters.STORES,
        }[str(info.field_name)]  # type: ignore[assignment]
        if info.field_name == "amqp_url":
            return _broker_urls(value, tuple(table))
        scheme = value.partition("://")[0]
        checked = check_server_url(value, tuple(table), host_required=scheme not in _HOSTLESS)
        if scheme == "sqlite":
            sqlite_file(checked)  # a "~user" that names no home folder is said here
        return checked

    @field_validator("state_dir", "data_dir")
    @classmethod
    def _home_expanded(cls, value: Path) -> Path:
        # As the roots' paths are: a value in a compose, systemd or .env file is not expanded
        # by a shell, and "~/state" would otherwise be a folder named "~" where it started.
        # Absolute from the start: the embedded store's URL is built from data_dir, and
        # "sqlite:///" followed by a relative path reads as one from the filesystem's root.
        return expand_home(value).absolute()

    @field_validator("roots", mode="before")
    @classmethod
    def _parse_roots(cls, value: Any) -> Any:
        return parse_roots(value) if isinstance(value, str) else value

    @field_validator("roots")
    @classmethod
    def _unique_root_ids(cls, roots: list[RootConfig]) -> list[RootConfig]:
        ids = [root.id for root in roots]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"root ids must be unique, repeated: {', '.join(repeated)}")
        return roots

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> Settings:
        if self.chunk_overlap_chars >= self.chunk_chars:
            raise ValueError(
                "FILEFLOW_CHUNK_OVERLAP_CHARS must be smaller than FILEFLOW_CHUNK_CHARS"
            )
        return self

    @property
    def amqp_urls(self) -> list[str]:
        """The broker's nodes, in the order they are tried."""
        return split_url_list(self.amqp_url)

    @property
    def effective_prefetch(self) -> int:
        # The files an ingestor holds (its slots and their commit places), and one set more: a
        # freed slot is refilled from messages already here, not after an ack-and-deliver round
        # trip to the broker.
        return self.prefetch or (2 + COMMIT_PLACES_PER_SLOT) * self.concurrency

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir.expanduser() / SQLITE_FILE_NAME

    def embedded(self) -> bool:
        """Whether a command that runs in one process (``fileflow run``, ``status``, ``ls``)
        takes the embedded backends for the URLs not set: explicit ``backend`` wins; "auto"
        is embedded until any server URL is set (environment or config file)."""
        if self.backend != "auto":
            return self.backend == "embedded"
        return not SERVER_URL_FIELDS & self.model_fields_set

    def in_one_process(self) -> Settings:
        """These settings for a command that runs in one process: with the embedded backends
        (an in-process queue, an in-memory cache, a SQLite file) for each URL not set when
        ``embedded``; each URL set keeps its own backend."""
        if not self.embedded():
            return self
        embedded = {
            "amqp_url": "memory://",
            "redis_url": "memory://",
            "database_url": f"sqlite:///{self.sqlite_path}",
        }
        chosen = {k: v for k, v in embedded.items() if k not in self.model_fields_set}
        return self.model_copy(update=chosen)

    def root(self, root_id: str) -> RootConfig | None:
        return next((root for root in self.roots if root.id == root_id), None)


def _settings_class(config_file: Path | None) -> type[Settings]:
    if config_file is None:
        return Settings

    class FileSettings(Settings):
        """Environment first, then the TOML file, then defaults."""

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file)
            return (init_settings, env_settings, toml)

    return FileSettings


def _check_config_keys(config_file: Path) -> None:
    try:
        table = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {config_file}: {exc}") from None
    unknown = unknown_keys(table, Settings.model_fields)
    if unknown:
        raise ConfigError(f"config file {config_file}: " + "; ".join(unknown))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings (environment, then ``config_file`` if given, then defaults), turning a
    validation error into one line that names the variable."""
    if config_file is not None:
        # FILEFLOW_CONFIG from a compose, systemd or .env file is not expanded by a shell.
        try:
            config_file = expand_home(config_file)
        except ValueError as exc:
            raise ConfigError(f"config file {exc}") from None
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist or is not a file")
    misnamed = misnamed_variables(os.environ, Settings.model_fields)
    if misnamed:
        raise ConfigError("; ".join(misnamed))
    if config_file is not None:
        _check_config_keys(config_file)
    try:
        return _settings_class(config_file)(**overrides)
    except ValueError as exc:
        if not isinstance(exc, ValidationError):
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from None
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            where = "/".join(str(part) for part in error["loc"][1:])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"FILEFLOW_{field.upper()}{f' ({where})' if where else ''}: {message}")
        raise ConfigError("invalid setting: " + "; ".join(problems)) from None
