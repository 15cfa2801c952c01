"""Issue 13's failing inputs through rewardtrain: the same reader as the site's import, so the
same files are read the same way; degenerate pairs are skipped and counted; a bad line stops
the command line with `file:line: message` and no traceback."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rewardtrain.config import EvalConfig
from rewardtrain.data import read_pairs, tokenize_pairs
from rewardtrain.evaluate import main as evaluate
from rewardtrain.mix import load_pools

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
ROOT = Path(__file__).resolve().parents[2]


def test_identical_pairs_are_skipped_and_counted_in_the_data_report():
    pairs, counts = read_pairs(CASES / "07-identical-chosen-rejected.jsonl")
    assert len(pairs) == 3 and counts["skipped_identical_responses"] == 3
    _, inputs = load_pools([str(CASES / "07-identical-chosen-rejected.jsonl")])
    assert inputs[0]["counts"] == {"lines": 6, "pairs": 3, "skipped_identical_responses": 3}


def test_eval_on_identical_pairs_only_reports_no_accuracy(tiny_dir, tmp_path):
    out = tmp_path / "metrics.json"
    report = evaluate(
        EvalConfig(
            models=[str(tiny_dir)],
            test=[f"identical={CASES / '07b-identical-only-test.jsonl'}"],
            output=str(out),
        )
    )
    metrics = next(iter(report["metrics"].values()))["identical"]
    assert metrics["n"] == 0 and metrics["average"] is None  # never 100% from float noise


def test_bom_and_content_forms_read_as_the_import_reads_them():
    pairs, _ = read_pairs(CASES / "12-bom-trl-comparisons.jsonl")
    assert [p.grade for p in pairs] == ["significantly_better", "better"]
    pairs, _ = read_pairs(CASES / "13-trl-content-null-and-parts.jsonl")
    assert pairs[0].rejected == [{"role": "assistant", "content": ""}]  # not 'None'
    assert pairs[1].prompt == [{"role": "user", "content": "What is 2 + 2?"}]
    assert pairs[1].chosen[0]["content"] == "4."  # not a list's repr


def test_merged_turns_tokenize_on_a_strict_alternating_template(tokenizer):
    strict = copy.deepcopy(tokenizer)
    strict.chat_template = (CASES / "06-strict-alternation-chat-template.jinja").read_text()
    pairs, _ = read_pairs(CASES / "06-hh-consecutive-same-role.jsonl")
    tokenized, dropped = tokenize_pairs(strict, pairs, max_length=None)
    assert len(tokenized) == 3 and dropped == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("06b-trl-role-order.jsonl", ":1: field 'prompt': must end with a user turn"),
        ("01-lone-surrogate-comparisons.jsonl", ":2: field 'chosen[0].content': contains a lone"),
    ],
)
def test_train_stops_on_a_bad_line_with_file_line_and_no_traceback(
    name, message, tmp_path, tiny_dir
):
    done = subprocess.run(
        [sys.executable, "-m", "rewardtrain", "train", "--data", str(CASES / name)]
        + ["--output-dir", str(tmp_path / "rm"), "--model", str(tiny_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert f"{CASES / name}{message}" in done.stderr
    assert "Traceback" not in done.stderr


def test_score_stops_on_a_bad_line_with_file_line(tmp_path, tiny_dir):
    path = tmp_path / "dialogues.jsonl"
    good = {"prompt": [{"role": "user", "content": "Hi"}], "response": "Hello"}
    bad = {"prompt": [{"role": "user", "content": "Hi"}], "responses": []}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "rewardtrain", "score", "--model", str(tiny_dir)]
        + ["--input", str(path), "--output", str(tmp_path / "out.jsonl")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"{path}:2: field 'responses': must be a non-empty list" in done.stderr


def test_a_tie_is_never_counted_correct():
    import torch

    from rewardtrain.data import Pair
    from rewardtrain.evaluate import pair_metrics
    from rewardtrain.loss import pair_accuracy

    tie = torch.tensor([0.25, 0.25])
    pairs = [Pair([], [], [], grade="better"), Pair([], [], [])]
    metrics = pair_metrics(tie, tie.clone(), pairs)
    assert metrics["average"] == 0.0 and metrics["accuracy"]["better"] == 0.0
    assert pair_accuracy(tie, tie.clone()).sum() == 0
