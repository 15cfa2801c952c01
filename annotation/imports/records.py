"""Validation of one imported record: prompts (text or chat messages) and comparisons (any
form mlcore.comparisons reads). The dialogue rules are mlcore's, shared with the ML cores.
Raises RowInvalid naming the field."""

from dataclasses import dataclass, field
from typing import Any

from mlcore.comparisons import Comparison, external_id, parse_comparison
from mlcore.dialogue import PROMPT_KEYS, RowInvalid, check_json, prompt_of, text

KNOWN_PROMPT_KEYS = {"id", "risk_category", "attack_vector", "metadata", *PROMPT_KEYS}

__all__ = ["Comparison", "PromptRow", "parse_comparison", "parse_prompt", "prompt_instance"]


@dataclass
class PromptRow:
    external_id: str | None
    messages: list[dict[str, str]]
    risk_category: str = ""
    attack_vector: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def prompt_instance(batch, row: PromptRow, user=None):
    """An unsaved Prompt of `batch` from a validated row (imports and the bulk API share it)."""
    from ..models import Prompt, PromptSource

    return Prompt(
        batch=batch,
        external_id=row.external_id,
        messages=row.messages,
        source=PromptSource.IMPORTED,
        risk_category=row.risk_category,
        attack_vector=row.attack_vector,
        metadata=row.metadata,
        created_by=user,
    )


def _label(record: dict[str, Any], name: str) -> str:
    value = record.get(name) or ""
    if not isinstance(value, str) or len(value) > 100:
        raise RowInvalid(name, "must be text of at most 100 characters")
    return text(value, name, allow_empty=True)


def parse_prompt(record: dict[str, Any], max_chars: int, *, from_csv: bool = False) -> PromptRow:
    messages = prompt_of(record, max_chars=max_chars)
    metadata = record.get("metadata") or {}
    if from_csv:
        metadata = {k: v for k, v in record.items() if k not in KNOWN_PROMPT_KEYS and v != ""}
    elif not isinstance(metadata, dict):
        raise RowInvalid("metadata", "must be an object")
    return PromptRow(
        external_id=external_id(record),
        messages=messages,
        risk_category=_label(record, "risk_category"),
        attack_vector=_label(record, "attack_vector"),
        metadata=check_json(metadata, "metadata"),
    )
