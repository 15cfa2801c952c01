"""Typed configurations of the three commands and the command-line parser built from them."""

from __future__ import annotations

import argparse
import dataclasses
import types
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin, get_type_hints


def _f(default: Any, help: str, **extra: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **extra})
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class TrainConfig:
    """Train a helpfulness or safety reward model (Touvron et al., 2023, §3.2.2)."""

    output_dir: str = _f("", "Folder for the reward model, metrics.json, test sets, checkpoints.")
    model: str = _f(
        "",
        "Causal-LM checkpoint folder to initialise from (the chat policy, as in the paper). "
        "Empty: the default SmolLM2-135M-Instruct folder.",
    )
    reward_model: str = _f(
        "helpfulness",
        "Which reward model, and so which data mix: helpfulness or safety.",
        choices=("helpfulness", "safety"),
    )
    data: list[str] = _f(
        [],
        "Margin export files (TRL conversational or full form, .jsonl or .jsonl.gz); each "
        "pair goes to the helpfulness or safety pool by its 'stage' (else --default-stage).",
    )
    open_source: list[str] = _f(
        [], "Open-source preference files (e.g. Anthropic HH helpful) for the helpfulness mix."
    )
    harmless: list[str] = _f([], "Anthropic Harmless files for the safety mix.")
    default_stage: str = _f(
        "helpfulness",
        "Pool of --data pairs that carry no 'stage'.",
        choices=("helpfulness", "safety"),
    )
    mix: str = _f(
        "paper",
        "paper: the §3.2.2 mixes below; none: train on every given training pair as is.",
        choices=("paper", "none"),
    )
    helpfulness_extra_ratio: float = _f(
        1.0,
        "Helpfulness RM: pairs sampled uniformly from safety + open-source data, as a "
        "multiple of the helpfulness pairs (paper: an equal amount, 1.0).",
    )
    safety_helpfulness_share: float = _f(
        0.1, "Safety RM: share of helpfulness pairs in the mix (paper: 90/10, so 0.1)."
    )
    margin: str = _f(
        "small",
        "Margin table m(r) by grade (Table 27): none, small (1, 2/3, 1/3, 0), large (3, 2, 1, 0).",
        choices=("none", "small", "large"),
    )
    max_length: int = _f(1024, "Drop pairs whose chosen or rejected dialogue has more tokens.")
    epochs: float = _f(1.0, "Passes over the training mix (paper: 1; longer over-fits).")
    max_steps: int = _f(0, "Stop after this many optimizer steps (0: no limit).")
    lr: float = _f(1e-5, "Maximum learning rate (paper: 1e-5; 5e-6 for 70B).")
    min_lr_ratio: float = _f(0.1, "Cosine decay ends at this fraction of --lr (paper: 0.1).")
    warmup_ratio: float = _f(0.03, "Warm-up steps as a fraction of all steps (paper: 0.03).")
    min_warmup_steps: int = _f(
        5, "At least this many warm-up steps (paper: 5), but never more than half the run."
    )
    weight_decay: float = _f(0.1, "AdamW weight decay.")
    beta1: float = _f(0.9, "AdamW beta1.")
    beta2: float = _f(0.95, "AdamW beta2.")
    eps: float = _f(1e-5, "AdamW epsilon.")
    grad_clip: float = _f(1.0, "Clip the gradient norm to this (0: no clipping).")
    batch_pairs: int = _f(
        512,
        "Effective batch in pairs per optimizer step, over all processes (paper: 512); "
        "reached by gradient accumulation over packed rows.",
    )
    pack_tokens: int = _f(
        1024,
        "Token budget of one packed row (one forward); a longer pair gets a row of its own.",
    )
    test_pairs: int = _f(
        1000,
        "Held-out test pairs per data pool, at most (paper: 1,000). Which pairs are held out "
        "depends on each pair's text alone, so a pair trained on never joins a later test set.",
    )
    test_fraction: float = _f(0.1, "Share of each pool held out, up to --test-pairs.")
    save_every: int = _f(50, "Write a resumable checkpoint every this many steps (0: never).")
    keep_checkpoints: int = _f(2, "Keep this many newest checkpoints.")
    resume: bool = _f(True, "Resume from the newest complete checkpoint in output_dir.")
    seed: int = _f(0, "Seed of the head initialisation, the mix and the order.")
    bf16: bool = _f(False, "bfloat16 autocast on GPUs (weights and optimizer stay float32).")
    fsdp: bool = _f(False, "Shard the model with FSDP (for models that do not fit one GPU).")
    progress: bool = _f(True, "Show a progress bar.")


