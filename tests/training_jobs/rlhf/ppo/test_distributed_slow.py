"""Two processes under torchrun (gloo on CPU), DDP or FSDP, give the single-process result of
one PPO iteration: the same answers, the same metrics, the same updated weights."""

import json

import pytest
from safetensors.torch import load_file

from tests.training_jobs.rlhf.ppo.runs import ppo_argv, run

pytestmark = pytest.mark.slow


FLAGS = {"iterations": 1, "lr": 1e-3, "critic_lr": 1e-3}


@pytest.fixture(scope="module")
def single(tmp_path_factory, tiny_setup):
    out = tmp_path_factory.mktemp("ppo-single") / "out"
    run(ppo_argv(out, tiny_setup, **FLAGS))
    return out


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one(tmp_path, tiny_setup, single, mode):
    double, flags = tmp_path / mode, FLAGS
    extra = ["--fsdp"] if mode == "fsdp" else []
    run(ppo_argv(double, tiny_setup, **flags) + extra, nproc=2)

    one = json.loads((single / "iterations.jsonl").read_text())
    two = json.loads((double / "iterations.jsonl").read_text())
    for name in ("reward_mean", "answer_length", "kl_k1", "routed_helpfulness"):
        assert two[name] == pytest.approx(one[name], abs=1e-6), name
    for name in ("policy_loss", "value_loss", "entropy", "clip_fraction"):
        assert two[name] == pytest.approx(one[name], rel=1e-3, abs=1e-5), name
    assert json.loads((double / "metrics.json").read_text())["world_size"] == 2

    start = load_file(tiny_setup["policy"] / "model.safetensors")
    a, b = load_file(single / "model.safetensors"), load_file(double / "model.safetensors")
    moved = max((a[k] - start[k]).abs().max().item() for k in a)
    assert moved > 1e-4  # the step did change the policy...
    for name in a:  # ...and both runs changed it alike
        assert (a[name] - b[name]).abs().max().item() < moved / 50, name
