"""Comparison rows (a context and two responses) and the TRL line: the one home of both.

A row is read from any of these forms (detected per line):

1. TRL conversational, as Margin exports it: ``{"prompt": [messages], "chosen": [messages],
   "rejected": [messages], "margin": float, "grade": str, "stage": str, "safety_bin": str}``;
   TRL's standard form with plain strings for prompt/chosen/rejected is read too.
2. TRL's implicit-prompt form: ``{"chosen": [whole dialogue], "rejected": [whole dialogue]}``;
   the turns they share are the context.
3. Anthropic HH: ``{"chosen": str, "rejected": str}`` with "\\n\\nHuman:" / "\\n\\nAssistant:"
   turns, split like form 2.
4. Margin's full export form (keys beyond those above are ignored).

Dialogue rules (merging consecutive turns, refusals, unstorable text) are mlcore.dialogue's.

The TRL line Margin writes has a stable schema: every row holds every key of TRL_KEYS with one
JSON type (``datasets.load_dataset("json")`` infers a column's type from the first block of the
file, so a column that is null there and text later cannot be loaded). What is absent is ``""``:
an ungraded row has ``"grade": ""`` and ``"margin": 0.0``, an unlabelled one
``"safety_bin": ""``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .dialogue import (
    Message,
    RowInvalid,
    check_context,
    hh_messages,
    messages,
    prompt_messages,
    response_text,
    split_shared,
    text,
)

STAGES = ("helpfulness", "safety")
# The paper's safety bins (§3.2.1); the last is excluded from reward-model data.
SAFETY_BINS = ("both_safe", "chosen_safe", "both_unsafe", "chosen_unsafe")
TRL_KEYS = ("prompt", "chosen", "rejected", "margin", "grade", "stage", "safety_bin")
SAFETY_LABELS = {"safe": True, "unsafe": False, "": None}


@dataclass(frozen=True)
class Comparison:
    """One comparison: the context (ending with a user turn) and two responses' texts.

    ``grade`` is the grade as written (``None`` when ungraded); ``margin`` the margin written
    beside it, if any; the safety fields are ``None`` when unlabelled."""

    prompt: list[Message]
    chosen: str
    rejected: str
    id: str | None = None
    grade: str | None = None
    margin: float | None = None
    stage: str | None = None
    safety_bin: str | None = None
    chosen_safe: bool | None = None
    rejected_safe: bool | None = None

    @property
    def degenerate(self) -> bool:
        """Identical responses: nothing to learn, and any "accuracy" on it is float noise."""
        return self.chosen == self.rejected


def parse_comparison(record: dict[str, Any], *, max_chars: int | None = None) -> Comparison:
    """One JSON object → a Comparison, or RowInvalid naming the field."""
    for name in ("chosen", "rejected"):
        if name not in record:
            raise RowInvalid(name, "is missing")
    if record.get("prompt") in (None, []):
        context, chosen, rejected = _implicit(record, max_chars)
    else:
        context = prompt_messages(record["prompt"], "prompt", max_chars=max_chars)
        chosen = response_text(record["chosen"], "chosen", max_chars=max_chars)
        rejected = response_text(record["rejected"], "rejected", max_chars=max_chars)
    safety_bin, chosen_safe, rejected_safe = _safety(record)
    return Comparison(
        prompt=context,
        chosen=chosen,
        rejected=rejected,
        id=external_id(record),
        grade=_optional_text(record, "grade"),
        margin=_margin(record),
        stage=_choice(record, "stage", STAGES),
        safety_bin=safety_bin,
        chosen_safe=chosen_safe,
        rejected_safe=rejected_safe,
    )


def _implicit(record: dict[str, Any], max_chars: int | None) -> tuple[list[Message], str, str]:
    sides = []
    for name in ("chosen", "rejected"):
        value = record[name]
        if isinstance(value, str):
            sides.append(hh_messages(value, name, max_chars=max_chars))
        else:
            sides.append(messages(value, name, max_chars=max_chars))
    return split_shared(*sides)


def external_id(record: dict[str, Any]) -> str | None:
    """The record's own id (text or a whole number), or None."""
    value = record.get("id")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowInvalid("id", "must be text or a whole number")
    value = text(str(value), "id")
    if len(value) > 200:
        raise RowInvalid("id", "is longer than 200 characters")
    return value


