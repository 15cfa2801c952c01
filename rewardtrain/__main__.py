"""Command line: ``python -m rewardtrain train|eval|score ...`` (``--help`` on each)."""

from __future__ import annotations

from rewardtrain.config import TrainConfig, config_from_args, make_parser


def run(argv: list[str] | None = None) -> None:
    """Run one command; a bad input line exits non-zero with ``file:line: message``."""
    from rewardtrain.data import DataError

    try:
        _run(argv)
    except DataError as exc:
        raise SystemExit(f"error: {exc}") from None


def _run(argv: list[str] | None) -> None:
    cfg = config_from_args(make_parser().parse_args(argv))
    if isinstance(cfg, TrainConfig):
        from rewardtrain.train import main

        if not cfg.model:
            from inference.default_model import ensure_default_model

            cfg.model = str(ensure_default_model())
        if not cfg.output_dir:
            raise SystemExit("train needs --output-dir")
        main(cfg)
    elif cfg.__class__.__name__ == "EvalConfig":
        from rewardtrain.evaluate import main

        main(cfg)
    else:
        from rewardtrain.score import main

        main(cfg)


if __name__ == "__main__":
    run()
