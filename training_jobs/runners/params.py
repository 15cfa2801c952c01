"""Job parameters are checked against the core's own config dataclass before a job exists."""

import dataclasses
from typing import Any, get_type_hints

from django.conf import settings

from config.artifacts import UnsafePath, artifact_path

from ..services.jobs import JobError

_TYPES = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}


def check_against(
    params: dict[str, Any], cls: type, *, reserved: set[str], paths: set[str]
) -> None:
    """Each key must be a field of `cls` (not one Margin sets itself) with a value of its type;
    path fields must stay under ARTIFACT_ROOT."""
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in params.items():
        if key not in fields or key in reserved:
            allowed = ", ".join(sorted(set(fields) - reserved))
            raise JobError(f"Unknown parameter {key!r}; allowed: {allowed}")
        hint = hints[key]
        if str(hint).startswith("list"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise JobError(f"{key} must be a list of file paths")
        else:
            expected = _TYPES.get(hint, (str,))
            if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
                raise JobError(f"{key} must be {hint.__name__}, got {value!r}")
        choices = fields[key].metadata.get("choices")
        if choices and value not in choices:
            raise JobError(f"{key} must be one of {', '.join(choices)}")
        if key in paths:
            for path in value:
                try:
                    if not artifact_path(path).is_file():
                        raise JobError(f"{key}: {path} is not a file under the artifact folder")
                except UnsafePath as exc:
                    raise JobError(f"{key}: {exc}") from exc


def flags(params: dict[str, Any]) -> list[str]:
    """Command-line flags for a core's parser (`--name value`, lists as several values)."""
    args: list[str] = []
    for key, value in params.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, list):
            args += [flag, *(str(artifact_path(v)) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def check_device(params: dict[str, Any]) -> None:
    """`device` says which workers run a job: gpu or cpu."""
    if params.get("device", "gpu") not in ("gpu", "cpu"):
        raise JobError("device must be gpu or cpu")


def device_flags(params: dict[str, Any]) -> list[str]:
    """`--device` (and `--bf16`) of an eval or score run for a job: a gpu job uses CUDA
    wherever its worker has it (`auto`), a cpu job the CPU even on a GPU node."""
    device = params.get("device") or settings.MARGIN_JOBS["TRAINING_DEVICE"]
    return [
        "--device",
        "cpu" if device == "cpu" else "auto",
        *(["--bf16"] * bool(params.get("bf16"))),
    ]
