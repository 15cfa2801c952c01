"""Typed configurations of the commands and the command-line parser built from them
(`mlcore.cli`); PPO's configuration lives in `training_jobs.rlhf.ppo.config`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from mlcore.cli import build, field_names
from mlcore.cli import make_parser as _make_parser
from training_jobs.rlhf.ppo.config import PPOConfig


def _f(default: Any, help: str, **extra: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **extra})
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class Sampling:
    """Where prompts and the policy come from and how answers are sampled."""

    prompts: str = _f(
        "",
        'Prompts JSONL: {"prompt": [messages] or str, "safety": bool, "id": optional}; '
        "'safety' marks a safety-stage prompt (routed to R_s).",
    )
    policy: str = _f("", "Policy folder (transformers and vLLM load it).")
    backend: str = _f(
        "transformers",
        "Inference backend: transformers (CPU), vllm (in-process, GPU nodes) or http "
        "(an OpenAI-compatible server hosting the policy; give --base-url and --model-name).",
        choices=("transformers", "vllm", "http"),
    )
    base_url: str = _f("", "http backend: server URL ending in /v1.")
    model_name: str = _f("", "http backend: the policy's name on the server.")
    k: int = _f(4, "Answers per prompt (paper: up to 100; Figure 7).")
    temperature: float = _f(1.0, "Sampling temperature (paper: best 1.2-1.3 for K of 10-100).")
    top_p: float = _f(1.0, "Nucleus mass.")
    max_tokens: int = _f(256, "New tokens per answer.")
    batch_size: int = _f(8, "transformers backend: sequences generated together.")
    gpu_memory_utilization: float = _f(
        0.5,
        "vllm backend: share of GPU memory the engine may take (the rest is left for the "
        "reward models and fine-tuning, which run after it in the same job).",
    )
    seed: int = _f(0, "Base seed: answer j of prompt i gets seed + i * k + j.")
    progress: bool = _f(True, "Show a progress bar.")


@dataclass
class Scoring:
    """The reward models and the paper's routing between them."""

    helpfulness_model: str = _f("", "Helpfulness reward model folder (R_h).")
    safety_model: str = _f("", "Safety reward model folder (R_s); empty: R_h alone.")
    safety_threshold: float = _f(
        0.15, "Use R_s when sigmoid(R_s) is below this, even for a helpfulness prompt (paper)."
    )
    pack_tokens: int = _f(2048, "Token budget of one packed scoring row.")


@dataclass
class SampleConfig(Sampling):
    """Sample K answers per prompt from the policy (Touvron et al., 2023, §3.2.3)."""

    output: str = _f("samples.jsonl", "Where to write the samples JSONL.")


@dataclass
class SelectConfig(Scoring):
    """Score the samples with the reward models, keep the best answer per prompt, and pool it
    with the best answers of earlier iterations."""

    samples: str = _f("samples.jsonl", "Samples JSONL written by `sample`.")
    earlier_pools: list[str] = _f(
        [], "pool.jsonl files of earlier iterations; their answers are re-scored and pooled."
    )
    output_dir: str = _f("", "Folder for scored.jsonl, best.jsonl and pool.jsonl.")
    progress: bool = _f(True, "Show a progress bar.")


@dataclass
class FinetuneConfig:
    """Fine-tune the policy on the pooled best answers, loss on response tokens only."""

    pool: str = _f("pool.jsonl", "Pool JSONL written by `select`.")
    policy: str = _f("", "Policy folder to start from.")
    output_dir: str = _f("", "Folder for the new policy (safetensors, config, tokenizer).")
    epochs: float = _f(2.0, "Passes over the pool (paper's SFT: 2).")
    lr: float = _f(2e-5, "Peak learning rate (paper's SFT: 2e-5), cosine decay to a tenth.")
    warmup_steps: int = _f(0, "Linear warm-up steps.")
    batch_size: int = _f(64, "Examples per optimizer step (paper's SFT: 64).")
    micro_batch: int = _f(8, "Examples per forward pass (gradient accumulation up to batch).")
    max_length: int = _f(1024, "Drop examples with more tokens.")
    weight_decay: float = _f(0.1, "AdamW weight decay (paper: 0.1).")
    grad_clip: float = _f(1.0, "Clip the gradient norm to this (0: no clipping).")
    seed: int = _f(0, "Seed of the example order.")
    bf16: bool = _f(False, "bfloat16 autocast on GPUs (weights and optimizer stay float32).")
    progress: bool = _f(True, "Show a progress bar.")


@dataclass
class SweepConfig(Scoring, Sampling):
    """Max, median and max-minus-median reward over K and temperature (Figures 7 and 8).

    For each temperature, max(ks) answers are sampled per prompt once; the statistics for K use
    the first K of them (so the curves over K are nested, as when sampling more).
    """

    output: str = _f("sweep.json", "Where to write sweep.json.")
    ks: list[int] = _f([1, 2, 4, 8, 16, 32, 64, 100], "Values of K, 1 to 100.")
    temperatures: list[float] = _f([0.8, 1.0, 1.2, 1.4], "Temperatures to sample at.")


@dataclass
class RoundConfig(Scoring, Sampling):
    """One rejection-sampling round: sample, select, pool and fine-tune into one folder."""

    output_dir: str = _f(
        "", "Folder for samples, scores, pool.jsonl, metrics.json and the new policy's files."
    )
    earlier_pools: list[str] = _f([], "pool.jsonl files of earlier iterations.")
    epochs: float = _f(2.0, "Fine-tuning passes over the pool (paper's SFT: 2).")
    lr: float = _f(2e-5, "Peak fine-tuning learning rate (paper's SFT: 2e-5).")
    warmup_steps: int = _f(0, "Linear warm-up steps.")
    train_batch_size: int = _f(64, "Examples per optimizer step (paper's SFT: 64).")
    micro_batch: int = _f(8, "Examples per forward pass.")
    max_length: int = _f(1024, "Drop fine-tuning examples with more tokens.")
    weight_decay: float = _f(0.1, "AdamW weight decay.")
    grad_clip: float = _f(1.0, "Clip the gradient norm to this (0: no clipping).")
    bf16: bool = _f(False, "bfloat16 autocast on GPUs.")


COMMANDS: dict[str, type] = {
    "sample": SampleConfig,
    "select": SelectConfig,
    "finetune": FinetuneConfig,
    "sweep": SweepConfig,
    "round": RoundConfig,
    "ppo": PPOConfig,
}


def make_parser() -> argparse.ArgumentParser:
    return _make_parser(
        "python -m training_jobs.rlhf",
        "Policy optimisation (Llama 2, §3.2.3): rejection sampling (sample, select, finetune, "
        "sweep, round) and PPO (ppo).",
        COMMANDS,
    )


def config_from_args(args: argparse.Namespace) -> Any:
    cls = COMMANDS[args.command]
    return build(cls, {name: getattr(args, name) for name in field_names(cls)})
