"""The PPO command's configuration: the paper's values as defaults (Touvron et al., 2023,
§3.2.3), every one a flag of `python -m training_jobs.rlhf ppo`.

`--preset cpu-small` swaps the defaults that suit a 70B model on a cluster for ones that finish
on a laptop CPU in minutes (a demo or a test); it changes only the values left at their paper
default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mlcore.cli import nested, option
from rewardtrain.grades import UNSAFE_THRESHOLD


@dataclass
class Rollout:
    """Where prompts and the policy come from and how answers are sampled."""

    prompts: str = option(
        "",
        'Prompts JSONL: {"prompt": [messages] or str, "safety": bool, "id": optional}; '
        "'safety' marks a safety-stage prompt (always routed to R_s).",
    )
    heldout_prompts: str = option(
        "",
        "Held-out prompts JSONL for early stopping; empty: the last --heldout-count prompts "
        "of --prompts are held out.",
    )
    heldout_count: int = option(256, "Prompts held out of --prompts when none are given.")
    policy: str = option("", "Start policy folder (transformers causal LM): pi_0 and the actor.")
    backend: str = option(
        "transformers",
        "Rollout engine: transformers (the actor module itself; CPU or CUDA) or vllm "
        "(in-process engine, new weights loaded into it every iteration; one process).",
        choices=("transformers", "vllm"),
    )
    max_new_tokens: int = option(256, "New tokens per answer; longer answers are truncated.")
    max_prompt_tokens: int = option(1024, "Prompts with more tokens are left out.")
    temperature: float = option(
        1.0,
        "Sampling temperature. No top-p, top-k or minimum length is offered: any of them makes "
        "the sampling distribution differ from pi_theta and the KL estimate wrong.",
    )
    generation_batch: int = option(64, "transformers engine: answers generated together.")
    old_logprobs: str = option(
        "auto",
        "Where pi_old's log-probs of the answer tokens come from: engine (the transformers "
        "engine's own draws, one actor forward fewer per iteration), forward (an actor forward "
        "after generation), or auto: engine for the transformers engine in float32, forward "
        "otherwise (vLLM's and bf16 kernels differ from the trainer's). Before the first step "
        "the reference's forward serves, so KL is exactly 0 at iteration 0.",
        choices=("auto", "engine", "forward"),
    )
    gpu_memory_utilization: float = option(
        0.3, "vllm engine: share of GPU memory for the engine (the trainer needs the rest)."
    )


@dataclass
class Rewards:
    """The two reward models, the paper's routing and whitening."""

    helpfulness_model: str = option("", "Helpfulness reward model folder (R_h).")
    safety_model: str = option("", "Safety reward model folder (R_s); empty: R_h alone.")
    safety_threshold: float = option(
        UNSAFE_THRESHOLD, "R_c = R_s for a safety prompt or when sigmoid(R_s) is below this."
    )
    whiten_score: bool = option(
        True, "Whiten R_c over the rollout batch after routing (the paper's WHITEN)."
    )
    truncation_penalty: float = option(
        0.0, "Subtracted from the raw R_c of an answer cut at --max-new-tokens (0: none)."
    )
    pack_tokens: int = option(2048, "Token budget of one packed reward-model row.")


@dataclass
class Optimisation:
    """AdamW and the batch shape (paper: 512 rollouts, mini-batches of 64, one step each)."""

    lr: float = option(1e-6, "Actor learning rate, constant (paper: 1e-6).")
    critic_lr: float = option(1e-6, "Critic learning rate, constant (not in the paper).")
    beta1: float = option(0.9, "AdamW beta1 (paper: 0.9).")
    beta2: float = option(0.95, "AdamW beta2 (paper: 0.95).")
    eps: float = option(1e-5, "AdamW epsilon (paper: 1e-5).")
    weight_decay: float = option(0.1, "AdamW weight decay (paper: 0.1).")
    grad_clip: float = option(1.0, "Clip each model's gradient norm to this (paper: 1.0).")
    rollouts: int = option(512, "Answers per iteration, over all processes (paper: 512).")
    mini_batch: int = option(64, "Answers per gradient step (paper: 64).")
    micro_batch: int = option(8, "Answers per forward pass (accumulated up to a mini-batch).")
    ppo_epochs: int = option(1, "Passes over an iteration's rollouts (paper: 1 step each).")


@dataclass
class Objective:
    """PPO's clipping, the KL penalty and GAE."""

    clip: float = option(0.2, "PPO ratio clip (paper: 0.2).")
    value_clip: float = option(0.2, "Value clip around the rollout's values.")
    beta: float = option(0.01, "KL penalty beta (paper: 0.01 for 7B/13B, 0.005 for 34B/70B).")
    gamma: float = option(1.0, "GAE discount.")
    lam: float = option(0.95, "GAE lambda.")
    whiten_advantages: bool = option(True, "Whiten advantages over the rollout batch.")


