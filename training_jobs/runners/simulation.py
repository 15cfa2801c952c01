"""Simulated annotators judge batches' pairs: the first step of the loop without people, on a
development site only (settings.MARGIN_DEMO), since it writes judgments into real batches.

Parameters: `batches` (open prompt-batch ids), `pairs_per_batch` (judgments to add to each,
default 12), `annotators` (simulated annotators, default 2), `seed`. For each batch, pairs of
unused prompts are requested and generated here, in the job's worker (a generation worker may
take a share of them), then the simulated annotators (training_jobs.simulation) lease and submit
them through the real queue, judging by the hidden utility.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Count, F, Max

from annotation.generation import pairs_generate_pending, pairs_request_unused
from annotation.models import Judgment, PromptBatch, ResponsePair

from ..models import Job, JobKind, JobState
from ..services.jobs import job_progress
from ..simulation.annotators import annotators_simulate
from .base import Runner
from .context import JobCancelled, JobContext

MARGIN_PARAMS = {"batches", "pairs_per_batch", "annotators", "seed"}
DEFAULTS = {"pairs_per_batch": 12, "annotators": 2, "seed": 0}
LIMITS = {"pairs_per_batch": (1, 500), "annotators": (1, 20), "seed": (0, 2**31 - 1)}
WAIT_SECONDS = 2.0
Status = ResponsePair.Status


def _int(params: dict[str, Any], name: str) -> int:
    value = params.get(name, DEFAULTS[name])
    low, high = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{name} must be an integer from {low} to {high}")
    return value


def _ready(batch: PromptBatch) -> int:
    return ResponsePair.objects.filter(
        batch=batch,
        status=Status.READY,
        dialogue__isnull=True,
        is_gold=False,
        taken__lt=F("overlap"),
    ).count()


def _coming(batch: PromptBatch) -> int:
    return ResponsePair.objects.filter(
        batch=batch, dialogue__isnull=True, status__in=[Status.PENDING, Status.GENERATING]
    ).count()


@dataclass
class _Progress:
    """Generating a pair and judging it are one step each; the job's progress is steps done."""

    job: Job
    steps: int
    done: int = 0

    def report(self, detail: str, extra: int = 0) -> None:
        fraction = min((self.done + extra) / self.steps, 1.0) if self.steps else 1.0
        if job_progress(job_id=self.job.pk, progress=fraction, detail=detail):
            raise JobCancelled()
        if not Job.objects.filter(pk=self.job.pk, state=JobState.RUNNING).exists():
            raise JobCancelled()  # failed by the sweeper meanwhile: stop writing judgments


@contextmanager
def _heartbeat(job: Job, detail: str) -> Iterator[None]:
    """Heartbeats from a thread while a long call runs here (a generation round can take
    minutes on a busy machine; the sweeper fails a job whose heartbeat is older than
    HEARTBEAT_TIMEOUT_SECONDS). Raises JobCancelled afterwards when a cancel came meanwhile."""
    stop, cancelled = threading.Event(), threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.MARGIN_JOBS["HEARTBEAT_SECONDS"]):
                if job_progress(job_id=job.pk, detail=detail):
                    cancelled.set()
        finally:
            connections.close_all()  # this thread's own database connection

    thread = threading.Thread(target=beat, name=f"heartbeat-job-{job.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if cancelled.is_set():
        raise JobCancelled()


class SimulatedAnnotationRunner(Runner):
    kind = JobKind.SIMULATED_ANNOTATION

    def validate(self, params: dict[str, Any]) -> None:
        if not settings.MARGIN_DEMO:
            raise ValidationError(
                "Simulated annotators judge only on a development site (settings.MARGIN_DEMO)."
            )
        unknown = set(params) - MARGIN_PARAMS
        if unknown:
            allowed = ", ".join(sorted(MARGIN_PARAMS))
            raise ValidationError(f"Unknown parameter {sorted(unknown)[0]!r}; allowed: {allowed}")
        batches = params.get("batches")
        if (
            not isinstance(batches, list)
            or not batches
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in batches)
        ):
            raise ValidationError("batches must be a non-empty list of batch ids")
        found = PromptBatch.objects.filter(pk__in=batches, status=PromptBatch.Status.OPEN)
        if found.count() != len(set(batches)):
            raise ValidationError("batches must be open batches")
        for name in DEFAULTS:
            _int(params, name)

    def run(self, job: Job, ctx: JobContext) -> None:
        params = {**DEFAULTS, **job.params}
        wanted = params["pairs_per_batch"]
        batches = list(PromptBatch.objects.filter(pk__in=params["batches"]).order_by("pk"))
        progress = _Progress(job, steps=2 * wanted * len(batches))
        summary: dict[str, dict[str, int]] = {}
        for index, batch in enumerate(batches, 1):
            ready = _generate(ctx, batch, wanted, progress)
            judged = annotators_simulate(
                batch=batch,
                annotators=params["annotators"],
                limit=ready,
                seed=params["seed"],
                on_judged=lambda n, name=batch.name: progress.report(f"{name}: {n} judged", n),
            ).judged
            progress.done = 2 * wanted * index  # also when the batch ran short of prompts
            ctx.log(f"{batch.name}: {judged} pairs judged by simulated annotators")
            summary[batch.name] = {"pairs_ready": ready, "judged": judged}
        _finish(ctx, batches, summary)


def _generate(ctx: JobContext, batch: PromptBatch, wanted: int, progress: _Progress) -> int:
    """Make `wanted` pairs ready to lease (fewer if the prompts run out); returns how many."""
    missing = wanted - _ready(batch) - _coming(batch)
    requested = pairs_request_unused(batch_id=batch.pk, count=missing) if missing > 0 else 0
    ctx.log(f"{batch.name}: {requested} more pairs requested from the model")
    while (ready := min(_ready(batch), wanted)) < wanted and _coming(batch):
        detail = f"{batch.name}: {ready} of {wanted} pairs ready"
        progress.report(detail, ready)
        with _heartbeat(progress.job, detail):
            claimed = pairs_generate_pending(batch_id=batch.pk)
        if not claimed:
            time.sleep(WAIT_SECONDS)  # another worker is generating them
    progress.done += ready
    return ready


def _finish(ctx: JobContext, batches: list[PromptBatch], summary: dict) -> None:
    judgments = Judgment.objects.filter(pair__batch__in=batches)
    ctx.save_snapshot(
        {
            "batches": [b.pk for b in batches],
            "judgments_through": judgments.aggregate(last=Max("id"))["last"] or 0,
            "by_stage": dict(
                judgments.values_list("pair__batch__stage").annotate(n=Count("id")).order_by()
            ),
        }
    )
    (ctx.work_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    ctx.output_dir = f"{ctx.root}/work"
