"""DDP and FSDP under torchrun (gloo on CPU, 2 processes) give the single-process result, with one
packed row per rank and with several (gradient accumulation inside a step), and a partial last
batch that leaves a rank without a row of its own trains and resumes."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from training_jobs.runners.launch import launcher

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = launcher(sys.executable, 2)


def _train(command: list[str], args: list[str]) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [*command, "-m", "rewardtrain", "train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]


def _max_difference(a: Path, b: Path) -> float:
    left, right = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return max(float((left[k] - right[k]).abs().max()) for k in right)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
@pytest.mark.parametrize("pack_tokens", [1024, 128], ids=["one-row", "rows-per-rank"])
def test_torchrun_two_processes(tmp_path, tiny_dir, synthetic_file, mode, pack_tokens):
    """With --pack-tokens 128 each rank packs about 4 rows of the 16 pairs of a step."""
    args = [
        "--model", str(tiny_dir), "--data", str(synthetic_file), "--mix", "none",
        "--batch-pairs", "16", "--pack-tokens", str(pack_tokens), "--lr", "2e-3",
        "--save-every", "10", "--no-progress", "--max-steps", "12",
    ]  # fmt: skip
    out, single = tmp_path / mode, tmp_path / "single"
    _train(TORCHRUN, ["--output-dir", str(out), *args, *(["--fsdp"] if mode == "fsdp" else [])])
    _train([sys.executable], ["--output-dir", str(single), *args])
    meta = json.loads((out / "rewardtrain.json").read_text())
    assert meta["world_size"] == 2 and meta["steps"] == 12
    losses, reference = _losses(out), _losses(single)
    assert losses[-1] < 0.5 * losses[0]
    assert max(abs(a - b) for a, b in zip(losses, reference, strict=True)) < 1e-3
    assert _max_difference(out, single) < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_partial_last_batch_trains_and_resumes(tmp_path, tiny_dir, synthetic_file, mode):
    """540 training pairs at 0.0611 epochs is 33 pairs: two steps of 16, then one pair, which
    one rank cannot share; a rerun resumes from the step-2 checkpoint at that last step."""
    args = [
        "--model", str(tiny_dir), "--data", str(synthetic_file), "--mix", "none",
        "--batch-pairs", "16", "--epochs", "0.0611", "--lr", "2e-3", "--save-every", "2",
        "--no-progress", *(["--fsdp"] if mode == "fsdp" else []),
    ]  # fmt: skip
    out = tmp_path / mode
    _train(TORCHRUN, ["--output-dir", str(out), *args])
    meta = json.loads((out / "rewardtrain.json").read_text())
    assert meta["steps"] == 3 and meta["data"]["train_pairs"] == 540
    assert (out / "checkpoints" / "step_00000002").is_dir()
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(out / "model.safetensors", first / "model.safetensors")

    _train(TORCHRUN, ["--output-dir", str(out), *args])
    meta = json.loads((out / "rewardtrain.json").read_text())
    assert meta["resumed_from_step"] == 2 and meta["steps"] == 3
    assert _max_difference(out, first) < 1e-5
