"""The one reader and validator of dialogues: chat messages, Anthropic HH transcripts, prompts.

The site's imports, its exports and every ML core read dialogues through these functions, so
what one accepts the others accept, with the same text. The rules:

- A message is ``{"role": "system"|"user"|"assistant", "content": ...}``; other keys are
  ignored. ``content`` is text, ``null`` (no text: ``""``) or a list of text parts
  (``[{"type": "text", "text": ...}]``, joined with newlines as vLLM joins them). Text is stored
  without its surrounding whitespace.
- Consecutive turns of one role are merged into one turn (their texts joined by a blank line),
  as strict chat templates (Llama 2-Chat's) require alternating roles. What cannot be merged is
  refused: a system message anywhere but first, a dialogue whose first turn after the system
  message is not the user's, a prompt that does not end on a user turn.
- Text no database can store is refused, never altered: U+0000 (PostgreSQL refuses it) and
  lone surrogates such as a JSON ``"\\ud800"`` (not Unicode text; neither database encodes it).

Every refusal is a RowInvalid naming the field (``prompt[2].content``); readers add the file
and line.
"""

from __future__ import annotations

import re
from typing import Any

Message = dict[str, str]
ROLES = ("system", "user", "assistant")
HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"
_HH_TURN = re.compile(r"\n\n(Human|Assistant):")
_MERGE_JOIN = "\n\n"
_PARTS_JOIN = "\n"


class RowInvalid(ValueError):
    """One record cannot be read; `field` names where (``""``: the record as a whole)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"field '{field}': {message}" if field else message)


def check_text(text: str, field: str) -> str:
    """`text` unchanged, or RowInvalid if it holds a character no database stores."""
    if "\x00" in text:
        at = text.index("\x00") + 1
        raise RowInvalid(field, f"contains U+0000 (NUL) at character {at}; it cannot be stored")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise RowInvalid(
            field,
            f"contains a lone surrogate U+{code:04X} at character {exc.start + 1}, "
            "which is not Unicode text",
        ) from None
    return text


def storable(value: str) -> bool:
    """Whether both databases store `value` as it is (no NUL, no lone surrogate)."""
    try:
        check_text(value, "")
    except RowInvalid:
        return False
    return True


def check_json(value: Any, field: str) -> Any:
    """A JSON value unchanged, or RowInvalid if any key or string in it cannot be stored.
    (A loop, not recursion: JSON may nest deeper than Python recurses.)"""
    stack = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            check_text(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                inner = f"{where}.{shown(str(key))}"
                check_text(str(key), inner)
                stack.append((child, inner))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return value


def text(
    value: Any,
    field: str,
    *,
    max_chars: int | None = None,
    allow_empty: bool = False,
    strip: bool = True,
) -> str:
    """A text field: refused if not a string, blank (unless allowed), too long or unstorable.
    Identifiers and labels are stripped; dialogue text (`strip=False`) is kept as written."""
    kept = check_text(value, field) if isinstance(value, str) else value
    if not isinstance(kept, str):
        raise RowInvalid(field, f"must be text, not {_type_name(value)}")
    if strip:
        kept = kept.strip()
    if not kept.strip() and not allow_empty:
        raise RowInvalid(field, "is empty")
    if max_chars is not None and len(kept) > max_chars:
        raise RowInvalid(field, f"has {len(kept)} characters; the limit is {max_chars}")
    return kept


def content_text(value: Any, field: str, *, max_chars: int | None = None) -> str:
    """The text of a message's content: a string, null (no text) or a list of text parts."""
    if value is None:
        return ""
    if isinstance(value, list):
        parts = []
        for index, part in enumerate(value):
            where = f"{field}[{index}]"
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                parts.append(text(part.get("text"), f"{where}.text", allow_empty=True, strip=False))
            else:
                kind = part.get("type") if isinstance(part, dict) else _type_name(part)
                raise RowInvalid(where, f"only text parts can be read, not {kind!r}")
        value = _PARTS_JOIN.join(parts)
    return text(value, field, max_chars=max_chars, allow_empty=True, strip=False)


