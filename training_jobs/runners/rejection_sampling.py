"""Rejection sampling: export the chosen batches' prompts, run `python -m training_jobs.rlhf
round` (sample K from the start policy, select with R_s/R_h, pool with earlier rounds,
fine-tune), optionally a K x temperature sweep, and register the new policy.

Parameters: `batches` (prompt batch ids; a safety-stage batch marks its prompts as safety
prompts), `prompts_per_batch` (only each batch's first N prompts), `policy_version` (else the
iteration's start policy, else the base model), `helpfulness_version` / `safety_version`
(else the newest of each kind), `sweep_ks` and `sweep_temperatures` (both given: sweep.json
beside the policy), `device`, and the fields of `RoundConfig` that Margin does not set itself
(k, temperature, lr, epochs, ...).
"""

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from annotation.models import GuidelineStage, Prompt
from config.artifacts import artifact_path

from ..models import Job, JobKind, JobState, ModelVersion
from ..services.iterations import model_version_register, policy_base_ensure
from ..services.jobs import JobError
from .context import JobContext
from .params import check_against, flags

VERSION_PARAMS = {
    "policy_version": ModelVersion.Kind.POLICY,
    "helpfulness_version": ModelVersion.Kind.REWARD_HELPFULNESS,
    "safety_version": ModelVersion.Kind.REWARD_SAFETY,
}
MARGIN_PARAMS = {
    "batches",
    "prompts_per_batch",
    "device",
    "sweep_ks",
    "sweep_temperatures",
    *VERSION_PARAMS,
}
RESERVED = {
    "prompts",
    "policy",
    "output_dir",
    "helpfulness_model",
    "safety_model",
    "earlier_pools",
    "progress",
    "base_url",
    "model_name",
}
SWEEP_FLAGS = {
    "backend",
    "top_p",
    "max_tokens",
    "batch_size",
    "gpu_memory_utilization",
    "seed",
    "safety_threshold",
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _numbers(value: Any, kind: tuple[type, ...]) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    )


def _prompts(batch_ids: list[int], per_batch: int | None):
    """The batches' prompts in (batch, id) order; with `per_batch`, each batch's first N."""
    for batch_id in sorted(set(batch_ids)):
        prompts = Prompt.objects.filter(batch_id=batch_id).select_related("batch").order_by("id")
        yield from prompts[:per_batch] if per_batch else prompts.iterator()


