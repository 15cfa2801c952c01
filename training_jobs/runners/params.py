"""A job's parameters are the flat flag names of its core's config (`mlcore.cli`): checked
against that config before a job exists, and turned into a config object when it runs."""

from __future__ import annotations

from typing import Any, get_args, get_origin

from django.conf import settings
from django.core.exceptions import ValidationError

from config.artifacts import UnsafePath, artifact_path
from mlcore.cli import Flag, build, field_names, flags_of

_TYPES = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}


def _check_value(key: str, value: Any, flag: Flag) -> None:
    if get_origin(flag.type) is list:
        item = get_args(flag.type)[0]
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            what = "file paths" if item is str else f"{item.__name__} values"
            raise ValidationError(f"{key} must be a list of {what}")
    else:
        expected = _TYPES.get(flag.type, (str,))
        if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
            raise ValidationError(f"{key} must be {flag.type.__name__}, got {value!r}")
    choices = flag.field.metadata.get("choices")
    if choices and value not in choices:
        raise ValidationError(f"{key} must be one of {', '.join(choices)}")


def check_against(
    params: dict[str, Any], cls: type, *, reserved: set[str], paths: set[str]
) -> None:
    """Each key must be a flag of `cls` (not one Margin sets itself) with a value of its
    type; path fields must name files under ARTIFACT_ROOT."""
    flags = {flag.dest: flag for flag in flags_of(cls)}
    allowed = field_names(cls) - reserved
    for key, value in params.items():
        if key not in allowed:
            raise ValidationError(
                f"Unknown parameter {key!r}; allowed: {', '.join(sorted(allowed))}"
            )
        _check_value(key, value, flags[key])
        if key in paths:
            for path in value:
                try:
                    if not artifact_path(path).is_file():
                        raise ValidationError(
                            f"{key}: {path} is not a file under the artifact folder"
                        )
                except UnsafePath as exc:
                    raise ValidationError(f"{key}: {exc}") from exc


def core_config(cls: type, params: dict[str, Any], *, paths: set[str] = frozenset(), **own: Any):
    """The core's config from a job's (checked) parameters and what Margin sets itself
    (`own`, e.g. output_dir); path parameters become absolute paths under ARTIFACT_ROOT."""
    values = {
        key: [str(artifact_path(v)) for v in value] if key in paths else value
        for key, value in params.items()
    }
    return build(cls, {**values, **own})


def core_device(params: dict[str, Any]) -> str:
    """The `--device` of an eval or score run for a job: a gpu job uses CUDA wherever its
    worker has it (`auto`), a cpu job the CPU even on a GPU node."""
    device = params.get("device") or settings.MARGIN_JOBS["TRAINING_DEVICE"]
    return "cpu" if device == "cpu" else "auto"
