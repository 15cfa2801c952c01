"""Fit a dialogue into the model's context window.

The prompt is counted the way the model (and reward-model training) reads it:
`tokenizer.apply_chat_template(messages, add_generation_prompt=True)`. A prompt fits when its
tokens plus `max_tokens` new tokens are within `max_context`.

    fitter = ContextFitter(tokenizer, max_context=2048, policy="drop_oldest")
    messages, dropped = fitter.fit(messages, max_tokens=256)

`drop_oldest` drops the oldest turns (a user turn with the assistant turns that follow it) and
keeps the system message and the last user turn; `refuse` raises ContextTooLong instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from inference.errors import ContextTooLong
from inference.records import Conversation, Message

TruncationPolicy = Literal["drop_oldest", "refuse"]


def prompt_token_ids(tokenizer: Any, messages: Conversation) -> list[int]:
    """Token ids of the chat prompt, ending with the assistant header."""
    return list(
        tokenizer.apply_chat_template(
            [dict(m) for m in messages],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
    )


@dataclass
class ContextFitter:
    tokenizer: Any
    max_context: int = 2048
    policy: TruncationPolicy = "drop_oldest"

    def __post_init__(self) -> None:
        if self.policy not in ("drop_oldest", "refuse"):
            raise ValueError(f"unknown truncation policy {self.policy!r}")

    def fit(self, messages: Conversation, max_tokens: int) -> tuple[list[Message], int]:
        """Return (messages that fit, number of messages dropped)."""
        return fit_messages(
            messages,
            count=lambda ms: len(prompt_token_ids(self.tokenizer, ms)),
            budget=self.max_context - max_tokens,
            policy=self.policy,
        )


def fit_messages(
    messages: Conversation,
    *,
    count: Any,
    budget: int,
    policy: TruncationPolicy = "drop_oldest",
) -> tuple[list[Message], int]:
    """Drop the oldest turns until `count(messages) <= budget`.

    `count` maps a message list to its prompt length in tokens. Returns the kept messages and
    how many were dropped; raises ContextTooLong when refusing or when even the system message
    plus the last user turn do not fit.
    """
    messages = list(messages)
    if not messages or messages[-1].get("role") != "user":
        raise ValueError("a dialogue to answer must end with a user turn")
    if budget < 1:
        raise ContextTooLong(f"max_tokens leaves no room for a prompt ({budget} tokens)")
    length = count(messages)
    if length <= budget:
        return messages, 0
    if policy == "refuse":
        raise ContextTooLong(f"prompt is {length} tokens; {budget} fit beside max_tokens")
    system = [m for m in messages[:1] if m.get("role") == "system"]
    turns = messages[len(system) :]
    starts = [i for i, m in enumerate(turns) if m.get("role") == "user"]
    # Try each later user turn as the new start, oldest first: the first that fits drops least.
    for start in starts[1:]:
        kept = system + turns[start:]
        if count(kept) <= budget:
            return kept, len(messages) - len(kept)
    raise ContextTooLong(
        f"even the system message and the last user turn exceed {budget} prompt tokens"
    )
