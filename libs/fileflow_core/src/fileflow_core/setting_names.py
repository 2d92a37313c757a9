"""Settings given under a wrong name: a near miss of a setting's name is a typo, and a typo
means the value the operator meant is silently not in effect."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from difflib import get_close_matches

ENV_PREFIX = "FILEFLOW_"
# FILEFLOW_* variables that are not the services' settings: the CLI's, a deployment's (compose,
# the images), and the tests' and benchmarks'. They are left alone.
OTHER_VARIABLES = frozenset({"CONFIG", "LIBRARY", "BASE_IMAGE", "UV_IMAGE", "CA_BUNDLE"})
OTHER_PREFIXES = ("TEST_", "PERF_", "BASELINE_", "FAULT", "DB_", "CLUSTER_", "HEALTHY_WAIT")
# Close enough to be a slip of the keyboard (CONCURENCY, MAX_ATEMPTS, ROOT, LOGLEVEL), far
# enough that a deployment's own FILEFLOW_* variables are not mistaken for settings.
NEAR_MISS = 0.8


def closest_name(name: str, known: Iterable[str]) -> str | None:
    close = get_close_matches(name, list(known), n=1, cutoff=NEAR_MISS)
    return close[0] if close else None


def misnamed_variables(environ: Mapping[str, str], settings: Iterable[str]) -> list[str]:
    """One problem for each ``FILEFLOW_*`` variable that is not a setting but nearly is."""
    known = {name.upper() for name in settings}
    problems = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        name = upper.removeprefix(ENV_PREFIX)
        if name in known or name in OTHER_VARIABLES or name.startswith(OTHER_PREFIXES):
            continue
        meant = closest_name(name, known)
        if meant is not None:
            problems.append(
                f"{variable} is not a setting, so it has no effect: did you mean "
                f"{ENV_PREFIX}{meant}? Rename it (or unset it)"
            )
    return problems


def unknown_keys(table: Mapping[str, object], settings: Iterable[str]) -> list[str]:
    """One problem for each top-level key of a config file that is not a setting (the file is
    fileflow's own, so any unknown key is a mistake)."""
    known = set(settings)
    problems = []
    for key in table:
        if key in known:
            continue
        meant = closest_name(key, known)
        hint = f": did you mean {meant!r}?" if meant else " (settings are named as in the README)"
        problems.append(f"{key!r} is not a setting{hint}")
    return problems
