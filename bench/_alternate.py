"""Two or more ways of one computation timed side by side in one process: within each
repetition the ways run in turn, so the machine's drift (up to a third within an hour here)
meets them alike."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def alternate(
    phases: dict[str, Callable[[str], object]], ways: list[str], repeats: int
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, float]]]:
    """Seconds of every run and their medians, {phase: {way: ...}}; each phase calls
    `step(way)`, once per way to warm up, then `repeats` times per way in turn."""
    seconds: dict[str, dict[str, list[float]]] = {p: {w: [] for w in ways} for p in phases}
    for phase, step in phases.items():
        for way in ways:
            step(way)
        for _ in range(repeats):
            for way in ways:
                started = time.perf_counter()
                step(way)
                seconds[phase][way].append(time.perf_counter() - started)
    medians = {
        p: {w: round(statistics.median(v), 4) for w, v in by.items()} for p, by in seconds.items()
    }
    return seconds, medians


def report(result: dict, before: str, after: str, out: str) -> dict:
    """Print each phase's medians of `before` and `after` with the gain, and write `result`
    (which holds them under "median") as JSON to `out`."""
    for phase, medians in result["median"].items():
        gain = medians[before] / medians[after]
        print(
            f"{phase:22s} {before} {medians[before]:.3f} s  {after} {medians[after]:.3f} s"
            f"  ({gain:.2f}x)"
        )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result
