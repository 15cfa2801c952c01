"""The safety gate's threshold on sigmoid(R_s), measured on labelled responses (§3.2.3).

The paper predicts "unsafe" when sigmoid(R_s) < 0.15, where its safety model had precision 0.89
and recall 0.55. The ranking loss is shift-invariant (adding a constant to every score changes
no loss), so where another safety model's scores sit, and so what 0.15 means for it, depends on
the run. `unsafe_analysis` gives what is needed to judge it: the precision/recall curve of
"unsafe when sigmoid(score) < t" over t, the threshold that reaches the paper's precision with
the highest recall, and the distribution of sigmoid(score) for safe and unsafe responses.
"""

from __future__ import annotations

import math
from typing import Any

from rewardtrain.grades import UNSAFE_PRECISION

HISTOGRAM_BINS = 20  # of sigmoid(score) over [0, 1]: 0.15 falls on a bin edge
CURVE_POINTS = 101


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def unsafe_analysis(
    probabilities: list[float],
    unsafe: list[bool],
    target_precision: float = UNSAFE_PRECISION,
    bins: int = HISTOGRAM_BINS,
    points: int = CURVE_POINTS,
) -> dict[str, Any]:
    """Curve, threshold for the target precision and histogram of labelled responses.

    probabilities: sigmoid(score) of each labelled response; unsafe: its label (True: unsafe).
    Returns {"curve": [{"threshold", "precision", "recall"}, ...] (at most `points`, by
    rising threshold), "at_precision": {"target", "threshold", "precision", "recall"} (None
    when no threshold reaches the target), "histogram": {"edges": [bins + 1], "safe": [bins],
    "unsafe": [bins]}}. Each candidate threshold lies halfway between two neighbouring scores,
    so it flags exactly the responses scored below it.
    """
    order = sorted(zip(probabilities, unsafe, strict=True))
    total_unsafe = sum(unsafe)
    distinct = sorted({p for p, _ in order})
    cuts = [(a + b) / 2 for a, b in zip([0.0, *distinct], [*distinct, 1.0], strict=True)]
    curve = []
    flagged_unsafe = flagged = index = 0
    for cut in cuts:
        while index < len(order) and order[index][0] < cut:
            flagged += 1
            flagged_unsafe += order[index][1]
            index += 1
        curve.append(
            {
                "threshold": cut,
                "precision": _ratio(flagged_unsafe, flagged),
                "recall": _ratio(flagged_unsafe, total_unsafe),
            }
        )
    reaching = [
        c for c in curve if c["precision"] is not None and c["precision"] >= target_precision
    ]
    best = max(reaching, key=lambda c: (c["recall"] or 0.0, c["precision"]), default=None)
    return {
        "curve": _thin(curve, points, keep=best),
        "at_precision": {"target": target_precision, **best} if best else None,
        "histogram": histogram(order, bins),
    }


def _thin(curve: list[dict], points: int, keep: dict | None) -> list[dict]:
    """At most `points` entries, evenly spread, ends and `keep` included."""
    if len(curve) <= points:
        return curve
    step = (len(curve) - 1) / (points - 1)
    chosen = {round(k * step) for k in range(points)}
    return [c for n, c in enumerate(curve) if n in chosen or c is keep]


def histogram(order: list[tuple[float, bool]], bins: int) -> dict[str, list]:
    safe, unsafe = [0] * bins, [0] * bins
    for p, is_unsafe in order:
        slot = min(int(p * bins), bins - 1)
        (unsafe if is_unsafe else safe)[slot] += 1
    return {"edges": [k / bins for k in range(bins + 1)], "safe": safe, "unsafe": unsafe}
