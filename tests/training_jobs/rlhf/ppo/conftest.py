"""Session-wide tiny PPO set-up: policy, two reward models, prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training_jobs.rlhf.ppo import helpers


@pytest.fixture(scope="session")
def tiny_setup(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ppo-setup")
    policy = helpers.policy_folder(root / "policy")
    return {
        "policy": policy,
        "helpfulness": helpers.reward_model_folder(root / "rm-helpfulness", policy, seed=1),
        "safety": helpers.reward_model_folder(root / "rm-safety", policy, seed=2),
        "prompts": helpers.prompts_file(root / "prompts.jsonl", 48, safety_every=4),
    }


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two spinning threads slow down badly."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
