"""Printing and recording benchmark figures."""

from __future__ import annotations

from typing import Any

from tests.support import percentile


def latency_summary(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    return {f"p{q}_ms": round(percentile(seconds, q / 100) * 1000, 1) for q in (50, 95, 99)}


def report(benchmark: Any, title: str, figures: dict[str, Any]) -> None:
    benchmark.extra_info.update(figures)
    width = max(len(key) for key in figures)
    print(f"\n== {title}")
    for key, value in figures.items():
        print(f"   {key:<{width}}  {value}")
