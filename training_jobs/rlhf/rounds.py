"""One rejection-sampling round into one folder: sample K, select the best, pool, fine-tune.

    python -m training_jobs.rlhf round --prompts prompts.jsonl --policy policy/ \
        --helpfulness-model rm/helpfulness --safety-model rm/safety \
        --earlier-pools v1/pool.jsonl --k 8 --temperature 1.0 --output-dir out/

OUTPUT_DIR then holds the new policy (a transformers folder that vLLM also loads) and beside
it: samples.jsonl, scored.jsonl, best.jsonl, pool.jsonl (what the next round pools),
metrics.json (sampling, selection and fine-tuning figures) and rlhf.json (provenance: the
start policy, reward models, prompt and pool files with their sha256, and the config).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from mlcore.files import file_sha256
from mlcore.progress import Progress
from training_jobs.rlhf import finetune, sample
from training_jobs.rlhf.config import RoundConfig
from training_jobs.rlhf.pool import read_jsonl, write_jsonl
from training_jobs.rlhf.reward import RewardModels, reward_model_record
from training_jobs.rlhf.select import read_pools, select


def provenance(cfg: RoundConfig) -> dict[str, Any]:
    prompts = cfg.sampling.prompts
    return {
        "method": "rejection_sampling",
        "start_policy": str(Path(cfg.sampling.policy).resolve()),
        "reward_models": {
            "helpfulness": reward_model_record(cfg.scoring.helpfulness_model),
            "safety": reward_model_record(cfg.scoring.safety_model),
        },
        "prompts": {"path": str(Path(prompts).resolve()), "sha256": file_sha256(prompts)},
        "earlier_pools": [{"path": p, "sha256": file_sha256(p)} for p in cfg.earlier_pools],
        "config": dataclasses.asdict(cfg),
    }


def main(cfg: RoundConfig) -> dict[str, Any]:
    """Run the round; return metrics (also written to OUTPUT_DIR/metrics.json).

    Progress stages: "sample", "score", "rescore" (earlier pools) and "finetune".
    """
    sampling, scoring = cfg.sampling, cfg.scoring
    if not (sampling.prompts and sampling.policy and cfg.output_dir and scoring.helpfulness_model):
        raise SystemExit("round needs --prompts, --policy, --helpfulness-model and --output-dir")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    prompts = sample.read_prompts(sampling.prompts)
    earlier = read_pools(cfg.earlier_pools)
    shares = {
        "sample": 0.6,
        "score": 0.1,
        "rescore": 0.05 if earlier else 0.0,
        "finetune": 0.25 if cfg.finetune else 0.0,
    }
    with Progress(shares, bar=cfg.progress) as progress:
        backend = sample.load_policy_backend(sampling)
        try:
            stage = progress.stage("sample", total=len(prompts) * sampling.k)
            rows = sample.sample_answers(backend, prompts, sampling, stage)
        finally:
            sample.release(backend)
        del backend
        write_jsonl(out / "samples.jsonl", rows)

        models = RewardModels.from_config(scoring)
        selection = select(rows, models, earlier, out, str(out.resolve()), progress)
        del models

        tuned = None
        if cfg.finetune:
            pool = read_jsonl(out / "pool.jsonl")
            tuned = finetune.train(
                sampling.policy, cfg.training, pool, out, progress, seed=sampling.seed
            )
    metrics = {
        "sampling": sample.sampling_stats(rows),
        "selection": selection,
        "finetune": tuned,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "rlhf.json").write_text(json.dumps(provenance(cfg), indent=2) + "\n")
    return metrics
