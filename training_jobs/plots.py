"""Server-side SVG line charts: the geometry is computed here from numbers only; the template
`training_jobs/partials/chart.svg` draws it with auto-escaping (titles and labels are text)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Colour-blind-safe palette (Okabe and Ito), one colour a line.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#222222", "#D55E00", "#56B4E9")


@dataclass
class Point:
    x: float
    y: float
    value: float
    label: str
    starts_segment: bool = False
    text: str = ""


@dataclass
class Line:
    name: str
    colour: str
    points: list[Point]
    dashed: bool = False

    @property
    def path(self) -> str:
        """SVG path data: a gap (missing value) starts a new segment."""
        return " ".join(
            f"{'M' if p.starts_segment else 'L'}{p.x:.1f},{p.y:.1f}" for p in self.points
        )


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    title: str
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    reference_y: float | None = None
    reference_label: str = ""
    verticals: list[Tick] = field(default_factory=list)  # dashed lines at these x positions
    description: str = ""
    x_caption: str = ""
    markers: bool = True  # a dot (with its value on hover) at each point
    key: str = ""  # makes the chart's element ids unique on a page with several chart loops

    @property
    def bottom(self) -> int:
        return self.top + self.plot_height

    @property
    def right(self) -> int:
        return self.left + self.plot_width

    @property
    def legend_y(self) -> int:
        return self.bottom + 48


def _finite(value: float | None) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def line_chart(
    *,
    title: str,
    x_labels: list[str],
    series: list[tuple[str, list[float | None]]],
    y_min: float = 0.0,
    y_max: float = 100.0,
    y_step: float = 25.0,
    reference: float | None = 50.0,
    reference_label: str = "chance",
    width: int = 640,
    height: int = 300,
    description: str = "",
    unit: str = "%",
    digits: int = 1,
    x_caption: str = "",
) -> Chart:
    """A chart of series over categorical x positions; values outside [y_min, y_max] are
    clamped, missing ones (None, NaN) break the line. `description` is the accessible title;
    a point's hover text shows its value with `digits` decimals and `unit`."""
    left, top, right_pad = 48, 28, 16
    legend_rows = (len(series) + 2) // 3
    plot_width = width - left - right_pad
    plot_height = height - top - 60 - 18 * legend_rows
    chart = Chart(
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        plot_width=plot_width,
        plot_height=plot_height,
        description=description or title,
        x_caption=x_caption,
    )
    n = max(len(x_labels), 1)
    step = plot_width / n

    def x_at(i: int) -> float:
        return left + step * (i + 0.5)

    def y_at(value: float) -> float:
        value = min(max(value, y_min), y_max)
        return top + plot_height * (1 - (value - y_min) / (y_max - y_min))

    chart.x_ticks = [Tick(position=x_at(i), label=label) for i, label in enumerate(x_labels)]
    ticks = int(round((y_max - y_min) / y_step))
    chart.y_ticks = [
        Tick(position=y_at(y_min + k * y_step), label=f"{round(y_min + k * y_step, 6):g}")
        for k in range(ticks + 1)
    ]
    if reference is not None:
        chart.reference_y = y_at(reference)
        chart.reference_label = reference_label
    for index, (name, values) in enumerate(series):
        points = []
        previous_missing = True
        for i, value in enumerate(values[: len(x_labels)]):
            if not _finite(value):
                previous_missing = True
                continue
            points.append(
                Point(
                    x=x_at(i),
                    y=y_at(float(value)),
                    value=float(value),
                    label=x_labels[i],
                    starts_segment=previous_missing,
                    text=f"{float(value):.{digits}f}{unit}",
                )
            )
            previous_missing = False
        chart.lines.append(
            Line(
                name=name,
                colour=PALETTE[index % len(PALETTE)],
                points=points,
                dashed=name.lower().startswith("average"),
            )
        )
    return chart


@dataclass
class LegendEntry:
    line: Line
    x: float
    y: float

    @property
    def x_end(self) -> float:
        return self.x + 18

    @property
    def x_text(self) -> float:
        return self.x + 24


