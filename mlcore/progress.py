"""The progress protocol between an ML core and whoever launched it.

A launcher names a file in the environment variable `MARGIN_PROGRESS_FILE`; the core appends
one JSON object per line to it, and the launcher reads the lines as they come. A person at a
terminal (no variable set) gets a tqdm bar instead. Only the process of rank 0 reports.

One line:

    {"time": 1732900000.1, "stage": "train", "step": 12, "total": 200,
     "fraction": 0.31, "metrics": {"loss": 0.61, "lr": 1e-05}}

- `stage`: the part of the run (e.g. "sample", "select", "finetune"; "train" for one stage).
- `step` / `total`: units done in that stage and how many it has (total may be null).
- `fraction`: the whole run's progress in [0, 1], never going back (stages take the shares
  given to `Progress`).
- `metrics`: numbers measured at this step (optional; plotted against `step` per stage).
- `message`: optional text worth showing a person (e.g. "resumed from step 40").

Usage in a core:

    progress = Progress({"sample": 3, "select": 1, "finetune": 2}, bar=cfg.progress)
    stage = progress.stage("sample", total=len(prompts))
    for ... :
        stage.update(1)
    stage = progress.stage("finetune", total=steps)
    stage.update(1, loss=0.5, lr=2e-5)
    progress.close()
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

ENV = "MARGIN_PROGRESS_FILE"
# Progress-only lines (no metrics) are written at most this often; lines with metrics always.
MIN_INTERVAL_SECONDS = 0.5


def _rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _clean(metrics: dict[str, Any]) -> dict[str, float]:
    """Numbers only (a NaN or infinity becomes null in JSON, which readers skip)."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        out[str(key)] = float(value) if math.isfinite(value) else None
    return out


class Stage:
    """One stage of a run: `update(n, **metrics)` moves it by n units of its `total`."""

    def __init__(
        self,
        run: Progress,
        name: str,
        start: float,
        end: float,
        total: int | None,
        initial: int = 0,
    ):
        self.run, self.name, self.start, self.end = run, name, start, end
        self.total, self.step = total, initial
        self._bar = run._open_bar(name, total, initial)

    def update(self, n: int = 1, *, message: str = "", **metrics: Any) -> None:
        self.step += n
        if self._bar is not None:
            self._bar.update(n)
            if metrics:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in _clean(metrics).items()})
        self.run._emit(self, metrics, message)

    def reset(self, total: int | None = None) -> None:
        """Start the stage's count again (e.g. a second pass) with a new total."""
        self.total, self.step = total, 0
        if self._bar is not None:
            self._bar.reset(total=total)

    def log(self, *, message: str = "", **metrics: Any) -> None:
        """Report metrics or a message without moving the stage."""
        self.run._emit(self, metrics, message, force=True)

    @property
    def fraction(self) -> float:
        done = 1.0 if not self.total else min(self.step / self.total, 1.0)
        return self.start + (self.end - self.start) * done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Progress:
    """A run's progress over named stages with relative shares (one stage "run" by default).

    `bar`: show a tqdm bar per stage when no launcher reads the protocol (a person at a
    terminal). `path`: the protocol file (default: `$MARGIN_PROGRESS_FILE`; none: no lines).
    """

    def __init__(
        self,
        shares: dict[str, float] | None = None,
        *,
        bar: bool = True,
        path: str | os.PathLike | None = None,
    ) -> None:
        shares = shares or {"run": 1.0}
        total = sum(shares.values()) or 1.0
        self.windows: dict[str, tuple[float, float]] = {}
        start = 0.0
        for name, share in shares.items():
            self.windows[name] = (start, start + share / total)
            start += share / total
        path = path if path is not None else os.environ.get(ENV) or None
        self.active = _rank() == 0
        self._file = open(path, "a", encoding="utf-8") if path and self.active else None  # noqa: SIM115
        self.show_bar = bar and self._file is None and self.active
        self.fraction = 0.0
        self._last_write = 0.0
        self._current: Stage | None = None

    def stage(self, name: str, total: int | None = None, *, initial: int = 0) -> Stage:
        """Open a stage (closing the previous one's bar); `initial`: units already done (a
        resumed run)."""
        if name not in self.windows:  # an unplanned stage fills what is left
            self.windows[name] = (self.fraction, 1.0)
        start, end = self.windows[name]
        if self._current is not None:
            self._current.close()
        self._current = Stage(self, name, start, end, total, initial)
        return self._current

    def _open_bar(self, name: str, total: int | None, initial: int = 0):
        if not self.show_bar:
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=name, mininterval=1.0)

    def _emit(self, stage: Stage, metrics: dict[str, Any], message: str, force: bool = False):
        self.fraction = max(self.fraction, stage.fraction)
        if self._file is None:
            return
        now = time.time()
        finished = stage.total is not None and stage.step >= stage.total
        if not (metrics or message or force or finished) and (
            now - self._last_write < MIN_INTERVAL_SECONDS
        ):
            return
        line: dict[str, Any] = {
            "time": round(now, 3),
            "stage": stage.name,
            "step": stage.step,
            "total": stage.total,
            "fraction": round(self.fraction, 6),
        }
        if metrics:
            line["metrics"] = _clean(metrics)
        if message:
            line["message"] = message
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
        self._last_write = now

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProgressReader:
    """The launcher's side: read the complete lines appended since the last call.

    A line that is not a JSON object (a torn write, a foreign line) is skipped."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        updates = []
        for raw in data[:end].splitlines():
            try:
                update = json.loads(raw)
            except ValueError:
                continue
            if isinstance(update, dict):
                updates.append(update)
        return updates
