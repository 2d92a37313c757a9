"""PostgreSQL store rules: stale observations never win, repeats write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fileflow_core.models import ContentInfo, FileObservation
from fileflow_core.store.migrate import migrate
from fileflow_core.store.postgres import PostgresDocumentStore

pytestmark = pytest.mark.integration

OLD, NEW = "a" * 64, "b" * 64


async def test_freshness_and_idempotency(database_url: str) -> None:
    await migrate(database_url)
    store = await PostgresDocumentStore.open(database_url, max_connections=2)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        newer = FileObservation("lib", "a.txt", t0 + timedelta(seconds=10), 3, 2, 1)
        older = FileObservation("lib", "a.txt", t0, 3, 1, 1)
        assert await store.record_present(newer, ContentInfo(NEW, 3, "text/plain"), NEW)
        # A replica that looked earlier but commits later must not win.
        assert not await store.record_present(older, ContentInfo(OLD, 3, "text/plain"), OLD)
        assert not await store.record_deleted(older)
        # The same observation again writes nothing.
        assert not await store.record_present(newer, None, NEW)
        row = await store.get_file(1)
        assert row is not None and row["content_sha256"] == NEW and row["status"] == "completed"
        later = FileObservation("lib", "a.txt", t0 + timedelta(seconds=20))
        assert await store.record_deleted(later)
        assert (await store.get_file(1) or {})["status"] == "deleted"
        assert await store.status_counts() == {"deleted": 1}
    finally:
        await store.close()
