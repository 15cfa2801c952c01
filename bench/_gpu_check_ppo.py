"""PPO's part of bench/gpu_check.sh: Margin's PPO core on randomly initialised Llamas of
SmolLM2-135M's shape and of a ~1B shape, on one GPU with torch and transformers only (no vLLM,
no network, no weights to fetch), and its training throughput as a share of the bf16 peak.

    python bench/_gpu_check_ppo.py --out gpu_check_ppo.json            # on the GPU
    python bench/_gpu_check_ppo.py --dry-run --out /tmp/ppo.json       # tiny, on CPU: a check

For each shape: a word-level chat tokenizer with a 49,152-word vocabulary (SmolLM2's size), a
random policy and a reward model from it (random scalar head) saved once, then
`training_jobs.rlhf.ppo` in this process for --iterations (the first is warm-up): transformers
rollouts from the actor itself, bf16 autocast, float32 weights and AdamW. Reported per shape:
seconds per iteration split into generation / scoring / training, rollouts per second, answer
tokens per second, and training FLOP/s = 6 x (actor + critic parameters) x sequence tokens /
training seconds, with its share of --peak-tflops (the H200's dense bf16: about 790).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOCABULARY = 49_152


def build(folder: Path, shape: str, vocabulary: int) -> tuple[Path, Path, dict[str, int]]:
    """Policy and reward-model folders of `shape`, and their parameter counts (those that
    multiply activations: input embeddings left out, the policy's tied head counted)."""
    import torch

    from mlcore.tiny_models import llama_config, numbered_words, word_tokenizer
    from rewardtrain.model import load_sequence_classifier, save_reward_model

    tokenizer = word_tokenizer(numbered_words(vocabulary))
    config = llama_config(tokenizer, shape)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    from transformers import LlamaForCausalLM

    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    policy = folder / f"{shape}-policy"
    model.save_pretrained(policy)
    tokenizer.save_pretrained(policy)
    embed = model.get_input_embeddings().weight.numel()
    total = sum(p.numel() for p in model.parameters())
    del model
    classifier = load_sequence_classifier(policy, tokenizer.pad_token_id)
    reward = save_reward_model(classifier, tokenizer, folder / f"{shape}-reward")
    scalar = sum(p.numel() for p in classifier.parameters()) - embed
    del classifier
    return policy, reward, {"actor": total, "critic": scalar, "reward": scalar}


def prompts_file(path: Path, n: int) -> Path:
    with open(path, "w") as handle:
        for i in range(n):
            words = " ".join(f"w{(i * 7919 + j * 104729) % 40000}" for j in range(24))
            handle.write(json.dumps({"prompt": words}) + "\n")
    return path


def run(shape: str, args, work: Path) -> dict:
    import torch

    from mlcore.cli import build as build_config
    from training_jobs.rlhf.ppo.config import PPOConfig
    from training_jobs.rlhf.ppo.trainer import main

    started = time.perf_counter()
    policy, reward, params = build(work, shape, args.vocabulary)
    built = time.perf_counter() - started
    out = work / f"{shape}-ppo"
    cfg = build_config(
        PPOConfig,
        {
            "output_dir": str(out),
            "prompts": str(prompts_file(work / "prompts.jsonl", args.rollouts * args.iterations)),
            "policy": str(policy),
            "helpfulness_model": str(reward),
            "heldout_count": 0,
            "iterations": args.iterations,
            "rollouts": args.rollouts,
            "mini_batch": args.mini_batch,
            "micro_batch": args.micro_batch,
            "generation_batch": args.rollouts,
            "max_new_tokens": args.max_new_tokens,
            "checkpoint_every": 0,
            "bf16": torch.cuda.is_available(),
            "progress": False,
            "resume": False,
        },
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    summary = main(cfg)
    lines = [json.loads(x) for x in (out / "iterations.jsonl").read_text().splitlines()]
    timed = lines[1:] or lines

    def mean(key: str) -> float:
        return statistics.fmean(x[key] for x in timed)

    seconds = {k: mean(f"seconds_{k}") for k in ("generation", "scoring", "training")}
    tokens = mean("sequence_length") * args.rollouts
    flops = 6 * (params["actor"] + params["critic"]) * tokens / seconds["training"]
    return {
        "shape": shape,
        "parameters": params,
        "seconds_building_models": round(built, 1),
        "seconds_per_iteration": {k: round(v, 3) for k, v in seconds.items()},
        "rollouts_per_second": round(args.rollouts / sum(seconds.values()), 2),
        "answer_tokens_per_second_generating": round(
            mean("answer_length") * args.rollouts / seconds["generation"], 1
        ),
        "training_tflops": round(flops / 1e12, 2),
        "training_share_of_peak": round(flops / (args.peak_tflops * 1e12), 4),
        "kl_k1": [x["kl_k1"] for x in lines],
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 1024**3, 1)
        if torch.cuda.is_available()
        else None,
        "seconds_total": round(summary["seconds"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["smollm2-135m", "llama-1b"])
    parser.add_argument("--rollouts", type=int, default=128)
    parser.add_argument("--mini-batch", type=int, default=64)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=3, help="The first is warm-up.")
    parser.add_argument("--vocabulary", type=int, default=VOCABULARY)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="bf16 dense peak.")
    parser.add_argument("--dry-run", action="store_true", help="Tiny shapes on CPU, seconds.")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    if args.dry_run:
        args.shapes, args.vocabulary = ["tiny"], 512
        args.rollouts, args.mini_batch, args.micro_batch = 8, 4, 4
        args.max_new_tokens, args.iterations = 8, 2
    import torch

    report = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "shapes")},
        "shapes": [],
    }
    with tempfile.TemporaryDirectory(prefix="gpu-check-ppo-") as work:
        for shape in args.shapes:
            report["shapes"].append(run(shape, args, Path(work)))
            print(json.dumps(report["shapes"][-1]), flush=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
