"""What the services' /metrics say agrees with the database after a mixed import, and each
scrape passes ``promtool check metrics``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fileflow_core.settings import Settings
from tests import samples
from tests.pipeline import Db
from tests.services import service, service_env
from tests.support import promtool, require_server, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

UNIQUE = 30
COPIES = 20
# Small enough that the slow PDF (seconds of text to extract) always passes it, large enough
# that a broken PDF fails on its own long before it.
EXTRACT_TIMEOUT_S = 2


def mixed_library(root: Path) -> int:
    """Unique texts, copies of one text, a corrupt PDF and a PDF that takes seconds to parse."""
    for n in range(UNIQUE):
        (root / f"unique-{n:02}.txt").write_text(f"unique file {n} " * 50)
    for n in range(COPIES):
        (root / f"copy-{n:02}.txt").write_text("the same words in every copy " * 40)
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    (root / "slow.pdf").write_bytes(samples.pdf_stream_bomb(3_000_000))
    return UNIQUE + COPIES + 2


async def scrape(port: int) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    samples_by_key = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples_by_key


def value(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def check_metrics(text: str) -> None:
    checked = subprocess.run(
        [promtool(), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_metrics_agree_with_the_database_after_a_mixed_import(
    settings: Settings, root_dir: Path, tmp_path: Path
) -> None:
    for server in ("PostgreSQL", "Redis", "RabbitMQ"):
        require_server(server)
    promtool()  # skip (or fail in CI) before any work when it is missing
    files = mixed_library(root_dir)
    env = service_env(
        settings,
        root_dir,
        FILEFLOW_EXTRACT_TIMEOUT_S=str(EXTRACT_TIMEOUT_S),
        FILEFLOW_LOG_LEVEL="INFO",
    )
    db = Db(settings.database_url)
    log = tmp_path / "services.log"
    async with (
        service("ingest", env, log=log) as ingestor,
        service("watch", env, log=log) as watcher,
    ):
        await wait_until(
            lambda: db.fetchval(
                "SELECT count(*) FROM files WHERE status IN ('completed', 'failed')"
            ),
            lambda done: done == files,
            timeout_s=180,
            what=f"{files} files completed or failed",
        )
        ingestor_text, scraped = await scrape(ingestor.port)
        watcher_text, watched = await scrape(watcher.port)
        check_metrics(ingestor_text)
        check_metrics(watcher_text)

    statuses = dict(
        await db.fetch("SELECT status, count(*) FROM files GROUP BY status")  # type: ignore[arg-type]
    )
    contents = await db.fetchval("SELECT count(*) FROM contents")
    failed_extractions = dict(
        await db.fetch(  # type: ignore[arg-type]
            "SELECT c.extraction_error LIKE 'extraction timed out%', count(*) FROM files f"
            " JOIN contents c ON c.sha256 = f.content_sha256 WHERE f.status = 'failed' GROUP BY 1"
        )
    )
    assert statuses == {"completed": files - 2, "failed": 2}
    assert failed_extractions == {True: 1, False: 1}

    # Each file once, by its final result; a failed extraction counts as failed, not stored.
    assert value(scraped, "fileflow_ingestor_files_total", result="stored") == statuses["completed"]
    assert value(scraped, "fileflow_ingestor_files_total", result="failed") == statuses["failed"]
    assert value(scraped, "fileflow_ingestor_failures_total", reason="extraction") == 2
    # Every content extracted once; every other file short-circuited, wherever it was known.
    extracted = sum(
        value(scraped, "fileflow_ingestor_extractions_total", outcome=outcome)
        for outcome in ("completed", "failed", "too_large")
    )
    assert extracted == contents
    short_circuits = sum(
        value(scraped, "fileflow_ingestor_short_circuits_total", where=where)
        for where in ("in_process", "redis", "database")
    )
    assert short_circuits == files - contents == COPIES - 1
    assert value(scraped, "fileflow_ingestor_extraction_failures_total", reason="timeout") == 1
    assert value(scraped, "fileflow_ingestor_extraction_failures_total", reason="parser") == 1
    assert value(scraped, "fileflow_ingestor_extraction_worker_restarts_total") == 1
    assert value(scraped, "fileflow_ingestor_seen_to_committed_seconds_count") == files
    assert value(scraped, "fileflow_ingestor_root_available", root="lib") == 1
    assert value(watched, "fileflow_watcher_published_total", root="lib", op="upsert") == files
    assert value(watched, "fileflow_watcher_publish_errors_total", root="lib") == 0
    assert value(watched, "fileflow_watcher_root_present", root="lib") == 1
    # Each service exports its own series only.
    assert not any(name.startswith("fileflow_watcher_") for name, _ in scraped)
    assert not any(name.startswith("fileflow_ingestor_") for name, _ in watched)

    # A line per failed file with root, path, reason and attempt.
    entries = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    failed = {e["path"]: e for e in entries if e.get("msg") == "file failed"}
    assert set(failed) == {"corrupt.pdf", "slow.pdf"}
    for entry in failed.values():
        assert entry["root"] == "lib" and entry["attempt"] == 1 and entry["reason"]
    assert "timed out" in failed["slow.pdf"]["reason"]
