"""PPO iterations on SmolLM2 (CPU, float32): Margin's core against TRL's last PPO trainer
(trl 1.12.0, in its own environment), side by side on the same model, prompts, batch, lengths.

    bash scripts/trl_ppo_venv.sh                          # once: .venv-trl-ppo (a few minutes)
    .venv/bin/python bench/ppo_bench.py --out bench/out/ppo.json       # the figures (quiet machine)
    .venv/bin/python bench/ppo_bench.py --tiny --out bench/out/ppo-tiny.json   # checks the script

Each side runs as its own process and times every iteration after `--warmup` ones: seconds split
into generation, scoring (the rollout phase's forwards after generation: reference and reward,
and policy log-probs and values where a side runs them there) and training, rollouts per
second, KL and reward per iteration, peak memory. Margin's side also gets each part's share of
its limit:

- training: 6 x (actor + critic parameters) x sequence tokens / the measured matmul peak;
- scoring: 2 x (reference + reward parameters) x sequence tokens / that peak: the forwards
  Margin's rollout phase runs here (pi_old's log-probs come from the engine's own draws, and
  with one mini-batch an iteration every V_old from the critic's training forward);
- generation: answer tokens / the transformers backend's own batched throughput, measured here
  at the same batch and answer length.

Parameters are those that multiply activations (input embeddings left out; the policy's tied
output head counted). The peak is float32 matmul GFLOP per CPU-second times --threads.

Settings are matched, TRL's defaults set to the paper's where they differ: temperature 1.0 (TRL:
0.7), KL estimator k1 with kl_coef = --beta, rewards not whitened (TRL has no per-batch score
whitening: Margin runs --no-whiten-score), advantages whitened (both), one PPO epoch, one
gradient step per iteration (TRL steps once per rollout batch: per_device_train_batch_size x
gradient_accumulation_steps is its rollout batch, so Margin runs --mini-batch = --rollouts),
constant LR, AdamW (0.9, 0.95, eps 1e-5, weight decay 0.1), gradient clip 1.0, float32 (TRL's
bf16 off), gradient checkpointing off on both (TRL's default is on; --gradient-checkpointing
turns it on for both), one reward model (TRL takes one; Margin runs without --safety-model), the
critic initialised from that reward model (both). TRL's side uses <|endoftext|> as its pad token:
TRL masks every position holding the pad id, and SmolLM2's pad is its EOS.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
# The HH sample shipped with the tests (with its licence).
HH = ROOT / "tests" / "data" / "hh-rlhf" / "harmless-base-dev.jsonl.gz"
TOPICS = (
    "tides volcanoes bread sourdough chess openings sleep habits compost bicycles rainbows "
    "honeybees glaciers jazz origami tea coffee comets typhoons vaccines bridges"
).split()


def prompts_for(n: int) -> list[list[dict[str, str]]]:
    """n single-turn prompts: the first human turns of Anthropic HH (harmless-base-dev), topped
    up with questions about a list of topics when the file holds fewer."""
    texts: list[str] = []
    if HH.is_file():
        with gzip.open(HH, "rt", encoding="utf-8") as handle:
            for line in handle:
                first = json.loads(line)["chosen"].split("\n\nAssistant:")[0]
                texts.append(first.replace("\n\nHuman:", "").strip())
                if len(texts) == n:
                    break
    templates = ("Tell me about {}.", "How do {} work?", "What should I know about {}?")
    i = 0
    while len(texts) < n:
        texts.append(templates[i % 3].format(TOPICS[i % len(TOPICS)]))
        i += 1
    return [[{"role": "user", "content": t}] for t in texts]


def build_models(args, work: Path) -> tuple[Path, Path]:
    """(policy folder, reward model folder): SmolLM2 (or a tiny random Llama with its tokenizer
    for --tiny) and a reward model from it with a seeded scalar head, unless given."""
    import torch

    from inference.default_model import ensure_default_model
    from rewardtrain.model import load_sequence_classifier, load_tokenizer, save_reward_model

    policy = Path(args.policy) if args.policy else ensure_default_model()
    if args.tiny:
        from mlcore.tiny_models import llama_config, save_causal_lm

        tokenizer = load_tokenizer(policy)
        policy = save_causal_lm(work / "tiny-policy", llama_config(tokenizer), tokenizer)
    if args.reward_model:
        return policy, Path(args.reward_model)
    tokenizer = load_tokenizer(policy)
    torch.manual_seed(args.seed)
    classifier = load_sequence_classifier(policy, tokenizer.pad_token_id)
    return policy, save_reward_model(classifier, tokenizer, work / "reward-model")


def settings(args) -> dict:
    return {
        "rollouts": args.rollouts,
        "micro_batch": args.micro_batch,
        "max_new_tokens": args.max_new_tokens,
        "iterations": args.warmup + args.iterations,
        "temperature": 1.0,
        "beta": args.beta,
        "lr": args.lr,
        "gradient_checkpointing": args.gradient_checkpointing,
    }


def run_margin(args, policy: Path, reward_model: Path, prompts_file: Path, work: Path) -> dict:
    s = settings(args)
    out = work / "margin"
    flags = {
        "output-dir": out,
        "prompts": prompts_file,
        "policy": policy,
        "helpfulness-model": reward_model,
        "heldout-count": 0,
        "iterations": s["iterations"],
        "rollouts": s["rollouts"],
        "mini-batch": s["rollouts"],
        "micro-batch": s["micro_batch"],
        "generation-batch": s["rollouts"],
        "max-new-tokens": s["max_new_tokens"],
        "max-prompt-tokens": 512,
        "temperature": s["temperature"],
        "beta": s["beta"],
        "lr": s["lr"],
        "critic-lr": s["lr"],
        "checkpoint-every": 0,
        "seed": args.seed,
    }
    argv = [sys.executable, "-m", "training_jobs.rlhf", "ppo", "--no-progress"]
    argv += ["--no-whiten-score", "--no-resume"]
    argv += ["--gradient-checkpointing"] if s["gradient_checkpointing"] else []
    for name, value in flags.items():
        argv += [f"--{name}", str(value)]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=child_env(args), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"Margin's side failed:\n{done.stderr[-4000:]}")
    lines = [json.loads(x) for x in (out / "iterations.jsonl").read_text().splitlines()]
    summary = json.loads((out / "metrics.json").read_text())
    iterations = [
        {
            "iteration": x["iteration"],
            "seconds": x["seconds_generation"] + x["seconds_scoring"] + x["seconds_training"],
            **{k: x[k] for k in ("seconds_generation", "seconds_scoring", "seconds_training")},
            "kl": x["kl_k1"],
            "score": x["reward_mean"],
            "entropy": x["entropy"],
            "clip_fraction": x["clip_fraction"],
            "answer_length": x["answer_length"],
            "sequence_length": x["sequence_length"],
        }
        for x in lines
    ]
    return {
        "iterations": iterations,
        "peak_rss_gb": summary["peak_rss_gb"],
        "wall_seconds": time.perf_counter() - started,
    }


def run_trl(args, policy: Path, reward_model: Path, prompts, work: Path) -> dict:
    python = Path(args.trl_venv) / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"no TRL environment at {args.trl_venv}: run bash scripts/trl_ppo_venv.sh")
    spec = {
        "policy": str(policy),
        "reward_model": str(reward_model),
        "prompts": prompts,
        "settings": settings(args),
        "seed": args.seed,
        "threads": args.threads,
        "work": str(work / "trl"),
        "trl_pad_token": "<|endoftext|>",
    }
    spec_file, out_file = work / "trl-spec.json", work / "trl-result.json"
    spec_file.write_text(json.dumps(spec))
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), str(ROOT / "bench" / "_ppo_trl_side.py"), str(spec_file), str(out_file)],
        cwd=work,
        env=child_env(args),
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"TRL's side failed:\n{done.stderr[-4000:]}")
    result = json.loads(out_file.read_text())
    result["wall_seconds"] = time.perf_counter() - started
    return result


def child_env(args) -> dict[str, str]:
    threads = str(args.threads)
    return {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def parameter_counts(policy: Path, reward_model: Path) -> dict[str, int]:
    """Parameters that multiply activations: all but the input embeddings (a tied output head
    still counts once for the policy, which uses it; the scalar-head models do not)."""
    from transformers import AutoConfig

    def count(folder: Path, head: bool) -> int:
        config = AutoConfig.from_pretrained(folder)
        h, layers = config.hidden_size, config.num_hidden_layers
        kv = config.num_key_value_heads * (h // config.num_attention_heads)
        per_layer = h * h * 2 + h * kv * 2 + 3 * h * config.intermediate_size + 2 * h
        return layers * per_layer + h + (config.vocab_size * h if head else h)

    actor = count(policy, head=True)
    scalar = count(reward_model, head=False)
    return {"actor": actor, "reference": actor, "critic": scalar, "reward": scalar}


def generation_limit(policy: Path, prompts, args) -> float:
    """Answer tokens per second of the transformers backend alone at the run's batch and
    answer length (the generation part's limit)."""
    import torch

    from inference import SamplingParams
    from inference.backends.transformers_cpu import TransformersBackend

    torch.set_num_threads(args.threads)
    backend = TransformersBackend(policy, batch_size=args.rollouts)
    batch = prompts[: args.rollouts]
    params = [
        SamplingParams(temperature=1.0, max_tokens=args.max_new_tokens, seed=args.seed + i)
        for i in range(len(batch))
    ]
    started = time.perf_counter()
    completions = backend.generate(batch, params)
    return sum(c.completion_tokens for c in completions) / (time.perf_counter() - started)


def summarise(side: dict, warmup: int, rollouts: int) -> dict:
    timed = side["iterations"][warmup:]
    mean = {
        key: statistics.fmean(x[key] for x in timed)
        for key in ("seconds", "seconds_generation", "seconds_scoring", "seconds_training")
    }
    return {
        **{k: round(v, 3) for k, v in mean.items()},
        "rollouts_per_second": round(rollouts / mean["seconds"], 3),
        "kl": [x["kl"] for x in side["iterations"]],
        "score": [x["score"] for x in side["iterations"]],
        "peak_rss_gb": round(side["peak_rss_gb"], 2),
    }


def limits(side: dict, params: dict[str, int], peak_gflops: float, gen_tps: float, args) -> dict:
    timed = side["iterations"][args.warmup :]
    tokens = statistics.fmean(x["sequence_length"] for x in timed) * args.rollouts
    answers = statistics.fmean(x["answer_length"] for x in timed) * args.rollouts
    flops = peak_gflops * 1e9 * args.threads
    train = 6 * (params["actor"] + params["critic"]) * tokens / flops
    score = 2 * (params["reference"] + params["reward"]) * tokens / flops
    gen = answers / gen_tps
    mean = {k: statistics.fmean(x[k] for x in timed) for k in timed[0] if k.startswith("seconds")}
    return {
        "training": {
            "limit_s": round(train, 3),
            "share": round(train / mean["seconds_training"], 3),
        },
        "scoring": {"limit_s": round(score, 3), "share": round(score / mean["seconds_scoring"], 3)},
        "generation": {
            "limit_s": round(gen, 3),
            "share": round(gen / mean["seconds_generation"], 3),
        },
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="", help="Policy folder (default: SmolLM2).")
    parser.add_argument("--reward-model", default="", help="Reward model folder (default: built).")
    parser.add_argument(
        "--tiny", action="store_true", help="A tiny random policy: checks the script."
    )
    parser.add_argument("--rollouts", type=int, default=64, help="Answers per iteration.")
    parser.add_argument("--micro-batch", type=int, default=8, help="Answers per forward pass.")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=3, help="Timed iterations per side.")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed iterations first.")
    parser.add_argument("--beta", type=float, default=0.01)
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--trl-venv", default=str(ROOT / ".venv-trl-ppo"))
    parser.add_argument("--no-trl", action="store_true", help="Margin's side only.")
    parser.add_argument(
        "--trl-first",
        action="store_true",
        help="Run TRL's side before Margin's (a machine whose speed drifts favours one order).",
    )
    parser.add_argument("--work", default="", help="Folder for the runs (default: temporary).")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "ppo.json"))
    args = parser.parse_args(argv)
    if args.tiny:
        args.rollouts, args.micro_batch = min(args.rollouts, 8), min(args.micro_batch, 4)
        args.max_new_tokens, args.iterations = min(args.max_new_tokens, 16), 1
    if args.rollouts % args.micro_batch:
        raise SystemExit("--rollouts must be a multiple of --micro-batch (TRL's accumulation)")

    from rewardtrain_bench import matmul_peak

    work = Path(args.work or tempfile.mkdtemp(prefix="ppo-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    policy, reward_model = build_models(args, work)
    prompts = prompts_for(args.rollouts * (args.warmup + args.iterations))
    prompts_file = work / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))

    report: dict = {"settings": settings(args), "policy": str(policy), "threads": args.threads}
    peak = matmul_peak()
    report["matmul_gflops_per_cpu_s"] = round(peak, 1)
    trl_first = args.trl_first and not args.no_trl
    report["order"] = ["trl", "margin"] if trl_first else ["margin", "trl"]
    trl = run_trl(args, policy, reward_model, prompts, work) if trl_first else None
    margin = run_margin(args, policy, reward_model, prompts_file, work)
    report["margin"] = summarise(margin, args.warmup, args.rollouts)
    gen_tps = generation_limit(policy, prompts, args)
    params = parameter_counts(policy, reward_model)
    report["margin"]["limits"] = limits(margin, params, peak, gen_tps, args)
    report["parameters"] = params
    report["backend_answer_tokens_per_s"] = round(gen_tps, 1)
    if not args.no_trl:
        trl = trl or run_trl(args, policy, reward_model, prompts, work)
        report["trl"] = {**summarise(trl, args.warmup, args.rollouts), "versions": trl["versions"]}
        report["speedup_rollouts_per_second"] = round(
            report["margin"]["rollouts_per_second"] / report["trl"]["rollouts_per_second"], 2
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
