"""The container suite: fileflow's images built from docker/Dockerfile and run with podman.

Skipped, with the command that installs what it needs, where podman is missing. Not part of
the default run nor of CI: ``uv run pytest tests/containers -s``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.containers import podman as pm

# The first run makes the base image with debootstrap and builds every image.
SUITE_TIMEOUT_S = 1800

TARGETS = ("file_watcher", "ingestor")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """The standard event loop: the suite's own work is waiting on podman."""
    return {"asyncio": asyncio.new_event_loop}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The images on their own first, then the whole stack.
    items.sort(key=lambda item: "tests/containers/test_compose.py" in item.nodeid)
    for item in items:
        if "tests/containers/" in item.nodeid and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SUITE_TIMEOUT_S))


@pytest.fixture(scope="session")
def podman_ready() -> None:
    reason = pm.missing_prerequisites()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def base_images(podman_ready: None) -> tuple[str, str]:
    """(base, uv): the Debian base with Python, and uv's binaries; cached in podman's store."""
    return pm.base_image(), pm.uv_image()


@pytest.fixture(scope="session")
def images(base_images: tuple[str, str]) -> dict[str, pm.Build]:
    """Both targets of docker/Dockerfile, built on the base and uv images."""
    base, uv = base_images
    print(f"\nbase image {base} ({pm.image_size_bytes(base) / 1e6:.0f} MB), uv image {uv}")
    built = {}
    for target in TARGETS:
        tag = f"localhost/fileflow-containers/{target}:test"
        built[target] = pm.build(target, tag, base=base, uv=uv)
        print(
            f"built {target}: {built[target].seconds:.1f} s, "
            f"{built[target].size_bytes / 1e6:.0f} MB"
        )
    return built
