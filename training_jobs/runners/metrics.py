"""The metrics a core reports, kept per stage and metric as (step, value) series of bounded
length, for the job page's plots.

Stored on `Job.metrics` as {stage: {metric: [[step, value], ...]}}, steps increasing. A series
keeps at most `max_points` points on a grid of steps that doubles (every other point dropped)
when it fills, plus the newest point, so a long run costs the same as a short one and the
plot still spans the whole run. A step at or before the last one kept (a run resumed from a
checkpoint) replaces the points from that step on.
"""

from __future__ import annotations

import math
from typing import Any

MAX_POINTS = 200


class Series:
    def __init__(self, points: list[list[float]] | None = None, max_points: int = MAX_POINTS):
        self.points: list[list[float]] = [list(p) for p in points or []]
        self.latest: list[float] | None = None
        self.stride = 1
        self.max_points = max_points

    def add(self, step: int, value: float) -> None:
        if self.latest is not None and step <= self.latest[0]:
            self.latest = None
        if self.points and step <= self.points[-1][0]:
            self.points = [p for p in self.points if p[0] < step]
        if not self.points or step >= self.points[-1][0] + self.stride:
            self.points.append([step, value])
            self.latest = None
            if len(self.points) > self.max_points:
                self.points = self.points[::2]
                self.stride *= 2
        else:
            self.latest = [step, value]

    def to_json(self) -> list[list[float]]:
        return self.points + ([self.latest] if self.latest is not None else [])


class MetricSeries:
    """{stage: {metric: Series}}, fed with the protocol's updates (`mlcore.progress`)."""

    def __init__(self, stored: dict[str, Any] | None = None, max_points: int = MAX_POINTS):
        self.max_points = max_points
        self.stages: dict[str, dict[str, Series]] = {}
        for stage, metrics in (stored or {}).items():
            if isinstance(metrics, dict):
                self.stages[str(stage)] = {
                    str(name): Series(points, max_points)
                    for name, points in metrics.items()
                    if isinstance(points, list)
                }

    def add(self, update: dict[str, Any]) -> bool:
        """Record an update's metrics; True when it had any."""
        metrics, step = update.get("metrics"), update.get("step")
        if not isinstance(metrics, dict) or not isinstance(step, int | float):
            return False
        stage = self.stages.setdefault(str(update.get("stage", "run")), {})
        added = False
        for name, value in metrics.items():
            if isinstance(value, int | float) and math.isfinite(value):
                stage.setdefault(str(name), Series(max_points=self.max_points)).add(step, value)
                added = True
        return added

    def to_json(self) -> dict[str, dict[str, list[list[float]]]]:
        return {
            stage: {name: series.to_json() for name, series in metrics.items()}
            for stage, metrics in self.stages.items()
            if metrics
        }
