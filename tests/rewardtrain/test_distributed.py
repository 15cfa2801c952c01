"""DDP and FSDP under torchrun (gloo on CPU, 2 processes) give the single-process result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_torchrun_two_processes(tmp_path, tiny_dir, synthetic_file, mode):
    out = tmp_path / mode
    args = [
        "--output-dir", str(out), "--model", str(tiny_dir), "--data", str(synthetic_file),
        "--mix", "none", "--batch-pairs", "16", "--lr", "2e-3", "--save-every", "10",
        "--no-progress", "--max-steps", "12",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    extra = ["--fsdp"] if mode == "fsdp" else []
    command = [*torchrun, "-m", "rewardtrain", "train", *args, *extra]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    single = tmp_path / "single"
    single_args = [str(single) if a == str(out) else a for a in args]
    command = [sys.executable, "-m", "rewardtrain", "train", *single_args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((out / "rewardtrain.json").read_text())
    assert meta["world_size"] == 2 and meta["steps"] == 12
    a, b = load_file(out / "model.safetensors"), load_file(single / "model.safetensors")
    for name in b:
        assert (a[name] - b[name]).abs().max() < 1e-3, name
