"""Evaluation: accuracy by grade (Table 8) and, for labelled responses, precision and recall of
"unsafe" at the paper's 0.15 threshold on the sigmoid score (§3.4, PPO's safety gate).

    python -m rewardtrain eval --models out/helpfulness out/safety \\
        --test helpfulness=out/helpfulness/test_helpfulness.jsonl safety=safety_test.jsonl
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from mlcore.progress import Progress
from rewardtrain.config import EvalConfig
from rewardtrain.data import Pair, TokenizedPair, read_pairs, tokenize_pairs
from rewardtrain.grades import GRADES, UNGRADED, UNSAFE_THRESHOLD
from rewardtrain.packing import Item, pack_row, plan_rows
from rewardtrain.threshold import sigmoid, unsafe_analysis


@torch.no_grad()
def score_items(
    model: torch.nn.Module,
    items: list[Item],
    pack_tokens: int,
    device: torch.device | str = "cpu",
    autocast: Any = None,
    attention: str = "auto",
) -> dict[int, list[float]]:
    """Rewards of every item's responses, keyed by item key, in packed rows (attention: see
    TrainConfig.attention)."""
    from rewardtrain.model import run_row, uses_per_item

    was_training = model.training
    model.eval()
    per_item = uses_per_item(attention, device, model)
    out: dict[int, list[float]] = {}
    for row_items in plan_rows(items, pack_tokens):
        row = pack_row(row_items).to(device)
        with autocast or nullcontext():
            rewards = run_row(model, row, per_item)
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
    attention: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards of chosen and rejected, each (P,), in the order of pairs."""
    scores = score_items(
        model,
        [Item.from_pair(p, i) for i, p in enumerate(pairs)],
        pack_tokens,
        device,
        autocast,
        attention,
    )
    chosen = torch.tensor([scores[i][0] for i in range(len(pairs))])
    rejected = torch.tensor([scores[i][1] for i in range(len(pairs))])
    return chosen, rejected


def pair_metrics(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    pairs: list[Pair],
    unsafe_threshold: float = UNSAFE_THRESHOLD,
    dropped_too_long: int = 0,
) -> dict[str, Any]:
    """Accuracy by grade and on average; precision/recall of "unsafe" where labels exist.

    chosen, rejected: (P,) rewards; pairs: the P pairs they score (for grades and labels);
    dropped_too_long: test pairs left out for length (recorded beside n).
    """
    correct = (chosen > rejected).tolist()
    by_grade: dict[str, list[bool]] = {g: [] for g in (*GRADES, UNGRADED)}
    for ok, pair in zip(correct, pairs, strict=True):
        by_grade[pair.grade or UNGRADED].append(ok)
    accuracy = {g: (sum(v) / len(v) if v else None) for g, v in by_grade.items()}
    result: dict[str, Any] = {
        "n": len(pairs),
        "dropped_too_long": dropped_too_long,
        "accuracy": accuracy,
        "average": sum(correct) / len(correct) if correct else None,
        "counts": {g: len(v) for g, v in by_grade.items()},
        "mean_reward_gap": float((chosen - rejected).mean()) if len(pairs) else None,
    }
    # Each labelled response on its own: predicted unsafe when sigmoid(score) < threshold.
    probabilities: list[float] = []
    unsafe: list[bool] = []
    for c, r, pair in zip(chosen.tolist(), rejected.tolist(), pairs, strict=True):
        for score, safe in ((c, pair.chosen_safe), (r, pair.rejected_safe)):
            if safe is not None:
                probabilities.append(sigmoid(score))
                unsafe.append(not safe)
    flagged = [p < unsafe_threshold for p in probabilities]
    true_pos = sum(f and u for f, u in zip(flagged, unsafe, strict=True))
    result["unsafe"] = {
        "threshold": unsafe_threshold,
        "labelled_responses": len(unsafe),
        "precision": true_pos / sum(flagged) if any(flagged) else None,
        "recall": true_pos / sum(unsafe) if any(unsafe) else None,
    }
    if unsafe:
        result["unsafe"].update(unsafe_analysis(probabilities, unsafe))
    return result


def table8(metrics: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Markdown table in the form of Table 8: one row per (reward model, test set), with the
    pairs scored (n) and those left out as longer than max_length."""
    head = "| reward model | test set | " + " | ".join(
        g.replace("_", " ") for g in (*GRADES, UNGRADED)
    )
    lines = [head + " | average | n | dropped for length |", "|" + " --- |" * (len(GRADES) + 6)]
    for rm, sets in metrics.items():
        for test, m in sets.items():
            cells = [
                "–" if m["accuracy"][g] is None else f"{100 * m['accuracy'][g]:.1f}"
                for g in (*GRADES, UNGRADED)
            ]
            avg = "–" if m["average"] is None else f"{100 * m['average']:.1f}"
            dropped = m.get("dropped_too_long", "–")
            lines.append(
                f"| {rm} | {test} | " + " | ".join(cells) + f" | {avg} | {m['n']} | {dropped} |"
            )
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
    from rewardtrain.model import load_reward_model, pick_device

    sets = _test_sets(cfg)
    if not cfg.models or not sets:
        raise SystemExit("eval needs --models and test sets (--test, or test_*.jsonl beside them)")
    device = pick_device(cfg.device)
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    progress = Progress({"eval": 1}, bar=cfg.progress)
    stage = progress.stage("eval", total=len(cfg.models) * len(sets))
    for model_dir in cfg.models:
        model, tokenizer = load_reward_model(model_dir, device, cfg.bf16)
        name = Path(model_dir).resolve().name
        metrics[name] = {}
        for test_name, path in sets:
            pairs, _ = read_pairs(path)
            tokenized, dropped = tokenize_pairs(tokenizer, pairs, cfg.max_length)
            chosen, rejected = score_pairs(model, tokenized, cfg.pack_tokens, device)
            result = pair_metrics(
                chosen, rejected, [t.pair for t in tokenized], cfg.unsafe_threshold, dropped
            )
            result["path"] = str(path)
            metrics[name][test_name] = result
            stage.update(1)
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        del model
    progress.close()
    report = {
        "metrics": metrics,
        "table8": table8(metrics),
        "device": str(device),
        "dtype": dtype,
    }
    Path(cfg.output).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.output).write_text(json.dumps(report, indent=2) + "\n")
    print(report["table8"])
    return report
