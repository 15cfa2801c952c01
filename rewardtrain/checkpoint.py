"""Resumable checkpoints, written so that a kill at any moment never leaves one that is read.

A checkpoint is written into a hidden temporary folder beside its final place, fsynced, then
renamed to ``step_NNNNNNNN`` (a rename is atomic), so a folder with that name is always
complete. Resuming picks the newest such folder and ignores temporary leftovers.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

_NAME = re.compile(r"^step_(\d{8})$")
STATE_FILE = "state.pt"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(root: str | Path, step: int, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` as checkpoint ``step`` under root; return its folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    if final.exists():
        return final
    staging = root / f".tmp-step_{step:08d}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    with open(staging / STATE_FILE, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    _fsync_dir(staging)
    os.rename(staging, final)
    _fsync_dir(root)
    return final


def complete_checkpoints(root: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint under root, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _NAME.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(root: str | Path) -> Path | None:
    found = complete_checkpoints(root)
    return found[-1][1] if found else None


def load_checkpoint(folder: str | Path) -> dict[str, Any]:
    return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=False)


def prune_checkpoints(root: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints and any temporary leftovers."""
    root = Path(root)
    if not root.is_dir():
        return
    for path in root.glob(".tmp-step_*"):
        shutil.rmtree(path, ignore_errors=True)
    found = complete_checkpoints(root)
    for _, path in found[: max(0, len(found) - keep)]:
        shutil.rmtree(path, ignore_errors=True)
