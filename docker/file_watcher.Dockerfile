# syntax=docker/dockerfile:1.7
# The file_watcher service. Build from the repository root:
#   docker build -f docker/file_watcher.Dockerfile -t fileflow-file-watcher .
# Both stages use the same base image, so the venv's interpreter path stays valid.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11
WORKDIR /app
# Third-party dependencies first: this layer changes only with the lock or a manifest.
COPY pyproject.toml uv.lock README.md ./
COPY libs/fileflow_core/pyproject.toml libs/fileflow_core/
COPY services/file_watcher/pyproject.toml services/file_watcher/
COPY services/ingestor/pyproject.toml services/ingestor/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-install-workspace
# Then the workspace itself, installed as wheels (not editable) so the venv stands alone.
COPY libs libs
COPY services services
COPY src src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-editable

FROM ${PYTHON_IMAGE} AS runtime
# The watcher's SQLite state lives here; compose mounts a named volume over it, which takes
# this directory's owner on first use.
RUN groupadd --system --gid 10001 fileflow \
 && useradd --system --uid 10001 --gid fileflow --home-dir /var/lib/fileflow \
      --no-create-home --shell /usr/sbin/nologin fileflow \
 && install -d -o fileflow -g fileflow /var/lib/fileflow
COPY --from=builder /app/.venv /app/.venv
WORKDIR /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FILEFLOW_HTTP_HOST=0.0.0.0 \
    FILEFLOW_WATCHER_HTTP_PORT=9101 \
    FILEFLOW_STATE_DIR=/var/lib/fileflow
USER 10001:10001
EXPOSE 9101
# No curl in slim images: the standard library does the probe (any error exits 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['FILEFLOW_WATCHER_HTTP_PORT'], timeout=3)"]
CMD ["fileflow", "watch"]
