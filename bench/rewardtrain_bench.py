"""rewardtrain against TRL's RewardTrainer (1.16), side by side on the same pairs.

    .venv/bin/python bench/rewardtrain_bench.py                  # -> bench/results/rewardtrain.json

Methods on the same Anthropic HH pairs, same model (SmolLM2-135M-Instruct, float32), same
effective batch, same optimizer steps:

- rewardtrain: shared-context packed rows, attention item by item (the CPU default);
- rewardtrain_dense: the same rows with the dense L x L block mask;
- trl: TRL's RewardTrainer with gradient checkpointing off, like rewardtrain (like for like);
- trl_checkpointing: TRL's defaults (RewardConfig turns gradient checkpointing on, which
  recomputes the forward pass in the backward: less memory, more compute);
- trl_group_by_length: TRL, checkpointing off, train_sampling_strategy="group_by_length".

Each runs in its own process (peak RSS: the child's ru_maxrss); a fixed number of optimizer
steps is timed after warm-up steps; held-out accuracy of each trained model is then measured
with one scorer. Each worker measures its own float32 matmul peak right after training, and
its share of the limit is 6 x non-embedding params x unique tokens per pair x pairs per second
against that peak (per CPU-second; wall clock against peak x threads).
A second part trains a tiny random Llama on a synthetic learnable set with both trainers and
compares held-out accuracy.
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
# The HH sample shipped with the tests; --hh takes another HH-form file (e.g. a larger split).
HH = ROOT / "tests" / "data" / "hh-rlhf" / "harmless-base-dev.jsonl.gz"
# method: (trainer, its options): rewardtrain's attention; TRL's sampling and checkpointing
METHODS = {
    "rewardtrain": ("rewardtrain", "per_item"),
    "rewardtrain_dense": ("rewardtrain", "dense"),
    "trl": ("trl", "random", False),
    "trl_checkpointing": ("trl", "random", True),
    "trl_group_by_length": ("trl", "group_by_length", False),
}
WORDS = "apple river stone cloud green quiet window table music paper light orange".split()


def matmul_peak(seconds: float = 3.0) -> float:
    """Float32 matmul GFLOP per CPU-second of this process (best of repeated 1024^3 products);
    CPU time, not wall time, so other users of the machine do not lower it."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.process_time()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * 1024**3 / (time.process_time() - t) / 1e9)
    return best


def non_embedding_params(model) -> int:
    embed = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for p in model.parameters()) - embed


def synthetic(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):

        def answer(word: str) -> list[dict]:
            text = " ".join(rng.choices(WORDS, k=rng.randint(2, 8)))
            return [{"role": "assistant", "content": f"{text} {word}"}]

        prompt = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
        out.append(
            {
                "prompt": [{"role": "user", "content": prompt}],
                "chosen": answer("good"),
                "rejected": answer("bad"),
            }
        )
    return out


def tiny_llama(folder: Path, model_dir: str) -> str:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rewardtrain.model import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def held_out_accuracy(classifier, tokenizer, records: list[dict]) -> float:
    """Accuracy of any sequence classifier on records, scored with rewardtrain's packed forward
    (identical to transformers' own forward; see tests/rewardtrain/test_packing.py)."""
    from rewardtrain.data import record_to_pair, tokenize_pairs
    from rewardtrain.evaluate import score_pairs
    from rewardtrain.model import RewardModel

    pairs, _ = tokenize_pairs(tokenizer, [record_to_pair(r) for r in records], None)
    chosen, rejected = score_pairs(RewardModel(classifier), pairs, pack_tokens=2048)
    return float((chosen > rejected).float().mean())


