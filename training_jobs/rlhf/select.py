"""Score the K answers of each prompt, keep the best, and pool it with earlier iterations.

    python -m training_jobs.rlhf select --samples samples.jsonl \
        --helpfulness-model rm/helpfulness --safety-model rm/safety \
        --earlier-pools v1/pool.jsonl v2/pool.jsonl --output-dir out

Writes OUTPUT_DIR/scored.jsonl (every answer's rewards), best.jsonl (this iteration's best per
prompt) and pool.jsonl (the best per prompt over this and all earlier iterations). Earlier
pools are re-scored with this round's reward models, so every comparison is on one scale.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from mlcore.progress import Progress, Stage
from training_jobs.rlhf.config import SelectConfig
from training_jobs.rlhf.pool import pool_merge, read_jsonl, write_jsonl
from training_jobs.rlhf.reward import Reward, RewardModels


def best_entries(samples: list[dict[str, Any]], rewards: list[list[Reward]], source: str):
    """This iteration's pool entries: each prompt's answer with the highest R_c.

    Ties keep the earliest answer. Returns pool lines (see pool.py).
    """
    entries = []
    for row, row_rewards in zip(samples, rewards, strict=True):
        j = max(range(len(row_rewards)), key=lambda i: (row_rewards[i].value, -i))
        entries.append(_entry(row, row["responses"][j], row_rewards[j], source))
    return entries


def _entry(row: dict[str, Any], response: str, reward: Reward, source: str) -> dict[str, Any]:
    return {
        "key": row["key"],
        "prompt": row["prompt"],
        "safety": row["safety"],
        "response": response,
        **reward.to_json(),
        "source": source,
    }


def score_in_chunks(models: RewardModels, rows, answers, stage: Stage) -> list[list[Reward]]:
    """R_c of every answer; `stage` counts the prompts."""
    out: list[list[Reward]] = []
    step = 32
    for start in range(0, len(rows), step):
        part = rows[start : start + step]
        out += models.score(
            [r["prompt"] for r in part],
            answers[start : start + step],
            [r["safety"] for r in part],
        )
        stage.update(len(part))
    return out


def rescore_pool(models: RewardModels, entries, stage: Stage) -> list[dict[str, Any]]:
    """Earlier pool entries with rewards from this round's reward models."""
    answers = [[e["response"]] for e in entries]
    rewards = score_in_chunks(models, entries, answers, stage)
    return [{**e, **r[0].to_json()} for e, r in zip(entries, rewards, strict=True)]


def select(
    samples: list[dict[str, Any]],
    models: RewardModels,
    earlier: list[dict[str, Any]],
    out_dir: Path,
    source: str,
    progress: Progress,
) -> dict[str, Any]:
    """Write scored.jsonl, best.jsonl and pool.jsonl into out_dir; return statistics.

    Reports the stages "score" (this round's samples) and "rescore" (earlier pools).
    """
    answers = [r["responses"] for r in samples]
    rewards = score_in_chunks(models, samples, answers, progress.stage("score", len(samples)))
    scored = zip(samples, rewards, strict=True)
    write_jsonl(
        out_dir / "scored.jsonl", ({**s, "rewards": [r.to_json() for r in rr]} for s, rr in scored)
    )
    best = best_entries(samples, rewards, source)
    write_jsonl(out_dir / "best.jsonl", best)
    rescored = (
        rescore_pool(models, earlier, progress.stage("rescore", len(earlier))) if earlier else []
    )
    pool = pool_merge(rescored, best)
    write_jsonl(out_dir / "pool.jsonl", pool)
    values = [[r.value for r in rr] for rr in rewards]
    used = [r.used for rr in rewards for r in rr]
    return {
        "prompts": len(samples),
        "k": len(values[0]) if values else 0,
        "mean_best_reward": statistics.fmean(max(v) for v in values),
        "mean_median_reward": statistics.fmean(statistics.median(v) for v in values),
        "mean_reward": statistics.fmean(x for v in values for x in v),
        "routed_to_safety_share": used.count("safety") / max(len(used), 1),
        "earlier_pool_entries": len(earlier),
        "pool_size": len(pool),
        "pool_from_earlier": sum(e["source"] != source for e in pool),
        "mean_pool_reward": statistics.fmean(e["reward"] for e in pool),
    }


def read_pools(paths: list[str]) -> list[dict[str, Any]]:
    """Entries of earlier pools, each (prompt, answer) once (pools are cumulative)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        for entry in read_jsonl(path):
            seen.setdefault((entry["key"], entry["response"]), entry)
    return list(seen.values())


def main(cfg: SelectConfig) -> dict[str, Any]:
    if not cfg.output_dir:
        raise SystemExit("select needs --output-dir")
    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = RewardModels.from_config(cfg.scoring)
    earlier = read_pools(cfg.earlier_pools)
    with Progress({"score": 1, "rescore": 0.5 if earlier else 0}, bar=cfg.progress) as progress:
        return select(
            read_jsonl(cfg.samples),
            models,
            earlier,
            out_dir,
            source=str(Path(cfg.samples).resolve()),
            progress=progress,
        )
