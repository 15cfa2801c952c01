"""The output head by vocabulary chunks against the model's own logits, side by side in one
process on SmolLM2 (CPU, float32): what `mlcore/heads.py` and `training_jobs/rlhf/ppo/head.py`
change in PPO's three phases.

    .venv/bin/python bench/ppo_head.py --out bench/results/ppo-head.json

The two ways alternate within each repetition, so the machine's drift (up to a third within an
hour here) meets both alike; medians are printed. Measured:

- training: one actor micro-batch (8 HH prompts in SmolLM2's chat template, answers of 40-64
  tokens), forward and backward of PPO's clipped loss, through `logits_forward` (the logits of
  the answer positions, then logsumexp and gather) or `chunked_forward` (hidden states of the
  real answer tokens, head by chunks with a running logsumexp; backward recomputes each chunk);
- scoring: the same micro-batch's forward without gradients (the reference's);
- generation: one decoding step's head for 32 rows, `lm_head(hidden)` or `chunked_logits`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _alternate import alternate, report  # noqa: E402


def micro_batch(tokenizer, rows: int, seed: int):
    import torch
    from ppo_bench import prompts_for

    from training_jobs.rlhf.ppo.batch import collate

    generator = torch.Generator().manual_seed(seed)
    prompts = [
        tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True)
        for p in prompts_for(rows)
    ]
    prompts = [list(p["input_ids"]) if hasattr(p, "keys") else list(p) for p in prompts]
    lengths = torch.randint(40, 65, (rows,), generator=generator).tolist()
    answers = [torch.randint(100, 40000, (n,), generator=generator).tolist() for n in lengths]
    return collate(prompts, answers, tokenizer.pad_token_id)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=8, help="Answers in the micro-batch.")
    parser.add_argument("--decode-rows", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "ppo-head.json"))
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from inference.default_model import ensure_default_model
    from mlcore.heads import chunked_logits
    from training_jobs.rlhf.ppo.batch import chunked_forward, logits_forward
    from training_jobs.rlhf.ppo.losses import policy_loss

    torch.set_num_threads(args.threads)
    folder = ensure_default_model()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).train()
    batch = micro_batch(AutoTokenizer.from_pretrained(folder), args.rows, args.seed)
    head = model.get_output_embeddings()
    ways = {
        "logits": lambda b, grad: logits_forward(model, b, 1.0, with_entropy=grad),
        "chunked": lambda b, grad: chunked_forward(model, head, b, 1.0, with_entropy=grad),
    }

    def train_step(way):
        logprobs, _ = ways[way](batch, True)
        advantages = torch.ones_like(logprobs)
        loss, _ = policy_loss(logprobs, logprobs.detach(), advantages, batch.mask, 0.2)
        loss.sum().backward()
        model.zero_grad(set_to_none=True)

    def score_step(way):
        with torch.no_grad():
            ways[way](batch, False)

    hidden = torch.randn(args.decode_rows, head.weight.shape[1])
    decode = {
        "logits": lambda: head(hidden),
        "chunked": lambda: chunked_logits(hidden, head.weight),
    }

    def decode_step(way):
        with torch.no_grad():
            for _ in range(10):
                decode[way]()

    phases = {"training": train_step, "scoring": score_step, "generation_head_x10": decode_step}
    seconds, medians = alternate(phases, list(ways), args.repeats)
    result = {
        "settings": {**vars(args), "tokens": int(batch.attention_mask.sum())},
        "shape": list(batch.input_ids.shape),
        "answer_tokens": int(batch.mask.sum()),
        "seconds": seconds,
        "median": medians,
    }
    return report(result, "logits", "chunked", args.out)


if __name__ == "__main__":
    main()
