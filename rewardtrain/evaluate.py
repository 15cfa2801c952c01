"""Evaluation: accuracy by grade (Table 8) and, for labelled responses, precision and recall of
"unsafe" at the paper's 0.15 threshold on the sigmoid score (§3.4, PPO's safety gate).

    python -m rewardtrain eval --models out/helpfulness out/safety \\
        --test helpfulness=out/helpfulness/test_helpfulness.jsonl safety=safety_test.jsonl
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from mlcore.progress import Progress
from rewardtrain.config import EvalConfig
from rewardtrain.data import Pair, TokenizedPair, read_pairs, tokenize_pairs
from rewardtrain.grades import GRADES, UNGRADED, UNSAFE_THRESHOLD
from rewardtrain.packing import Item, pack_row, plan_rows


@torch.no_grad()
def score_items(
    model: torch.nn.Module,
    items: list[Item],
    pack_tokens: int,
    device: torch.device | str = "cpu",
    autocast: Any = None,
) -> dict[int, list[float]]:
    """Rewards of every item's responses, keyed by item key, in packed rows."""
    was_training = model.training
    model.eval()
    out: dict[int, list[float]] = {}
    for row_items in plan_rows(items, pack_tokens):
        row = pack_row(row_items).to(device)
        with autocast or nullcontext():
            rewards = model(
                row.input_ids, row.position_ids, row.attention_mask(torch.bool), row.reward_index
            )
        values = rewards.float().cpu().tolist()
        for key, n in zip(row.keys, row.n_responses, strict=True):
            out[key], values = values[:n], values[n:]
    model.train(was_training)
    return out


def score_pairs(
    model: torch.nn.Module,
    pairs: list[TokenizedPair],
    pack_tokens: int,
    device: torch.device | str = "cpu",
    autocast: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards of chosen and rejected, each (P,), in the order of pairs."""
    scores = score_items(
        model, [Item.from_pair(p, i) for i, p in enumerate(pairs)], pack_tokens, device, autocast
    )
    chosen = torch.tensor([scores[i][0] for i in range(len(pairs))])
    rejected = torch.tensor([scores[i][1] for i in range(len(pairs))])
    return chosen, rejected


def pair_metrics(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    pairs: list[Pair],
    unsafe_threshold: float = UNSAFE_THRESHOLD,
) -> dict[str, Any]:
    """Accuracy by grade and on average; precision/recall of "unsafe" where labels exist.

    chosen, rejected: (P,) rewards; pairs: the P pairs they score (for grades and labels).
    """
    correct = (chosen > rejected).tolist()
    by_grade: dict[str, list[bool]] = {g: [] for g in (*GRADES, UNGRADED)}
    for ok, pair in zip(correct, pairs, strict=True):
        by_grade[pair.grade or UNGRADED].append(ok)
    accuracy = {g: (sum(v) / len(v) if v else None) for g, v in by_grade.items()}
    result: dict[str, Any] = {
        "n": len(pairs),
        "accuracy": accuracy,
        "average": sum(correct) / len(correct) if correct else None,
        "counts": {g: len(v) for g, v in by_grade.items()},
        "mean_reward_gap": float((chosen - rejected).mean()) if len(pairs) else None,
    }
    # Each labelled response on its own: predicted unsafe when sigmoid(score) < threshold.
    true_pos = false_pos = false_neg = labelled = 0
    for c, r, pair in zip(chosen.tolist(), rejected.tolist(), pairs, strict=True):
        for score, safe in ((c, pair.chosen_safe), (r, pair.rejected_safe)):
            if safe is None:
                continue
            labelled += 1
            predicted_unsafe = 1.0 / (1.0 + math.exp(-score)) < unsafe_threshold
            true_pos += predicted_unsafe and not safe
            false_pos += predicted_unsafe and safe
            false_neg += (not predicted_unsafe) and not safe
    result["unsafe"] = {
        "threshold": unsafe_threshold,
        "labelled_responses": labelled,
        "precision": true_pos / (true_pos + false_pos) if true_pos + false_pos else None,
        "recall": true_pos / (true_pos + false_neg) if true_pos + false_neg else None,
    }
    return result


def table8(metrics: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Markdown table in the form of Table 8: one row per (reward model, test set)."""
    head = "| reward model | test set | " + " | ".join(
        g.replace("_", " ") for g in (*GRADES, UNGRADED)
    )
    lines = [head + " | average | n |", "|" + " --- |" * (len(GRADES) + 5)]
    for rm, sets in metrics.items():
        for test, m in sets.items():
            cells = [
                "–" if m["accuracy"][g] is None else f"{100 * m['accuracy'][g]:.1f}"
                for g in (*GRADES, UNGRADED)
            ]
            avg = "–" if m["average"] is None else f"{100 * m['average']:.1f}"
            lines.append(f"| {rm} | {test} | " + " | ".join(cells) + f" | {avg} | {m['n']} |")
    return "\n".join(lines)


def _test_sets(cfg: EvalConfig) -> list[tuple[str, str]]:
    if cfg.test:
        sets = []
        for spec in cfg.test:
            name, _, path = spec.partition("=") if "=" in spec else (Path(spec).stem, "", spec)
            sets.append((name.removesuffix(".jsonl"), path))
        return sets
    found = {}
    for model in cfg.models:
        for path in sorted(Path(model).glob("test_*.jsonl")):
            found.setdefault(path.stem.removeprefix("test_"), str(path))
    return list(found.items())


def main(cfg: EvalConfig) -> dict[str, Any]:
    """Evaluate each reward model on each test set; write and return the metrics."""
    from rewardtrain.model import RewardModel, load_sequence_classifier, load_tokenizer

    sets = _test_sets(cfg)
    if not cfg.models or not sets:
        raise SystemExit("eval needs --models and test sets (--test, or test_*.jsonl beside them)")
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    progress = Progress({"eval": 1}, bar=cfg.progress)
    stage = progress.stage("eval", total=len(cfg.models) * len(sets))
    for model_dir in cfg.models:
        tokenizer = load_tokenizer(model_dir)
        model = RewardModel(load_sequence_classifier(model_dir, tokenizer.pad_token_id))
        name = Path(model_dir).resolve().name
        metrics[name] = {}
        for test_name, path in sets:
            pairs, _ = read_pairs(path)
            tokenized, dropped = tokenize_pairs(tokenizer, pairs, cfg.max_length)
            chosen, rejected = score_pairs(model, tokenized, cfg.pack_tokens)
            result = pair_metrics(
                chosen, rejected, [t.pair for t in tokenized], cfg.unsafe_threshold
            )
            result.update({"path": str(path), "dropped_too_long": dropped})
            metrics[name][test_name] = result
            stage.update(1)
    progress.close()
    report = {"metrics": metrics, "table8": table8(metrics)}
    Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.output).write_text(json.dumps(report, indent=2) + "\n")
    print(report["table8"])
    return report