@dataclass
class EvalConfig:
    """Accuracy by grade (Table 8) of reward models on test sets; precision and recall of
    'unsafe' at a threshold of the sigmoid score for labelled responses."""

    models: list[str] = _f([], "Reward model folders to evaluate.")
    test: list[str] = _f(
        [],
        "Test sets as NAME=FILE or FILE (the name is then the file's stem); any form "
        "rewardtrain reads. Empty: the test_*.jsonl files saved beside each model.",
    )
    output: str = _f("metrics.json", "Where to write the metrics JSON.")
    max_length: int = _f(1024, "Drop pairs whose chosen or rejected dialogue has more tokens.")
    pack_tokens: int = _f(2048, "Token budget of one packed row.")
    unsafe_threshold: float = _f(
        0.15, "A response is predicted unsafe when sigmoid(score) is below this (paper: 0.15)."
    )
    device: str = _f(
        "auto", "auto: the GPU when CUDA is present, else the CPU; or cpu, cuda, cuda:N."
    )
    bf16: bool = _f(False, "bfloat16 weights on a GPU (the CPU always computes in float32).")


@dataclass
class ScoreConfig:
    """Score dialogues with a reward model, in packed batches.

    Input lines: {"messages": [...]}, a bare messages list, {"prompt": [...], "response": [...]}
    or {"prompt": [...], "responses": [[...], ...]} (several responses share one context).
    Each output line is the input object with "score" (or "scores") added: the raw reward
    (use sigmoid for the safety RM's probability).
    """

    model: str = _f("", "Reward model folder.")
    input: str = _f("", "JSONL(.gz) of dialogues.")
    output: str = _f("-", "Output JSONL ('-': standard output).")
    pack_tokens: int = _f(2048, "Token budget of one packed row.")
    batch_items: int = _f(256, "Dialogues read and packed together.")
    device: str = _f(
        "auto", "auto: the GPU when CUDA is present, else the CPU; or cpu, cuda, cuda:N."
    )
    bf16: bool = _f(False, "bfloat16 weights on a GPU (the CPU always computes in float32).")


def _base_type(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One --option per field of cls, with the field's help and default."""
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _base_type(hints[f.name])
        name = "--" + f.name.replace("_", "-")
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        help_text = f"{f.metadata['help']} (default: {default!r})"
        kwargs: dict[str, Any] = {"dest": f.name, "default": default, "help": help_text}
        if "choices" in f.metadata:
            kwargs["choices"] = f.metadata["choices"]
        if tp is bool:
            parser.add_argument(name, action=argparse.BooleanOptionalAction, **kwargs)
        elif get_origin(tp) is list:
            parser.add_argument(name, nargs="+", type=get_args(tp)[0], **kwargs)
        else:
            parser.add_argument(name, type=tp, **kwargs)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rewardtrain",
        description="Margin's reward models: train, evaluate and score (Llama 2, §3.2.2).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, cls in (("train", TrainConfig), ("eval", EvalConfig), ("score", ScoreConfig)):
        sub = commands.add_parser(
            name,
            help=cls.__doc__.splitlines()[0],
            description=cls.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_dataclass_arguments(sub, cls)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig | EvalConfig | ScoreConfig:
    cls = {"train": TrainConfig, "eval": EvalConfig, "score": ScoreConfig}[args.command]
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
