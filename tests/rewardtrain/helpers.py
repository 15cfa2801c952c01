"""Helpers of the rewardtrain tests: a tiny random Llama, a learnable synthetic set, JSONL."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch


def make_tiny_llama(folder: Path, tokenizer, seed: int = 0) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer, saved as a causal LM."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


WORDS = "apple river stone cloud green quiet window table music paper light orange".split()


def synthetic_records(n: int, seed: int = 0) -> list[dict]:
    """A learnable rule: the chosen response ends with "good", the rejected with "bad".

    Prompts and the rest of each response are random words; grades are random.
    """
    rng = random.Random(seed)
    grades = ["significantly_better", "better", "slightly_better", "negligibly_better"]
    records = []
    for _ in range(n):
        prompt = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))

        def answer(word: str) -> list[dict]:
            text = " ".join(rng.choices(WORDS, k=rng.randint(2, 8)))
            return [{"role": "assistant", "content": f"{text} {word}"}]

        records.append(
            {
                "prompt": [{"role": "user", "content": prompt}],
                "chosen": answer("good"),
                "rejected": answer("bad"),
                "grade": rng.choice(grades),
                "stage": "helpfulness",
            }
        )
    return records


def write_jsonl(path: Path, records: list) -> Path:
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return path
