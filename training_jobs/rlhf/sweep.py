"""Reward of the best and the median of K samples, over K and temperature (Figures 7, 8).

    python -m training_jobs.rlhf sweep --prompts prompts.jsonl --policy policy/ \
        --helpfulness-model rm/helpfulness --safety-model rm/safety \
        --ks 1 2 4 8 16 32 64 100 --temperatures 0.8 1.0 1.2 1.4 --output sweep.json

For each temperature, max(ks) answers are sampled per prompt once; the statistics for K use
the first K of them. (--k and --temperature are not used: --ks and --temperatures replace them.)

sweep.json:

    {
      "ks": [1, 2, 4, ...],                  # the x axis
      "prompts": 32,                         # prompts averaged over
      "reward": "sigmoid(R_c)",              # the paper's scale, R_s/R_h routed as in §3.2.3
      "series": [                            # one per temperature, lists aligned with "ks"
        {"temperature": 1.0,
         "max": [...],                       # mean over prompts of the best of K rewards
         "median": [...],                    # mean over prompts of the median of K rewards
         "gap": [...]}                       # max - median
      ],
      "best_temperature": {"<k>": t, ...},   # temperature with the highest max, per K
      "config": {...}
    }
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path
from typing import Any

from training_jobs.rlhf.config import SweepConfig
from training_jobs.rlhf.reward import RewardModels
from training_jobs.rlhf.sample import (
    chunk_size,
    load_policy_backend,
    read_prompts,
    release,
    sample_answers,
)


def sweep_stats(rewards: list[list[float]], ks: list[int]) -> dict[str, list[float]]:
    """Mean over prompts of max, median and max - median of each prompt's first K rewards.

    rewards: one list per prompt with at least max(ks) values.
    """
    maxima, medians = [], []
    for k in ks:
        maxima.append(statistics.fmean(max(r[:k]) for r in rewards))
        medians.append(statistics.fmean(statistics.median(r[:k]) for r in rewards))
    gaps = [a - b for a, b in zip(maxima, medians, strict=True)]
    return {"max": maxima, "median": medians, "gap": gaps}


def best_temperatures(series: list[dict[str, Any]], ks: list[int]) -> dict[str, float]:
    """For each K, the temperature whose best-of-K reward is highest."""
    return {str(k): max(series, key=lambda s: s["max"][i])["temperature"] for i, k in enumerate(ks)}


def main(cfg: SweepConfig) -> dict[str, Any]:
    if not cfg.prompts or not cfg.policy:
        raise SystemExit("sweep needs --prompts and --policy")
    ks = sorted(set(cfg.ks))
    if not ks or ks[0] < 1 or ks[-1] > 100:
        raise SystemExit("--ks must be between 1 and 100")
    prompts = read_prompts(cfg.prompts)
    backend = load_policy_backend(cfg)
    samples: dict[float, list[dict[str, Any]]] = {}
    try:
        for t in cfg.temperatures:
            samples[t] = sample_answers(
                backend,
                prompts,
                k=ks[-1],
                temperature=t,
                top_p=cfg.top_p,
                max_tokens=cfg.max_tokens,
                seed=cfg.seed,
                chunk=chunk_size(cfg),
                progress=cfg.progress,
                desc=f"sample t={t:g}",
            )
    finally:
        release(backend)
    del backend
    models = RewardModels(
        cfg.helpfulness_model, cfg.safety_model, cfg.safety_threshold, cfg.pack_tokens
    )
    from tqdm import tqdm

    series = []
    for t in tqdm(cfg.temperatures, desc="score", unit="temperature", disable=not cfg.progress):
        rows = samples[t]
        rewards = models.score(
            [r["prompt"] for r in rows], [r["responses"] for r in rows], [r["safety"] for r in rows]
        )
        values = [[x.value for x in rr] for rr in rewards]
        series.append({"temperature": t, **sweep_stats(values, ks)})
    result = {
        "ks": ks,
        "prompts": len(prompts),
        "reward": "sigmoid(R_c)",
        "series": series,
        "best_temperature": best_temperatures(series, ks),
        "config": dataclasses.asdict(cfg),
    }
    Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.output).write_text(json.dumps(result, indent=2) + "\n")
    return result
