"""The metric series a job keeps: bounded, spanning the whole run, resumed runs overwrite."""

from training_jobs.runners.metrics import MetricSeries


def _update(step, **metrics):
    return {"stage": "train", "step": step, "total": 10_000, "metrics": metrics}


def test_a_long_run_keeps_a_bounded_series_that_spans_it():
    series = MetricSeries(max_points=50)
    for step in range(1, 10_001):
        series.add(_update(step, loss=1.0 / step, lr=1e-5))
    loss = series.to_json()["train"]["loss"]
    steps = [s for s, _ in loss]
    assert len(loss) <= 51 and steps == sorted(steps)
    assert steps[0] == 1 and steps[-1] == 10_000 and steps[len(steps) // 2] > 3_000
    assert loss[-1][1] == 1.0 / 10_000


def test_a_resumed_run_replaces_the_steps_it_repeats_and_a_new_stage_starts_its_own():
    series = MetricSeries()
    for step in range(1, 61):
        series.add(_update(step, loss=1.0))
    stored = series.to_json()
    resumed = MetricSeries(stored)  # a retry, from the checkpoint at step 40
    for step in range(41, 51):
        resumed.add(_update(step, loss=0.5))
    resumed.add({"stage": "finetune", "step": 1, "metrics": {"loss": 2.0, "note": "text"}})
    loss = resumed.to_json()["train"]["loss"]
    assert [s for s, _ in loss] == list(range(1, 51)) and loss[-1] == [50, 0.5]
    assert resumed.to_json()["finetune"] == {"loss": [[1, 2.0]]}


def test_updates_without_numbers_add_nothing():
    series = MetricSeries()
    assert not series.add({"stage": "sample", "step": 3, "fraction": 0.2})
    assert not series.add(_update(4, loss=None, text="x"))
    assert series.to_json() == {}
