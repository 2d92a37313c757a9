#!/usr/bin/env bash
# What the container suite (uv run pytest tests/containers -s) needs, on Debian 12, as root:
# podman with the runc runtime and debootstrap from Debian's packages, and podman-compose
# from PyPI (as a uv tool, in ~/.local/bin). Idempotent.
set -euo pipefail
PODMAN_COMPOSE_VERSION=1.6.0

missing=()
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "containers-prereqs: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi

if ! command -v podman-compose >/dev/null 2>&1 \
    && ! [[ -x "$(uv tool dir --bin)/podman-compose" ]]; then
  echo "containers-prereqs: installing podman-compose $PODMAN_COMPOSE_VERSION"
  uv tool install --quiet "podman-compose==$PODMAN_COMPOSE_VERSION"
fi
echo "containers-prereqs: $(podman --version), $(runc --version | head -n1)," \
  "podman-compose $PODMAN_COMPOSE_VERSION ($(command -v podman-compose || echo "$(uv tool dir --bin)/podman-compose"))"
