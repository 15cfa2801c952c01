"""Data pools, held-out test splits and the reward models' data mixes (§3.2.2).

Pools: ``helpfulness`` and ``safety`` (Margin's own comparisons, by their stage),
``open_source`` (e.g. Anthropic HH helpful) and ``harmless`` (Anthropic Harmless).

- Helpfulness RM: all helpfulness pairs + an equal amount (``extra_ratio`` times as many)
  sampled uniformly from the safety, open-source and harmless pools together.
- Safety RM: all safety and harmless pairs, mixed 90/10 (``helpfulness_share`` = 0.1) with pairs
  sampled uniformly from the helpfulness and open-source pools.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from mlcore.files import file_sha256
from rewardtrain.data import Pair, read_pairs

POOLS = ("helpfulness", "safety", "open_source", "harmless")


def load_pools(
    data: list[str],
    open_source: list[str] = (),
    harmless: list[str] = (),
    default_stage: str = "helpfulness",
) -> tuple[dict[str, list[Pair]], list[dict[str, Any]]]:
    """Read every input file into its pool; return the pools and one record per file
    (path, sha256, role, counts of lines read, pairs kept and skipped)."""
    pools: dict[str, list[Pair]] = {name: [] for name in POOLS}
    inputs = []
    for role, paths in (("data", data), ("open_source", open_source), ("harmless", harmless)):
        for path in paths:
            pairs, counts = read_pairs(path, source=Path(path).name)
            by_pool: Counter = Counter()
            for pair in pairs:
                pool = role if role != "data" else (pair.stage or default_stage)
                pools[pool].append(pair)
                by_pool[pool] += 1
            inputs.append(
                {
                    "path": str(Path(path).resolve()),
                    "sha256": file_sha256(path),
                    "role": role,
                    "counts": dict(counts),
                    "pools": dict(by_pool),
                }
            )
    return pools, inputs


def pair_fraction(pair: Pair) -> float:
    """A number in [0, 1) fixed by the pair's text alone (sha256 of prompt, chosen, rejected):
    the same on every machine, in every export and whatever else the file holds."""
    text = json.dumps([pair.prompt, pair.chosen, pair.rejected], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def split_test(
    pools: dict[str, list[Pair]], test_pairs: int, test_fraction: float
) -> tuple[dict[str, list[Pair]], dict[str, list[Pair]]]:
    """Hold out the pairs whose pair_fraction is below test_fraction, at most test_pairs of each
    pool (the lowest fractions; paper: 1,000), both sides in file order.

    The split is stable as the data grows: a pair on the training side never moves to a later
    test set, so a new model's test set is unseen by every earlier model trained on a subset of
    its data. Until a pool's test set is full, its test pairs stay held out too; after that, a
    new pair with a lower fraction can push one into training. Copies of a pair fall on the same
    side, in every pool.
    """
    train, test = {}, {}
    for name, pairs in pools.items():
        fractions = [pair_fraction(p) for p in pairs]
        below = sorted((f, n) for n, f in enumerate(fractions) if f < test_fraction)
        held = {n for _, n in below[:test_pairs]}
        test[name] = [p for n, p in enumerate(pairs) if n in held]
        train[name] = [p for n, p in enumerate(pairs) if n not in held]
    return train, test


def _sample(rng: random.Random, pairs: list[Pair], n: int) -> list[Pair]:
    return rng.sample(pairs, min(n, len(pairs)))


def build_mix(
    reward_model: str,
    pools: dict[str, list[Pair]],
    mix: str = "paper",
    extra_ratio: float = 1.0,
    helpfulness_share: float = 0.1,
    seed: int = 0,
) -> tuple[list[Pair], dict[str, Any]]:
    """The training pairs of one reward model, shuffled, and a record of how they were drawn."""
    rng = random.Random(seed)
    available = {name: len(pairs) for name, pairs in pools.items()}
    if mix == "none":
        chosen = [p for name in POOLS for p in pools.get(name, [])]
        record: dict[str, Any] = {"rule": "none: every training pair"}
    elif reward_model == "helpfulness":
        base = list(pools["helpfulness"])
        others = pools["safety"] + pools["open_source"] + pools["harmless"]
        wanted = round(extra_ratio * len(base))
        chosen = base + _sample(rng, others, wanted)
        record = {
            "rule": "all helpfulness + extra_ratio x as many sampled uniformly from "
            "safety, open_source and harmless",
            "extra_ratio": extra_ratio,
            "extra_wanted": wanted,
        }
    elif reward_model == "safety":
        base = pools["safety"] + pools["harmless"]
        others = pools["helpfulness"] + pools["open_source"]
        wanted = (
            round(helpfulness_share / (1.0 - helpfulness_share) * len(base))
            if helpfulness_share < 1.0
            else len(others)
        )
        chosen = base + _sample(rng, others, wanted)
        record = {
            "rule": "all safety + harmless, with helpfulness + open_source sampled uniformly "
            "to make helpfulness_share of the mix",
            "helpfulness_share": helpfulness_share,
            "extra_wanted": wanted,
        }
    else:
        raise ValueError(f"unknown reward model {reward_model!r}")
    rng.shuffle(chosen)
    used = Counter()
    ids = {id(p): name for name, pairs in pools.items() for p in pairs}
    for pair in chosen:
        used[ids[id(pair)]] += 1
    record.update({"mix": mix, "available": available, "used": {n: used.get(n, 0) for n in POOLS}})
    record["total"] = len(chosen)
    return chosen, record