class RejectionSamplingRunner:
    kind = JobKind.REJECTION_SAMPLING

    def validate(self, params: dict[str, Any]) -> None:
        from training_jobs.rlhf.config import RoundConfig

        core = {k: v for k, v in params.items() if k not in MARGIN_PARAMS}
        check_against(core, RoundConfig, reserved=RESERVED, paths=set())
        if core.get("backend") == "http":
            raise JobError("backend must be transformers or vllm (the job loads the policy)")
        batches = params.get("batches")
        if not _numbers(batches, (int,)) or not batches:
            raise JobError("batches must be a non-empty list of batch ids")
        for name, kind in VERSION_PARAMS.items():
            pk = params.get(name)
            if pk is not None and not ModelVersion.objects.filter(pk=pk, kind=kind).exists():
                raise JobError(f"{name} {pk} is not a {kind} model version")
        if params.get("device", "gpu") not in ("gpu", "cpu"):
            raise JobError("device must be gpu or cpu")
        per_batch = params.get("prompts_per_batch")
        if per_batch is not None and (not _numbers([per_batch], (int,)) or per_batch < 1):
            raise JobError("prompts_per_batch must be a positive integer")
        ks, temperatures = params.get("sweep_ks", []), params.get("sweep_temperatures", [])
        if not _numbers(ks, (int,)) or not all(1 <= k <= 100 for k in ks):
            raise JobError("sweep_ks must be a list of integers from 1 to 100")
        if not _numbers(temperatures, (int, float)) or not all(0 < t <= 2 for t in temperatures):
            raise JobError("sweep_temperatures must be a list of numbers in (0, 2]")
        if bool(ks) != bool(temperatures):
            raise JobError("give both sweep_ks and sweep_temperatures, or neither")

    def _start_policy(self, job: Job) -> ModelVersion:
        if job.params.get("policy_version"):
            return ModelVersion.objects.get(pk=job.params["policy_version"])
        if job.iteration and job.iteration.start_policy:
            return job.iteration.start_policy
        return policy_base_ensure()

    def _reward_model(self, job: Job, name: str, kind: str) -> ModelVersion | None:
        if job.params.get(name):
            return ModelVersion.objects.get(pk=job.params[name])
        return ModelVersion.objects.filter(kind=kind).order_by("-created_at", "-pk").first()

    def _earlier_pools(self, job: Job) -> list[tuple[int, Path]]:
        """pool.jsonl of every earlier succeeded rejection-sampling job, oldest first."""
        earlier = (
            Job.objects.filter(kind=self.kind, state=JobState.SUCCEEDED)
            .exclude(pk=job.pk)
            .order_by("finished_at", "pk")
        )
        pools = []
        for other in earlier:
            path = artifact_path(other.output_dir) / "pool.jsonl"
            if path.is_file():
                pools.append((other.pk, path))
        return pools

    def _export(self, job: Job, ctx: JobContext) -> tuple[Path, int]:
        """The prompts of the chosen batches as JSONL: {"id", "prompt", "safety", "batch"}."""
        out = ctx.work_dir / "prompts.jsonl"
        per_batch = job.params.get("prompts_per_batch")
        rows = 0
        safety = 0
        with out.open("w", encoding="utf-8") as handle:
            for prompt in _prompts(job.params["batches"], per_batch):
                is_safety = prompt.batch.stage == GuidelineStage.SAFETY
                record = {
                    "id": prompt.pk,
                    "batch": prompt.batch_id,
                    "prompt": prompt.messages,
                    "safety": is_safety,
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                rows += 1
                safety += is_safety
        if rows == 0:
            raise JobError("The chosen batches have no prompts.")
        ctx.log(f"exported {rows} prompts ({safety} safety prompts)")
        return out, rows

    def run(self, job: Job, ctx: JobContext) -> None:
        prompts, rows = self._export(job, ctx)
        start = self._start_policy(job)
        helpfulness = self._reward_model(
            job, "helpfulness_version", ModelVersion.Kind.REWARD_HELPFULNESS
        )
        if helpfulness is None:
            raise JobError("There is no helpfulness reward model yet; train one first.")
        safety = self._reward_model(job, "safety_version", ModelVersion.Kind.REWARD_SAFETY)
        pools = self._earlier_pools(job)
        ctx.save_snapshot(
            {
                "files": [{"name": "prompts.jsonl", "sha256": _sha256(prompts), "rows": rows}],
                "batches": job.params["batches"],
                "start_policy": start.name,
                "reward_models": {
                    "helpfulness": helpfulness.name,
                    "safety": safety.name if safety else None,
                },
                "earlier_pools_from_jobs": [pk for pk, _ in pools],
            }
        )

        core = {k: v for k, v in job.params.items() if k not in MARGIN_PARAMS}
        core.setdefault("backend", "vllm" if job.queue == "gpu" else "transformers")
        models = ["--helpfulness-model", str(helpfulness.folder)]
        if safety:
            models += ["--safety-model", str(safety.folder)]
        out = ctx.work_dir / "policy"
        if out.exists():
            shutil.rmtree(out)
        sweep = bool(job.params.get("sweep_ks"))
        ctx.run_process(
            [ctx.python, "-m", "training_jobs.rlhf", "round", "--output-dir", str(out)]
            + ["--prompts", str(prompts), "--policy", str(start.folder), *models]
            + (["--earlier-pools", *(str(p) for _, p in pools)] if pools else [])
            + ["--progress", *flags(core)],
            weight=(0.0, 0.8 if sweep else 1.0),
        )
        if sweep:
            sampling = {k: v for k, v in core.items() if k in SWEEP_FLAGS}
            ctx.run_process(
                [ctx.python, "-m", "training_jobs.rlhf", "sweep", "--output"]
                + [str(out / "sweep.json"), "--prompts", str(prompts)]
                + ["--policy", str(start.folder), *models, "--progress", *flags(sampling)]
                + ["--ks", *map(str, job.params["sweep_ks"])]
                + ["--temperatures", *map(str, job.params["sweep_temperatures"])],
                weight=(0.8, 1.0),
            )
        metrics = json.loads((out / "metrics.json").read_text())
        published = ctx.publish(out, "policy")
        model_version_register(
            job=job, kind=ModelVersion.Kind.POLICY, path=published, parent=start, metrics=metrics
        )
        ctx.output_dir = published