def _optional_text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    return text(value, name, max_chars=100, allow_empty=True) or None


def _choice(record: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = _optional_text(record, name)
    if value is not None and value not in choices:
        raise RowInvalid(name, f"must be one of {', '.join(choices)} (or empty), not {value!r}")
    return value


def _margin(record: dict[str, Any]) -> float | None:
    value = record.get("margin")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowInvalid("margin", "must be a finite number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise RowInvalid("margin", "must be a finite number")
    return number


def _safe(record: dict[str, Any], name: str) -> bool | None:
    """A response's safety label: chosen_safe/rejected_safe (bool or null) or the full form's
    chosen_safety/rejected_safety ("safe", "unsafe" or "")."""
    value = record.get(f"{name}_safe")
    if value is not None and not isinstance(value, bool):
        raise RowInvalid(f"{name}_safe", "must be true, false or null")
    label = record.get(f"{name}_safety")
    if value is None and label is not None:
        if label not in SAFETY_LABELS:
            raise RowInvalid(f"{name}_safety", "must be 'safe', 'unsafe' or ''")
        value = SAFETY_LABELS[label]
    return value


_BIN_LABELS = {
    "both_safe": (True, True),
    "chosen_safe": (True, False),
    "both_unsafe": (False, False),
    "chosen_unsafe": (False, True),
}


def _safety(record: dict[str, Any]) -> tuple[str | None, bool | None, bool | None]:
    """(safety_bin, chosen_safe, rejected_safe): the bin from both labels, both labels from the
    bin; a bin that contradicts a label is refused. One label alone is kept, without a bin."""
    safety_bin = _choice(record, "safety_bin", SAFETY_BINS)
    labels = (_safe(record, "chosen"), _safe(record, "rejected"))
    if safety_bin is not None:
        derived = _BIN_LABELS[safety_bin]
        if any(given is not None and given != d for given, d in zip(labels, derived, strict=True)):
            raise RowInvalid("safety_bin", f"{safety_bin!r} contradicts chosen/rejected safety")
        return safety_bin, *derived
    if None not in labels:
        safety_bin = next(b for b, d in _BIN_LABELS.items() if d == labels)
    return safety_bin, *labels


_dumps = json.JSONEncoder(ensure_ascii=False).encode


def trl_line_json(
    prompt_json: str,
    chosen: str,
    rejected: str,
    *,
    margin: float,
    grade: str | None,
    stage: str | None,
    safety_bin: str | None,
) -> str:
    """One TRL line (with its newline) from a prompt already encoded as JSON text.

    The export splices the context as the database returns it (parsing and re-encoding it
    was most of the export's time); see the module docstring for the stable schema."""
    return (
        f'{{"prompt": {prompt_json}, '
        f'"chosen": [{{"role": "assistant", "content": {_dumps(chosen)}}}], '
        f'"rejected": [{{"role": "assistant", "content": {_dumps(rejected)}}}], '
        f'"margin": {float(margin)!r}, "grade": {_dumps(grade or "")}, '
        f'"stage": {_dumps(stage or "")}, "safety_bin": {_dumps(safety_bin or "")}}}\n'
    )


def trl_line(comparison: Comparison, margin: float) -> str:
    """One TRL line of a comparison, with the margin its grade has in the caller's table.

    Safety travels as the bin, so a lone label (one response labelled) is not in the line."""
    return trl_line_json(
        _dumps(check_context(comparison.prompt, "prompt")),
        comparison.chosen,
        comparison.rejected,
        margin=margin,
        grade=comparison.grade,
        stage=comparison.stage,
        safety_bin=comparison.safety_bin,
    )
