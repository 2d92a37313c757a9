"""Benchmarks run the real services as subprocesses against the local servers."""

from __future__ import annotations

import os

PERF_FILES = int(os.environ.get("FILEFLOW_PERF_FILES", "10000"))
