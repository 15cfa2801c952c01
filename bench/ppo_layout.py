"""PPO micro-batch layouts side by side in one process on SmolLM2 (CPU, float32): each row
contiguous and right-padded to the longest prompt + answer (Margin's `collate`), against
prompts padded on the left and answers on the right (every answer starting at one column, the
layout TRL's PPO trainer uses and Margin's before).

    .venv/bin/python bench/ppo_layout.py --out bench/results/ppo-layout.json

32 HH prompts in SmolLM2's chat template are answered by the transformers backend (temperature
1, 64 new tokens at most, as in `ppo_bench.py`); both layouts cut the same micro-batches of 8
from the rows sorted by prompt + answer length. Per repetition, the two layouts alternate over
the whole mini-batch: the actor's forward and backward of PPO's clipped loss (training) and its
forward without gradients (scoring). Printed: positions per layout and median seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _alternate import alternate, report  # noqa: E402


def side_padded(prompt_ids, response_ids, pad_id: int):
    """[left-padded prompts | right-padded answers]: answer token t of every row predicted
    at column P - 1 + t."""
    import torch

    from training_jobs.rlhf.ppo.batch import Batch

    rows = len(prompt_ids)
    width_p = max(len(p) for p in prompt_ids)
    width_r = max(len(r) for r in response_ids)
    input_ids = torch.full((rows, width_p + width_r), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids, strict=True)):
        input_ids[i, width_p - len(p) : width_p + len(r)] = torch.tensor(p + r)
        attention[i, width_p - len(p) : width_p + len(r)] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    mask = attention[:, width_p:].float()
    # every answer starts at column P: a prompt length of P for each row gives its columns
    starts = torch.full((rows,), width_p, dtype=torch.long)
    return Batch(input_ids, attention, positions, input_ids[:, width_p:].clone(), mask, starts)


def answered(rows: int, max_new_tokens: int, seed: int):
    from ppo_bench import prompts_for

    from inference.backends.transformers_cpu import TransformersBackend
    from inference.params import SamplingParams

    backend = TransformersBackend(batch_size=rows)
    conversations = prompts_for(rows)
    params = [
        SamplingParams(max_tokens=max_new_tokens, temperature=1.0, seed=seed + i)
        for i in range(rows)
    ]
    completions = backend.generate(conversations, params)
    return (
        backend.lm,
        backend.pad_id,
        [list(c.prompt_token_ids) for c in completions],
        [list(c.token_ids) for c in completions],
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=32)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "ppo-layout.json"))
    args = parser.parse_args(argv)

    import torch

    from training_jobs.rlhf.ppo.batch import by_length, collate, policy_forward
    from training_jobs.rlhf.ppo.losses import policy_loss

    torch.set_num_threads(args.threads)
    model, pad_id, prompts, answers = answered(args.rollouts, args.max_new_tokens, args.seed)
    model.train()
    lengths = [len(p) + len(r) for p, r in zip(prompts, answers, strict=True)]
    order = by_length(list(range(len(prompts))), lengths)
    parts = [order[i : i + args.micro_batch] for i in range(0, len(order), args.micro_batch)]
    layouts = {"contiguous": collate, "side_padded": side_padded}
    batches = {
        name: [make([prompts[i] for i in p], [answers[i] for i in p], pad_id) for p in parts]
        for name, make in layouts.items()
    }

    def train(name):
        for batch in batches[name]:
            logprobs, _ = policy_forward(model, batch, 1.0, with_entropy=True)
            loss, _ = policy_loss(
                logprobs, logprobs.detach(), torch.ones_like(logprobs), batch.mask, 0.2
            )
            loss.sum().backward()
        model.zero_grad(set_to_none=True)

    def score(name):
        with torch.no_grad():
            for batch in batches[name]:
                policy_forward(model, batch, 1.0)

    phases = {"training": train, "scoring": score}
    seconds, medians = alternate(phases, list(layouts), args.repeats)
    result = {
        "settings": vars(args),
        "real_tokens": sum(lengths),
        "answer_tokens": sum(len(r) for r in answers),
        "positions": {n: sum(b.input_ids.numel() for b in bs) for n, bs in batches.items()},
        "seconds": seconds,
        "median": medians,
    }
    print(f"real tokens {result['real_tokens']}, positions {result['positions']}")
    return report(result, "side_padded", "contiguous", args.out)


if __name__ == "__main__":
    main()
