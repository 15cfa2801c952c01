"""What a policy-optimisation job (rejection sampling, PPO) reads: its batches' prompts as the
cores read them, and the model versions it starts from."""

from __future__ import annotations

import json
from pathlib import Path

from annotation.models import GuidelineStage, Prompt

from ..models import Job, ModelVersion
from ..services.jobs import JobError
from .context import JobContext


def _prompts(batch_ids: list[int], per_batch: int | None):
    """The batches' prompts in (batch, id) order; with `per_batch`, each batch's first N."""
    for batch_id in sorted(set(batch_ids)):
        prompts = Prompt.objects.filter(batch_id=batch_id).select_related("batch").order_by("id")
        yield from prompts[:per_batch] if per_batch else prompts.iterator()


def prompts_export(
    batch_ids: list[int],
    ctx: JobContext,
    name: str = "prompts.jsonl",
    per_batch: int | None = None,
):
    """Write the batches' prompts as JSONL ({"id", "batch", "prompt", "safety"}; a safety-stage
    batch marks its prompts as safety prompts) into the job's work folder; with `per_batch`,
    only each batch's first N prompts.

    Returns (path, rows); raises JobError when the batches hold no prompts."""
    out: Path = ctx.work_dir / name
    rows = safety = 0
    with out.open("w", encoding="utf-8") as handle:
        for prompt in _prompts(batch_ids, per_batch):
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
    ctx.log(f"exported {rows} prompts to {name} ({safety} safety prompts)")
    return out, rows


def reward_model_version(job: Job, param: str, kind: str) -> ModelVersion | None:
    """The version the job names in `param`, else the newest reward model of that kind."""
    if job.params.get(param):
        return ModelVersion.objects.get(pk=job.params[param])
    return ModelVersion.objects.filter(kind=kind).order_by("-created_at", "-pk").first()
