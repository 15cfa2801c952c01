"""bench/gpu_check.sh works up to the device: its CPU dry run (tiny shapes, two processes on
the CPU over gloo) runs every part and writes their figures and verdicts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gpu_check_dry_run(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rewardtrain = json.loads((tmp_path / "gpu_check_rewardtrain.json").read_text())
    assert rewardtrain["checks"]["fsdp_equals_ddp_and_loss_falls"]
    assert rewardtrain["checks"]["eval_and_score_on_the_device"]
    assert (
        rewardtrain["distributed"]["fsdp"]["fsdp"]
        and rewardtrain["distributed"]["fsdp"]["world_size"] == 2
    )
    assert {t["attention"] for t in rewardtrain["throughput"]} == {"dense", "per_item"}
    assert (tmp_path / "gpu_check_ppo.json").is_file()