def messages(value: Any, field: str, *, max_chars: int | None = None) -> list[Message]:
    """A list of messages, read and merged (see the module's rules); at least one turn."""
    if not isinstance(value, list) or not value:
        raise RowInvalid(field, "must be a non-empty list of {role, content} messages")
    read: list[Message] = []
    for index, message in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            raise RowInvalid(where, "must be an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise RowInvalid(f"{where}.role", f"must be one of {', '.join(ROLES)}, not {role!r}")
        content = content_text(message.get("content"), f"{where}.content", max_chars=max_chars)
        read.append({"role": role, "content": content})
    return merge_turns(read, field, max_chars=max_chars)


def merge_turns(turns: list[Message], field: str, *, max_chars: int | None = None) -> list[Message]:
    """Merge consecutive turns of one role; refuse a system message that is not first."""
    merged: list[Message] = []
    for index, turn in enumerate(turns):
        if turn["role"] == "system" and index > 0:
            raise RowInvalid(f"{field}[{index}].role", "a system message is only allowed first")
        if merged and merged[-1]["role"] == turn["role"]:
            parts = (merged[-1]["content"], turn["content"])
            joined = _MERGE_JOIN.join(t for t in parts if t.strip())
            if max_chars is not None and len(joined) > max_chars:
                raise RowInvalid(
                    f"{field}[{index}].content",
                    f"merged with the turn before it has {len(joined)} characters; "
                    f"the limit is {max_chars}",
                )
            merged[-1] = {"role": turn["role"], "content": joined}
        else:
            merged.append(dict(turn))
    return merged


def check_context(turns: list[Message], field: str) -> list[Message]:
    """A context a response answers: user first (after an optional system message), every turn
    with text, and the last turn the user's."""
    first = 1 if turns and turns[0]["role"] == "system" else 0
    if len(turns) <= first:
        raise RowInvalid(field, "holds no user turn")
    if turns[first]["role"] != "user":
        raise RowInvalid(field, "must start with a user turn (after an optional system message)")
    for index, turn in enumerate(turns):
        if not turn["content"].strip():
            raise RowInvalid(f"{field}[{index}].content", "is empty")
    if turns[-1]["role"] != "user":
        raise RowInvalid(field, "must end with a user turn (the response answers it)")
    return turns


def prompt_messages(value: Any, field: str, *, max_chars: int | None = None) -> list[Message]:
    """A prompt: one user text, or messages that make a valid context."""
    if not isinstance(value, list):
        return [{"role": "user", "content": text(value, field, max_chars=max_chars, strip=False)}]
    return check_context(messages(value, field, max_chars=max_chars), field)


PROMPT_KEYS = ("messages", "prompt", "text")


def prompt_of(record: dict[str, Any], *, max_chars: int | None = None) -> list[Message]:
    """The prompt of a prompt-file line: 'messages', else 'prompt' or 'text' (text or messages)."""
    for key in PROMPT_KEYS:
        if record.get(key) not in (None, ""):
            return prompt_messages(record[key], key, max_chars=max_chars)
    for key in PROMPT_KEYS[1:]:
        if key in record:  # present but empty
            return prompt_messages(record[key], key, max_chars=max_chars)
    raise RowInvalid("prompt", "is missing (give 'prompt', 'text' or 'messages')")


def response_text(value: Any, field: str, *, max_chars: int | None = None) -> str:
    """A response: a text, or assistant messages (merged into one). It may be empty."""
    if isinstance(value, str):
        return text(value, field, max_chars=max_chars, allow_empty=True, strip=False)
    turns = messages(value, field, max_chars=max_chars)
    for index, turn in enumerate(turns):
        if turn["role"] != "assistant":
            raise RowInvalid(
                f"{field}[{index}].role", "must be 'assistant' (the prompt goes in 'prompt')"
            )
    return turns[0]["content"]


def hh_messages(transcript: Any, field: str, *, max_chars: int | None = None) -> list[Message]:
    """An Anthropic HH transcript ("\\n\\nHuman: ...\\n\\nAssistant: ...") as merged messages."""
    if not isinstance(transcript, str):
        raise RowInvalid(field, f"must be an HH transcript (text), not {_type_name(transcript)}")
    check_text(transcript, field)
    parts = _HH_TURN.split(transcript)
    if parts[0].strip() or len(parts) == 1:
        raise RowInvalid(field, "must start with a '\\n\\nHuman:' turn")
    turns = [
        {"role": "user" if role == "Human" else "assistant", "content": content.strip()}
        for role, content in zip(parts[1::2], parts[2::2], strict=True)
    ]
    for turn in turns:
        if max_chars is not None and len(turn["content"]) > max_chars:
            raise RowInvalid(
                field, f"has a turn of {len(turn['content'])} characters; the limit is {max_chars}"
            )
    return merge_turns(turns, field, max_chars=max_chars)


def split_shared(chosen: list[Message], rejected: list[Message]) -> tuple[list[Message], str, str]:
    """Two whole dialogues → (their shared context, chosen response, rejected response).

    The context is the longest run of identical turns that leaves each side one turn; what is
    left of each must be one assistant turn."""
    shared = 0
    limit = min(len(chosen), len(rejected)) - 1
    while shared < limit and chosen[shared] == rejected[shared]:
        shared += 1
    for name, side in (("chosen", chosen), ("rejected", rejected)):
        rest = side[shared:]
        if len(rest) != 1 or rest[0]["role"] != "assistant":
            raise RowInvalid(
                name,
                "'chosen' and 'rejected' must be the same dialogue up to one final "
                f"Assistant turn each; '{name}' has {len(rest)} turns after the shared ones",
            )
    context = check_context(chosen[:shared], "chosen")
    return context, chosen[shared]["content"], rejected[shared]["content"]


def shown(value: str) -> str:
    """`value` with what cannot be stored escaped (\\u0000, \\ud800), for messages."""
    return "".join(
        f"\\u{ord(ch):04x}" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in value
    )


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__
