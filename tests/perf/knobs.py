"""The benchmarks' scale knobs, read once from ``FILEFLOW_PERF_*``.

A knob given a value that is not a number, one too small for its benchmark to mean anything,
or under a misspelt name stops the run before anything starts: otherwise a typo either fails
deep in a benchmark after minutes of setup or, worse, silently measures the default scale.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fileflow_core.setting_names import closest_name

PREFIX = "FILEFLOW_PERF_"


class PerfKnobs(BaseModel):
    """Each knob's floor is the smallest scale at which its benchmark's figures still exist."""

    model_config = ConfigDict(frozen=True)

    # Benchmarks 1, 2, 8, 9 and 11: files spread over 100 folders, every tenth one new.
    files: int = Field(10_000, ge=100)
    # Benchmark 3.
    rate: int = Field(500, ge=1)
    steady_s: float = Field(60.0, ge=1.0)
    # Benchmarks 4 and 5: 201 folders.
    library_files: int = Field(100_000, ge=201)
    # Benchmark 10: albums of 500, and a first and a last tenth long enough to be measured.
    million_files: int = Field(1_000_000, ge=10_000)
    # Benchmark 10's second import: PostgreSQL's buffer cache as operations.md advises for a
    # library this large ("" for none).
    million_shared_buffers: str = Field("1GB", pattern=r"^(\d+(kB|MB|GB|TB))?$")
    # Benchmark 12: 100 folders.
    small_files: int = Field(5_000, ge=100)
    # Benchmark 6: files of 100 MB.
    large_files: int = Field(10, ge=1)
    # Benchmarks 13 and 14: batches of 100, nine in ten duplicates.
    store_files: int = Field(20_000, ge=100)
    # Benchmark 9.
    embedded_rounds: int = Field(5, ge=1)
    # Every benchmark's time limit.
    timeout_s: int = Field(1_800, ge=1)


class KnobError(ValueError):
    """A ``FILEFLOW_PERF_*`` variable that cannot be used, said in one line."""


def read_knobs(environ: Mapping[str, str] | None = None) -> PerfKnobs:
    environ = os.environ if environ is None else environ
    given = {
        name.upper().removeprefix(PREFIX).lower(): value
        for name, value in environ.items()
        if name.upper().startswith(PREFIX)
    }
    # Every FILEFLOW_PERF_* variable is meant as a knob, so any other name is a mistake.
    misnamed = [_misnamed(name) for name in sorted(given) if name not in PerfKnobs.model_fields]
    if misnamed:
        raise KnobError("; ".join(misnamed))
    try:
        return PerfKnobs.model_validate(given)
    except ValidationError as exc:
        raise KnobError(
            "; ".join(
                f"{PREFIX}{str(error['loc'][0]).upper()}={error['input']!r}: {error['msg']}"
                for error in exc.errors()
            )
            + "; correct the value, or unset it for the default"
        ) from None


def _misnamed(name: str) -> str:
    knobs = list(PerfKnobs.model_fields)
    close = closest_name(name, knobs)
    meant = (
        f"did you mean {PREFIX}{close.upper()}?"
        if close
        else "the knobs are " + ", ".join(f"{PREFIX}{knob.upper()}" for knob in knobs) + "."
    )
    return (
        f"{PREFIX}{name.upper()} is not a benchmark knob, so it has no effect: {meant} "
        "Rename or unset it"
    )
