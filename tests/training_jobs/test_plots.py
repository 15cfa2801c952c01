"""The server-side charts: sweep.json's Figures 7 and 8, and a job's metrics against the step."""

import math

import pytest

from training_jobs.plots import nice_step, step_chart, sweep_charts


def test_charts_have_one_line_per_temperature_on_a_covering_scale():
    sweep = {
        "ks": [1, 4, 16],
        "series": [
            {"temperature": 0.8, "max": [0.5, 0.6, 0.7], "median": [0.5] * 3, "gap": [0, 0.1, 0.2]},
            {"temperature": 1.2, "max": [0.4, 0.7, 0.8], "median": [0.4] * 3, "gap": [0, 0.3, 0.4]},
        ],
    }
    best, median, gap = sweep_charts(sweep)
    assert [t.label for t in best.x_ticks] == ["1", "4", "16"]
    assert [line.name for line in best.lines] == ["T = 0.8", "T = 1.2"]
    assert [len(line.points) for line in gap.lines] == [3, 3]
    for chart, values in ((best, [0.4, 0.8]), (median, [0.4, 0.5]), (gap, [0.0, 0.4])):
        low, high = float(chart.y_ticks[0].label), float(chart.y_ticks[-1].label)
        assert low <= min(values) and max(values) <= high and len(chart.y_ticks) == 5
    assert gap.y_ticks[0].label == "0"
    # higher rewards are drawn higher: y grows downwards in SVG
    points = best.lines[1].points
    assert points[0].y > points[-1].y and points[-1].text == "0.800"


def test_a_metric_against_the_step_gets_round_ticks_covering_it():
    points = [(step, 1e-5 * (1 - step / 600)) for step in range(1, 501)]
    chart = step_chart(title="train: lr", points=points)
    xs = [float(t.label) for t in chart.x_ticks]
    ys = [float(t.label) for t in chart.y_ticks]
    assert xs[0] <= 1 and xs[-1] >= 500 and all(x == int(x) for x in xs)
    assert ys[0] <= min(y for _, y in points) and ys[-1] >= max(y for _, y in points)
    (line,) = chart.lines
    assert len(line.points) == 500 and not chart.markers  # too many dots to draw
    # the later (smaller) learning rate is drawn lower: y grows downwards in SVG
    assert line.points[0].y < line.points[-1].y and line.points[-1].text == "1.667e-06"


def test_few_points_get_dots_and_missing_values_are_left_out():
    chart = step_chart(title="loss", points=[(1, 0.7), (2, math.nan), (3, 0.5)])
    assert chart.markers and [p.label for p in chart.lines[0].points] == ["1", "3"]
    assert [t.label for t in chart.x_ticks] == ["1", "2", "3"]
    assert step_chart(title="empty", points=[]).lines == []


@pytest.mark.parametrize(
    ("span", "step"), [(1.0, 0.25), (500, 200), (2e-5, 5e-6), (7, 2), (0.3, 0.1)]
)
def test_nice_steps(span, step):
    assert nice_step(span) == pytest.approx(step)


def test_precision_recall_chart_and_score_histogram_place_thresholds():
    from training_jobs.plots import precision_recall_chart, score_histogram_chart

    curve = [
        {"threshold": 0.05, "precision": None, "recall": 0.0},
        {"threshold": 0.1, "precision": 1.0, "recall": 0.5},
        {"threshold": 0.5, "precision": 0.75, "recall": 1.0},
    ]
    chart = precision_recall_chart(curve, [("0.15 (default)", 0.8, 0.9)], 0.89)
    line, mark = chart.lines
    assert [p.x for p in line.points] == [chart.left + chart.plot_width / 2, chart.right]
    assert line.points[0].y == chart.top and mark.name == "0.15 (default)"
    assert chart.reference_label == "precision 0.89"
    assert chart.reference_y == pytest.approx(chart.top + 0.11 * chart.plot_height)
    histogram = {
        "edges": [k / 20 for k in range(21)],
        "safe": [0] * 19 + [5],
        "unsafe": [3] + [0] * 19,
    }
    chart = score_histogram_chart(histogram, [("0.15", 0.15)])
    assert [v.label for v in chart.verticals] == ["0.15"]
    assert chart.verticals[0].position == pytest.approx(chart.left + 0.15 * chart.plot_width)
    assert [line.name for line in chart.lines] == ["safe responses", "unsafe responses"]
    assert float(chart.y_ticks[-1].label) >= 5
