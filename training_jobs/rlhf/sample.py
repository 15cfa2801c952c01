"""Sample K answers per prompt from the latest policy through Margin's inference backends.

    python -m training_jobs.rlhf sample --prompts prompts.jsonl --policy out/policy \
        --k 8 --temperature 1.0 --max-tokens 256 --output samples.jsonl
    # on a GPU node: --backend vllm (a prompt's K answers, seeds s..s+K-1, are one request
    # with n=K: see inference/backends/vllm_local.py)

A samples line: {"key", "id", "prompt": [messages], "safety": bool, "responses": [str] (K),
"seeds": [int], "finish_reasons": [str], "completion_tokens": [int]}.
"""

from __future__ import annotations

from typing import Any

from mlcore.comparisons import external_id
from mlcore.dialogue import RowInvalid, prompt_of
from mlcore.jsonl import FileError, read_records
from mlcore.progress import Progress, Stage
from training_jobs.rlhf.config import SampleConfig, Sampling
from training_jobs.rlhf.pool import prompt_key, write_jsonl


def read_prompts(path: str) -> list[dict[str, Any]]:
    """Prompt lines as {"key", "id", "prompt": [messages ending with a user turn], "safety"}.

    A line is read as the site's prompt import reads it (mlcore: 'messages', 'prompt' or
    'text'; BOM, gzip, the dialogue rules); FileError names the file and line of a bad one."""
    prompts = [prompt for _, prompt in read_records(path, _prompt_line)]
    if not prompts:
        raise FileError(path, 0, "", "holds no prompts")
    return prompts


def _prompt_line(record: dict[str, Any]) -> dict[str, Any]:
    prompt = prompt_of(record)
    safety = record.get("safety", False)
    if not isinstance(safety, bool):
        raise RowInvalid("safety", "must be true or false")
    return {
        "key": prompt_key(prompt),
        "id": record.get("id") if external_id(record) is not None else None,
        "prompt": prompt,
        "safety": safety,
    }


def load_policy_backend(cfg: Sampling):
    """The inference backend the config names, loaded with the policy; exits with the reason
    when the backend's library (vLLM) is not installed in this Python."""
    from inference import BackendNotInstalled, ModelVariant, load_backend

    if cfg.backend == "http":
        variant = ModelVariant(
            "policy", "http", model=cfg.model_name, base_url=cfg.base_url, tokenizer=cfg.policy
        )
    elif cfg.backend == "vllm":
        variant = ModelVariant(
            "policy",
            "vllm",
            model=cfg.policy,
            options={"gpu_memory_utilization": cfg.gpu_memory_utilization},
        )
    else:
        variant = ModelVariant(
            "policy", "transformers", model=cfg.policy, options={"batch_size": cfg.batch_size}
        )
    try:
        return load_backend(variant)
    except BackendNotInstalled as exc:
        raise SystemExit(str(exc)) from exc


def sample_answers(
    backend,
    prompts: list[dict[str, Any]],
    cfg: Sampling,
    stage: Stage,
    *,
    k: int | None = None,
    temperature: float | None = None,
) -> list[dict[str, Any]]:
    """K completions per prompt (cfg.k, or `k`, at cfg.temperature or `temperature`); answer
    j of prompt i has seed `cfg.seed + i * k + j`. `stage` counts the answers."""
    from inference import SamplingParams
    from inference.params import SEED_MAX

    k = cfg.k if k is None else k
    temperature = cfg.temperature if temperature is None else temperature
    top_p, max_tokens, seed, chunk = cfg.top_p, cfg.max_tokens, cfg.seed, chunk_size(cfg)
    jobs = [(i, j) for i in range(len(prompts)) for j in range(k)]
    completions: list[Any] = []
    for start in range(0, len(jobs), chunk):
        part = jobs[start : start + chunk]
        params = [
            SamplingParams(
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                seed=(seed + i * k + j) % (SEED_MAX + 1),
            )
            for i, j in part
        ]
        completions += backend.generate([prompts[i]["prompt"] for i, _ in part], params)
        stage.update(len(part))
    rows = []
    for i, p in enumerate(prompts):
        mine = completions[i * k : (i + 1) * k]
        rows.append(
            {
                **p,
                "responses": [c.text for c in mine],
                "seeds": [c.params.seed for c in mine],
                "finish_reasons": [c.finish_reason for c in mine],
                "completion_tokens": [c.completion_tokens for c in mine],
            }
        )
    return rows


def release(backend) -> None:
    """Close the policy backend and hand its memory back before the next model loads."""
    import gc

    import torch

    backend.close()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def chunk_size(cfg: Sampling) -> int:
    """Answers per backend call: one CPU batch, or many for an engine that batches itself."""
    return cfg.batch_size if cfg.backend == "transformers" else 1024


def main(cfg: SampleConfig) -> dict[str, Any]:
    """Write cfg.output; return sampling statistics."""
    sampling = cfg.sampling
    if not sampling.prompts or not sampling.policy:
        raise SystemExit("sample needs --prompts and --policy")
    prompts = read_prompts(sampling.prompts)
    with Progress({"sample": 1}, bar=cfg.progress) as progress:
        backend = load_policy_backend(sampling)
        try:
            stage = progress.stage("sample", total=len(prompts) * sampling.k)
            rows = sample_answers(backend, prompts, sampling, stage)
        finally:
            release(backend)
    write_jsonl(cfg.output, rows)
    return sampling_stats(rows)


def sampling_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    tokens = [t for r in rows for t in r["completion_tokens"]]
    stopped = [f == "stop" for r in rows for f in r["finish_reasons"]]
    return {
        "prompts": len(rows),
        "answers": len(tokens),
        "safety_prompts": sum(r["safety"] for r in rows),
        "mean_completion_tokens": sum(tokens) / max(len(tokens), 1),
        "stopped_share": sum(stopped) / max(len(stopped), 1),
    }
