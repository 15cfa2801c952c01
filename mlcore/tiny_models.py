"""Models built in code, for tests, demos and benchmarks on machines that cannot download any.

    tokenizer = word_tokenizer(["apple", "river", "stone"])     # a chat tokenizer, one id a word
    folder = save_causal_lm(out, llama_config(tokenizer, hidden=64, layers=2), tokenizer)

`word_tokenizer` is a word-level tokenizer with a ChatML chat template (the template SmolLM2
uses), so every Margin core that calls `apply_chat_template` reads it; unknown words become
`<unk>`. Its vocabulary is tiny by default, which makes a tiny policy's generation, log-probs and
sampling cheap on CPU. `llama_config` gives a Llama of any shape (`SHAPES` has SmolLM2-135M's and
a ~1B one) for that tokenizer; the weights are random (seeded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
ROLES = ("system", "user", "assistant")
PUNCTUATION = (".", ",", "?", "!", "'", ":")
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Shapes of randomly initialised Llamas (vocabulary size comes from the tokenizer).
SHAPES: dict[str, dict[str, Any]] = {
    # heads of 32 dimensions: the smallest vLLM's CPU attention kernels take
    "tiny": dict(hidden=64, intermediate=128, layers=2, heads=2, kv_heads=1),
    # SmolLM2-135M-Instruct: 30 layers of width 576, 9 heads, 3 key/value heads.
    "smollm2-135m": dict(hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3),
    # About 1.2 B parameters with a 49,152-word vocabulary (Llama 3.2 1B's body, tied head).
    "llama-1b": dict(hidden=2048, intermediate=8192, layers=16, heads=32, kv_heads=8),
}


def word_tokenizer(words: list[str] | tuple[str, ...]):
    """A fast word-level chat tokenizer: special tokens, roles, punctuation, then `words`.

    Text is lower-cased and split on whitespace and punctuation; decoding joins words with
    spaces. pad is `<pad>` (distinct from eos `<|im_end|>`), bos `<|im_start|>`.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *ROLES, *PUNCTUATION, *words):
        vocab.setdefault(token, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    core.add_special_tokens(list(SPECIAL_TOKENS))
    specials = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": UNK}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, **specials)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def numbered_words(n: int) -> list[str]:
    """`n` distinct words ("w0", "w1", ...): a vocabulary of a real model's size."""
    return [f"w{i}" for i in range(n)]


def llama_config(tokenizer, shape: str = "tiny", **overrides: Any):
    """A `LlamaConfig` of the named shape (`SHAPES`) for `tokenizer`, embeddings tied."""
    from transformers import LlamaConfig

    dims = {**SHAPES[shape], **overrides}
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=dims["hidden"],
        intermediate_size=dims["intermediate"],
        num_hidden_layers=dims["layers"],
        num_attention_heads=dims["heads"],
        num_key_value_heads=dims["kv_heads"],
        max_position_embeddings=dims.get("max_positions", 2048),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )


def causal_lm(config, seed: int = 0):
    """A randomly initialised `LlamaForCausalLM` (float32), seeded."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_causal_lm(folder: str | Path, config, tokenizer, seed: int = 0) -> Path:
    """A policy folder (safetensors, config, generation config, tokenizer) that the inference
    backends, rewardtrain and the PPO core load; returns it."""
    folder = Path(folder)
    model = causal_lm(config, seed)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
