"""The loop in miniature, for "PPO learns": a tiny word-level chat policy warmed up to answer
with varied quality, simulated annotators (training_jobs.simulation.utility, the hidden
utility) judging pairs of its answers, a helpfulness reward model trained on those judgments by
`python -m rewardtrain train`, and PPO against that reward model. The hidden utility itself is
never shown to PPO; it only measures the held-out answers before and after."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from tests.training_jobs.rlhf.ppo import helpers
from tests.training_jobs.rlhf.ppo.runs import ROOT, env

OTHER = ("very", "quite", "some", "many")


def warmup_answer(rng: random.Random, topics: list[str]) -> str:
    """An answer of varied quality, so that the hidden utility tells answers apart in every way
    it can: on or off topic, short or long, sometimes one word over and over, sometimes unsafe."""
    if rng.random() < 0.2:
        return " ".join([rng.choice(topics + list(helpers.FILLER))] * rng.randint(3, 10))
    on_topic, repeats = rng.random(), rng.uniform(0.0, 0.6)
    words: list[str] = []
    for _ in range(rng.randint(1, 12)):
        if words and rng.random() < repeats:
            words.append(words[-1])
        elif rng.random() < on_topic:
            words.append(rng.choice(topics))
        else:
            words.append(rng.choice(helpers.TOPICS + list(helpers.FILLER) + list(OTHER)))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words) + 1), rng.choice(helpers.UNSAFE))
    return " ".join(words)


def topic_prompts(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [rng.sample(helpers.TOPICS, 3) for _ in range(n)]


def write_prompts(path: Path, prompts: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for i, words in enumerate(prompts):
            handle.write(json.dumps({"id": i, "prompt": " ".join(words)}) + "\n")
    return path


def warm_policy(folder: Path, prompts: list[list[str]], seed: int = 0) -> Path:
    """Fine-tune a random tiny Llama on varied answers (the SFT model the loop starts from)."""
    from mlcore.progress import Progress
    from training_jobs.rlhf.config import Training
    from training_jobs.rlhf.finetune import train

    base = helpers.policy_folder(folder.parent / "random-policy", seed=seed)
    rng = random.Random(seed)
    pool = [
        {
            "prompt": [{"role": "user", "content": " ".join(p)}],
            "response": warmup_answer(rng, p),
        }
        for p in prompts
        for _ in range(2)
    ]
    cfg = Training(epochs=3, lr=3e-3, batch_size=32, micro_batch=32, max_length=64)
    train(str(base), cfg, pool, folder, Progress(bar=False, path=""), seed=seed)
    return folder


def judged_pairs(policy: Path, prompts: list[list[str]], path: Path, seed: int = 0) -> Path:
    """Two answers per prompt from the policy, judged by a simulated annotator (TRL rows)."""
    from inference import SamplingParams
    from inference.backends.transformers_cpu import TransformersBackend
    from training_jobs.simulation.utility import judge

    backend = TransformersBackend(policy, batch_size=64)
    conversations = [[{"role": "user", "content": " ".join(p)}] for p in prompts for _ in (0, 1)]
    params = [
        SamplingParams(temperature=1.0, max_tokens=16, seed=seed * 100_000 + i)
        for i in range(len(conversations))
    ]
    answers = [c.text for c in backend.generate(conversations, params)]
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for i, words in enumerate(prompts):
            a, b = answers[2 * i], answers[2 * i + 1]
            if a == b:
                continue
            chosen, grade, _, _ = judge(" ".join(words), a, b, rng)
            good, bad = (a, b) if chosen == "a" else (b, a)
            row = {
                "prompt": [{"role": "user", "content": " ".join(words)}],
                "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": bad}],
                "grade": grade,
            }
            handle.write(json.dumps(row) + "\n")
    return path


def train_reward_model(policy: Path, pairs: Path, out: Path) -> Path:
    """`python -m rewardtrain train` on the judged pairs, initialised from the policy."""
    args = [
        "--output-dir", out, "--model", policy, "--data", pairs, "--mix", "none",
        "--reward-model", "helpfulness", "--epochs", "2", "--lr", "2e-3",
        "--batch-pairs", "32", "--pack-tokens", "512", "--test-fraction", "0.1",
        "--save-every", "0", "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "rewardtrain", "train", *map(str, args)],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def heldout_utility(run_dir: Path) -> dict[int, float]:
    """Mean hidden utility of the held-out answers at each evaluation (iteration → mean)."""
    from training_jobs.simulation.utility import utility

    by_iteration: dict[int, list[float]] = {}
    for line in (run_dir / "heldout.jsonl").read_text().splitlines():
        row = json.loads(line)
        prompt = row["prompt"][-1]["content"]
        by_iteration.setdefault(row["iteration"], []).append(utility(prompt, row["response"]))
    return {k: sum(v) / len(v) for k, v in sorted(by_iteration.items())}


def ppo_run(out: Path, policy: Path, reward_model: Path, prompts: Path, heldout: Path, **flags):
    """PPO in this process; returns the held-out utility by iteration."""
    from mlcore.cli import build
    from training_jobs.rlhf.ppo.config import PPOConfig, apply_preset
    from training_jobs.rlhf.ppo.trainer import main

    values = {
        "output_dir": str(out),
        "preset": "cpu-small",
        "prompts": str(prompts),
        "heldout_prompts": str(heldout),
        "policy": str(policy),
        "helpfulness_model": str(reward_model),
        "progress": False,
        "max_new_tokens": 16,
        "rollouts": 64,
        "mini_batch": 16,
        "micro_batch": 16,
        "generation_batch": 64,
        "iterations": 12,
        "eval_every": 12,
        "lr": 3e-4,
        "critic_lr": 1e-3,
        "checkpoint_every": 0,
        **flags,
    }
    main(apply_preset(build(PPOConfig, values)))
    return heldout_utility(out)
