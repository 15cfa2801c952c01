"""Typed configurations of the commands: rejection sampling's five, composed from three parts
(sampling, scoring, training), and PPO's (`training_jobs.rlhf.ppo.config`); `mlcore.cli` turns
them into the command line and back into flags for launchers.

    round = output folder + Sampling + Scoring + Training (its flags behind "--train-")
    sweep = output file + Sampling + Scoring + the K and temperature grid
"""

from __future__ import annotations

from dataclasses import dataclass

from mlcore.cli import make_parser as _make_parser
from mlcore.cli import nested, option
from rewardtrain.grades import UNSAFE_THRESHOLD
from training_jobs.rlhf.ppo.config import PPOConfig


@dataclass
class Sampling:
    """Where prompts and the policy come from and how answers are sampled."""

    prompts: str = option(
        "",
        'Prompts JSONL: {"prompt": [messages] or str, "safety": bool, "id": optional}; '
        "'safety' marks a safety-stage prompt (routed to R_s).",
    )
    policy: str = option("", "Policy folder (transformers and vLLM load it).")
    backend: str = option(
        "transformers",
        "Inference backend: transformers (CPU), vllm (in-process, GPU nodes) or http "
        "(an OpenAI-compatible server hosting the policy; give --base-url and --model-name).",
        choices=("transformers", "vllm", "http"),
    )
    base_url: str = option("", "http backend: server URL ending in /v1.")
    model_name: str = option("", "http backend: the policy's name on the server.")
    k: int = option(4, "Answers per prompt (paper: up to 100; Figure 7).")
    temperature: float = option(1.0, "Sampling temperature (paper: best 1.2-1.3 for K of 10-100).")
    top_p: float = option(1.0, "Nucleus mass.")
    max_tokens: int = option(256, "New tokens per answer.")
    batch_size: int = option(8, "transformers backend: sequences generated together.")
    gpu_memory_utilization: float = option(
        0.5,
        "vllm backend: share of GPU memory the engine may take (the rest is left for the "
        "reward models and fine-tuning, which run after it in the same job).",
    )
    seed: int = option(0, "Base seed: answer j of prompt i gets seed + i * k + j.")


@dataclass
class Scoring:
    """The reward models and the paper's routing between them."""

    helpfulness_model: str = option("", "Helpfulness reward model folder (R_h).")
    safety_model: str = option("", "Safety reward model folder (R_s); empty: R_h alone.")
    safety_threshold: float = option(
        UNSAFE_THRESHOLD,
        "Use R_s when sigmoid(R_s) is below this, even for a helpfulness prompt (paper: 0.15).",
    )
    pack_tokens: int = option(2048, "Token budget of one packed scoring row.")


@dataclass
class Training:
    """Fine-tuning the policy on the pool (the paper's SFT settings by default)."""

    epochs: float = option(2.0, "Passes over the pool (paper's SFT: 2).")
    lr: float = option(2e-5, "Peak learning rate (paper's SFT: 2e-5), cosine decay to a tenth.")
    warmup_steps: int = option(0, "Linear warm-up steps.")
    batch_size: int = option(64, "Examples per optimizer step (paper's SFT: 64).")
    micro_batch: int = option(8, "Examples per forward pass (gradient accumulation up to batch).")
    max_length: int = option(1024, "Drop examples with more tokens.")
    weight_decay: float = option(0.1, "AdamW weight decay (paper: 0.1).")
    grad_clip: float = option(1.0, "Clip the gradient norm to this (0: no clipping).")
    bf16: bool = option(False, "bfloat16 autocast on GPUs (weights and optimizer stay float32).")
    fsdp: bool = option(
        False,
        "Under torchrun: shard the policy with FSDP, one unit per decoder layer (for policies "
        "that do not fit one GPU), instead of DDP.",
    )
    gradient_checkpointing: bool = option(
        False,
        "Activation checkpointing: recompute each decoder layer's activations in the backward "
        "pass (much less memory, about a third more compute).",
    )


@dataclass
class SampleConfig:
    """Sample K answers per prompt from the policy (Touvron et al., 2023, §3.2.3)."""

    output: str = option("samples.jsonl", "Where to write the samples JSONL.")
    sampling: Sampling = nested(Sampling)
    progress: bool = option(True, "Show a progress bar.")


@dataclass
class SelectConfig:
    """Score the samples with the reward models, keep the best answer per prompt, and pool it
    with the best answers of earlier iterations."""

    samples: str = option("samples.jsonl", "Samples JSONL written by `sample`.")
    earlier_pools: list[str] = option(
        [], "pool.jsonl files of earlier iterations; their answers are re-scored and pooled."
    )
    output_dir: str = option("", "Folder for scored.jsonl, best.jsonl and pool.jsonl.")
    scoring: Scoring = nested(Scoring)
    progress: bool = option(True, "Show a progress bar.")


@dataclass
class FinetuneConfig:
    """Fine-tune the policy on the pooled best answers, loss on response tokens only."""

    pool: str = option("pool.jsonl", "Pool JSONL written by `select`.")
    policy: str = option("", "Policy folder to start from.")
    output_dir: str = option("", "Folder for the new policy (safetensors, config, tokenizer).")
    training: Training = nested(Training)
    seed: int = option(0, "Seed of the example order.")
    progress: bool = option(True, "Show a progress bar.")


@dataclass
class SweepConfig:
    """Max, median and max-minus-median reward over K and temperature (Figures 7 and 8).

    For each temperature, max(ks) answers are sampled per prompt once; the statistics for K use
    the first K of them (so the curves over K are nested, as when sampling more).
    """

    output: str = option("sweep.json", "Where to write sweep.json.")
    ks: list[int] = option([1, 2, 4, 8, 16, 32, 64, 100], "Values of K, 1 to 100.")
    temperatures: list[float] = option([0.8, 1.0, 1.2, 1.4], "Temperatures to sample at.")
    sampling: Sampling = nested(Sampling)
    scoring: Scoring = nested(Scoring)
    progress: bool = option(True, "Show a progress bar.")


@dataclass
class RoundConfig:
    """One rejection-sampling round: sample, select, pool and fine-tune into one folder."""

    output_dir: str = option(
        "", "Folder for samples, scores, pool.jsonl, metrics.json and the new policy's files."
    )
    earlier_pools: list[str] = option([], "pool.jsonl files of earlier iterations.")
    sampling: Sampling = nested(Sampling)
    scoring: Scoring = nested(Scoring)
    training: Training = nested(Training, prefix="train_")
    finetune: bool = option(
        True,
        "Fine-tune in this process. --no-finetune stops at pool.jsonl, for the finetune "
        "command to run next over several processes (torchrun); its finetune.json then joins "
        "metrics.json.",
    )
    progress: bool = option(True, "Show a progress bar.")


COMMANDS: dict[str, type] = {
    "sample": SampleConfig,
    "select": SelectConfig,
    "finetune": FinetuneConfig,
    "sweep": SweepConfig,
    "round": RoundConfig,
    "ppo": PPOConfig,
}


def make_parser():
    return _make_parser(
        "python -m training_jobs.rlhf",
        "Policy optimisation (Llama 2, §3.2.3): rejection sampling (sample, select, finetune, "
        "sweep, round) and PPO (ppo).",
        COMMANDS,
    )
