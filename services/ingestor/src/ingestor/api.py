"""The ingest API: ask for a path to be ingested, look at files; served with the ops routes."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from fileflow_core.messages import FileEvent, Operation
from fileflow_core.paths import is_text, locate_in_roots, path_from_bytes
from fileflow_core.ports import DocumentStore, EventPublisher
from fileflow_core.settings import Settings

Status = Literal["pending", "processing", "completed", "failed", "deleted"]


class IngestRequest(BaseModel):
    path: str = Field(description="Absolute path of a file under one of the configured roots")
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


def add_ingest_routes(
    app: FastAPI, settings: Settings, store: DocumentStore, publisher: EventPublisher
) -> None:
    roots = [(root.id, root.path.expanduser().absolute()) for root in settings.roots]

    @app.post("/ingest", status_code=202, response_model=IngestAccepted, tags=["ingest"])
    async def ingest(request: IngestRequest) -> IngestAccepted:
        """Enqueue a file like a watcher event. A path outside every root is refused unread."""
        located = locate_in_roots(request.path, roots)
        if located is None:
            raise HTTPException(400, f"{request.path!r} is not under any configured root")
        root_id, relative = located
        file_id = await store.mark_pending(root_id, relative)
        event = FileEvent.observed(root_id, relative, Operation.UPSERT, reprocess=request.reprocess)
        await publisher.publish([event])
        return IngestAccepted(id=file_id, root_id=root_id, path=relative)

    @app.get("/files/{file_id}", response_model=FileView, tags=["files"])
    async def get_file(file_id: int) -> FileView:
        row = await store.get_file(file_id)
        if row is None:
            raise HTTPException(404, f"no file with id {file_id}")
        return _view(row)

    @app.get("/files", response_model=list[FileView], tags=["files"])
    async def list_files(
        status: Status | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0),
    ) -> list[FileView]:
        rows = await store.list_files(status=status, limit=limit, offset=offset)
        return [_view(row) for row in rows]


def _view(row: dict[str, Any]) -> FileView:
    raw = bytes(row.get("path_bytes") or b"")
    text = not raw or is_text(path_from_bytes(raw))
    return FileView.model_validate(
        {**row, "path_bytes": None if text else base64.b64encode(raw).decode()}
    )
