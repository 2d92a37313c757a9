"""The ingest API: ask for a path to be ingested, look at files; served with the ops routes."""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import stat
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as ApiPath
from pydantic import BaseModel, Field

from fileflow_core.beneath import Location, NotARegularFile, stat_beneath
from fileflow_core.errors import ConfigError, RootUnavailableError
from fileflow_core.messages import MAX_PATH_BYTES, FileEvent, Operation
from fileflow_core.paths import is_text, locate_in_roots, path_from_bytes
from fileflow_core.ports import EventPublisher, QueryStore
from fileflow_core.settings import Settings

Status = Literal["pending", "processing", "completed", "failed", "deleted"]


class IngestRequest(BaseModel):
    path: str = Field(
        min_length=1,
        max_length=MAX_PATH_BYTES + 4096,
        description="Absolute path of a file under one of the configured roots",
    )
    reprocess: bool = Field(default=False, description="Extract again even if already known")


class IngestAccepted(BaseModel):
    id: int
    root_id: str
    path: str
    status: Status = "pending"


class FileView(BaseModel):
    id: int
    root_id: str
    path: str = Field(description="The path, readable: a byte that is not UTF-8 shows as \\xNN")
    path_bytes: str | None = Field(
        default=None,
        description="Base64 of the path's exact bytes, when they are not valid UTF-8",
    )
    status: Status
    content_sha256: str | None
    size: int | None
    mime_type: str | None
    metadata: dict[str, Any] | None
    attempts: int
    error: str | None
    source: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


MAX_ID = 2**63 - 1


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_access(settings: Settings) -> None:
    """Refuse to serve the ingest API to the network without a token, unless told to."""
    if (
        settings.api_token is None
        and settings.api_auth != "off"
        and not is_loopback(settings.http_host)
    ):
        raise ConfigError(
            f"the ingest API would listen on {settings.http_host} with no token: set "
            "FILEFLOW_API_TOKEN (16 characters or more, e.g. `openssl rand -hex 32`), or "
            "FILEFLOW_API_AUTH=off to leave it open on purpose"
        )


def _bearer(settings: Settings) -> Callable[[Request], None]:
    token = settings.api_token

    def require_token(request: Request) -> None:
        if token is None or settings.api_auth == "off":
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
            raise HTTPException(
                401,
                "this API needs the token of FILEFLOW_API_TOKEN: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_token


def add_ingest_routes(
    app: FastAPI, settings: Settings, store: QueryStore, publisher: EventPublisher
) -> None:
    roots = [(root.id, root.path.expanduser().absolute()) for root in settings.roots]
    router = APIRouter(dependencies=[Depends(_bearer(settings))])

    @router.post("/ingest", status_code=202, response_model=IngestAccepted, tags=["ingest"])
    async def ingest(request: IngestRequest) -> IngestAccepted:
        """Enqueue a file like a watcher event. A path outside every root is refused unread."""
        located = locate_in_roots(request.path, roots)
        if located is None:
            raise HTTPException(400, f"{request.path!r} is not under any configured root")
        root_id, relative = located
        await _check_ingestible(Location(root_id, str(dict(roots)[root_id]), relative))
        file_id = await store.mark_pending(root_id, relative)
        event = FileEvent.observed(root_id, relative, Operation.UPSERT, reprocess=request.reprocess)
        await publisher.publish([event])
        return IngestAccepted(id=file_id, root_id=root_id, path=relative)

    @router.get("/files/{file_id}", response_model=FileView, tags=["files"])
    async def get_file(file_id: int = ApiPath(ge=1, le=MAX_ID)) -> FileView:
        row = await store.get_file(file_id)
        if row is None:
            raise HTTPException(404, f"no file with id {file_id}")
        return _view(row)

    @router.get("/files", response_model=list[FileView], tags=["files"])
    async def list_files(
        status: Status | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0, le=MAX_ID),
    ) -> list[FileView]:
        rows = await store.list_files(status=status, limit=limit, offset=offset)
        return [_view(row) for row in rows]

    app.include_router(router)


async def _check_ingestible(location: Location) -> None:
    """Refuse at once what the ingestor would not read, rather than queue it: the answer says
    why, and no row waits for a file that cannot come."""
    try:
        info = await asyncio.to_thread(stat_beneath, location)
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPException(
            404, f"no file at {location.relative!r} in root {location.root_id!r}"
        ) from None
    except NotARegularFile as exc:
        raise HTTPException(400, f"{location.relative!r} is not ingested: {exc}") from None
    except RootUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    except OSError as exc:
        raise HTTPException(
            400, f"{location.relative!r} cannot be looked at: {exc.strerror}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise HTTPException(400, f"{location.relative!r} is not a regular file: not ingested")


def _view(row: dict[str, Any]) -> FileView:
    raw = bytes(row.get("path_bytes") or b"")
    text = not raw or is_text(path_from_bytes(raw))
    return FileView.model_validate(
        {**row, "path_bytes": None if text else base64.b64encode(raw).decode()}
    )
