"""What an iteration is made of (`Trajectory`) and what is reported about it: means over every
process's answers, and the policy's provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mlcore import distributed
from training_jobs.rlhf.ppo.config import PPOConfig, as_dict
from training_jobs.rlhf.ppo.losses import kl_k1, kl_k3, masked_sum
from training_jobs.rlhf.ppo.rewards import reason_counts, routing_shares
from training_jobs.rlhf.ppo.rollout import Rollouts


@dataclass
class Trajectory:
    """One iteration's rollouts on this process, with everything the PPO step needs.

    Tensors are (B, R): B answers, R the longest answer; `mask` is 1.0 on answer tokens.
    The rows of `values_pending` get their V_old from the critic's first training forward
    (its weights are still the rollout's then), so `values` is 0 there and `advantages` and
    `returns` are None until the PPO step has that forward.
    """

    rollouts: Rollouts
    mask: torch.Tensor
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    raw_scores: torch.Tensor  # (B,) routed raw R_c
    scores: torch.Tensor  # (B,) whitened
    reasons: list[str]
    seconds_generation: float
    seconds_scoring: float
    values_pending: list[int] = field(default_factory=list)
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None


def trajectory_metrics(traj: Trajectory) -> dict[str, float]:
    """Means over all processes' answers: rewards, KL (summed over an answer's tokens),
    answer length, truncation and routing shares, and the phase seconds."""
    k1 = masked_sum(kl_k1(traj.logprobs, traj.ref_logprobs), traj.mask, dim=1)
    k3 = masked_sum(kl_k3(traj.logprobs, traj.ref_logprobs), traj.mask, dim=1)
    shaped = traj.rewards.sum(1)
    means = global_means(
        {
            "reward_mean": float(traj.raw_scores.sum()),
            "reward_whitened_mean": float(traj.scores.sum()),
            "shaped_reward_mean": float(shaped.sum()),
            "kl_k1": float(k1.sum()),
            "kl_k3": float(k3.sum()),
            "answer_length": float(traj.mask.sum()),
            "sequence_length": float(
                sum(len(p) for p in traj.rollouts.prompt_ids) + traj.mask.sum()
            ),
            "truncated_share": float(sum(traj.rollouts.truncated)),
        },
        len(traj.rollouts),
    )
    counts = distributed.all_sum(reason_counts(traj.reasons))
    return {
        **means,
        **routing_shares(counts),
        "seconds_generation": traj.seconds_generation,
        "seconds_scoring": traj.seconds_scoring,
    }


def global_means(sums: dict[str, float], count: float) -> dict[str, float]:
    """Each named sum over all processes divided by the count over all processes."""
    totals = distributed.all_sum(torch.tensor([count, *sums.values()], dtype=torch.float64))
    n = max(float(totals[0]), 1.0)
    return {name: float(v) / n for name, v in zip(sums, totals[1:].tolist(), strict=True)}


def provenance(cfg: PPOConfig) -> dict[str, Any]:
    """What the policy was made from: start policy, both reward models, prompt files' sha256."""
    from mlcore.files import file_sha256
    from training_jobs.rlhf.reward import reward_model_record as folder

    files = [p for p in (cfg.rollout.prompts, cfg.rollout.heldout_prompts) if p]
    return {
        "method": "ppo",
        "start_policy": str(Path(cfg.rollout.policy).resolve()),
        "reward_models": {
            "helpfulness": folder(cfg.rewards.helpfulness_model),
            "safety": folder(cfg.rewards.safety_model),
        },
        "prompts": [{"path": str(Path(p).resolve()), "sha256": file_sha256(p)} for p in files],
        "config": as_dict(cfg),
    }
