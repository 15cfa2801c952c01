"""Command line: ``python -m rewardtrain train|eval|score ...`` (``--help`` on each)."""

from __future__ import annotations

from mlcore.cli import parse_config
from rewardtrain.config import COMMANDS, EvalConfig, TrainConfig, make_parser


def run(argv: list[str] | None = None) -> None:
    """Run one command; a bad input line exits non-zero with ``file:line: message``."""
    from rewardtrain.data import DataError

    try:
        _run(argv)
    except DataError as exc:
        raise SystemExit(f"error: {exc}") from None


def _run(argv: list[str] | None) -> None:
    cfg = parse_config(make_parser(), COMMANDS, argv)
    if isinstance(cfg, TrainConfig):
        from rewardtrain.train import main

        if not cfg.model:
            from inference.default_model import ensure_default_model

            cfg.model = str(ensure_default_model())
        if not cfg.output_dir:
            raise SystemExit("train needs --output-dir")
        main(cfg)
    elif isinstance(cfg, EvalConfig):
        from rewardtrain.evaluate import main

        main(cfg)
    else:
        from rewardtrain.score import main

        main(cfg)


if __name__ == "__main__":
    run()
