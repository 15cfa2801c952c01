"""Preference pairs: reading Margin's exports and Anthropic HH files, and tokenizing them.

Three line forms are read, detected per line (gzip or plain JSONL):

1. TRL conversational, as Margin exports it: ``{"prompt": [messages], "chosen": [messages],
   "rejected": [messages], "margin": float}``, optionally with ``grade``, ``stage`` and
   ``safety_bin``. Plain strings for prompt/chosen/rejected (TRL's standard form) are read too.
2. Margin's full form: one judgment per line with ``prompt``, ``chosen``, ``rejected``, ``grade``,
   ``stage``, ``safety_bin``, ``chosen_safe``, ``rejected_safe`` and more (unknown keys ignored).
3. Anthropic HH: ``{"chosen": str, "rejected": str}`` with "\\n\\nHuman:" / "\\n\\nAssistant:"
   turns; the shared turns become the context and the two final assistant turns the responses.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardtrain.grades import DEFAULT_MARGIN_TABLE, GRADES, MARGIN_TABLES, UNGRADED, margin_for

Message = dict[str, str]
SAFETY_BINS = ("both_safe", "chosen_safe", "both_unsafe")
STAGES = ("helpfulness", "safety")
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")


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

    def to_json(self) -> dict[str, Any]:
        """The TRL conversational form with Margin's extra keys (margin from the small table)."""
        return {
            "prompt": self.prompt,
            "chosen": self.chosen,
            "rejected": self.rejected,
            "margin": margin_for(self.grade, DEFAULT_MARGIN_TABLE),
            "grade": self.grade,
            "stage": self.stage,
            "safety_bin": self.safety_bin,
            "chosen_safe": self.chosen_safe,
            "rejected_safe": self.rejected_safe,
        }


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
    """A line of an input file that cannot be read as a preference pair."""


class SkippedPair(Exception):
    """A well-formed line that is not used; its message is the reason counted."""


def open_text(path: str | Path):
    """Open a JSONL file for reading, gzip-compressed or plain (detected by magic bytes)."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


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


def parse_hh(text: str) -> list[Message]:
    """Split an Anthropic HH transcript into messages (Human → user, Assistant → assistant)."""
    parts = _HH_TURN.split(text)
    if parts[0].strip():
        raise DataError("HH transcript does not start with a Human or Assistant turn")
    messages = []
    for role, content in zip(parts[1::2], parts[2::2], strict=True):
        messages.append(
            {"role": "user" if role == "Human" else "assistant", "content": content.strip()}
        )
    if not messages or messages[-1]["role"] != "assistant":
        raise DataError("HH transcript does not end with an Assistant turn")
    return messages


def messages_of(value: Any, role: str, key: str) -> list[Message]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list) and all(
        isinstance(m, dict) and "role" in m and "content" in m for m in value
    ):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
    raise DataError(f"{key!r} must be a string or a list of {{role, content}} messages")


def _safety_bin(record: dict[str, Any]) -> tuple[str | None, bool | None, bool | None]:
    chosen_safe, rejected_safe = record.get("chosen_safe"), record.get("rejected_safe")
    safety_bin = record.get("safety_bin")
    if safety_bin is not None and safety_bin not in SAFETY_BINS:
        raise DataError(f"unknown safety_bin {safety_bin!r}")
    if safety_bin is None and chosen_safe is not None and rejected_safe is not None:
        if chosen_safe and rejected_safe:
            safety_bin = "both_safe"
        elif chosen_safe:
            safety_bin = "chosen_safe"
        elif not rejected_safe:
            safety_bin = "both_unsafe"
    if chosen_safe is None and safety_bin is not None:
        chosen_safe = safety_bin != "both_unsafe"
        rejected_safe = safety_bin == "both_safe"
    return safety_bin, chosen_safe, rejected_safe


def record_to_pair(record: Any, source: str = "") -> Pair:
    """One JSON object → a Pair.

    Raises SkippedPair for a pair the paper excludes (chosen unsafe, other safe) and for an HH
    line whose two transcripts differ before their final turn; DataError for a malformed one.
    """
    if not isinstance(record, dict) or "chosen" not in record or "rejected" not in record:
        raise DataError("expected an object with 'chosen' and 'rejected'")
    if "prompt" not in record and isinstance(record["chosen"], str):
        chosen, rejected = parse_hh(record["chosen"]), parse_hh(record["rejected"])
        if chosen[:-1] != rejected[:-1]:
            raise SkippedPair("skipped_hh_context_mismatch")
        return Pair(chosen[:-1], chosen[-1:], rejected[-1:], source=source)
    prompt = messages_of(record.get("prompt", []), "user", "prompt")
    chosen = messages_of(record["chosen"], "assistant", "chosen")
    rejected = messages_of(record["rejected"], "assistant", "rejected")
    if "grade" in record:
        grade = normalize_grade(record["grade"])
    elif record.get("margin") is not None:
        grade = grade_from_margin(float(record["margin"]))
    else:
        grade = None
    stage = record.get("stage")
    if stage is not None and stage not in STAGES:
        raise DataError(f"unknown stage {stage!r}")
    safety_bin, chosen_safe, rejected_safe = _safety_bin(record)
    if chosen_safe is False and rejected_safe is True:
        raise SkippedPair("excluded_chosen_unsafe")
    return Pair(
        prompt, chosen, rejected, grade, stage, safety_bin, chosen_safe, rejected_safe, source
    )


def read_pairs(path: str | Path, source: str = "") -> tuple[list[Pair], Counter]:
    """Read every line of a JSONL(.gz) file; raise DataError naming the line on a bad one.

    Returns the pairs and counts of what was read ("lines", "pairs" and skip reasons).
    """
    pairs: list[Pair] = []
    counts: Counter = Counter()
    with open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            counts["lines"] += 1
            try:
                pair = record_to_pair(json.loads(line), source=source)
            except SkippedPair as skip:
                counts[str(skip)] += 1
                continue
            except (json.JSONDecodeError, DataError) as exc:
                raise DataError(f"{path}:{number}: {exc}") from exc
            pairs.append(pair)
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
    """Write pairs as JSONL in the TRL conversational form with Margin's extra keys."""
    with open(path, "w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(pair.to_json(), ensure_ascii=False) + "\n")
