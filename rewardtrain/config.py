"""Typed configurations of the three commands; `mlcore.cli` turns them into the command line
(`python -m rewardtrain train|eval|score --help`) and back into flags for launchers."""

from __future__ import annotations

from dataclasses import dataclass

from mlcore.cli import make_parser as _make_parser
from mlcore.cli import option
from rewardtrain.grades import DEFAULT_MARGIN_TABLE, MARGIN_TABLES, UNSAFE_THRESHOLD


@dataclass
class TrainConfig:
    """Train a helpfulness or safety reward model (Touvron et al., 2023, §3.2.2)."""

    output_dir: str = option(
        "", "Folder for the reward model, metrics.json, test sets, checkpoints."
    )
    model: str = option(
        "",
        "Causal-LM checkpoint folder to initialise from (the chat policy, as in the paper). "
        "Empty: the default SmolLM2-135M-Instruct folder.",
    )
    reward_model: str = option(
        "helpfulness",
        "Which reward model, and so which data mix: helpfulness or safety.",
        choices=("helpfulness", "safety"),
    )
    data: list[str] = option(
        [],
        "Margin export files (TRL conversational or full form, .jsonl or .jsonl.gz); each "
        "pair goes to the helpfulness or safety pool by its 'stage' (else --default-stage).",
    )
    open_source: list[str] = option(
        [], "Open-source preference files (e.g. Anthropic HH helpful) for the helpfulness mix."
    )
    harmless: list[str] = option([], "Anthropic Harmless files for the safety mix.")
    default_stage: str = option(
        "helpfulness",
        "Pool of --data pairs that carry no 'stage'.",
        choices=("helpfulness", "safety"),
    )
    mix: str = option(
        "paper",
        "paper: the §3.2.2 mixes below; none: train on every given training pair as is.",
        choices=("paper", "none"),
    )
    helpfulness_extra_ratio: float = option(
        1.0,
        "Helpfulness RM: pairs sampled uniformly from safety + open-source data, as a "
        "multiple of the helpfulness pairs (paper: an equal amount, 1.0).",
    )
    safety_helpfulness_share: float = option(
        0.1, "Safety RM: share of helpfulness pairs in the mix (paper: 90/10, so 0.1)."
    )
    margin: str = option(
        DEFAULT_MARGIN_TABLE,
        "Margin table m(r) by grade (Table 27): none, small (1, 2/3, 1/3, 0), large (3, 2, 1, 0).",
        choices=tuple(MARGIN_TABLES),
    )
    max_length: int = option(1024, "Drop pairs whose chosen or rejected dialogue has more tokens.")
    epochs: float = option(1.0, "Passes over the training mix (paper: 1; longer over-fits).")
    max_steps: int = option(0, "Stop after this many optimizer steps (0: no limit).")
    lr: float = option(1e-5, "Maximum learning rate (paper: 1e-5; 5e-6 for 70B).")
    min_lr_ratio: float = option(0.1, "Cosine decay ends at this fraction of --lr (paper: 0.1).")
    warmup_ratio: float = option(0.03, "Warm-up steps as a fraction of all steps (paper: 0.03).")
    min_warmup_steps: int = option(
        5, "At least this many warm-up steps (paper: 5), but never more than half the run."
    )
    weight_decay: float = option(0.1, "AdamW weight decay.")
    beta1: float = option(0.9, "AdamW beta1.")
    beta2: float = option(0.95, "AdamW beta2.")
    eps: float = option(1e-5, "AdamW epsilon.")
    grad_clip: float = option(1.0, "Clip the gradient norm to this (0: no clipping).")
    batch_pairs: int = option(
        512,
        "Effective batch in pairs per optimizer step, over all processes (paper: 512); "
        "reached by gradient accumulation over packed rows.",
    )
    pack_tokens: int = option(
        1024,
        "Token budget of one packed row (one forward); a longer pair gets a row of its own.",
    )
    test_pairs: int = option(
        1000,
        "Held-out test pairs per data pool, at most (paper: 1,000). Which pairs are held out "
        "depends on each pair's text alone, so a pair trained on never joins a later test set.",
    )
    test_fraction: float = option(0.1, "Share of each pool held out, up to --test-pairs.")
    save_every: int = option(50, "Write a resumable checkpoint every this many steps (0: never).")
    keep_checkpoints: int = option(2, "Keep this many newest checkpoints.")
    resume: bool = option(True, "Resume from the newest complete checkpoint in output_dir.")
    seed: int = option(0, "Seed of the head initialisation, the mix and the order.")
    bf16: bool = option(False, "bfloat16 autocast on GPUs (weights and optimizer stay float32).")
    fsdp: bool = option(False, "Shard the model with FSDP (for models that do not fit one GPU).")
    attention: str = option(
        "auto",
        "Attention over packed rows: per_item (item by item, no L x L mask: less compute on "
        "the CPU), dense (the row's block mask, for SDPA's fused GPU kernels), auto (per_item "
        "on the CPU for models 512 wide or more, else dense).",
        choices=("auto", "per_item", "dense"),
    )
    progress: bool = option(True, "Show a progress bar.")


@dataclass
class EvalConfig:
    """Accuracy by grade (Table 8) of reward models on test sets; precision and recall of
    'unsafe' at a threshold of the sigmoid score for labelled responses."""

    models: list[str] = option([], "Reward model folders to evaluate.")
    test: list[str] = option(
        [],
        "Test sets as NAME=FILE or FILE (the name is then the file's stem); any form "
        "rewardtrain reads. Empty: the test_*.jsonl files saved beside each model.",
    )
    output: str = option("metrics.json", "Where to write the metrics JSON.")
    max_length: int = option(1024, "Drop pairs whose chosen or rejected dialogue has more tokens.")
    pack_tokens: int = option(2048, "Token budget of one packed row.")
    unsafe_threshold: float = option(
        UNSAFE_THRESHOLD,
        "A response is predicted unsafe when sigmoid(score) is below this (paper: 0.15).",
    )
    device: str = option(
        "auto", "auto: the GPU when CUDA is present, else the CPU; or cpu, cuda, cuda:N."
    )
    bf16: bool = option(False, "bfloat16 weights on a GPU (the CPU always computes in float32).")
    progress: bool = option(True, "Show a progress bar.")


@dataclass
class ScoreConfig:
    """Score dialogues with a reward model, in packed batches.

    Input lines: {"messages": [...]}, a bare messages list, {"prompt": [...], "response": [...]}
    or {"prompt": [...], "responses": [[...], ...]} (several responses share one context).
    Each output line is the input object with "score" (or "scores") added: the raw reward
    (use sigmoid for the safety RM's probability).
    """

    model: str = option("", "Reward model folder.")
    input: str = option("", "JSONL(.gz) of dialogues.")
    output: str = option("-", "Output JSONL ('-': standard output).")
    pack_tokens: int = option(2048, "Token budget of one packed row.")
    batch_items: int = option(256, "Dialogues read and packed together.")
    device: str = option(
        "auto", "auto: the GPU when CUDA is present, else the CPU; or cpu, cuda, cuda:N."
    )
    bf16: bool = option(False, "bfloat16 weights on a GPU (the CPU always computes in float32).")
    progress: bool = option(True, "Show a progress bar.")


COMMANDS: dict[str, type] = {"train": TrainConfig, "eval": EvalConfig, "score": ScoreConfig}


def make_parser():
    return _make_parser(
        "python -m rewardtrain",
        "Margin's reward models: train, evaluate and score (Llama 2, §3.2.2).",
        COMMANDS,
    )
