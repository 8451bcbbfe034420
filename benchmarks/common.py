"""Helpers for the benchmark scripts: interleaved repetitions, medians, one table."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def interleaved(candidates: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median of ``repeats`` measurements of each candidate, taken in turn (ABAB...), so
    that drifting machine load falls on every candidate alike."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, measure in candidates.items():
            samples[name].append(measure())
    return {name: statistics.median(values) for name, values in samples.items()}


def report(title: str, medians: dict[str, float], reference: str, unit: str) -> None:
    print(title)
    base = medians[reference]
    for name, value in medians.items():
        print(f"  {name:<28} {value:10.4f} {unit}   ratio to {reference}: {value / base:.4f}")
