"""Fine-tuning on a pool writes a policy folder that the transformers backend loads."""

import json

import pytest

from inference import ModelVariant, SamplingParams, load_backend
from training_jobs.rlhf.config import FinetuneConfig, Training
from training_jobs.rlhf.finetune import main
from training_jobs.rlhf.pool import prompt_key


@pytest.fixture
def pool_file(tmp_path):
    path = tmp_path / "pool.jsonl"
    with path.open("w") as f:
        for i in range(3):
            prompt = [{"role": "user", "content": f"Say the number {i}."}]
            entry = {"key": prompt_key(prompt), "prompt": prompt, "safety": False}
            f.write(json.dumps({**entry, "response": f"The number is {i}.", "reward": 0.7}) + "\n")
    return path


def test_new_policy_loads_and_generates(tiny_policy_source, pool_file, tmp_path):
    out = tmp_path / "policy"
    cfg = FinetuneConfig(
        pool=str(pool_file),
        policy=str(tiny_policy_source),
        output_dir=str(out),
        training=Training(epochs=8.0, lr=1e-2, batch_size=3, micro_batch=2),
        progress=False,
    )
    metrics = main(cfg)
    assert metrics["examples"] == 3 and metrics["steps"] == 8
    assert metrics["last_loss"] < metrics["first_loss"]
    assert json.loads((out / "finetune.json").read_text())["steps"] == 8
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()

    backend = load_backend(ModelVariant("rs", "transformers", model=str(out)))
    (completion,) = backend.generate(
        [[{"role": "user", "content": "Say the number 1."}]],
        SamplingParams(temperature=1.0, max_tokens=4, seed=3),
    )
    assert completion.model == str(out) and 1 <= completion.completion_tokens <= 4


@pytest.mark.slow
def test_torchrun_two_processes_give_the_single_process_policy(
    tiny_policy_source, pool_file, tmp_path
):
    """Each process takes half of every batch; DDP sums the gradients: same weights."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root))

    def finetune(out: Path, launcher: list[str]) -> dict:
        args = [
            "finetune", "--pool", str(pool_file), "--policy", str(tiny_policy_source),
            "--output-dir", str(out), "--epochs", "4", "--lr", "1e-2", "--batch-size", "3",
            "--micro-batch", "1", "--no-progress",
        ]  # fmt: skip
        done = subprocess.run(
            [*launcher, "-m", "training_jobs.rlhf", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads((out / "finetune.json").read_text())

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    both = finetune(tmp_path / "ddp", torchrun)
    one = finetune(tmp_path / "single", [sys.executable])
    assert both["world_size"] == 2 and one["world_size"] == 1 and both["steps"] == 4
    assert both["last_loss"] == pytest.approx(one["last_loss"], rel=1e-3)
    a = load_file(tmp_path / "ddp" / "model.safetensors")
    b = load_file(tmp_path / "single" / "model.safetensors")
    for name in b:
        assert (a[name] - b[name]).abs().max() < 1e-3, name
