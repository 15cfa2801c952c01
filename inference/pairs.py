"""The paper's pair-sampling policy (§3.2.1): two responses to the same prompt from two
different model variants, each at its own temperature drawn from a range, each with its own
seed.

    from inference import PairPolicy, ModelVariant, load_backend, sample_pairs
    backends = {v.label: load_backend(v) for v in variants}
    pairs = sample_pairs(conversations, backends, PairPolicy(max_tokens=256, seed=7))
    pairs[0].a.record()   # variant, temperature, top_p, seed, token counts, seconds, ...

With one variant both responses come from it (still different seeds and temperatures). A variant
may have a temperature of its own (`PairPolicy.variant_temperatures`): two variants of one
checkpoint at two temperatures are then two variants in the paper's sense. Variants that share
one backend object (one loaded model) are generated in one batched call.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inference.backends.base import Backend
from inference.params import MAX_TEMPERATURE, SEED_MAX, SamplingParams
from inference.records import Completion, Conversation


@dataclass(frozen=True)
class PairPolicy:
    temperature_range: tuple[float, float] = field(
        default=(0.6, 1.2), metadata={"help": "temperatures are drawn uniformly from this range"}
    )
    top_p: float = field(default=0.9, metadata={"help": "nucleus mass for every sample"})
    max_tokens: int = field(default=256, metadata={"help": "new tokens per response"})
    seed: int | None = field(
        default=None, metadata={"help": "seeds the draw of variants, temperatures and seeds"}
    )
    variant_temperatures: Mapping[str, float] = field(
        default_factory=dict,
        metadata={"help": "variant label -> its own temperature (else drawn from the range)"},
    )

    def __post_init__(self) -> None:
        low, high = self.temperature_range
        if not 0.0 <= low <= high <= MAX_TEMPERATURE:
            raise ValueError(
                f"temperature_range must satisfy 0 <= low <= high <= 2, got {low, high}"
            )
        for label, temperature in self.variant_temperatures.items():
            if not 0.0 <= temperature <= MAX_TEMPERATURE:
                raise ValueError(f"variant {label!r}: temperature must be in [0, 2]")
        SamplingParams(temperature=low, top_p=self.top_p, max_tokens=self.max_tokens)


@dataclass(frozen=True)
class PlannedSample:
    variant: str
    params: SamplingParams


@dataclass(frozen=True)
class Sample:
    """One response of a pair: the variant it came from and the completion."""

    variant: str
    completion: Completion

    def record(self) -> dict[str, Any]:
        """Everything to store on the pair for this response."""
        c = self.completion
        return {
            "variant": self.variant,
            "model": c.model,
            "text": c.text,
            "temperature": c.params.temperature,
            "top_p": c.params.top_p,
            "max_tokens": c.params.max_tokens,
            "seed": c.params.seed,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "seconds": c.seconds,
            "finish_reason": c.finish_reason,
            "dropped_turns": c.dropped_turns,
        }


@dataclass(frozen=True)
class Pair:
    index: int  # position of the conversation in the input
    a: Sample
    b: Sample


def plan_pairs(
    count: int, labels: Sequence[str], policy: PairPolicy
) -> list[tuple[PlannedSample, PlannedSample]]:
    """Pick variants, temperatures and distinct seeds for `count` pairs (no generation)."""
    if not labels:
        raise ValueError("at least one variant is needed")
    if len(set(labels)) != len(labels):
        raise ValueError("variant labels must be unique")
    rng = random.Random(policy.seed)
    seeds = rng.sample(range(SEED_MAX + 1), 2 * count)
    low, high = policy.temperature_range
    own = policy.variant_temperatures
    plan = []
    for i in range(count):
        chosen = rng.sample(list(labels), 2) if len(labels) >= 2 else [labels[0], labels[0]]
        a, b = (
            PlannedSample(
                variant=label,
                params=SamplingParams(
                    temperature=own[label] if label in own else round(rng.uniform(low, high), 3),
                    top_p=policy.top_p,
                    max_tokens=policy.max_tokens,
                    seed=seeds[2 * i + slot],
                ),
            )
            for slot, label in enumerate(chosen)
        )
        plan.append((a, b))
    return plan


def sample_pairs(
    conversations: Sequence[Conversation],
    backends: Mapping[str, Backend],
    policy: PairPolicy | None = None,
    *,
    concurrent_variants: bool = True,
) -> list[Pair]:
    """Generate one pair per conversation. `backends` maps variant label -> backend.

    The samples of each backend object go to it in one `generate` call (batched / concurrent),
    also when several variants share it (one loaded model at several temperatures); different
    backends run side by side in threads unless `concurrent_variants` is False (better when
    they share the same few CPU cores).
    """
    policy = policy or PairPolicy()
    plan = plan_pairs(len(conversations), list(backends), policy)
    jobs: dict[int, list[tuple[int, int]]] = {}
    for i, pair in enumerate(plan):
        for slot, planned in enumerate(pair):
            jobs.setdefault(id(backends[planned.variant]), []).append((i, slot))
    by_id = {id(backend): backend for backend in backends.values()}

    def run(key: int) -> list[Completion]:
        slots = jobs[key]
        return by_id[key].generate(
            [conversations[i] for i, _ in slots], [plan[i][s].params for i, s in slots]
        )

    workers = len(jobs) if concurrent_variants else 1
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        done = dict(zip(jobs, pool.map(run, jobs), strict=True))
    samples: dict[tuple[int, int], Sample] = {}
    for key, slots in jobs.items():
        for (i, slot), completion in zip(slots, done[key], strict=True):
            samples[(i, slot)] = Sample(plan[i][slot].variant, completion)
    return [Pair(i, samples[(i, 0)], samples[(i, 1)]) for i in range(len(conversations))]