def worker_rewardtrain(spec: dict, attention: str) -> dict:
    import torch

    from rewardtrain.config import TrainConfig
    from rewardtrain.data import record_to_pair, tokenize_pairs
    from rewardtrain.model import RewardModel, load_sequence_classifier, load_tokenizer
    from rewardtrain.train import make_optimizer, train_step

    tokenizer = load_tokenizer(spec["model"])
    train, _ = tokenize_pairs(tokenizer, [record_to_pair(r) for r in spec["train"]], None)
    torch.manual_seed(0)
    classifier = load_sequence_classifier(spec["model"], tokenizer.pad_token_id)
    model = RewardModel(classifier).train()
    cfg = TrainConfig(
        lr=spec["lr"], batch_pairs=spec["batch"], pack_tokens=spec["pack_tokens"],
        attention=attention,
    )  # fmt: skip
    optimizer = make_optimizer(model, cfg)
    step_times, cpu_times, losses, computed = [], [], [], 0
    for step in range(len(train) // spec["batch"]):
        batch = train[step * spec["batch"] : (step + 1) * spec["batch"]]
        t, c = time.perf_counter(), time.process_time()
        stats = train_step(model, batch, cfg, 0, 1, "cpu", torch.autocast("cpu", enabled=False))
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step_times.append(time.perf_counter() - t)
        cpu_times.append(time.process_time() - c)
        losses.append(stats["loss"])
        computed += stats["tokens"]
    accuracy = held_out_accuracy(classifier, tokenizer, spec["test"])
    params = non_embedding_params(classifier)
    return {"step_times": step_times, "cpu_times": cpu_times, "losses": losses,
            "computed_tokens": computed, "accuracy": accuracy,
            "non_embedding_params": params}  # fmt: skip


def worker_trl(spec: dict, strategy: str, checkpointing: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    from rewardtrain.model import load_tokenizer

    tokenizer = load_tokenizer(spec["model"])
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        spec["model"], num_labels=1, dtype=torch.float32
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    step_times, cpu_times, computed = [], [], [0]

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            step_times.append(time.perf_counter() - self.t)
            cpu_times.append(time.process_time() - self.c)

    args = RewardConfig(
        output_dir=spec["tmp"], per_device_train_batch_size=spec["batch"],
        gradient_accumulation_steps=1, max_steps=len(spec["train"]) // spec["batch"],
        learning_rate=spec["lr"], lr_scheduler_type="constant", logging_steps=1,
        # the same AdamW as rewardtrain's worker (constant LR, the paper's betas and decay)
        weight_decay=0.1, adam_beta2=0.95, adam_epsilon=1e-5, max_grad_norm=1.0,
        save_strategy="no", report_to=[],
        use_cpu=True, bf16=False, seed=0, train_sampling_strategy=strategy,
        gradient_checkpointing=checkpointing,
        dataloader_num_workers=0, max_length=None,
        # group_by_length reads a "length" column, which TRL would otherwise drop as unused
        remove_unused_columns=strategy != "group_by_length",
    )  # fmt: skip
    trainer = RewardTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(spec["train"]),
        processing_class=tokenizer, callbacks=[Clock()],
    )  # fmt: skip
    collate = trainer.data_collator

    def counting(examples):
        batch = collate(examples)
        computed[0] += batch["input_ids"].numel()
        return batch

    trainer.data_collator = counting
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    accuracy = held_out_accuracy(trainer.model, tokenizer, spec["test"])
    params = non_embedding_params(trainer.model)
    return {"step_times": step_times, "cpu_times": cpu_times, "losses": losses,
            "computed_tokens": computed[0], "accuracy": accuracy,
            "non_embedding_params": params}  # fmt: skip


def run_worker(method: str, spec: dict, threads: int) -> dict:
    """Run one method in a child process; add its peak RSS (the child's own ru_maxrss)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    out = Path(f.name + ".out")
    t = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--worker", method, "--spec", f.name, "--result", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = child.communicate()
    if child.returncode:
        raise RuntimeError(f"{method} failed:\n{err[-3000:]}")
    result = json.loads(out.read_text())
    result["wall_s"] = time.perf_counter() - t
    result["peak_rss_gb"] = result.pop("self_rss_kb") / 1024**2
    return result


def summarise(result: dict, spec: dict, threads: int, unique_per_pair: float) -> dict:
    """Throughput per wall second and per CPU-second (robust to other users of the machine),
    and the share of the limit against the matmul peak this worker measured in the same run."""
    timed = result["step_times"][spec["warmup_steps"] :]
    cpu = result["cpu_times"][spec["warmup_steps"] :]
    pairs = len(timed) * spec["batch"]
    pairs_s, pairs_cpu_s = pairs / sum(timed), pairs / sum(cpu)
    flop_per_pair = 6 * result["non_embedding_params"] * unique_per_pair
    all_pairs = len(result["step_times"]) * spec["batch"]
    peak = result["peak_gflops"] * 1e9  # per CPU-second, this worker, after its training
    return {
        "pairs_per_s": pairs_s,
        "pairs_per_cpu_s": pairs_cpu_s,
        "timed_pairs": pairs,
        "computed_tokens_per_pair": result["computed_tokens"] / all_pairs,
        "share_of_measured_peak_cpu": flop_per_pair * pairs_cpu_s / peak,
        "share_of_measured_peak_wall": flop_per_pair * pairs_s / (peak * threads),
        "measured_peak_gflops_per_cpu_s": result["peak_gflops"],
        "peak_rss_gb": result["peak_rss_gb"],
        "first_loss": result["losses"][0],
        "last_loss": result["losses"][-1],
        "held_out_accuracy": result["accuracy"],
        "wall_s": result["wall_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/rewardtrain.json")
    parser.add_argument("--batch", type=int, default=8, help="effective batch in pairs")
    parser.add_argument("--steps", type=int, default=4, help="timed optimizer steps")
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument("--test-pairs", type=int, default=64)
    parser.add_argument("--pack-tokens", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-5, help="learning rate, all methods")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--hh", type=Path, default=HH, help="Anthropic HH-form JSONL(.gz) file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        import resource

        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
        spec = json.loads(Path(args.spec).read_text())
        kind, *options = METHODS[args.worker]
        if kind == "rewardtrain":
            result = worker_rewardtrain(spec, *options)
        else:
            result = worker_trl(spec, *options)
        result["self_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["peak_gflops"] = matmul_peak()
        Path(args.result).write_text(json.dumps(result))
        return

    from inference.default_model import ensure_default_model
    from rewardtrain.data import read_pairs, tokenize_pairs
    from rewardtrain.model import load_tokenizer

    model_dir = str(ensure_default_model())
    pairs, _ = read_pairs(args.hh)
    random.Random(0).shuffle(pairs)
    n_train = (args.warmup_steps + args.steps) * args.batch
    # TRL's RewardTrainer gets the conversational columns of the TRL line and nothing else.
    records = [json.loads(p.to_line()) for p in pairs]
    for r in records:
        for key in set(r) - {"prompt", "chosen", "rejected"}:
            r.pop(key)
    tokenizer = load_tokenizer(model_dir)
    train_tok, _ = tokenize_pairs(tokenizer, pairs[:n_train], None)
    for record, t in zip(records, train_tok, strict=False):
        # TRL's group_by_length sampler needs a "length" column for chosen_ids/rejected_ids data.
        record["length"] = len(t.context) + max(len(t.chosen), len(t.rejected))
    timed = train_tok[args.warmup_steps * args.batch :]
    unique_per_pair = sum(t.n_unique for t in timed) / len(timed)
    separate_per_pair = sum(2 * len(t.context) + len(t.chosen) + len(t.rejected) for t in timed)
    report: dict = {
        "machine": {"threads": args.threads, "load_avg_start": os.getloadavg()},
        "hh": {
            "train_pairs": n_train,
            "timed_pairs": args.steps * args.batch,
            "batch": args.batch,
            "test_pairs": args.test_pairs,
            "lr": args.lr,
            "unique_tokens_per_pair": unique_per_pair,
            "separate_tokens_per_pair": separate_per_pair / len(timed),
        },  # fmt: skip
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"model": model_dir, "train": records[:n_train], "test": records[-args.test_pairs :],
                "batch": args.batch, "lr": args.lr, "warmup_steps": args.warmup_steps,
                "pack_tokens": args.pack_tokens, "tmp": tmp}  # fmt: skip
        peak = matmul_peak()
        report["machine"]["matmul_gflops_start"] = peak
        for method in args.methods:
            result = run_worker(method, spec, args.threads)
            report["hh"][method] = summarise(result, spec, args.threads, unique_per_pair)
            print(method, json.dumps(report["hh"][method]), flush=True)
        ours = report["hh"].get("rewardtrain")
        for method in args.methods:
            if ours and method != "rewardtrain":
                other = report["hh"][method]
                report["hh"][f"speedup_vs_{method}"] = {
                    "wall": ours["pairs_per_s"] / other["pairs_per_s"],
                    "cpu": ours["pairs_per_cpu_s"] / other["pairs_per_cpu_s"],
                }
        if not args.skip_synthetic:
            tiny = tiny_llama(Path(tmp) / "tiny", model_dir)
            data = synthetic(600, 0)
            spec = {"model": tiny, "train": data[:528], "test": data[540:], "batch": 16,
                    "lr": 2e-3, "warmup_steps": 1, "pack_tokens": 1024, "tmp": tmp}  # fmt: skip
            report["synthetic"] = {"train_pairs": 528, "test_pairs": 60, "batch": 16, "lr": 2e-3}
            for method in ("rewardtrain", "trl"):
                result = run_worker(method, spec, args.threads)
                report["synthetic"][method] = {
                    "held_out_accuracy": result["accuracy"],
                    "first_loss": result["losses"][0],
                    "last_loss": result["losses"][-1],
                    "pairs_per_s": len(result["step_times"][1:])
                    * 16
                    / sum(result["step_times"][1:]),
                }
                print("synthetic", method, json.dumps(report["synthetic"][method]), flush=True)
    report["machine"]["load_avg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
