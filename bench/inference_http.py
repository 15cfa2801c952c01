"""Pairs per minute and tokens/s through the HTTP backend against a real vLLM server, next to
the server's own throughput measured with raw httpx requests at the same concurrency.

    .venv/bin/python bench/inference_http.py                      # starts its own server
    .venv/bin/python bench/inference_http.py --url http://127.0.0.1:8000/v1 --names a b
    .venv/bin/python bench/inference_http.py --levels 1 4 16 --max-tokens 48 --repeats 2

Three runs per concurrency c, in rotating order, all generating the same samples (the pair
plan of `plan_pairs`: same messages, temperatures, seeds):
  raw           plain httpx + asyncio, a semaphore of c  (the server's own throughput)
  client        one OpenAIHTTPBackend(concurrency=c).generate over all samples
  sample_pairs  `sample_pairs` with two variants (two served names), each backend allowed
                c/2 requests (c=1: one variant after the other)
raw and client send identical payloads to one served name, so they generate the same tokens;
pairs/min = pairs / wall time. Completion tokens come from the server's usage fields.
The client's own cost is also measured directly, as this process's CPU time per request
(`time.process_time`, all threads; the server runs in other processes), which a busy shared
machine does not distort the way it distorts wall-clock throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import httpx

from inference import PairPolicy, SamplingParams, plan_pairs, sample_pairs
from inference.backends.http import OpenAIHTTPBackend

TOPICS = [
    "how tides work",
    "a tip for learning a language",
    "why the sky is blue",
    "how to make tea",
    "what a prime number is",
    "a fun fact about octopuses",
    "how to start running",
    "what photosynthesis does",
    "a name for a new cafe",
    "how bicycles stay upright",
    "a short story opening",
    "why we sleep",
    "how to save money",
    "what a black hole is",
    "a good houseplant",
    "how rainbows form",
]


def prompts(count: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": f"Tell me about {TOPICS[i % len(TOPICS)]} (#{i})."}]
        for i in range(count)
    ]


def samples(convs, names, policy):
    """The pair plan flattened: (conversation, params) for every sample, both of each pair."""
    plan = plan_pairs(len(convs), names, policy)
    return [(conv, s.params) for conv, pair in zip(convs, plan, strict=True) for s in pair]


def run_client(url, name, work, level):
    backend = OpenAIHTTPBackend(url, name, concurrency=level)
    started = time.perf_counter()
    out = backend.generate([c for c, _ in work], [p for _, p in work])
    wall = time.perf_counter() - started
    return wall, sum(c.completion_tokens for c in out), len(work) // 2


def run_pairs(url, names, convs, policy, level):
    per_backend = max(1, level // 2)
    backends = {n: OpenAIHTTPBackend(url, n, concurrency=per_backend) for n in names}
    started = time.perf_counter()
    pairs = sample_pairs(convs, backends, policy, concurrent_variants=level > 1)
    wall = time.perf_counter() - started
    tokens = sum(s.completion.completion_tokens for p in pairs for s in (p.a, p.b))
    return wall, tokens, len(pairs)


async def run_raw_async(url, name, work, level):
    payloads = [
        {
            "model": name,
            "messages": conv,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "seed": p.seed,
        }
        for conv, p in work
    ]
    gate = asyncio.Semaphore(level)
    limits = httpx.Limits(max_connections=level)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def one(payload):
            async with gate:
                r = await client.post(f"{url}/chat/completions", json=payload)
                r.raise_for_status()
                return r.json()["usage"]["completion_tokens"]

        started = time.perf_counter()
        tokens = await asyncio.gather(*(one(p) for p in payloads))
        wall = time.perf_counter() - started
    return wall, sum(tokens), len(work) // 2


def row(kind, level, wall, tokens, pairs):
    return {
        "kind": kind,
        "concurrency": level,
        "seconds": round(wall, 2),
        "tokens": tokens,
        "pairs": pairs,
        "tokens_per_s": round(tokens / wall, 1),
        "pairs_per_min": round(60 * pairs / wall, 1),
    }


KINDS = ("raw", "client", "sample_pairs")


def bench(url, names, levels, max_tokens, repeats, pairs_per_level):
    results = []
    warm = OpenAIHTTPBackend(url, names[0])
    warm.generate(prompts(2), [_params(max_tokens, 0), _params(max_tokens, 1)])  # warm-up
    for level in levels:
        convs = prompts(pairs_per_level.get(level, max(4, level)))
        for r in range(repeats):
            policy = PairPolicy(max_tokens=max_tokens, seed=1000 * level + r)
            work = samples(convs, names, policy)
            for k in range(len(KINDS)):
                kind = KINDS[(k + r) % len(KINDS)]  # rotate the order between repeats
                cpu = time.process_time()
                if kind == "raw":
                    out = asyncio.run(run_raw_async(url, names[0], work, level))
                elif kind == "client":
                    out = run_client(url, names[0], work, level)
                else:
                    out = run_pairs(url, names, convs, policy, level)
                cpu_ms = 1000 * (time.process_time() - cpu) / len(work)
                extra = {
                    "repeat": r,
                    "load": round(os.getloadavg()[0], 1),
                    "cpu_ms_per_request": round(cpu_ms, 2),
                }
                results.append(row(kind, level, *out) | extra)
                print(json.dumps(results[-1]), flush=True)
    return results


def _params(max_tokens, seed):
    return SamplingParams(temperature=0.8, max_tokens=max_tokens, seed=seed)


def summary(results):
    lines = [
        "| concurrency | raw httpx tokens/s | client tokens/s | client / raw | "
        "client pairs/min | raw pairs/min | sample_pairs pairs/min (2 variants) | "
        "CPU ms per request: raw / client |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def rate(level, kind, key):
        rows = [r for r in results if r["concurrency"] == level and r["kind"] == kind]
        wall = sum(r["seconds"] for r in rows)
        return (60 if key == "pairs" else 1) * sum(r[key] for r in rows) / wall if wall else 0.0

    def cpu(level, kind):
        rows = [r for r in results if r["concurrency"] == level and r["kind"] == kind]
        return sum(r.get("cpu_ms_per_request", 0) for r in rows) / max(len(rows), 1)

    for level in sorted({r["concurrency"] for r in results}):
        rt, ct = rate(level, "raw", "tokens"), rate(level, "client", "tokens")
        cp, rp = rate(level, "client", "pairs"), rate(level, "raw", "pairs")
        sp = rate(level, "sample_pairs", "pairs")
        lines.append(
            f"| {level} | {rt:.1f} | {ct:.1f} | {ct / rt:.2f} | {cp:.1f} | {rp:.1f} | {sp:.1f} "
            f"| {cpu(level, 'raw'):.1f} / {cpu(level, 'client'):.1f} |"
        )
    return "\n".join(lines)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an already running server (base URL ending in /v1)")
    parser.add_argument("--names", nargs=2, default=["smollm2-a", "smollm2-b"])
    parser.add_argument("--levels", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="bench/out/inference_http.json")
    return parser


def main() -> None:
    args = make_parser().parse_args()
    pairs_per_level = {1: 2, 4: 6, 16: 16}
    if args.url:
        results = bench(
            args.url, args.names, args.levels, args.max_tokens, args.repeats, pairs_per_level
        )
    else:
        from inference.default_model import ensure_default_model
        from inference.vllm_server import VLLMServer, install

        install()
        with VLLMServer(ensure_default_model(), served_names=args.names) as server:
            results = bench(
                server.base_url,
                args.names,
                args.levels,
                args.max_tokens,
                args.repeats,
                pairs_per_level,
            )
    table = summary(results)
    print(table)
    print(f"load average at the end: {os.getloadavg()}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"results": results, "table": table}, indent=1))


if __name__ == "__main__":
    main()
