"""The pool of best answers: one per prompt, the best over every iteration so far.

The paper found that fine-tuning on the last iteration's best answers alone caused
regressions, so later rounds pool the best answers of all prior iterations (§3.2.3).

A pool line: {"key": str, "prompt": [messages], "safety": bool, "response": str,
"reward": float, "used": "helpfulness"|"safety", "helpfulness": float, "safety": float|null,
"source": str}. Rewards are on the paper's scale (sigmoid of the reward model's output).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlcore.jsonl import read_records


def prompt_key(prompt: list[dict[str, str]]) -> str:
    """A stable identity of a prompt across iterations and batches: a hash of its messages."""
    text = json.dumps(
        [{"role": m["role"], "content": m["content"]} for m in prompt],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def pool_merge(*pools: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entry with the highest reward per prompt key over all pools, in first-seen order.

    A tie goes to the later pool (the newer answer). Pools should be scored by the same reward
    models for the comparison to mean anything (`select` re-scores earlier pools).
    """
    best: dict[str, dict[str, Any]] = {}
    for pool in pools:
        for entry in pool:
            current = best.get(entry["key"])
            if current is None or entry["reward"] >= current["reward"]:
                best[entry["key"]] = entry
    return list(best.values())


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every line of a samples or pool file (JSON objects; mlcore.jsonl: FileError on a bad one)."""
    return [record for _, record in read_records(path)]


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
