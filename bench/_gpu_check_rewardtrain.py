"""rewardtrain's part of bench/gpu_check.sh: reward-model training under torchrun with FSDP on
the GPU, evaluation and scoring on the device, and training throughput against the bf16 peak,
on randomly initialised Llamas (no weights, no network, torch and transformers only).

    python bench/_gpu_check_rewardtrain.py --out gpu_check_rewardtrain.json   # on the GPU
    python bench/_gpu_check_rewardtrain.py --dry-run --out /tmp/rt.json        # tiny, CPU

1. Distributed training gives one process's result (`python -m torch.distributed.run ...
   -m rewardtrain train`, SmolLM2-135M's shape, a learnable synthetic rule, 32 pairs a step
   packed into rows of --pack-tokens, so each process runs several rows a step): FSDP and DDP
   over a process group of one on the GPU (the code paths and the gradient-sync switch of N
   processes), the loss falls and the two agree step by step and in their final weights; then
   two processes sharing the one GPU over gloo with FSDP, compared with the same reference
   (reported; the check passes without it when this torch cannot run it). The dry run uses
   two real processes on the CPU (gloo) for both.
2. `rewardtrain eval` and `score` on the device (`--device cuda --bf16`) with the model trained
   in 1: the device and dtype they report, and accuracy next to float32 on the same test set.
3. Training throughput in this process: packed rows of Table 6's lengths (a 560-token context
   and two 234-token answers a pair), bf16 autocast, AdamW, for SmolLM2's shape and a ~1B
   shape, with attention dense and item by item: pairs/s, tokens/s and TFLOP/s = 6 x
   non-embedding parameters x tokens/s (attention not counted), as shares of --peak-tflops (the
   H200's dense bf16, about 790) and of the bf16 matmul peak measured in the same run.

Prints each figure as it comes and writes all of them, with a "checks" verdict, as JSON; exits
1 when a required check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOCABULARY = 49_152  # SmolLM2's


def synthetic_pairs(path: Path, n: int, seed: int = 0) -> Path:
    """A learnable rule as TRL conversational lines: the chosen answer ends in "good", the
    rejected one in "bad"; everything else is random words."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(200)]
    with open(path, "w") as handle:
        for _ in range(n):

            def answer(last: str) -> list[dict]:
                text = " ".join(rng.choices(words, k=rng.randint(2, 8)))
                return [{"role": "assistant", "content": f"{text} {last}"}]

            prompt = " ".join(rng.choices(words, k=rng.randint(3, 12)))
            record = {
                "prompt": [{"role": "user", "content": prompt}],
                "chosen": answer("good"),
                "rejected": answer("bad"),
            }
            handle.write(json.dumps(record) + "\n")
    return path


def build_policy(folder: Path, shape: str, vocabulary: int) -> Path:
    from mlcore.tiny_models import llama_config, numbered_words, save_causal_lm, word_tokenizer

    tokenizer = word_tokenizer(["good", "bad", *numbered_words(vocabulary - 16)])
    return save_causal_lm(folder, llama_config(tokenizer, shape), tokenizer)


def run(argv: list[str], limit: float, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit, check=False
    )


