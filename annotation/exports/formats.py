"""The two export forms. TRL's conversational preference form is what TRL's RewardTrainer
and Margin's rewardtrain read; the full form keeps every field and its provenance."""

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings

from rewardtrain.grades import margin_for

RESPONSE_FIELDS = (
    "text",
    "variant_label",
    "temperature",
    "top_p",
    "seed",
    "prompt_tokens",
    "completion_tokens",
    "generation_seconds",
    "finish_reason",
)
ROW_FIELDS = (
    "id",
    "chosen",
    "grade",
    "a_safe",
    "b_safe",
    "safety_bin",
    "origin",
    "annotator_id",
    "rationale",
    "seconds_spent",
    "created_at",
    "pair_id",
    "pair__turn",
    "pair__context",
    "pair__context_truncated",
    "pair__is_gold",
    "pair__batch__name",
    "pair__batch__ordinal",
    "pair__batch__stage",
    *(f"pair__response_a__{name}" for name in RESPONSE_FIELDS),
    *(f"pair__response_b__{name}" for name in RESPONSE_FIELDS),
)
_INDEX = {name: i for i, name in enumerate(ROW_FIELDS)}
_A = _INDEX["pair__response_a__text"]
_B = _INDEX["pair__response_b__text"]
_N = len(RESPONSE_FIELDS)


def pseudonym(user_id: int | None) -> str | None:
    """A stable annotator id that does not reveal the account."""
    if user_id is None:
        return None
    digest = hmac.new(settings.SECRET_KEY.encode(), f"annotator:{user_id}".encode(), hashlib.sha256)
    return "ann-" + digest.hexdigest()[:12]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


# The TRL form reads only these; the context arrives as JSON text from the database and is
# spliced in as is (parsing and re-serialising it was most of the export's time).
TRL_FIELDS = ("chosen", "grade", "safety_bin", "pair__batch__stage", "context_json")
TRL_FIELDS += ("pair__response_a__text", "pair__response_b__text")
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def trl_line(row: tuple, margin_table: str) -> str:
    chosen_slot, grade, safety_bin, stage, context, text_a, text_b = row
    chosen, rejected = (text_a, text_b) if chosen_slot == "a" else (text_b, text_a)
    return (
        f'{{"prompt": {context}, '
        f'"chosen": [{{"role": "assistant", "content": {_dumps(chosen)}}}], '
        f'"rejected": [{{"role": "assistant", "content": {_dumps(rejected)}}}], '
        f'"margin": {margin_for(grade, margin_table)!r}, "grade": {_dumps(grade)}, '
        f'"stage": {_dumps(stage)}, "safety_bin": {_dumps(safety_bin)}}}\n'
    )


def _response(row: tuple, start: int) -> dict[str, Any]:
    return dict(zip(RESPONSE_FIELDS[1:], row[start + 1 : start + _N], strict=True))


def full_line(row: tuple, margin_table: str) -> str:
    get = row.__getitem__
    chosen_a = get(_INDEX["chosen"]) == "a"
    chosen_at, rejected_at = (_A, _B) if chosen_a else (_B, _A)
    a_safe, b_safe = get(_INDEX["a_safe"]), get(_INDEX["b_safe"])
    chosen_safe, rejected_safe = (a_safe, b_safe) if chosen_a else (b_safe, a_safe)
    grade = get(_INDEX["grade"])
    record = {
        "id": get(_INDEX["id"]),
        "pair_id": get(_INDEX["pair_id"]),
        "batch": get(_INDEX["pair__batch__name"]),
        "batch_ordinal": get(_INDEX["pair__batch__ordinal"]),
        "stage": get(_INDEX["pair__batch__stage"]),
        "turn": get(_INDEX["pair__turn"]),
        "prompt": get(_INDEX["pair__context"]),
        "context_truncated": get(_INDEX["pair__context_truncated"]),
        "chosen": _assistant(get(chosen_at)),
        "rejected": _assistant(get(rejected_at)),
        "chosen_slot": get(_INDEX["chosen"]),
        "grade": grade,
        "margin": margin_for(grade, margin_table),
        "chosen_safe": chosen_safe,
        "rejected_safe": rejected_safe,
        "safety_bin": get(_INDEX["safety_bin"]),
        "excluded_from_reward_models": get(_INDEX["safety_bin"]) == "chosen_unsafe",
        "is_gold": get(_INDEX["pair__is_gold"]),
        "origin": get(_INDEX["origin"]),
        "annotator": pseudonym(get(_INDEX["annotator_id"])),
        "rationale": get(_INDEX["rationale"]),
        "seconds_spent": get(_INDEX["seconds_spent"]),
        "created_at": get(_INDEX["created_at"]).isoformat(),
        "variants": [get(chosen_at + 1), get(rejected_at + 1)],
        "chosen_generation": _response(row, chosen_at),
        "rejected_generation": _response(row, rejected_at),
    }
    return json.dumps(record, ensure_ascii=False) + "\n"


LINE_WRITERS = {"trl": trl_line, "full": full_line}
FIELDS = {"trl": TRL_FIELDS, "full": ROW_FIELDS}
