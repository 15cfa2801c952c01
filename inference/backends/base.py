"""The one interface every backend offers.

    completions = backend.generate(conversations, params)   # one params per conversation

`params` is a sequence as long as `conversations` (each sample its own temperature, top_p,
max_tokens and seed) or a single SamplingParams used for all. Results come back in order.
"""

from __future__ import annotations

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


def health_check(backend: Backend) -> Completion:
    """A 1-token completion (RELIABILITY.md: a model server can look healthy and be dead).

    Returns the completion; raises ServerUnavailable / ModelNotFound / BadRequest otherwise.
    """
    params = SamplingParams(temperature=0.0, max_tokens=1, seed=0)
    return backend.generate([HEALTH_PROMPT], params)[0]
