"""The two export forms. TRL's conversational preference form is what TRL's RewardTrainer
and Margin's rewardtrain read (its line has one home: mlcore.comparisons); the full form keeps
every field and its provenance.

Both have a stable schema: every row holds every key with one JSON type, so
`datasets.load_dataset("json")` loads any export whatever its size and row order (it infers
each column's type from the file's first block). What is absent is written as an empty value of
the field's type, never null: text "", and -1 for a number no row can otherwise hold (the
sampling settings and token counts of an imported response, the time of an imported judgment).
Safety labels are text: "safe", "unsafe" or "".
"""

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings

from mlcore.comparisons import trl_line_json
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
UNKNOWN_NUMBER = -1
SAFETY_LABEL = {True: "safe", False: "unsafe", None: ""}


def trl_line(row: tuple, margin_table: str) -> str:
    chosen_slot, grade, safety_bin, stage, context, text_a, text_b = row
    chosen, rejected = (text_a, text_b) if chosen_slot == "a" else (text_b, text_a)
    return trl_line_json(
        context,
        chosen,
        rejected,
        margin=margin_for(grade, margin_table),
        grade=grade,
        stage=stage,
        safety_bin=safety_bin,
    )


FLOAT_FIELDS = {"temperature", "top_p", "generation_seconds", "seconds_spent"}


def _known(name: str, value: Any) -> Any:
    """A nullable number as one JSON type per field: -1 (or -1.0) where it is unknown."""
    if value is None:
        value = UNKNOWN_NUMBER
    return float(value) if name in FLOAT_FIELDS else value


def _response(row: tuple, start: int) -> dict[str, Any]:
    values = zip(RESPONSE_FIELDS[1:], row[start + 1 : start + _N], strict=True)
    return {name: v if isinstance(v, str) else _known(name, v) for name, v in values}


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
        "grade": grade or "",
        "margin": margin_for(grade, margin_table),
        "chosen_safety": SAFETY_LABEL[chosen_safe],
        "rejected_safety": SAFETY_LABEL[rejected_safe],
        "safety_bin": get(_INDEX["safety_bin"]) or "",
        "excluded_from_reward_models": get(_INDEX["safety_bin"]) == "chosen_unsafe",
        "is_gold": get(_INDEX["pair__is_gold"]),
        "origin": get(_INDEX["origin"]),
        "annotator": pseudonym(get(_INDEX["annotator_id"])) or "",
        "rationale": get(_INDEX["rationale"]),
        "seconds_spent": _known("seconds_spent", get(_INDEX["seconds_spent"])),
        "created_at": get(_INDEX["created_at"]).isoformat(),
        "variants": [get(chosen_at + 1), get(rejected_at + 1)],
        "chosen_generation": _response(row, chosen_at),
        "rejected_generation": _response(row, rejected_at),
    }
    return json.dumps(record, ensure_ascii=False) + "\n"


LINE_WRITERS = {"trl": trl_line, "full": full_line}
FIELDS = {"trl": TRL_FIELDS, "full": ROW_FIELDS}
