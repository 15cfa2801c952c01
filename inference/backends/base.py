"""The one interface every backend offers.

    completions = backend.generate(conversations, params)   # one params per conversation

`params` is a sequence as long as `conversations` (each sample its own temperature, top_p,
max_tokens and seed) or a single SamplingParams used for all. Results come back in order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from inference.params import SamplingParams, validate
from inference.records import Completion, Conversation

HEALTH_PROMPT: list[dict[str, str]] = [{"role": "user", "content": "Say OK."}]


@runtime_checkable
class Backend(Protocol):
    model: str

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams | Sequence[SamplingParams],
    ) -> list[Completion]: ...

    def close(self) -> None: ...


def expand_params(
    conversations: Sequence[Conversation],
    params: SamplingParams | Sequence[SamplingParams],
    *,
    max_tokens_limit: int | None = None,
) -> list[SamplingParams]:
    """One validated SamplingParams per conversation; raises before anything is sent."""
    if isinstance(params, SamplingParams):
        per_sample = [params] * len(conversations)
    else:
        per_sample = list(params)
        if len(per_sample) != len(conversations):
            raise ValueError(f"{len(per_sample)} params for {len(conversations)} conversations")
    for p in per_sample:
        if not isinstance(p, SamplingParams):
            raise TypeError(f"expected SamplingParams, got {type(p).__name__}")
        if max_tokens_limit is None:
            validate(p)
        else:
            validate(p, max_tokens_limit=max_tokens_limit)
    return per_sample


def request_groups(
    messages: Sequence[list[dict[str, str]]], per_sample: Sequence[SamplingParams]
) -> list[list[int]]:
    """Sample indices that share one vLLM request with n choices, in order of first sample.

    vLLM seeds choice j of a request with seed s + j (in-process and behind its OpenAI server
    alike), so a run of consecutive samples of one dialogue with the same params and seeds s,
    s+1, ... (how rejection sampling asks for K answers) is one request with n and seed s, the
    same texts as separate requests with the prompt prefilled once. Unseeded samples of one
    dialogue with the same params share a request wherever they are. Anything else is alone.
    """
    groups: list[list[int]] = []
    unseeded: dict[str, list[int]] = {}
    previous_key = None
    for i, (dialogue, p) in enumerate(zip(messages, per_sample, strict=True)):
        key = json.dumps([dialogue, {**p.to_dict(), "seed": None}], sort_keys=True)
        if p.seed is None:
            if key not in unseeded:
                unseeded[key] = []
                groups.append(unseeded[key])
            unseeded[key].append(i)
            previous_key = None
            continue
        last = groups[-1][-1] if groups else None
        if key == previous_key and p.seed == per_sample[last].seed + 1:
            groups[-1].append(i)
        else:
            groups.append([i])
        previous_key = key
    return groups


def health_check(backend: Backend) -> Completion:
    """A 1-token completion (RELIABILITY.md: a model server can look healthy and be dead).

    Returns the completion; raises ServerUnavailable / ModelNotFound / BadRequest otherwise.
    """
    params = SamplingParams(temperature=0.0, max_tokens=1, seed=0)
    return backend.generate([HEALTH_PROMPT], params)[0]
