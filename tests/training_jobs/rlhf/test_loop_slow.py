"""The loop, measured (slow tier): one tiny rejection-sampling round with SmolLM2 on CPU raises
the mean hidden utility of answers to held-out prompts (bench/rejection_sampling_cpu.py at its
smallest, selecting by the hidden utility)."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "rejection_sampling_cpu.py"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def test_one_round_raises_held_out_utility(tmp_path, default_model_dir):
    spec = importlib.util.spec_from_file_location("rejection_sampling_cpu", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = bench.make_parser().parse_args(
        ["--reward", "utility", "--train-prompts", "16", "--heldout-prompts", "8"]
        + ["--k", "4", "--max-tokens", "24", "--policy", str(default_model_dir)]
        + ["--out", str(tmp_path), "--result", str(tmp_path / "result.json")]
    )
    result = bench.main(args)
    selection = result["selection"]
    assert selection["utility_of_selected"] > selection["utility_of_all_samples"]
    assert result["after"]["mean_utility"] > result["before"]["mean_utility"]