def train(args, name: str, nprocs: int, extra: list[str], env: dict | None = None) -> dict:
    """One `rewardtrain train` under torchrun; its per-step losses, metadata and folder."""
    out = args.work / name
    argv = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(nprocs), "-m", "rewardtrain", "train",
        "--output-dir", str(out), "--model", str(args.policy), "--data", str(args.data),
        "--mix", "none", "--batch-pairs", "32", "--pack-tokens", str(args.pack_tokens),
        "--lr", str(args.lr), "--max-steps", str(args.steps), "--save-every", "0",
        "--no-progress", "--attention", "dense", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    done = run(argv, args.limit, env)
    if done.returncode != 0:
        return {"ok": False, "error": done.stdout[-1500:] + done.stderr[-2500:]}
    lines = (out / "log.jsonl").read_text().splitlines()
    meta = json.loads((out / "rewardtrain.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    return {
        "ok": True,
        "folder": str(out),
        "seconds": round(time.perf_counter() - started, 1),
        "losses": [json.loads(x)["loss"] for x in lines],
        "world_size": meta["world_size"],
        "fsdp": meta.get("fsdp"),
        "test_accuracy": next(iter(next(iter(metrics.values())).values()))["average"],
    }


def weight_difference(a: str, b: str) -> float:
    from safetensors.torch import load_file

    left, right = load_file(Path(a) / "model.safetensors"), load_file(Path(b) / "model.safetensors")
    return max(float((left[k].float() - right[k].float()).abs().max()) for k in right)


def agree(run_a: dict, run_b: dict, tolerance: float) -> dict:
    """Do two runs agree step by step and in weights, and does the loss fall?"""
    if not (run_a.get("ok") and run_b.get("ok")):
        return {"ok": False}
    steps = min(len(run_a["losses"]), len(run_b["losses"]))
    loss_gap = max(abs(x - y) for x, y in zip(run_a["losses"], run_b["losses"], strict=False))
    weights = weight_difference(run_a["folder"], run_b["folder"])
    first, last = run_a["losses"][:3], run_a["losses"][-3:]
    falls = sum(last) / len(last) < 0.9 * sum(first) / len(first)
    return {
        "ok": steps == len(run_a["losses"]) and loss_gap < tolerance and weights < tolerance
        and falls,
        "steps": steps,
        "max_loss_gap": loss_gap,
        "max_weight_gap": weights,
        "loss_first_to_last": [run_a["losses"][0], run_a["losses"][-1]],
        "loss_falls": falls,
    }  # fmt: skip


def distributed_part(args) -> dict:
    procs = 2 if args.dry_run else 1
    result = {
        "fsdp": train(args, "fsdp", procs, ["--fsdp"]),
        "ddp": train(args, "ddp", procs, []),
    }
    result["fsdp_equals_ddp"] = agree(result["fsdp"], result["ddp"], args.tolerance)
    if not args.dry_run:  # two processes on one GPU: NCCL refuses, gloo may do
        shared = train(args, "fsdp-2-shared", 2, ["--fsdp"], {"MARGIN_DIST_BACKEND": "gloo"})
        result["fsdp_two_processes_one_gpu"] = shared
        result["two_processes_equal_one"] = agree(shared, result["ddp"], 1e-3)
    return result


def device_part(args, trained: str) -> dict:
    """eval and score with --device/--bf16 against float32 on the same test set."""
    device = "cpu" if args.dry_run else "cuda"
    found: dict = {}
    for label, extra in (("bf16", ["--bf16"]), ("float32", [])):
        out = args.work / f"eval-{label}.json"
        argv = [sys.executable, "-m", "rewardtrain", "eval", "--models", trained]
        argv += ["--output", str(out), "--device", device, "--no-progress", *extra]
        done = run(argv, args.limit)
        if done.returncode != 0:
            found[label] = {"ok": False, "error": done.stderr[-2000:]}
            continue
        report = json.loads(out.read_text())
        metrics = next(iter(report["metrics"].values()))
        found[label] = {
            "ok": True,
            "device": report["device"],
            "dtype": report["dtype"],
            "accuracy": next(iter(metrics.values()))["average"],
        }
    lines = args.work / "dialogues.jsonl"
    with open(args.data) as source, open(lines, "w") as target:
        for line in list(source)[:64]:
            pair = json.loads(line)
            record = {"prompt": pair["prompt"], "responses": [pair["chosen"], pair["rejected"]]}
            target.write(json.dumps(record) + "\n")
    argv = [sys.executable, "-m", "rewardtrain", "score", "--model", trained, "--input"]
    argv += [str(lines), "--output", str(args.work / "scored.jsonl"), "--device", device]
    done = run([*argv, "--bf16", "--no-progress"], args.limit)
    said = [x for x in done.stderr.splitlines() if x.startswith("scored")]
    found["score"] = {"ok": done.returncode == 0, "said": said[-1] if said else done.stderr[-800:]}
    bf16, fp32 = found.get("bf16", {}), found.get("float32", {})
    want_dtype = "float32" if args.dry_run else "bfloat16"
    found["ok"] = bool(
        bf16.get("ok")
        and fp32.get("ok")
        and bf16["device"].startswith(device)
        and bf16["dtype"] == want_dtype
        and abs(bf16["accuracy"] - fp32["accuracy"]) <= 0.1
        and found["score"]["ok"]
        and f"on {device}" in found["score"]["said"]
    )
    return found


def matmul_peak(seconds: float) -> float:
    """TFLOP/s of bf16 8192^3 matmuls on the GPU (float32 1024^3 on the CPU), best burst."""
    import torch

    cuda = torch.cuda.is_available()
    n, dtype = (8192, torch.bfloat16) if cuda else (1024, torch.float32)
    device = "cuda" if cuda else "cpu"
    a, b = (
        torch.randn(n, n, dtype=dtype, device=device),
        torch.randn(n, n, dtype=dtype, device=device),
    )
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(8):
            a @ b
        if cuda:
            torch.cuda.synchronize()
        best = max(best, 8 * 2 * n**3 / (time.perf_counter() - t) / 1e12)
    return best


def throughput(args, shape: str, attention: str, peak: float) -> dict:
    """Timed training steps of a RewardModel of `shape` on random packed rows."""
    import torch
    from transformers import LlamaForSequenceClassification

    from mlcore.tiny_models import llama_config, word_tokenizer
    from rewardtrain.config import TrainConfig
    from rewardtrain.data import TokenizedPair
    from rewardtrain.model import RewardModel
    from rewardtrain.train import make_optimizer, train_step

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    tokenizer = word_tokenizer(["good", "bad"])
    config = llama_config(tokenizer, shape, max_positions=8192)
    config.vocab_size, config.num_labels, config.pad_token_id = args.vocabulary, 1, 0
    torch.manual_seed(0)
    with device:
        classifier = LlamaForSequenceClassification(config)
    classifier.config.use_cache = False
    model = RewardModel(classifier).train()
    embed = classifier.get_input_embeddings().weight.numel()
    params = sum(p.numel() for p in classifier.parameters()) - embed
    rng = random.Random(0)
    context, answer = args.context_tokens, args.answer_tokens

    def pair() -> TokenizedPair:
        ids = [rng.randrange(10, args.vocabulary) for _ in range(context + 2 * answer)]
        chosen, rejected = ids[context : context + answer], ids[context + answer :]
        return TokenizedPair(ids[:context], chosen, rejected, context + answer - 1,
                             context + answer - 1, 0.0)  # fmt: skip

    cfg = TrainConfig(
        batch_pairs=args.batch_pairs, pack_tokens=args.row_tokens, attention=attention, lr=1e-5
    )
    optimizer = make_optimizer(model, cfg)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if cuda
        else torch.autocast("cpu", enabled=False)
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.warmup + args.timed):
        batch = [pair() for _ in range(args.batch_pairs)]
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        train_step(model, batch, cfg, 0, 1, device, autocast)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    seconds = sum(times[args.warmup :]) / args.timed
    tokens = args.batch_pairs * (context + 2 * answer)
    tflops = 6 * params * tokens / seconds / 1e12
    result = {
        "shape": shape,
        "attention": attention,
        "non_embedding_params": params,
        "pairs_per_step": args.batch_pairs,
        "tokens_per_pair": context + 2 * answer,
        "seconds_per_step": round(seconds, 4),
        "pairs_per_s": round(args.batch_pairs / seconds, 2),
        "tokens_per_s": round(tokens / seconds),
        "tflops": round(tflops, 4),
        "share_of_peak": round(tflops / args.peak_tflops, 4),
        "share_of_measured_peak": round(tflops / peak, 4),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1024**3, 1) if cuda else None,
    }
    del model, classifier, optimizer
    if cuda:
        torch.cuda.empty_cache()
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="")
    parser.add_argument("--dry-run", action="store_true", help="Tiny shapes on CPU, a minute.")
    parser.add_argument("--shape", default="smollm2-135m", help="The shape trained in 1 and 2.")
    parser.add_argument("--throughput-shapes", nargs="+", default=["smollm2-135m", "llama-1b"])
    parser.add_argument("--vocabulary", type=int, default=VOCABULARY)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--pack-tokens", type=int, default=64, help="Several rows a process.")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--limit", type=float, default=150, help="Seconds per child process.")
    parser.add_argument("--context-tokens", type=int, default=560)
    parser.add_argument("--answer-tokens", type=int, default=234)
    parser.add_argument("--row-tokens", type=int, default=4096)
    parser.add_argument("--batch-pairs", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--timed", type=int, default=4)
    parser.add_argument("--peak-tflops", type=float, default=790.0, help="bf16 dense peak.")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.shape, args.throughput_shapes, args.vocabulary = "tiny", ["tiny"], 512
        args.lr, args.tolerance = 2e-3, 1e-3
        args.context_tokens, args.answer_tokens, args.row_tokens = 40, 12, 256
        args.batch_pairs, args.warmup, args.timed = 8, 1, 2
    return args


def checks(report: dict) -> dict:
    distributed = report.get("distributed", {})
    return {
        "fsdp_equals_ddp_and_loss_falls": distributed.get("fsdp_equals_ddp", {}).get("ok", False),
        "eval_and_score_on_the_device": report.get("device_eval", {}).get("ok", False),
        "two_processes_on_one_gpu (reported, not required)": distributed.get(
            "two_processes_equal_one", {}
        ).get("ok"),
    }


def save(report: dict, out: str) -> None:
    """Write what is known so far (a part stopped by its time limit keeps the rest)."""
    if not out:
        return
    found = json.loads(json.dumps(report, default=str))
    for part in found.get("distributed", {}).values():
        if isinstance(part, dict):
            part.pop("folder", None)
    found["checks"] = checks(report)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(found, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import torch

    report: dict = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "settings": dict(vars(args)),
    }
    with tempfile.TemporaryDirectory(prefix="gpu-check-rewardtrain-") as work:
        args.work = Path(work)
        started = time.perf_counter()
        args.policy = build_policy(args.work / "policy", args.shape, args.vocabulary)
        args.data = synthetic_pairs(args.work / "pairs.jsonl", 600)
        report["seconds_building"] = round(time.perf_counter() - started, 1)
        report["distributed"] = distributed_part(args)
        print("distributed", json.dumps(report["distributed"]["fsdp_equals_ddp"]), flush=True)
        save(report, args.out)
        trained = report["distributed"]["fsdp"]
        if trained.get("ok"):
            report["device_eval"] = device_part(args, trained["folder"])
            print("device_eval", json.dumps(report["device_eval"]), flush=True)
            save(report, args.out)
        peak = matmul_peak(1.0 if args.dry_run else 3.0)
        report["measured_peak_tflops"] = round(peak, 3)
        report["throughput"] = []
        for shape in args.throughput_shapes:
            for attention in ("dense", "per_item"):
                report["throughput"].append(throughput(args, shape, attention, peak))
                print("throughput", json.dumps(report["throughput"][-1]), flush=True)
                save(report, args.out)
    verdict = checks(report)
    print(json.dumps(verdict, indent=2))
    required = [v for k, v in verdict.items() if "not required" not in k]
    return 0 if all(required) else 1


if __name__ == "__main__":
    sys.exit(main())
