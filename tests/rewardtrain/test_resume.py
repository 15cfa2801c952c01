"""A run killed mid-way resumes from its newest complete checkpoint and finishes; leftovers of
an interrupted write are never read."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from rewardtrain import checkpoint
from rewardtrain.config import TrainConfig
from rewardtrain.train import main

ROOT = Path(__file__).resolve().parents[2]


def _args(out, tiny_dir, synthetic_file):
    return [
        "--output-dir", str(out), "--model", str(tiny_dir), "--data", str(synthetic_file),
        "--mix", "none", "--batch-pairs", "16", "--lr", "2e-3", "--save-every", "1",
        "--keep-checkpoints", "2", "--no-progress",
    ]  # fmt: skip


def test_latest_checkpoint_ignores_partial_writes(tmp_path):
    checkpoint.save_checkpoint(tmp_path, 3, {"step": 3})
    (tmp_path / ".tmp-step_00000009-77").mkdir()
    (tmp_path / ".tmp-step_00000009-77" / "state.pt").write_bytes(b"half")
    (tmp_path / "step_00000008").mkdir()
    assert checkpoint.latest_checkpoint(tmp_path).name == "step_00000003"
    assert checkpoint.load_checkpoint(checkpoint.latest_checkpoint(tmp_path))["step"] == 3
    checkpoint.prune_checkpoints(tmp_path, keep=2)
    assert not (tmp_path / ".tmp-step_00000009-77").exists()


def test_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path, tiny_dir, synthetic_file):
    out = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "rewardtrain", "train", *_args(out, tiny_dir, synthetic_file)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "checkpoints" / "step_00000004").exists():
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "metrics.json").exists()
    killed_at = checkpoint.complete_checkpoints(out / "checkpoints")[-1][0]
    assert 4 <= killed_at < 34

    # What a kill during a checkpoint write leaves behind: never read.
    (out / "checkpoints" / ".tmp-step_00000030-1").mkdir()
    (out / "checkpoints" / ".tmp-step_00000030-1" / "state.pt").write_bytes(b"half-written")
    (out / "checkpoints" / "step_00000031").mkdir()

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "metrics.json").exists()
    import json

    meta = json.loads((out / "rewardtrain.json").read_text())
    assert meta["resumed_from_step"] == killed_at and meta["steps"] == 34

    reference = tmp_path / "straight"
    torch.set_num_threads(1)
    cfg = TrainConfig(
        output_dir=str(reference), model=str(tiny_dir), data=[str(synthetic_file)], mix="none",
        batch_pairs=16, lr=2e-3, save_every=0, progress=False,
    )  # fmt: skip
    main(cfg)
    resumed = load_file(out / "model.safetensors")
    straight = load_file(reference / "model.safetensors")
    assert resumed.keys() == straight.keys()
    for name in straight:
        assert torch.allclose(resumed[name], straight[name], atol=1e-4), name
