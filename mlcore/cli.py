"""One command line for the ML cores, built from typed config dataclasses (as TRL's
`HfArgumentParser` does), and its inverse for launchers.

    @dataclass
    class TrainConfig:
        lr: float = option(1e-5, "Maximum learning rate (paper: 1e-5).")
        data: list[str] = option([], "Export files.")
        optim: Optim = nested(Optim)            # fields of Optim become flags of TrainConfig

    parser = make_parser("python -m rewardtrain", "...", {"train": TrainConfig})
    cfg = parse_config(parser, argv)            # a TrainConfig
    argv = to_argv(cfg)                         # ["--lr", "1e-05", "--data", "a.jsonl", ...]

Each field becomes `--field-name` with the field's help and default; a `bool` is
`--flag/--no-flag`; a `list[T]` takes one or more values; `choices=` in the metadata limits the
values. A field whose type is a dataclass (declared with `nested`) is flattened: its fields
become flags of the outer command, optionally behind a prefix. Two fields that would give the
same flag raise `ValueError` when the parser is built, so a composed config can never shadow a
field silently.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from collections.abc import Iterator
from typing import Any, Union, get_args, get_origin, get_type_hints


def option(default: Any, help: str, **extra: Any) -> Any:
    """A config field with its help text (and e.g. `choices=(...)`); lists are copied per
    instance."""
    metadata = {"help": help, **extra}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def nested(cls: type, *, prefix: str = "") -> Any:
    """A field holding a whole config dataclass; its fields become flags of the outer config,
    named `prefix + field` (so `nested(Optim, prefix="train_")` gives `--train-lr`)."""
    return dataclasses.field(default_factory=cls, metadata={"nested": True, "prefix": prefix})


@dataclasses.dataclass(frozen=True)
class Flag:
    """One command-line option: where its value lives in the (possibly nested) config."""

    dest: str  # the flat name, e.g. "train_lr"; the flag is "--train-lr"
    path: tuple[str, ...]  # attribute path in the config, e.g. ("finetune", "lr")
    type: Any
    field: dataclasses.Field

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def default(self) -> Any:
        f = self.field
        return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _base_type(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        return next(a for a in get_args(tp) if a is not type(None))
    return tp


def flags_of(cls: type, prefix: str = "", path: tuple[str, ...] = ()) -> Iterator[Flag]:
    """Every flag of `cls`, nested configs flattened, in declaration order."""
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _base_type(hints[f.name])
        if f.metadata.get("nested"):
            yield from flags_of(tp, prefix + f.metadata.get("prefix", ""), (*path, f.name))
        else:
            yield Flag(prefix + f.name, (*path, f.name), tp, f)


def _checked_flags(cls: type) -> list[Flag]:
    found: dict[str, Flag] = {}
    for flag in flags_of(cls):
        if flag.dest in found:
            first = ".".join(found[flag.dest].path)
            raise ValueError(
                f"{cls.__name__}: {'.'.join(flag.path)} and {first} both give {flag.flag}"
            )
        found[flag.dest] = flag
    return list(found.values())


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One option per (flattened) field of `cls`, with the field's help and default."""
    for flag in _checked_flags(cls):
        help_text = f"{flag.field.metadata.get('help', '')} (default: {flag.default!r})"
        kwargs: dict[str, Any] = {"dest": flag.dest, "default": flag.default, "help": help_text}
        if "choices" in flag.field.metadata:
            kwargs["choices"] = flag.field.metadata["choices"]
        if flag.type is bool:
            parser.add_argument(flag.flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif get_origin(flag.type) is list:
            parser.add_argument(flag.flag, nargs="+", type=get_args(flag.type)[0], **kwargs)
        else:
            parser.add_argument(flag.flag, type=flag.type, **kwargs)


def make_parser(prog: str, description: str, commands: dict[str, type]) -> argparse.ArgumentParser:
    """A parser with one sub-command per config class; each class's docstring is its help."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name, cls in commands.items():
        doc = (cls.__doc__ or name).strip()
        sub = subcommands.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(sub, cls)
    return parser


def build(cls: type, values: dict[str, Any]) -> Any:
    """An instance of `cls` from flat values keyed by flag dest (missing ones keep their
    default), nested configs rebuilt."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("nested"):
            inner = {
                key[len(f.metadata.get("prefix", "")) :]: value
                for key, value in values.items()
                if key.startswith(f.metadata.get("prefix", ""))
            }
            kwargs[f.name] = build(_base_type(get_type_hints(cls)[f.name]), inner)
        elif f.name in values:
            kwargs[f.name] = values[f.name]
    return cls(**kwargs)


def parse_config(
    parser: argparse.ArgumentParser, commands: dict[str, type], argv: list[str] | None = None
) -> Any:
    """Parse `argv` and return the chosen command's config instance."""
    args = parser.parse_args(argv)
    cls = commands[args.command]
    return build(cls, {flag.dest: getattr(args, flag.dest) for flag in _checked_flags(cls)})


def _value(obj: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        obj = getattr(obj, name)
    return obj


def to_argv(config: Any, *, skip_defaults: bool = True) -> list[str]:
    """The flags that rebuild `config` through `make_parser` (`parse_config(to_argv(c)) == c`).
    With `skip_defaults`, fields equal to their default are left out (a shorter, readable
    command line in the job log)."""
    argv: list[str] = []
    for flag in _checked_flags(type(config)):
        value = _value(config, flag.path)
        if skip_defaults and value == flag.default:
            continue
        if isinstance(value, bool):
            argv.append(flag.flag if value else "--no-" + flag.flag[2:])
        elif isinstance(value, list):
            if value:
                argv += [flag.flag, *(str(v) for v in value)]
            elif not skip_defaults or flag.default:
                raise ValueError(f"{flag.flag}: an empty list cannot be given on a command line")
        else:
            argv += [flag.flag, repr(value) if isinstance(value, float) else str(value)]
    return argv


def field_names(cls: type) -> set[str]:
    """The flat names a config accepts (what a job's parameters are checked against)."""
    return {flag.dest for flag in _checked_flags(cls)}
