"""The benchmarks' scale knobs: a bad value or a misspelt name stops the run with one line."""

from __future__ import annotations

import pytest

from tests.perf.knobs import KnobError, PerfKnobs, read_knobs


def test_no_knob_given_runs_the_documented_scale() -> None:
    knobs = read_knobs({"PATH": "/usr/bin", "FILEFLOW_ROOTS": "lib=/srv"})
    assert (knobs.files, knobs.million_files, knobs.steady_s) == (10_000, 1_000_000, 60.0)


def test_a_knob_given_sets_its_scale() -> None:
    knobs = read_knobs({"FILEFLOW_PERF_FILES": "2000", "FILEFLOW_PERF_STEADY_S": "2.5"})
    assert (knobs.files, knobs.steady_s) == (2000, 2.5)


@pytest.mark.parametrize(
    ("knob", "value", "says"),
    [
        ("FILES", "10k", "valid integer"),
        ("MILLION_FILES", "100", "greater than or equal to 10000"),
        ("MILLION_SHARED_BUFFERS", "1G", "should match pattern"),
    ],
)
def test_a_value_it_cannot_take_names_the_knob_the_value_and_the_rule(
    knob: str, value: str, says: str
) -> None:
    with pytest.raises(KnobError) as raised:
        read_knobs({f"FILEFLOW_PERF_{knob}": value})
    assert f"FILEFLOW_PERF_{knob}={value!r}" in str(raised.value)
    assert says in str(raised.value)


def test_a_misspelt_knob_is_refused_with_the_name_meant() -> None:
    with pytest.raises(KnobError) as raised:
        read_knobs({"FILEFLOW_PERF_FILE": "500"})
    assert "FILEFLOW_PERF_FILE is not a benchmark knob" in str(raised.value)
    assert "did you mean FILEFLOW_PERF_FILES?" in str(raised.value)


def test_an_unknown_knob_far_from_any_lists_them_all() -> None:
    with pytest.raises(KnobError) as raised:
        read_knobs({"FILEFLOW_PERF_XYZ": "1"})
    for name in PerfKnobs.model_fields:
        assert f"FILEFLOW_PERF_{name.upper()}" in str(raised.value)
