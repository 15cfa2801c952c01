"""Every file Margin writes or serves lives under ARTIFACT_ROOT; these helpers keep it so."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.conf import settings

PARTIAL = ".partial"


class UnsafePath(ValueError):
    pass


def artifact_root() -> Path:
    root = Path(settings.ARTIFACT_ROOT).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def artifact_path(relative: str | os.PathLike[str]) -> Path:
    """Resolve a path relative to ARTIFACT_ROOT, refusing anything that leaves it."""
    root = artifact_root()
    candidate = (root / relative).resolve()
    if candidate != root and root not in candidate.parents:
        raise UnsafePath(f"{relative!s} is outside the artifact folder")
    return candidate


@contextmanager
def atomic_write(target: Path, mode: str = "w") -> Iterator[IO]:
    """Write beside `target` (`.NAME.<random>.partial`) and rename into place only when complete;
    a failure removes the partial file (a killed process leaves it to `partials_of`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PARTIAL, dir=target.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def partials_of(target: Path) -> list[Path]:
    """The partial files `atomic_write` left beside `target` (a process killed mid-write)."""
    if not target.parent.is_dir():
        return []
    return sorted(target.parent.glob(f".{target.name}.*{PARTIAL}"))
