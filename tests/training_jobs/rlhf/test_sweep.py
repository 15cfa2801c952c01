"""Sweep statistics (Figures 7 and 8) and the charts of sweep.json."""

import pytest

from training_jobs.plots import sweep_charts
from training_jobs.rlhf.sweep import best_temperatures, sweep_stats


def test_stats_use_the_first_k_samples_of_each_prompt():
    rewards = [[0.1, 0.5, 0.3, 0.9], [0.4, 0.2, 0.8, 0.6]]
    stats = sweep_stats(rewards, [1, 2, 4])
    assert stats["max"] == pytest.approx([0.25, 0.45, 0.85])
    assert stats["median"] == pytest.approx([0.25, 0.3, 0.45])  # medians: (0.4+0.5)/2...
    assert stats["gap"] == pytest.approx([0.0, 0.15, 0.4])


def test_best_temperature_per_k():
    series = [
        {"temperature": 0.8, "max": [0.5, 0.6]},
        {"temperature": 1.2, "max": [0.4, 0.7]},
    ]
    assert best_temperatures(series, [1, 8]) == {"1": 0.8, "8": 1.2}


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
