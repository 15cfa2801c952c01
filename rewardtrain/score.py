"""Score dialogues with a reward model in packed batches.

    python -m rewardtrain score --model out/helpfulness --input dialogues.jsonl \
        --output scored.jsonl

Several responses to one prompt (``{"prompt": [...], "responses": [[...], ...]}``, as rejection
sampling produces them) share one copy of the prompt in the packed row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlcore.dialogue import RowInvalid, check_context, messages, response_text
from mlcore.jsonl import FileError, read_records
from mlcore.progress import Progress
from rewardtrain.config import ScoreConfig
from rewardtrain.data import DataError, Message, encode_dialogues, reward_index
from rewardtrain.evaluate import score_items
from rewardtrain.packing import Item


def _answer(value: Any, field: str) -> list[Message]:
    return [{"role": "assistant", "content": response_text(value, field)}]


def dialogues_of(record: dict[str, Any]) -> list[list[Message]]:
    """The full dialogues a line asks to score (one, or one per response), read by mlcore's
    dialogue rules; RowInvalid names the field of a bad one."""
    if "messages" in record:
        turns = messages(record["messages"], "messages")
        check_context(turns[:-1], "messages")
        if turns[-1]["role"] != "assistant":
            raise RowInvalid("messages", "must end with the assistant turn to score")
        return [turns]
    if "prompt" not in record:
        raise RowInvalid("", "expected 'messages', or 'prompt' with 'response(s)' or 'completion'")
    prompt = check_context(messages(record["prompt"], "prompt"), "prompt")
    if "responses" in record:
        responses = record["responses"]
        if not isinstance(responses, list) or not responses:
            raise RowInvalid("responses", "must be a non-empty list of responses")
        return [prompt + _answer(r, f"responses[{i}]") for i, r in enumerate(responses)]
    for key in ("response", "completion", "chosen"):
        if key in record:
            return [prompt + _answer(record[key], key)]
    raise RowInvalid("", "expected 'messages', or 'prompt' with 'response(s)' or 'completion'")


def item_of(tokenizer, dialogues: list[list[Message]], key: int) -> Item:
    """Tokenize the dialogues of one line; their longest common prefix becomes the context."""
    ids = encode_dialogues(tokenizer, dialogues)
    n = min(len(x) for x in ids) - 1
    shared = 0
    while shared < n and all(x[shared] == ids[0][shared] for x in ids):
        shared += 1
    pad = tokenizer.pad_token_id
    return Item(
        ids[0][:shared], [x[shared:] for x in ids], [reward_index(x, pad) for x in ids], key
    )


def score_records(
    model, tokenizer, records: list[Any], pack_tokens: int, device: str = "cpu"
) -> list[list[float]]:
    """Raw rewards of each record's dialogues, in order."""
    items = [item_of(tokenizer, dialogues_of(r), k) for k, r in enumerate(records)]
    scores = score_items(model, items, pack_tokens, device)
    return [scores[k] for k in range(len(records))]


def _batches(path: str, size: int):
    """Lists of (record, its dialogues), `size` lines each; FileError names a bad line."""
    batch: list[tuple[dict[str, Any], list[list[Message]]]] = []
    for _, item in read_records(path, lambda record: (record, dialogues_of(record))):
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main(cfg: ScoreConfig) -> int:
    """Score every line of cfg.input; return how many lines were scored."""
    from rewardtrain.model import load_reward_model, pick_device

    if not cfg.model or not cfg.input:
        raise SystemExit("score needs --model and --input")
    device = pick_device(cfg.device)
    model, tokenizer = load_reward_model(cfg.model, device, cfg.bf16)
    out = sys.stdout if cfg.output == "-" else open(Path(cfg.output), "w", encoding="utf-8")
    done = 0
    progress = Progress({"score": 1}, bar=cfg.progress)
    stage = progress.stage("score")
    try:
        for batch in _batches(cfg.input, cfg.batch_items):
            items = [item_of(tokenizer, dialogues, k) for k, (_, dialogues) in enumerate(batch)]
            scores = score_items(model, items, cfg.pack_tokens, device)
            for k, (record, _) in enumerate(batch):
                result = dict(record)
                if "responses" in record:
                    result["scores"] = scores[k]
                else:
                    result["score"] = scores[k][0]
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
                done += 1
            stage.update(len(batch))
    except FileError as exc:
        raise DataError(str(exc)) from None
    finally:
        progress.close()
        if out is not sys.stdout:
            out.close()
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    print(f"scored {done} lines on {device} ({dtype})", file=sys.stderr)
    return done
