"""The cores' one command line: config dataclasses to flags and back."""

from dataclasses import dataclass

import pytest

from mlcore.cli import build, field_names, make_parser, nested, option, parse_config, to_argv


@dataclass
class Optim:
    lr: float = option(1e-5, "Learning rate.")
    epochs: float = option(1.0, "Passes.")
    bf16: bool = option(False, "bfloat16 autocast.")


@dataclass
class Sampling:
    k: int = option(4, "Answers per prompt.")
    temperatures: list[float] = option([1.0], "Temperatures.")
    backend: str = option("transformers", "Backend.", choices=("transformers", "vllm"))


@dataclass
class Round:
    """One round.

    Longer description."""

    output_dir: str = option("", "Output folder.")
    files: list[str] = option([], "Input files.")
    sampling: Sampling = nested(Sampling)
    finetune: Optim = nested(Optim, prefix="train_")


COMMANDS = {"round": Round, "optim": Optim}


def _parse(argv):
    return parse_config(make_parser("prog", "test", COMMANDS), COMMANDS, argv)


def test_nested_fields_become_flat_flags_with_their_prefix():
    cfg = _parse(["round", "--k", "8", "--train-lr", "2e-05", "--files", "a", "b", "--train-bf16"])
    assert cfg.sampling.k == 8
    assert cfg.finetune.lr == 2e-5 and cfg.finetune.bf16 is True
    assert cfg.files == ["a", "b"]
    assert cfg.finetune.epochs == 1.0 and cfg.sampling.temperatures == [1.0]


def test_to_argv_round_trips_and_leaves_defaults_out():
    cfg = Round(output_dir="/tmp/x", files=["f.jsonl"])
    cfg.sampling.k = 16
    cfg.sampling.temperatures = [0.8, 1.2]
    cfg.finetune.lr = 3e-6
    argv = to_argv(cfg)
    assert "--train-epochs" not in argv
    assert _parse(["round", *argv]) == cfg
    full = to_argv(cfg, skip_defaults=False)
    assert "--train-epochs" in full and "--no-train-bf16" in full
    assert _parse(["round", *full]) == cfg


def test_a_flag_given_twice_by_composition_is_refused():
    @dataclass
    class Clash:
        lr: float = option(1.0, "Outer lr.")
        inner: Optim = nested(Optim)

    with pytest.raises(ValueError, match="--lr"):
        make_parser("prog", "test", {"clash": Clash})


def test_choices_and_types_are_enforced(capsys):
    with pytest.raises(SystemExit):
        _parse(["round", "--backend", "other"])
    with pytest.raises(SystemExit):
        _parse(["round", "--k", "many"])
    assert "invalid choice" in capsys.readouterr().err


def test_help_shows_each_field_with_its_default(capsys):
    with pytest.raises(SystemExit):
        _parse(["round", "--help"])
    out = capsys.readouterr().out
    assert "Longer description." in out
    assert "--train-lr" in out and "Learning rate. (default: 1e-05)" in out


def test_build_and_field_names_for_launchers():
    assert field_names(Round) >= {"output_dir", "k", "train_lr", "train_bf16"}
    cfg = build(Round, {"k": 2, "train_epochs": 3.0})
    assert cfg.sampling.k == 2 and cfg.finetune.epochs == 3.0
