"""PPO learns (slow tier): against a reward model that `python -m rewardtrain train` fitted to
simulated annotators' judgments, PPO raises the hidden utility those annotators judge by on
held-out prompts, for each of three seeds; with beta = 1.0 (a KL penalty 100 times the
paper's) it gains less than with the paper's 0.01. See learning.py for the miniature loop."""

import statistics

import pytest

from tests.training_jobs.rlhf.ppo import learning

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

SEEDS = (0, 1, 2)
PPO = {"iterations": 12, "eval_every": 12, "lr": 6e-4}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("ppo-learns")
    train, heldout = learning.topic_prompts(2000, 1), learning.topic_prompts(256, 2)
    policy = learning.warm_policy(root / "policy", train[:800])
    pairs = learning.judged_pairs(policy, train, root / "pairs.jsonl")
    return {
        "root": root,
        "policy": policy,
        "reward_model": learning.train_reward_model(policy, pairs, root / "rm"),
        "prompts": learning.write_prompts(root / "prompts.jsonl", train),
        "heldout": learning.write_prompts(root / "heldout.jsonl", heldout),
    }


def gain(loop, beta: float, seed: int) -> float:
    by_iteration = learning.ppo_run(
        loop["root"] / f"ppo-beta{beta}-seed{seed}",
        loop["policy"],
        loop["reward_model"],
        loop["prompts"],
        loop["heldout"],
        beta=beta,
        seed=seed,
        **PPO,
    )
    return by_iteration[PPO["iterations"]] - by_iteration[0]


def test_ppo_raises_held_out_utility_and_a_large_beta_holds_it_back(loop):
    paper = [gain(loop, 0.01, seed) for seed in SEEDS]
    held_back = [gain(loop, 1.0, seed) for seed in SEEDS]
    print(f"held-out utility gains: beta 0.01 {paper}, beta 1.0 {held_back}")
    assert all(g > 0 for g in paper), paper
    assert statistics.fmean(held_back) < statistics.fmean(paper), (paper, held_back)
