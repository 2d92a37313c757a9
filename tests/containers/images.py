"""Make (or find) the base and uv images the container suite builds on, and print the lines
that name them for docker/compose.podman.yaml:

    eval "$(uv run python -m tests.containers.images)"
"""

from __future__ import annotations

import sys

from tests.containers import podman as pm


def main() -> int:
    reason = pm.missing_prerequisites()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    env = pm.environment()
    print(f"export CONTAINERS_CONF={env['CONTAINERS_CONF']}")
    print(f"export FILEFLOW_BASE_IMAGE={pm.base_image()}")
    print(f"export FILEFLOW_UV_IMAGE={pm.uv_image()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
