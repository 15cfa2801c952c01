"""Tiny PPO set-ups built in code: a word-level chat tokenizer, a random tiny Llama policy, reward
models and prompt files (no download, seconds on CPU)."""

from __future__ import annotations

import json
import random
from pathlib import Path

TOPICS = (
    "apple river stone cloud garden window music paper light orange forest bread ocean "
    "winter candle horse mountain silver"
).split()
FILLER = "the a and of to is it very quite some many".split()
UNSAFE = ("kill", "bomb", "poison")
WORDS = (*TOPICS, *FILLER, *UNSAFE)


def tokenizer():
    from mlcore.tiny_models import word_tokenizer

    return word_tokenizer(WORDS)


def policy_folder(folder: Path, seed: int = 0, **shape) -> Path:
    from mlcore.tiny_models import llama_config, save_causal_lm

    tok = tokenizer()
    return save_causal_lm(folder, llama_config(tok, **shape), tok, seed=seed)


def reward_model_folder(folder: Path, base: Path, seed: int = 1) -> Path:
    """A reward model folder (sequence classifier, scalar head) initialised from `base`."""
    import torch

    from rewardtrain.model import load_sequence_classifier, load_tokenizer, save_reward_model

    tok = load_tokenizer(base)
    torch.manual_seed(seed)
    classifier = load_sequence_classifier(base, tok.pad_token_id)
    with torch.no_grad():
        classifier.score.weight.normal_(0.0, 1.0)
    return save_reward_model(classifier, tok, folder)


def prompts_file(path: Path, n: int, seed: int = 0, safety_every: int = 0) -> Path:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            text = " ".join(rng.sample(TOPICS, 3))
            safety = bool(safety_every) and i % safety_every == 0
            handle.write(json.dumps({"id": i, "prompt": text, "safety": safety}) + "\n")
    return path


def ppo_config(tmp: Path, setup: dict[str, Path], **overrides):
    """A cpu-small PPOConfig over a tiny set-up; overrides are flat flag names."""
    from mlcore.cli import build
    from training_jobs.rlhf.ppo.config import PPOConfig, apply_preset

    values = {
        "output_dir": str(tmp),
        "preset": "cpu-small",
        "prompts": str(setup["prompts"]),
        "policy": str(setup["policy"]),
        "helpfulness_model": str(setup["helpfulness"]),
        "safety_model": str(setup.get("safety", "")),
        "progress": False,
        "max_new_tokens": 8,
        "rollouts": 16,
        "mini_batch": 8,
        "micro_batch": 4,
        "heldout_count": 8,
        "iterations": 2,
        **overrides,
    }
    return apply_preset(build(PPOConfig, values))


def make_certain(model, token: int, last_prompt_token: int) -> None:
    """Edit a tied-embedding Llama in place so that it always writes `token`: decoder layers
    add nothing (output projections zeroed), and the token's embedding points along the last
    prompt token's ("assistant"), so it wins the first step and then every later step (its
    own embedding is the input) by a wide margin."""
    import torch

    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.embed_tokens.weight
        direction = embed[last_prompt_token] / embed[last_prompt_token].norm()
        embed[token] = 20.0 * direction
