"""An SVG line chart of a rejection-sampling sweep (sweep.json, see training_jobs/rlhf/sweep.py):
one line per temperature of the best-of-K, median or max-minus-median reward over K, as the
paper's Figures 7 and 8. Pure: JSON in, SVG text out (labels escaped)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#222222", "#D55E00", "#56B4E9")
TITLES = {
    "max": "Best of K reward",
    "median": "Median of K reward",
    "gap": "Max minus median reward",
}


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def sweep_svg(
    sweep: dict[str, Any], metric: str = "max", width: int = 640, height: int = 320
) -> str:
    """SVG text of `metric` ("max", "median" or "gap") over K, one line per temperature.

    K is placed on a log scale (K from 1 to 100).
    """
    if metric not in TITLES:
        raise ValueError(f"metric must be one of {', '.join(TITLES)}")
    ks = [int(k) for k in sweep["ks"]]
    series = sweep["series"]
    values = [float(v) for s in series for v in s[metric] if math.isfinite(float(v))]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    left, top, right, bottom = 56, 28, 16, 64 + 18 * ((len(series) + 2) // 3)
    plot_w, plot_h = width - left - right, height - top - bottom
    k_max = max(max(ks), 2)

    def x_at(k: int) -> float:
        return left + plot_w * math.log(k) / math.log(k_max)

    def y_at(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">',
        f"<title>{escape(TITLES[metric])} over K</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">'
        f"{escape(TITLES[metric])} ({escape(str(sweep.get('reward', 'reward')))})</text>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
    ]
    for v in _ticks(low, high):
        y = y_at(v)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{v:.3f}</text>'
        )
    for k in ks:
        x = x_at(k)
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{k}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 30}" text-anchor="middle">'
        "K (samples per prompt, log scale)</text>"
    )
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = [
            (x_at(k), y_at(float(v)))
            for k, v in zip(ks, s[metric], strict=False)
            if math.isfinite(float(v))
        ]
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points)
        )
        name = escape(f"T = {s['temperature']:g}")
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points]
        lx = left + (plot_w / 3) * (index % 3)
        ly = top + plot_h + 48 + 18 * (index // 3)
        parts.append(
            f'<line x1="{lx:.1f}" x2="{lx + 18:.1f}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{colour}" stroke-width="2"/><text x="{lx + 24:.1f}" y="{ly}">{name}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
