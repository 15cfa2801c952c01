"""The CPU backend (transformers, SmolLM2 float32): batched versus one request at a time.

    .venv/bin/python bench/inference_cpu.py                   # 8 prompts, 32 new tokens
    .venv/bin/python bench/inference_cpu.py --prompts 8 --max-tokens 32 --batch-sizes 1 4 8

Every run generates the same samples (same prompts, temperatures and seeds); tokens/s counts
completion tokens over wall time. It also reports how many texts come out identical to the
one-at-a-time run (the per-sample seed makes the batch composition irrelevant up to rounding),
and the process's CPU time per token, which a busy shared machine distorts less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from inference import SamplingParams
from inference.backends.transformers_cpu import TransformersBackend

TOPICS = [
    "how tides work",
    "a tip for learning a language",
    "why the sky is blue",
    "how to make tea",
    "what a prime number is",
    "a fun fact about octopuses",
    "how to start running",
    "what photosynthesis does",
]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--out", default="bench/out/inference_cpu.json")
    return parser


def main() -> None:
    args = make_parser().parse_args()
    convs = [
        [{"role": "user", "content": f"Tell me about {TOPICS[i % len(TOPICS)]}."}]
        for i in range(args.prompts)
    ]
    params = [
        SamplingParams(temperature=0.8, top_p=0.95, max_tokens=args.max_tokens, seed=100 + i)
        for i in range(args.prompts)
    ]
    backend = TransformersBackend()
    backend.generate(convs[:1], SamplingParams(max_tokens=4, seed=0))  # warm-up
    results, texts = [], {}
    for size in args.batch_sizes:
        backend.batch_size = size
        started, cpu = time.perf_counter(), time.process_time()
        out = backend.generate(convs, params)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        tokens = sum(c.completion_tokens for c in out)
        texts[size] = [c.text for c in out]
        results.append(
            {
                "batch_size": size,
                "seconds": round(wall, 2),
                "tokens": tokens,
                "tokens_per_s": round(tokens / wall, 1),
                "samples_per_min": round(60 * len(out) / wall, 1),
                "cpu_ms_per_token": round(1000 * cpu / tokens, 1),
                "load": round(os.getloadavg()[0], 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    base = texts[args.batch_sizes[0]]
    lines = [
        "| batch size | seconds | completion tokens | tokens/s | samples/min | CPU ms per token "
        f"| load | texts identical to batch {args.batch_sizes[0]} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        same = sum(a == b for a, b in zip(base, texts[r["batch_size"]], strict=True))
        r["identical"] = same
        lines.append(
            f"| {r['batch_size']} | {r['seconds']} | {r['tokens']} | "
            f"{r['tokens_per_s']} | {r['samples_per_min']} | {r['cpu_ms_per_token']} | "
            f"{r['load']} | {same}/{len(base)} |"
        )
    table = "\n".join(lines)
    print(table)
    print(f"load average at the end: {os.getloadavg()}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"results": results, "table": table}, indent=1))


if __name__ == "__main__":
    main()
