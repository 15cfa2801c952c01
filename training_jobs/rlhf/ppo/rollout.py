"""Rollouts: which prompts an iteration answers, who answers them, and the answers' tokens.

The order is a pure function of (seed, iteration), so a resumed or a distributed run answers
the same prompts with the same sampling seeds as a single uninterrupted one. An iteration's
`rollouts` answers are cut into mini-batches by a seeded permutation; process r of W takes
every W-th answer of each mini-batch, so each gradient step sees the same answers however many
processes share it.

Engines (`RolloutEngine`): `transformers` samples with the actor module itself (its current
weights; under FSDP a full copy gathered once per iteration, since sampling token by token
from sharded weights would gather them at every step); `vllm` keeps an in-process engine and
loads the actor's weights into it before each iteration's generation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import torch

from inference.params import SEED_MAX


@dataclass
class Prompt:
    key: str
    messages: list[dict[str, str]]
    safety: bool
    ids: list[int]
    id: Any = None


@dataclass
class Rollouts:
    """One answer per prompt: tokens, text and whether it was cut at max_new_tokens."""

    prompts: list[Prompt]
    positions: list[int]  # global position of each answer in the iteration's batch
    prompt_ids: list[list[int]]  # as the engine read them (chat template, generation prompt)
    response_ids: list[list[int]]
    texts: list[str]
    truncated: list[bool]
    logprobs: list[list[float]] = field(default_factory=list)  # the engine's, where it gives them
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prompts)


def load_prompts(path: str, tokenizer, max_prompt_tokens: int) -> tuple[list[Prompt], int]:
    """Prompts of a JSONL file with their chat-template token ids; (kept, left out for length)."""
    from inference.context import prompt_token_ids
    from training_jobs.rlhf.sample import read_prompts

    kept, dropped = [], 0
    for row in read_prompts(path):
        ids = prompt_token_ids(tokenizer, row["prompt"])
        if len(ids) > max_prompt_tokens:
            dropped += 1
            continue
        kept.append(Prompt(row["key"], row["prompt"], row["safety"], ids, row.get("id")))
    return kept, dropped


def split_heldout(prompts: list[Prompt], count: int) -> tuple[list[Prompt], list[Prompt]]:
    """(training prompts, held-out prompts): the last `count`, at most half of them."""
    count = min(count, len(prompts) // 2)
    return (
        (prompts[: len(prompts) - count], prompts[len(prompts) - count :])
        if count
        else (
            prompts,
            [],
        )
    )


def iteration_prompts(n_prompts: int, rollouts: int, iteration: int, seed: int) -> list[int]:
    """Prompt indices answered in `iteration`: consecutive slices of a stream of seeded
    permutations (an epoch each), so every prompt comes once before any comes again."""
    start = iteration * rollouts
    out: list[int] = []
    epoch = start // n_prompts
    offset = start % n_prompts
    while len(out) < rollouts:
        order = list(range(n_prompts))
        random.Random(f"{seed}:epoch:{epoch}").shuffle(order)
        out += order[offset:]
        offset, epoch = 0, epoch + 1
    return out[:rollouts]


def rank_positions(
    rollouts: int, mini_batch: int, world: int, rank: int, iteration: int, seed: int
) -> list[int]:
    """Global positions this process answers and trains on, mini-batch by mini-batch."""
    order = list(range(rollouts))
    random.Random(f"{seed}:minibatches:{iteration}").shuffle(order)
    mine: list[int] = []
    for start in range(0, rollouts, mini_batch):
        mine += order[start : start + mini_batch][rank::world]
    return mine


def sample_seed(seed: int, iteration: int, position: int, rollouts: int) -> int:
    """The sampling seed of one answer (the same whichever process draws it)."""
    return (seed * 1_000_003 + iteration * rollouts + position) % (SEED_MAX + 1)


class RolloutEngine:
    """Samples answers from the actor's current weights (see the module docstring)."""

    def __init__(self, kind: str, tokenizer, policy_dir: str, cfg) -> None:
        self.kind, self.tokenizer, self.cfg = kind, tokenizer, cfg
        self.copy: torch.nn.Module | None = None
        if kind == "vllm":
            from inference.backends.vllm_local import VLLMBackend

            self.backend = VLLMBackend(
                policy_dir,
                weight_updates=True,
                max_context=cfg.max_prompt_tokens + cfg.max_new_tokens,
                truncation="refuse",
                gpu_memory_utilization=cfg.gpu_memory_utilization,
                dtype="float32" if not torch.cuda.is_available() else "auto",
            )
        else:
            self.backend = None

    def sync(self, actor: torch.nn.Module, full_state: dict[str, torch.Tensor] | None) -> None:
        """Make the engine sample from the actor's weights now.

        `full_state`: the actor's gathered weights when they are sharded (FSDP), else None
        (the unsharded actor module is used as it is)."""
        from inference.backends.transformers_cpu import TransformersBackend

        if self.kind == "vllm":
            state = full_state if full_state is not None else actor.state_dict()
            self.backend.load_weights(state.items())
            return
        module = actor
        if full_state is not None:
            if self.copy is None:
                self.copy = _unsharded_copy(actor)
            self.copy.load_state_dict(full_state)
            module = self.copy
        self.backend = TransformersBackend.from_model(
            module,
            self.tokenizer,
            max_context=self.cfg.max_prompt_tokens + self.cfg.max_new_tokens,
            batch_size=self.cfg.generation_batch,
        )

    def generate(self, prompts: list[Prompt], seeds: list[int]) -> tuple[list, float]:
        """Completions (with token ids) in order, and the seconds it took."""
        import time

        from inference import SamplingParams

        params = [
            SamplingParams(
                temperature=self.cfg.temperature,
                top_p=1.0,
                max_tokens=self.cfg.max_new_tokens,
                seed=s,
            )
            for s in seeds
        ]
        started = time.perf_counter()
        completions = self.backend.generate([p.messages for p in prompts], params)
        if any(not c.token_ids for c in completions):
            raise RuntimeError(f"the {self.kind} engine returned answers without token ids")
        return completions, time.perf_counter() - started

    def close(self) -> None:
        if self.kind == "vllm" and self.backend is not None:
            self.backend.close()
        self.backend, self.copy = None, None


def _unsharded_copy(actor: torch.nn.Module) -> torch.nn.Module:
    """A plain (unsharded) module of the actor's architecture on the actor's device."""
    from transformers import AutoModelForCausalLM

    device = (
        torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
    )
    with torch.device(device):
        copy = AutoModelForCausalLM.from_config(actor.config, dtype=torch.float32)
    copy.generation_config = actor.generation_config
    return copy.eval().requires_grad_(False)


def rollouts_from(
    prompts: list[Prompt], positions: list[int], completions: list, seconds: float, stop_ids
) -> Rollouts:
    """Rollouts from the engine's completions; an answer is truncated when its last token is
    not a stop token."""
    ids = [list(c.token_ids) for c in completions]
    return Rollouts(
        prompts=prompts,
        positions=positions,
        prompt_ids=[
            list(c.prompt_token_ids) or p.ids for c, p in zip(completions, prompts, strict=True)
        ],
        response_ids=ids,
        texts=[c.text for c in completions],
        truncated=[not tokens or tokens[-1] not in stop_ids for tokens in ids],
        logprobs=[list(c.token_logprobs) for c in completions],
        seconds=seconds,
    )
