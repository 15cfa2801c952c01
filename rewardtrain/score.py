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

from mlcore.progress import Progress
from rewardtrain.config import ScoreConfig
from rewardtrain.data import (
    DataError,
    Message,
    encode_dialogues,
    messages_of,
    open_text,
    reward_index,
)
from rewardtrain.evaluate import score_items
from rewardtrain.packing import Item


def dialogues_of(record: Any) -> list[list[Message]]:
    """The full dialogues a line asks to score (one, or one per response)."""
    if isinstance(record, list):
        return [messages_of(record, "user", "line")]
    if not isinstance(record, dict):
        raise DataError("expected a messages list or an object")
    if "messages" in record:
        return [messages_of(record["messages"], "user", "messages")]
    prompt = messages_of(record.get("prompt", []), "user", "prompt")
    if "responses" in record:
        return [prompt + messages_of(r, "assistant", "responses") for r in record["responses"]]
    for key in ("response", "completion", "chosen"):
        if key in record:
            return [prompt + messages_of(record[key], "assistant", key)]
    raise DataError("expected 'messages', or 'prompt' with 'response(s)' or 'completion'")


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


def score_records(model, tokenizer, records: list[Any], pack_tokens: int) -> list[list[float]]:
    """Raw rewards of each record's dialogues, in order."""
    items = [item_of(tokenizer, dialogues_of(r), k) for k, r in enumerate(records)]
    scores = score_items(model, items, pack_tokens)
    return [scores[k] for k in range(len(records))]


def _batches(path: str, size: int):
    batch: list[tuple[int, Any]] = []
    with open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                batch.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: {exc}") from exc
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def main(cfg: ScoreConfig) -> int:
    """Score every line of cfg.input; return how many lines were scored."""
    from rewardtrain.model import RewardModel, load_sequence_classifier, load_tokenizer

    if not cfg.model or not cfg.input:
        raise SystemExit("score needs --model and --input")
    tokenizer = load_tokenizer(cfg.model)
    model = RewardModel(load_sequence_classifier(cfg.model, tokenizer.pad_token_id))
    out = sys.stdout if cfg.output == "-" else open(Path(cfg.output), "w", encoding="utf-8")
    done = 0
    progress = Progress({"score": 1}, bar=cfg.progress)
    stage = progress.stage("score")
    try:
        for batch in _batches(cfg.input, cfg.batch_items):
            for number, record in batch:
                try:
                    dialogues_of(record)
                except DataError as exc:
                    raise DataError(f"{cfg.input}:{number}: {exc}") from exc
            records = [r for _, r in batch]
            for record, scores in zip(
                records, score_records(model, tokenizer, records, cfg.pack_tokens), strict=True
            ):
                many = isinstance(record, dict) and "responses" in record
                result = dict(record) if isinstance(record, dict) else {"messages": record}
                result["scores" if many else "score"] = scores if many else scores[0]
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
                done += 1
            stage.update(len(batch))
    finally:
        progress.close()
        if out is not sys.stdout:
            out.close()
    return done
