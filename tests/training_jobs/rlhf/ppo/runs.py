"""Running the PPO core as a person or a launcher does: `python -m training_jobs.rlhf ppo` in a
fresh process (or under torchrun)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from training_jobs.runners.launch import launcher

ROOT = Path(__file__).resolve().parents[4]


def ppo_argv(out: Path, setup: dict[str, Path], **flags) -> list[str]:
    values = {
        "output-dir": out,
        "preset": "cpu-small",
        "prompts": setup["prompts"],
        "policy": setup["policy"],
        "helpfulness-model": setup["helpfulness"],
        "safety-model": setup["safety"],
        "max-new-tokens": 8,
        "rollouts": 16,
        "mini-batch": 8,
        "micro-batch": 4,
        "heldout-count": 0,
        **{k.replace("_", "-"): v for k, v in flags.items()},
    }
    argv = ["-m", "training_jobs.rlhf", "ppo", "--no-progress"]
    for name, value in values.items():
        argv += [f"--{name}", str(value)]
    return argv


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def run(argv: list[str], nproc: int = 1) -> subprocess.CompletedProcess:
    done = subprocess.run(
        launcher(sys.executable, nproc) + argv,
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def start(argv: list[str], stderr: Path) -> subprocess.Popen:
    """The core in the background; its stderr goes to the file `stderr` (a pipe nobody
    reads would stall it once full)."""
    with stderr.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=sink
        )