def legend_positions(chart: Chart) -> list[LegendEntry]:
    """Where each line's legend entry goes (three a row under the plot)."""
    column = chart.plot_width / 3
    return [
        LegendEntry(line, chart.left + column * (i % 3), chart.legend_y + 18 * (i // 3))
        for i, line in enumerate(chart.lines)
    ]


SWEEP_METRICS = (
    ("max", "Best of K"),
    ("median", "Median of K"),
    ("gap", "Best minus median"),
)


def _nice_range(values: list[float], floor_zero: bool) -> tuple[float, float, float]:
    """y_min, y_max, step: four steps of 0.05, 0.1, 0.2 or 0.25 covering the values."""
    low = 0.0 if floor_zero else min(values, default=0.0)
    high = max(values, default=1.0)
    for step in (0.05, 0.1, 0.2, 0.25):
        start = math.floor(low / step) * step
        if start + 4 * step >= high:
            return start, start + 4 * step, step
    return 0.0, 1.0, 0.25


def sweep_charts(sweep: dict) -> list[Chart]:
    """Figures 7 and 8 of the paper from sweep.json: best-of-K, median and their gap over K
    (one line per temperature), rewards on the sigmoid scale."""
    ks = [str(int(k)) for k in sweep.get("ks", [])]
    series = sweep.get("series", [])
    charts = []
    for metric, title in SWEEP_METRICS:
        lines = [(f"T = {float(s['temperature']):g}", list(s.get(metric, []))) for s in series]
        values = [float(v) for _, vs in lines for v in vs if _finite(v)]
        y_min, y_max, step = _nice_range(values, floor_zero=metric == "gap")
        charts.append(
            line_chart(
                title=title,
                x_labels=ks,
                series=lines,
                y_min=y_min,
                y_max=y_max,
                y_step=step,
                reference=None,
                description=f"{title}: reward ({sweep.get('reward', 'sigmoid')}) over K samples",
                unit="",
                digits=3,
                x_caption="K, samples per prompt",
            )
        )
    return charts


def nice_step(span: float, ticks: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` steps."""
    raw = span / ticks if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))


def _axis(values: list[float], ticks: int = 4) -> tuple[float, float, float]:
    """low, high, step: round ticks covering the values (a flat series gets some room;
    whole-number values get whole-number ticks)."""
    low, high = min(values), max(values)
    whole = all(float(v).is_integer() for v in values)
    if high - low < 1e-12 * max(abs(high), 1e-30):
        pad = 1.0 if whole else abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = nice_step(high - low, ticks)
    if whole:
        step = max(1.0, round(step))
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def step_chart(
    *,
    title: str,
    points: list[tuple[float, float]],
    x_caption: str = "step",
    width: int = 320,
    height: int = 200,
    description: str = "",
) -> Chart:
    """One metric against a numeric x (steps): round ticks on both axes, dots only when the
    points are few. Non-finite values are left out."""
    kept = [(float(x), float(y)) for x, y in points if _finite(x) and _finite(y)]
    left, top = 56, 26
    chart = Chart(
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        plot_width=width - left - 12,
        plot_height=height - top - 40,
        description=description or title,
        x_caption=x_caption,
        markers=len(kept) <= 40,
    )
    if not kept:
        return chart
    x_min, x_max, x_step = _axis([x for x, _ in kept])
    y_min, y_max, y_step = _axis([y for _, y in kept])

    def x_at(x: float) -> float:
        return left + chart.plot_width * (x - x_min) / (x_max - x_min)

    def y_at(y: float) -> float:
        return top + chart.plot_height * (1 - (y - y_min) / (y_max - y_min))

    chart.x_ticks = [
        Tick(position=x_at(x_min + k * x_step), label=f"{x_min + k * x_step:.4g}")
        for k in range(round((x_max - x_min) / x_step) + 1)
    ]
    chart.y_ticks = [
        Tick(position=y_at(y_min + k * y_step), label=f"{y_min + k * y_step:.3g}")
        for k in range(round((y_max - y_min) / y_step) + 1)
    ]
    line = [
        Point(x_at(x), y_at(y), y, f"{x:g}", starts_segment=i == 0, text=f"{y:.4g}")
        for i, (x, y) in enumerate(kept)
    ]
    chart.lines.append(Line(name=title, colour=PALETTE[0], points=line))
    return chart


def _unit_axis(chart: Chart, ticks: int = 4) -> tuple:
    """x_at and y_at of a chart whose axes both run over [0, 1], with their ticks."""

    def x_at(x: float) -> float:
        return chart.left + chart.plot_width * min(max(x, 0.0), 1.0)

    def y_at(y: float) -> float:
        return chart.top + chart.plot_height * (1 - min(max(y, 0.0), 1.0))

    chart.x_ticks = [Tick(x_at(k / ticks), f"{k / ticks:g}") for k in range(ticks + 1)]
    chart.y_ticks = [Tick(y_at(k / ticks), f"{k / ticks:g}") for k in range(ticks + 1)]
    return x_at, y_at


def precision_recall_chart(
    curve: list[dict],
    marks: list[tuple[str, float | None, float | None]],
    target: float,
    *,
    title: str = "Precision and recall of “unsafe”",
    width: int = 320,
    height: int = 260,
) -> Chart:
    """Precision (y) over recall (x) of "unsafe when sigmoid(score) < t" as t rises, from
    rewardtrain's curve; `marks` are named single points (e.g. the 0.15 default) and `target`
    the paper's precision, drawn as a reference line."""
    left, top = 44, 26
    chart = Chart(
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        plot_width=width - left - 14,
        plot_height=height - top - 60 - 18 * ((len(marks) + 3) // 3),
        description=f"{title}, one point per threshold",
        x_caption="recall",
    )
    x_at, y_at = _unit_axis(chart)
    chart.reference_y, chart.reference_label = y_at(target), f"precision {target:g}"
    kept = [c for c in curve if _finite(c.get("precision")) and _finite(c.get("recall"))]
    points = [
        Point(
            x_at(c["recall"]),
            y_at(c["precision"]),
            c["precision"],
            f"t {c['threshold']:.3f}",
            starts_segment=i == 0,
            text=f"precision {c['precision']:.2f}, recall {c['recall']:.2f}",
        )
        for i, c in enumerate(kept)
    ]
    chart.lines.append(Line("all thresholds", PALETTE[0], points))
    for index, (name, precision, recall) in enumerate(marks, start=1):
        if _finite(precision) and _finite(recall):
            point = Point(
                x_at(recall),
                y_at(precision),
                precision,
                name,
                starts_segment=True,
                text=f"precision {precision:.2f}, recall {recall:.2f}",
            )
            chart.lines.append(Line(name, PALETTE[index % len(PALETTE)], [point]))
    return chart


def score_histogram_chart(
    histogram: dict, thresholds: list[tuple[str, float]], *, width: int = 420, height: int = 260
) -> Chart:
    """How many safe and unsafe responses fall in each bin of sigmoid(score) over [0, 1]
    (one point a bin, at its middle), with dashed lines at the given thresholds."""
    edges = [float(e) for e in histogram.get("edges", [])]
    series = [
        ("safe responses", [float(v) for v in histogram.get("safe", [])]),
        ("unsafe responses", [float(v) for v in histogram.get("unsafe", [])]),
    ]
    counts = [v for _, values in series for v in values] or [0.0]
    _, high, step = _axis([0.0, max(counts)])
    chart = line_chart(
        title="Scores of labelled responses",
        x_labels=[f"{(a + b) / 2:.3f}" for a, b in zip(edges, edges[1:], strict=False)],
        series=series,
        y_min=0.0,
        y_max=high,
        y_step=step,
        reference=None,
        width=width,
        height=height,
        description="How many safe and unsafe responses score each sigmoid(score)",
        unit=" responses",
        digits=0,
        x_caption="sigmoid(score)",
    )
    low, top = (edges[0], edges[-1]) if edges else (0.0, 1.0)

    def x_at(value: float) -> float:
        return chart.left + chart.plot_width * (value - low) / ((top - low) or 1.0)

    chart.x_ticks = [Tick(x_at(k / 4), f"{k / 4:g}") for k in range(5)]
    chart.verticals = [Tick(x_at(value), name) for name, value in thresholds if _finite(value)]
    return chart
