"""Command line: ``python -m training_jobs.rlhf sample|select|finetune|sweep|round|ppo ...``."""

from __future__ import annotations

import json

from mlcore.cli import parse_config
from training_jobs.rlhf.config import COMMANDS, make_parser


def run(argv: list[str] | None = None) -> None:
    """Run one command; a bad input line exits non-zero with ``file:line: message``."""
    from mlcore.jsonl import FileError
    from rewardtrain.data import DataError

    try:
        _run(argv)
    except (FileError, DataError) as exc:
        raise SystemExit(f"error: {exc}") from None


def _run(argv: list[str] | None) -> None:
    cfg = parse_config(make_parser(), COMMANDS, argv)
    from training_jobs.rlhf import finetune, rounds, sample, select, sweep
    from training_jobs.rlhf.ppo import trainer

    command = {
        "SampleConfig": sample.main,
        "SelectConfig": select.main,
        "FinetuneConfig": finetune.main,
        "SweepConfig": sweep.main,
        "RoundConfig": rounds.main,
        "PPOConfig": trainer.main,
    }[type(cfg).__name__]
    result = command(cfg)
    summary = {k: v for k, v in result.items() if k not in ("series", "config")}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    run()
