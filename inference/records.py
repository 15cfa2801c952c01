"""Plain data passed in and out of every backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from inference.params import SamplingParams

Message = Mapping[str, str]
"""One chat turn: {"role": "system" | "user" | "assistant", "content": "..."}."""

Conversation = Sequence[Message]

FinishReason = str
"""Usually "stop" (end of turn) or "length" (max_tokens reached), as the server said it."""


@dataclass(frozen=True)
class Completion:
    """One sample and everything needed to record it.

    `seconds` is the wall time of the request (HTTP, in-process vLLM) or of the batch the
    sample was generated in (transformers). `dropped_turns` counts the oldest messages left
    out to fit the context window (0 when the dialogue fitted). `prompt_token_ids` and
    `token_ids` are the prompt's and the answer's tokens (the answer's end-of-turn token
    included when it stopped) where the backend sees them (transformers, in-process vLLM);
    empty otherwise. `token_logprobs` (transformers only) holds, per answer token, its
    log-probability under the distribution it was drawn from before any top-p cut:
    log softmax(logits / temperature), natural log; empty where the backend gives none.
    """

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    params: SamplingParams
    model: str
    dropped_turns: int = 0
    prompt_token_ids: tuple[int, ...] = ()
    token_ids: tuple[int, ...] = ()
    token_logprobs: tuple[float, ...] = ()
