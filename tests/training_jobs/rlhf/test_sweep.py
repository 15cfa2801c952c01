"""Sweep statistics (Figures 7 and 8)."""

import pytest

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
