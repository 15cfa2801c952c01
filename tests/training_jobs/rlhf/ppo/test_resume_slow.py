"""A PPO run killed mid-way (SIGKILL, no chance to clean up) resumes from its newest complete
checkpoint and finishes with exactly what an uninterrupted run gives."""

import json
import signal
import time

import pytest
from safetensors.torch import load_file

from tests.training_jobs.rlhf.ppo.runs import ppo_argv, run, start

pytestmark = pytest.mark.slow

FLAGS = {"iterations": 8, "checkpoint_every": 2, "lr": 1e-3, "critic_lr": 1e-3, "rollouts": 32}


def test_killed_run_resumes_and_finishes_as_if_never_killed(tmp_path, tiny_setup):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run(ppo_argv(whole, tiny_setup, **FLAGS))

    log = tmp_path / "killed.stderr"
    process = start(ppo_argv(killed, tiny_setup, **FLAGS), log)
    checkpoint = killed / "checkpoints" / "step_00000004"
    deadline = time.monotonic() + 600
    while not checkpoint.is_dir() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    assert not (killed / "metrics.json").exists()  # it was killed mid-run
    logged = (killed / "iterations.jsonl").read_text().splitlines()
    assert 4 <= len(logged) < 8  # (the last line may be torn by the kill)

    run(ppo_argv(killed, tiny_setup, **FLAGS))
    summary = json.loads((killed / "metrics.json").read_text())
    assert summary["iterations"] == 8
    lines = [json.loads(x) for x in (killed / "iterations.jsonl").read_text().splitlines()]
    reference = [json.loads(x) for x in (whole / "iterations.jsonl").read_text().splitlines()]
    assert [x["iteration"] for x in lines] == list(range(1, 9))
    for got, want in zip(lines, reference, strict=True):
        for name in ("reward_mean", "kl_k1", "policy_loss", "value_loss"):
            assert got[name] == pytest.approx(want[name], abs=1e-6), (got["iteration"], name)
    a, b = load_file(whole / "model.safetensors"), load_file(killed / "model.safetensors")
    for name in a:
        assert (a[name] - b[name]).abs().max().item() < 1e-6, name