@dataclass
class PPOConfig:
    """PPO with two reward models (Touvron et al., 2023, §3.2.3).

    Each iteration: answer a batch of prompts with the actor, score the answers with R_h and
    R_s, route and whiten, shape with a per-token KL penalty against the start policy, and
    take one clipped PPO step per mini-batch on actor and critic. Held-out prompts' mean R_c
    picks the best iteration and stops early.
    """

    output_dir: str = option(
        "", "Folder for the final policy, metrics.json, iterations.jsonl, checkpoints."
    )
    preset: str = option(
        "paper",
        "paper: the defaults as given; cpu-small: small batches, short answers and few "
        "iterations for a CPU demo or test (only values left at their default change).",
        choices=("paper", "cpu-small"),
    )
    iterations: int = option(400, "Most iterations (paper: 200-400).")
    min_iterations: int = option(200, "No early stop before this many iterations.")
    eval_every: int = option(10, "Score the held-out prompts every this many iterations.")
    patience: int = option(
        5, "Stop after this many held-out evaluations without a better mean R_c (0: never)."
    )
    checkpoint_every: int = option(10, "Resumable checkpoint every this many iterations (0: off).")
    keep_checkpoints: int = option(2, "Newest checkpoints kept.")
    resume: bool = option(True, "Resume from the newest complete checkpoint in output_dir.")
    seed: int = option(0, "Seed of the prompt order, the sampling seeds and the mini-batches.")
    bf16: bool = option(False, "bfloat16 autocast on GPUs (weights and optimizer stay float32).")
    fsdp: bool = option(False, "Shard actor, critic and reference with FSDP under torchrun.")
    gradient_checkpointing: bool = option(False, "Recompute activations in the backward pass.")
    progress: bool = option(True, "Show progress bars (a launcher reads the progress file).")
    rollout: Rollout = nested(Rollout)
    rewards: Rewards = nested(Rewards)
    optim: Optimisation = nested(Optimisation)
    objective: Objective = nested(Objective)


CPU_SMALL: dict[str, dict[str, Any]] = {
    "": dict(iterations=20, min_iterations=0, eval_every=5, patience=0, checkpoint_every=5),
    "rollout": dict(heldout_count=16, max_new_tokens=48, max_prompt_tokens=256),
    "optim": dict(rollouts=32, mini_batch=8, micro_batch=8, lr=1e-5, critic_lr=1e-5),
}


def apply_preset(cfg: PPOConfig) -> PPOConfig:
    """The config with the preset's values in place of untouched paper defaults."""
    if cfg.preset == "paper":
        return cfg
    defaults = PPOConfig()
    for section, values in CPU_SMALL.items():
        target = getattr(cfg, section) if section else cfg
        reference = getattr(defaults, section) if section else defaults
        for name, value in values.items():
            if getattr(target, name) == getattr(reference, name):
                setattr(target, name, value)
    return cfg


def check(cfg: PPOConfig, world: int = 1) -> None:
    """Raise ValueError naming the first missing or inconsistent value."""
    if not (cfg.rollout.prompts and cfg.rollout.policy and cfg.rewards.helpfulness_model):
        raise ValueError("ppo needs --prompts, --policy and --helpfulness-model")
    if not cfg.output_dir:
        raise ValueError("ppo needs --output-dir")
    check_shape(cfg, world)


def check_shape(cfg: PPOConfig, world: int = 1) -> None:
    """Raise ValueError when the batch shape or sampling cannot work on `world` processes."""
    o = cfg.optim
    if o.rollouts % o.mini_batch:
        raise ValueError(f"--rollouts {o.rollouts} is not a multiple of --mini-batch")
    if o.mini_batch % world:
        raise ValueError(f"--mini-batch {o.mini_batch} cannot be shared by {world} processes")
    if not 0.0 < cfg.rollout.temperature <= 2.0:
        raise ValueError("--temperature must be in (0, 2]")
    if cfg.rollout.backend == "vllm" and cfg.rollout.old_logprobs == "engine":
        raise ValueError("--old-logprobs engine needs the transformers engine")
    if cfg.rollout.backend == "vllm" and world > 1:
        raise ValueError("the vllm rollout engine runs in one process; use transformers")
    if min(cfg.iterations, o.micro_batch, o.ppo_epochs, cfg.eval_every) < 1:
        raise ValueError("iterations, micro-batch, ppo-epochs and eval-every must be >= 1")


def as_dict(cfg: PPOConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
