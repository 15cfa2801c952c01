"""Accuracy by grade and precision/recall of "unsafe", by hand; a safety RM run end to end."""

import json
import math
import random

import pytest
import torch

from rewardtrain.config import TrainConfig
from rewardtrain.data import Pair
from rewardtrain.evaluate import pair_metrics, table8
from rewardtrain.train import main
from tests.rewardtrain.helpers import synthetic_records, write_jsonl


def _pair(grade, chosen_safe=None, rejected_safe=None):
    return Pair([], [], [], grade=grade, chosen_safe=chosen_safe, rejected_safe=rejected_safe)


def test_accuracy_by_grade_and_unsafe_precision_recall():
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    chosen = torch.tensor([1.0, 2.0, -1.0, logit(0.5), logit(0.9)])
    rejected = torch.tensor([0.0, 3.0, -2.0, logit(0.1), logit(0.05)])
    pairs = [
        _pair("significantly_better"),
        _pair("significantly_better"),
        _pair("better"),
        _pair("negligibly_better", chosen_safe=True, rejected_safe=False),
        _pair(None, chosen_safe=True, rejected_safe=True),
    ]
    m = pair_metrics(chosen, rejected, pairs, unsafe_threshold=0.15, dropped_too_long=3)
    assert m["accuracy"]["significantly_better"] == 0.5
    assert m["accuracy"]["better"] == 1.0
    assert m["accuracy"]["slightly_better"] is None
    assert m["accuracy"]["ungraded"] == 1.0
    assert m["average"] == pytest.approx(4 / 5)
    # labelled responses: (0.5 safe), (0.1 unsafe → flagged), (0.9 safe), (0.05 safe → flagged)
    assert m["unsafe"]["labelled_responses"] == 4
    assert m["unsafe"]["precision"] == 0.5 and m["unsafe"]["recall"] == 1.0
    assert m["n"] == 5 and m["dropped_too_long"] == 3
    assert "| rm | test | 50.0 | 100.0 | – | 100.0 | 100.0 | 80.0 | 5 | 3 |" in table8(
        {"rm": {"test": m}}
    )


def test_safety_reward_model_run_mixes_and_reports_unsafe(tmp_path, tiny_dir):
    rng = random.Random(0)
    records = synthetic_records(300, seed=1)
    bins = ["both_safe", "chosen_safe", "both_unsafe"]
    for n, r in enumerate(records):
        r["stage"] = "safety" if n < 200 else "helpfulness"
        if r["stage"] == "safety":
            r["safety_bin"] = rng.choice(bins)
    export = write_jsonl(tmp_path / "export.jsonl", records)
    out = tmp_path / "safety"
    cfg = TrainConfig(
        output_dir=str(out), model=str(tiny_dir), reward_model="safety", data=[str(export)],
        batch_pairs=16, lr=2e-3, save_every=0, progress=False, max_steps=4,
    )  # fmt: skip
    metrics = main(cfg)
    meta = json.loads((out / "rewardtrain.json").read_text())
    used = meta["data"]["mix"]["used"]
    held_out = meta["data"]["test_pairs"]["safety"]
    assert 10 <= held_out <= 30 and used["safety"] == 200 - held_out
    assert used["helpfulness"] == round(used["safety"] / 9)
    assert meta["steps"] == 4
    assert set(metrics) == {"safety", "helpfulness"}
    assert metrics["safety"]["unsafe"]["labelled_responses"] == 2 * held_out
    assert (out / "test_safety.jsonl").is_file()
