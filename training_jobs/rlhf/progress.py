"""One progress bar over a round's stages.

The Django job page reads progress from tqdm lines (the last one wins), so a round that showed
one bar per stage would seem to go back to 0% at each stage. `RoundBar` is a single tqdm bar
"round" out of 1000; each stage fills its own share of it through a `Stage`, which offers the
part of tqdm's interface the stages use (reset, update, set_postfix).
"""

from __future__ import annotations

from typing import Any

SCALE = 1000


class Stage:
    """The share [start, end] of the outer bar that one stage of `total` units fills."""

    def __init__(self, outer: RoundBar, start: float, end: float) -> None:
        self.outer, self.start, self.end = outer, start, end
        self.total, self.done = 1, 0

    def reset(self, total: int | None = None) -> None:
        self.total, self.done = max(int(total or 1), 1), 0

    def update(self, n: int = 1) -> None:
        self.done += n
        fraction = min(self.done / self.total, 1.0)
        target = round(SCALE * (self.start + (self.end - self.start) * fraction))
        self.outer.advance_to(target)

    def set_postfix(self, **values: Any) -> None:
        self.outer.bar.set_postfix(**values)

    def close(self) -> None:
        """A stage's bar is closed by the round, not by the stage."""


class RoundBar:
    """A tqdm bar "round" whose stages take the given shares of it, in order."""

    def __init__(self, shares: dict[str, float], progress: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=SCALE, desc="round", unit="", disable=not progress, mininterval=2)
        self.n = 0
        total = sum(shares.values())
        self.stages: dict[str, Stage] = {}
        start = 0.0
        for name, share in shares.items():
            end = start + share / total
            self.stages[name] = Stage(self, start, end)
            start = end

    def __getitem__(self, name: str) -> Stage:
        return self.stages[name]

    def advance_to(self, n: int) -> None:
        """Move the bar forward to n (never back)."""
        if n > self.n:
            self.bar.update(n - self.n)
            self.n = n

    def close(self) -> None:
        self.advance_to(SCALE)
        self.bar.close()
