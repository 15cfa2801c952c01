"""Resumable PPO state and the policy folders a run leaves behind.

- `checkpoints/step_NNNNNNNN/state.pt`: actor and critic weights and optimiser states, the
  iteration reached and the early-stopping record, written atomically (rewardtrain's
  checkpoints: a staging folder renamed into place), so a killed run resumes from the newest
  complete one and never reads half of one.
- `best/`: the policy with the best held-out mean R_c so far, a transformers causal-LM folder,
  replaced atomically (write beside, rename).
- at the end the chosen policy's files are moved into the output folder itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from rewardtrain import checkpoint as atomic

CHECKPOINTS = "checkpoints"
BEST = "best"


def save_state(out: Path, iteration: int, state: dict[str, Any], keep: int) -> Path:
    """Write checkpoint `iteration` and prune to the newest `keep`."""
    folder = atomic.save_checkpoint(out / CHECKPOINTS, iteration, state)
    atomic.prune_checkpoints(out / CHECKPOINTS, keep)
    return folder


def latest_state(out: Path) -> dict[str, Any] | None:
    folder = atomic.latest_checkpoint(out / CHECKPOINTS)
    return atomic.load_checkpoint(folder) if folder is not None else None


def save_policy(folder: Path, module, state_dict: dict[str, Any], tokenizer) -> Path:
    """Replace `folder` by a transformers causal-LM folder of `state_dict` (atomic rename)."""
    staging = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    module.config.use_cache = True
    module.save_pretrained(staging, state_dict=state_dict, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    old = folder.with_name(f".old-{folder.name}-{os.getpid()}")
    if folder.exists():
        os.rename(folder, old)
    os.rename(staging, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def publish_policy(source: Path, out: Path) -> None:
    """Move a policy folder's files into `out` (the run's output folder)."""
    for path in source.iterdir():
        target = out / path.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(path, target)
    source.rmdir()


def clear_resumable(out: Path) -> None:
    """A finished run needs no resumable state."""
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
