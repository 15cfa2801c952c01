"""TRL's side of bench/ppo_bench.py: its last PPO trainer (trl 1.12.0, trl.experimental.ppo) on
the spec it is given, timed per iteration and split into generation, scoring and training.

Runs with the TRL environment's python (scripts/trl_ppo_venv.sh), never the project's:

    .venv-trl-ppo/bin/python bench/_ppo_trl_side.py SPEC.json OUT.json

Only torch, transformers, datasets and trl are imported. The split is measured by wrapping the
trainer module's own functions: `batch_generation` (generation), and `forward` / `get_reward`
while gradients are off (the rollout phase's policy, reference, value and reward forwards:
scoring); training is the rest of the iteration.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def timed(module, name: str, totals: dict, bucket: str, only_without_grad: bool = False):
    import torch

    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        if only_without_grad and torch.is_grad_enabled():
            return original(*args, **kwargs)
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[bucket] += time.perf_counter() - started

    setattr(module, name, wrapper)


def main(spec: dict) -> dict:
    import torch
    import transformers
    import trl
    from datasets import Dataset
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        TrainerCallback,
    )
    from trl.experimental.ppo import PPOConfig, PPOTrainer
    from trl.experimental.ppo import ppo_trainer as module

    torch.set_num_threads(spec["threads"])
    totals = {"generation": 0.0, "scoring": 0.0}
    timed(module, "batch_generation", totals, "generation")
    timed(module, "forward", totals, "scoring", only_without_grad=True)
    timed(module, "get_reward", totals, "scoring", only_without_grad=True)

    tokenizer = AutoTokenizer.from_pretrained(spec["policy"], padding_side="left")
    # TRL masks every position holding the pad id; SmolLM2's pad is its EOS (<|im_end|>), which
    # also ends every chat turn, so TRL's side gets a pad token of its own (as TRL's examples do).
    tokenizer.pad_token = spec["trl_pad_token"]
    prompts = [
        tokenizer.apply_chat_template(
            p, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        for p in spec["prompts"]
    ]
    dataset = Dataset.from_dict({"input_ids": prompts})

    def load(cls, path, **extra):
        model = cls.from_pretrained(path, dtype=torch.float32, **extra)
        model.config.pad_token_id = tokenizer.pad_token_id
        return model

    policy = load(AutoModelForCausalLM, spec["policy"])
    ref = load(AutoModelForCausalLM, spec["policy"])
    value = load(AutoModelForSequenceClassification, spec["reward_model"], num_labels=1)
    reward = load(AutoModelForSequenceClassification, spec["reward_model"], num_labels=1)

    s = spec["settings"]
    args = PPOConfig(
        output_dir=spec["work"],
        report_to=[],
        seed=spec["seed"],
        learning_rate=s["lr"],
        lr_scheduler_type="constant",
        adam_beta1=0.9,
        adam_beta2=0.95,
        adam_epsilon=1e-5,
        weight_decay=0.1,
        max_grad_norm=1.0,
        per_device_train_batch_size=s["micro_batch"],
        gradient_accumulation_steps=s["rollouts"] // s["micro_batch"],
        num_mini_batches=1,
        num_ppo_epochs=1,
        local_rollout_forward_batch_size=s["rollouts"],
        total_episodes=s["rollouts"] * s["iterations"],
        response_length=s["max_new_tokens"],
        temperature=s["temperature"],
        stop_token="eos",
        kl_coef=s["beta"],
        kl_estimator="k1",
        whiten_rewards=False,
        cliprange=0.2,
        cliprange_value=0.2,
        gamma=1.0,
        lam=0.95,
        num_sample_generations=0,
        gradient_checkpointing=s["gradient_checkpointing"],
        bf16=False,
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        use_cpu=True,
    )

    marks: list[float] = []
    logged: list[dict] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            marks.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kwargs):
            logged.append(dict(logs or {}))

        def on_step_end(self, *a, **k):
            marks.append(time.perf_counter())
            splits.append(dict(totals))

    splits: list[dict] = []
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=ref,
        reward_model=reward,
        value_model=value,
        train_dataset=dataset,
        eval_dataset=dataset.select(range(min(2, len(dataset)))),
        callbacks=[Clock()],
    )
    trainer.train()
    iterations = []
    previous = {"generation": 0.0, "scoring": 0.0}
    for i in range(1, len(marks)):
        seconds = marks[i] - marks[i - 1]
        now = splits[i - 1]
        gen = now["generation"] - previous["generation"]
        score = now["scoring"] - previous["scoring"]
        previous = now
        entry = logged[i - 1] if i - 1 < len(logged) else {}
        iterations.append(
            {
                "iteration": i,
                "seconds": seconds,
                "seconds_generation": gen,
                "seconds_scoring": score,
                "seconds_training": seconds - gen - score,
                "kl": entry.get("objective/kl"),
                "score": entry.get("objective/scores"),
                "entropy": entry.get("objective/entropy"),
                "clip_fraction": entry.get("policy/clipfrac_avg"),
            }
        )
    return {
        "versions": {
            "trl": trl.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
        "iterations": iterations,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


if __name__ == "__main__":
    spec = json.loads(open(sys.argv[1]).read())
    result = main(spec)
    with open(sys.argv[2], "w") as handle:
        json.dump(result, handle, indent=2)
