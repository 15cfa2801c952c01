"""Fine-tuning on a pool writes a policy folder that the transformers backend loads."""

import json

import pytest

from inference import ModelVariant, SamplingParams, load_backend
from training_jobs.rlhf.config import FinetuneConfig, Training
from training_jobs.rlhf.finetune import main
from training_jobs.rlhf.pool import prompt_key
from training_jobs.runners.launch import launcher


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


def _finetune_run(pool_file, policy, out, launcher: list[str], *extra: str) -> dict:
    """`python -m training_jobs.rlhf finetune` as its own process (under `launcher`)."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    args = [
        "finetune", "--pool", str(pool_file), "--policy", str(policy), "--output-dir", str(out),
        "--epochs", "4", "--lr", "1e-2", "--batch-size", "3", "--micro-batch", "1",
        "--no-progress", *extra,
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


def _max_difference(a, b) -> float:
    from safetensors.torch import load_file

    left, right = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return max(float((left[k] - right[k]).abs().max()) for k in right)


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra", [[], ["--fsdp", "--gradient-checkpointing"]], ids=["ddp", "fsdp-checkpointed"]
)
def test_torchrun_two_processes_give_the_single_process_policy(
    tiny_policy_source, pool_file, tmp_path, extra
):
    """Each process takes its share of every batch (2 and 1 of 3 examples: the process short
    of one runs a zero-weight micro-batch); DDP or FSDP averages the gradients: same weights."""
    import sys

    torchrun = launcher(sys.executable, 2)
    both = _finetune_run(pool_file, tiny_policy_source, tmp_path / "two", torchrun, *extra)
    one = _finetune_run(pool_file, tiny_policy_source, tmp_path / "one", [sys.executable])
    assert both["world_size"] == 2 and one["world_size"] == 1 and both["steps"] == 4
    assert both["fsdp"] == ("--fsdp" in extra)
    assert both["last_loss"] == pytest.approx(one["last_loss"], rel=1e-3)
    assert _max_difference(tmp_path / "two", tmp_path / "one") < 1e-3


def test_activation_checkpointing_gives_the_same_policy(tiny_policy_source, pool_file, tmp_path):
    import sys

    plain = _finetune_run(pool_file, tiny_policy_source, tmp_path / "plain", [sys.executable])
    saved = _finetune_run(
        pool_file, tiny_policy_source, tmp_path / "ckpt", [sys.executable],
        "--gradient-checkpointing",
    )  # fmt: skip
    assert saved["gradient_checkpointing"] and not plain["gradient_checkpointing"]
    assert saved["last_loss"] == pytest.approx(plain["last_loss"], rel=1e-4)
    assert _max_difference(tmp_path / "ckpt", tmp_path / "plain") < 1e-4
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["use_cache"] is True


def test_labels_end_at_the_end_of_turn_token(tiny_policy_source):
    """ChatML writes "<|im_end|>\n" after an answer; the policy stops at <|im_end|>, so the
    newline is not a token to learn."""
    from transformers import AutoTokenizer

    from training_jobs.rlhf.finetune import collate, encode_example

    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_source)
    prompt = [{"role": "user", "content": "Say hi."}]
    ids, prompt_len = encode_example(tokenizer, prompt, "Hi there.")
    assert ids[-1] == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.decode(ids[prompt_len:]) == "Hi there.<|im_end|>"
    _, _, labels = collate([(ids, prompt_len)], tokenizer.pad_token_id)
    trained = [t for t in labels[0].tolist() if t != -100]
    assert tokenizer.decode(trained).endswith("<|im_end|>")
