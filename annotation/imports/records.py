"""Validation of one imported record: prompts (text or chat messages) and comparisons
(Anthropic HH strings or TRL conversational form). Raises RowInvalid naming the field."""

from dataclasses import dataclass, field
from typing import Any

from .errors import RowInvalid

ROLES = ("system", "user", "assistant")
HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
PROMPT_TEXT_KEYS = ("prompt", "text")
KNOWN_PROMPT_KEYS = {"id", "messages", "risk_category", "attack_vector", "metadata"}


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


@dataclass
class ComparisonRow:
    external_id: str | None
    context: list[dict[str, str]]
    chosen: str
    rejected: str


def _text(value: Any, name: str, max_chars: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RowInvalid(name, f"must be text, not {type(value).__name__}")
    text = value.strip()
    if not text and not allow_empty:
        raise RowInvalid(name, "is empty")
    if len(text) > max_chars:
        raise RowInvalid(name, f"has {len(text)} characters; the limit is {max_chars}")
    return text


def _messages(value: Any, name: str, max_chars: int) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise RowInvalid(name, "must be a non-empty list of {role, content} messages")
    messages = []
    for index, message in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(message, dict):
            raise RowInvalid(where, "must be an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise RowInvalid(f"{where}.role", f"must be one of {', '.join(ROLES)}")
        content = _text(message.get("content"), f"{where}.content", max_chars)
        messages.append({"role": role, "content": content})
    return messages


def _external_id(record: dict[str, Any]) -> str | None:
    value = record.get("id")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowInvalid("id", "must be text or a whole number")
    text = str(value).strip()
    if len(text) > 200:
        raise RowInvalid("id", "is longer than 200 characters")
    return text


def _label(record: dict[str, Any], name: str) -> str:
    value = record.get(name) or ""
    if not isinstance(value, str) or len(value) > 100:
        raise RowInvalid(name, "must be text of at most 100 characters")
    return value.strip()


def parse_prompt(record: dict[str, Any], max_chars: int, *, from_csv: bool = False) -> PromptRow:
    if "messages" in record and record["messages"] not in (None, ""):
        messages = _messages(record["messages"], "messages", max_chars)
        if messages[-1]["role"] != "user":
            raise RowInvalid("messages", "must end with a user message")
    else:
        key = next((k for k in PROMPT_TEXT_KEYS if k in record), None)
        if key is None:
            raise RowInvalid("prompt", "is missing (give 'prompt', 'text' or 'messages')")
        messages = [{"role": "user", "content": _text(record[key], key, max_chars)}]
    metadata = record.get("metadata") or {}
    if from_csv:
        known = KNOWN_PROMPT_KEYS | set(PROMPT_TEXT_KEYS)
        metadata = {k: v for k, v in record.items() if k not in known and v != ""}
    elif not isinstance(metadata, dict):
        raise RowInvalid("metadata", "must be an object")
    return PromptRow(
        external_id=_external_id(record),
        messages=messages,
        risk_category=_label(record, "risk_category"),
        attack_vector=_label(record, "attack_vector"),
        metadata=metadata,
    )


def split_hh(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split two HH transcripts at their last shared `Assistant:` turn.

    Returns (shared context, chosen response, rejected response). A response may itself
    contain a stray marker (it happens in the HH data); only the shared prefix is context.
    """
    boundary = -1
    position = chosen.find(ASSISTANT)
    while position != -1:
        if rejected[: position + len(ASSISTANT)] == chosen[: position + len(ASSISTANT)]:
            boundary = position
        position = chosen.find(ASSISTANT, position + 1)
    if boundary == -1:
        raise RowInvalid("chosen", "has no Assistant turn shared with 'rejected'")
    start = boundary + len(ASSISTANT)
    return chosen[:boundary], chosen[start:], rejected[start:]


def parse_hh_context(text: str, max_chars: int) -> list[dict[str, str]]:
    if not text.startswith(HUMAN):
        raise RowInvalid("chosen", "must start with a '\\n\\nHuman:' turn")
    messages: list[dict[str, str]] = []
    rest = text
    while rest:
        if rest.startswith(HUMAN):
            role, rest = "user", rest[len(HUMAN) :]
        elif rest.startswith(ASSISTANT):
            role, rest = "assistant", rest[len(ASSISTANT) :]
        else:
            raise RowInvalid("chosen", "has text outside Human/Assistant turns")
        cut = min((i for i in (rest.find(HUMAN), rest.find(ASSISTANT)) if i != -1), default=-1)
        content, rest = (rest, "") if cut == -1 else (rest[:cut], rest[cut:])
        messages.append({"role": role, "content": _text(content, "chosen", max_chars)})
    if messages[-1]["role"] != "user":
        raise RowInvalid("chosen", "the shared context must end with a Human turn")
    return messages


def parse_comparison(record: dict[str, Any], max_chars: int) -> ComparisonRow:
    for name in ("chosen", "rejected"):
        if name not in record:
            raise RowInvalid(name, "is missing")
    chosen, rejected = record["chosen"], record["rejected"]
    if isinstance(chosen, str) and isinstance(rejected, str):
        context_text, chosen_text, rejected_text = split_hh(chosen, rejected)
        context = parse_hh_context(context_text, max_chars)
    else:
        context = _messages(record.get("prompt"), "prompt", max_chars)
        chosen_text = _single_assistant(chosen, "chosen", max_chars)
        rejected_text = _single_assistant(rejected, "rejected", max_chars)
    return ComparisonRow(
        external_id=_external_id(record),
        context=context,
        # An empty response is real data (HH has a few): it is kept, not refused.
        chosen=_text(chosen_text, "chosen", max_chars, allow_empty=True),
        rejected=_text(rejected_text, "rejected", max_chars, allow_empty=True),
    )


def _single_assistant(value: Any, name: str, max_chars: int) -> str:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise RowInvalid(name, "must be one assistant message (or an HH transcript string)")
    if value[0].get("role") != "assistant":
        raise RowInvalid(f"{name}[0].role", "must be 'assistant'")
    return _text(value[0].get("content"), f"{name}[0].content", max_chars, allow_empty=True)
