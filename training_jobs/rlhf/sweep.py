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

from mlcore.progress import Progress
from training_jobs.rlhf.config import SweepConfig
from training_jobs.rlhf.reward import RewardModels
from training_jobs.rlhf.sample import load_policy_backend, read_prompts, release, sample_answers


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
    """Write cfg.output; return the sweep. Progress stages: "sample T=<t>" per temperature,
    then "score" (one unit a temperature)."""
    sampling = cfg.sampling
    if not sampling.prompts or not sampling.policy:
        raise SystemExit("sweep needs --prompts and --policy")
    ks = sorted(set(cfg.ks))
    if not ks or ks[0] < 1 or ks[-1] > 100:
        raise SystemExit("--ks must be between 1 and 100")
    prompts = read_prompts(sampling.prompts)
    shares = {f"sample T={t:g}": 4 for t in cfg.temperatures} | {"score": 1}
    samples: dict[float, list[dict[str, Any]]] = {}
    with Progress(shares, bar=cfg.progress) as progress:
        backend = load_policy_backend(sampling)
        try:
            for t in cfg.temperatures:
                stage = progress.stage(f"sample T={t:g}", total=len(prompts) * ks[-1])
                samples[t] = sample_answers(
                    backend, prompts, sampling, stage, k=ks[-1], temperature=t
                )
        finally:
            release(backend)
        del backend
        models = RewardModels.from_config(cfg.scoring)
        stage = progress.stage("score", total=len(cfg.temperatures))
        series = []
        for t in cfg.temperatures:
            rows = samples[t]
            rewards = models.score(
                [r["prompt"] for r in rows],
                [r["responses"] for r in rows],
                [r["safety"] for r in rows],
            )
            values = [[x.value for x in rr] for rr in rewards]
            series.append({"temperature": t, **sweep_stats(values, ks)})
            stage.update(1)
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
