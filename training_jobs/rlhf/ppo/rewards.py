"""R_c of each answer, exactly as the paper routes it (the rule rejection sampling uses too).

Each reward model re-tokenizes the prompt and the answer's text with its own tokenizer and
chat template (the policy's tokens are never fed to a reward model: the two may tokenize
differently, trl #1674), and scores it raw (the scalar before any sigmoid). Then

    R_c = R_s  if IS_SAFETY(p) or sigmoid(R_s) < threshold  else R_h

on the raw scale, a truncation penalty if asked for, and WHITEN over the rollout batch (all
processes) after routing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from training_jobs.rlhf.reward import ROUTE_REASONS, RewardModels, RouteReason, routed_raw


@dataclass
class Scores:
    """Per answer: both raw scores, the routed raw R_c (penalised) and why it was routed."""

    helpfulness: list[float]
    safety: list[float] | None
    raw: torch.Tensor  # (B,) routed raw R_c, minus the truncation penalty where truncated
    reasons: list[RouteReason]


def score_answers(
    models: RewardModels,
    prompts: list[list[dict[str, str]]],
    texts: list[str],
    safety_flags: list[bool],
    truncated: list[bool],
    truncation_penalty: float = 0.0,
) -> Scores:
    """Score every answer with both reward models and route (see module docstring)."""
    groups = [{"prompt": p, "responses": [t]} for p, t in zip(prompts, texts, strict=True)]
    helpful = [s[0] for s in models.raw("helpfulness", groups)] if groups else []
    safe = (
        [s[0] for s in models.raw("safety", groups)]
        if "safety" in models.models and groups
        else None
    )
    values, reasons = [], []
    for i, flag in enumerate(safety_flags):
        value, reason = routed_raw(
            flag, helpful[i], None if safe is None else safe[i], models.threshold
        )
        values.append(value - (truncation_penalty if truncated[i] else 0.0))
        reasons.append(reason)
    return Scores(helpful, safe, torch.tensor(values, dtype=torch.float32), reasons)


def reason_counts(reasons: list[RouteReason]) -> torch.Tensor:
    """Counts (3,) of answers routed by the safety flag, by the threshold, and to R_h."""
    counts = Counter(reasons)
    return torch.tensor([counts[r] for r in ROUTE_REASONS], dtype=torch.float64)


def routing_shares(counts: torch.Tensor) -> dict[str, float]:
    """{"routed_safety_flag", "routed_threshold", "routed_helpfulness"}: shares of answers."""
    total = float(counts.sum()) or 1.0
    return {f"routed_{r}": float(c) / total for r, c in zip(ROUTE_REASONS, counts, strict=True)}
