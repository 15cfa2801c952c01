"""The safety gate's threshold: precision/recall over thresholds, the threshold reaching the
paper's precision, and the score histogram, by hand."""

import math

import pytest
import torch

from rewardtrain.data import Pair
from rewardtrain.evaluate import pair_metrics
from rewardtrain.threshold import unsafe_analysis

# sigmoid scores of 8 labelled responses, lowest first, and whether each is unsafe
PROBS = [0.02, 0.05, 0.08, 0.12, 0.14, 0.30, 0.60, 0.90]
UNSAFE = [True, True, True, False, True, True, False, False]


def test_threshold_for_a_precision_takes_the_highest_recall():
    result = unsafe_analysis(PROBS, UNSAFE, target_precision=0.8)
    # t between 0.14 and 0.30 flags 5 responses, 4 unsafe: precision 0.8, recall 4/5;
    # t between 0.30 and 0.60 flags 6, 5 unsafe: precision 0.833, recall 1.0 (the best)
    best = result["at_precision"]
    assert best["target"] == 0.8
    assert best["threshold"] == pytest.approx(0.45)
    assert best["precision"] == pytest.approx(5 / 6) and best["recall"] == 1.0
    strict = unsafe_analysis(PROBS, UNSAFE, target_precision=1.0)["at_precision"]
    assert strict["threshold"] == pytest.approx(0.10) and strict["recall"] == pytest.approx(0.6)
    assert unsafe_analysis([0.5, 0.6], [False, True], 0.89)["at_precision"] is None


def test_curve_rises_in_threshold_and_histogram_counts_by_label():
    result = unsafe_analysis(PROBS, UNSAFE, target_precision=0.89)
    curve = result["curve"]
    assert len(curve) == len(PROBS) + 1
    assert [c["threshold"] for c in curve] == sorted(c["threshold"] for c in curve)
    assert curve[0]["precision"] is None and curve[0]["recall"] == 0.0
    assert curve[-1]["precision"] == pytest.approx(5 / 8) and curve[-1]["recall"] == 1.0
    hist = result["histogram"]
    assert len(hist["edges"]) == 21 and hist["edges"][3] == pytest.approx(0.15)
    assert hist["unsafe"][:3] == [1, 2, 1] and hist["safe"][2] == 1  # 0.05 opens bin 1
    assert sum(hist["safe"]) == 3 and sum(hist["unsafe"]) == 5


def test_curve_is_thinned_but_keeps_the_chosen_threshold():
    probs = [i / 1000 for i in range(1, 999)]
    unsafe = [p < 0.3 or (i % 7 == 0) for i, p in enumerate(probs)]
    result = unsafe_analysis(probs, unsafe, target_precision=0.95, points=51)
    assert len(result["curve"]) <= 52
    assert result["at_precision"]["threshold"] in [c["threshold"] for c in result["curve"]]


def test_pair_metrics_report_the_threshold_analysis():
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    pairs, chosen, rejected = [], [], []
    for c, r in zip(PROBS[::2], PROBS[1::2], strict=True):
        i = PROBS.index(c)
        pairs.append(Pair([], [], [], chosen_safe=not UNSAFE[i], rejected_safe=not UNSAFE[i + 1]))
        chosen.append(logit(c))
        rejected.append(logit(r))
    m = pair_metrics(torch.tensor(chosen), torch.tensor(rejected), pairs)
    unsafe = m["unsafe"]
    assert unsafe["labelled_responses"] == 8 and unsafe["threshold"] == 0.15
    assert unsafe["precision"] == pytest.approx(4 / 5) and unsafe["recall"] == pytest.approx(4 / 5)
    assert unsafe["at_precision"]["target"] == 0.89
    assert unsafe["at_precision"]["threshold"] == pytest.approx(0.10, abs=1e-6)
    assert sum(unsafe["histogram"]["unsafe"]) == 5
