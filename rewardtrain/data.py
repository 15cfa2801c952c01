"""Preference pairs: reading comparison files and tokenizing them.

Every line form mlcore.comparisons reads is read here (TRL conversational or standard, TRL's
implicit prompt, Anthropic HH, Margin's full export), gzip or plain, by the same reader and
with the same dialogue rules as the site's import. Two kinds of readable line are skipped and
counted: a pair the paper excludes (chosen unsafe, other safe) and a degenerate pair (identical
responses: nothing to learn, and its "accuracy" is float noise).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcore.comparisons import Comparison, parse_comparison, trl_line
from mlcore.jsonl import FileError, read_records
from rewardtrain.grades import DEFAULT_MARGIN_TABLE, GRADES, MARGIN_TABLES, UNGRADED, margin_for

Message = dict[str, str]


@dataclass
class Pair:
    """One comparison: a shared dialogue context and two final assistant responses."""

    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    grade: str | None = None
    stage: str | None = None
    safety_bin: str | None = None
    chosen_safe: bool | None = None
    rejected_safe: bool | None = None
    source: str = ""

    def to_line(self) -> str:
        """The TRL line (mlcore.comparisons' stable schema), margin from the small table."""
        comparison = Comparison(
            self.prompt,
            self.chosen[0]["content"],
            self.rejected[0]["content"],
            grade=self.grade,
            stage=self.stage,
            safety_bin=self.safety_bin,
        )
        return trl_line(comparison, margin_for(self.grade, DEFAULT_MARGIN_TABLE))


@dataclass
class TokenizedPair:
    """Token ids of a pair: the shared prefix once, then each response's remaining tokens.

    ``context + chosen`` and ``context + rejected`` are exactly the two tokenized dialogues.
    ``chosen_index`` / ``rejected_index`` are the positions (in those full sequences) of the token
    whose score is the reward: the last token that is not the pad token, as transformers'
    sequence-classification models pick it.
    """

    context: list[int]
    chosen: list[int]
    rejected: list[int]
    chosen_index: int
    rejected_index: int
    margin: float = 0.0
    pair: Pair | None = field(default=None, repr=False)

    @property
    def n_unique(self) -> int:
        return len(self.context) + len(self.chosen) + len(self.rejected)


class DataError(ValueError):
    """A line of an input file that cannot be read as a preference pair (``file:line: ...``)."""


class SkippedPair(Exception):
    """A well-formed line that is not used; its message is the reason counted."""


def normalize_grade(value: Any) -> str | None:
    """Map a grade as exported ("significantly_better", "Better", "unsure", ...) to GRADES."""
    if value is None or value == "" or value == UNGRADED:
        return None
    text = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if text.startswith("negligibly") or text == "unsure":
        return "negligibly_better"
    if text in GRADES:
        return text
    raise DataError(f"unknown grade {value!r}")


def grade_from_margin(margin: float) -> str | None:
    """Recover a grade from an exported margin value (small or large table); 0 means ungraded."""
    if abs(margin) < 1e-6:
        return None
    for table in ("small", "large"):
        for grade, value in MARGIN_TABLES[table].items():
            if value and abs(value - margin) < 1e-4:
                return grade
    raise DataError(f"margin {margin!r} matches no grade of the small or large table")


def comparison_to_pair(comparison: Comparison, source: str = "") -> Pair:
    """A read comparison → a Pair; SkippedPair for the excluded and the degenerate."""
    if comparison.degenerate:
        raise SkippedPair("skipped_identical_responses")
    if comparison.chosen_safe is False and comparison.rejected_safe is True:
        raise SkippedPair("excluded_chosen_unsafe")
    if comparison.grade is not None:
        grade = normalize_grade(comparison.grade)
    elif comparison.margin is not None:
        grade = grade_from_margin(comparison.margin)
    else:
        grade = None
    return Pair(
        comparison.prompt,
        [{"role": "assistant", "content": comparison.chosen}],
        [{"role": "assistant", "content": comparison.rejected}],
        grade,
        comparison.stage,
        comparison.safety_bin,
        comparison.chosen_safe,
        comparison.rejected_safe,
        source,
    )


def record_to_pair(record: Any, source: str = "") -> Pair:
    """One JSON object → a Pair (DataError for a malformed one, SkippedPair as above)."""
    if not isinstance(record, dict):
        raise DataError("each line must be a JSON object")
    try:
        comparison = parse_comparison(record)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    return comparison_to_pair(comparison, source)


def read_pairs(path: str | Path, source: str = "") -> tuple[list[Pair], Counter]:
    """Read every line of a JSONL(.gz) file; raise DataError naming the file and line of a bad
    one. Returns the pairs and counts of what was read ("lines", "pairs" and skip reasons)."""
    pairs: list[Pair] = []
    counts: Counter = Counter()
    try:
        for number, comparison in read_records(path, parse_comparison):
            counts["lines"] += 1
            try:
                pairs.append(comparison_to_pair(comparison, source))
            except SkippedPair as skip:
                counts[str(skip)] += 1
            except DataError as exc:
                raise DataError(f"{path}:{number}: {exc}") from None
    except FileError as exc:
        raise DataError(str(exc)) from None
    counts["pairs"] = len(pairs)
    return pairs, counts


def render(tokenizer, messages: list[Message]) -> str:
    """The dialogue as the model's chat template writes it (no generation prompt)."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)


def encode_dialogues(tokenizer, dialogues: list[list[Message]]) -> list[list[int]]:
    """Chat-template and tokenize dialogues (the template writes any special tokens itself)."""
    texts = [render(tokenizer, d) for d in dialogues]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def reward_index(ids: list[int], pad_token_id: int | None) -> int:
    """Position of the last token that is not the pad token (transformers' pooling rule)."""
    if pad_token_id is not None:
        for i in range(len(ids) - 1, -1, -1):
            if ids[i] != pad_token_id:
                return i
        return 0
    return len(ids) - 1


def split_shared(chosen: list[int], rejected: list[int]) -> tuple[list[int], list[int], list[int]]:
    """Split two token sequences into their longest common prefix and the two remainders.

    Each remainder keeps at least one token, so each response has a position of its own.
    """
    limit = min(len(chosen), len(rejected)) - 1
    n = 0
    while n < limit and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


def tokenize_pairs(
    tokenizer,
    pairs: list[Pair],
    max_length: int | None = 1024,
    margin_table: str = DEFAULT_MARGIN_TABLE,
) -> tuple[list[TokenizedPair], int]:
    """Tokenize pairs with the chat template; drop pairs with a side longer than max_length.

    Returns the tokenized pairs and how many were dropped for length.
    """
    if not pairs:
        return [], 0
    pad = tokenizer.pad_token_id
    chosen_ids = encode_dialogues(tokenizer, [p.prompt + p.chosen for p in pairs])
    rejected_ids = encode_dialogues(tokenizer, [p.prompt + p.rejected for p in pairs])
    out: list[TokenizedPair] = []
    dropped = 0
    for pair, c, r in zip(pairs, chosen_ids, rejected_ids, strict=True):
        if max_length is not None and (len(c) > max_length or len(r) > max_length):
            dropped += 1
            continue
        context, chosen, rejected = split_shared(c, r)
        out.append(
            TokenizedPair(
                context,
                chosen,
                rejected,
                reward_index(c, pad),
                reward_index(r, pad),
                margin_for(pair.grade, margin_table),
                pair,
            )
        )
    return out, dropped


def write_pairs(path: str | Path, pairs: list[Pair]) -> None:
    """Write pairs as TRL lines (mlcore.comparisons), which read_pairs reads back."""
    with open(path, "w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(pair.to_line())
