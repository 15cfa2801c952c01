"""Periodic retraining: when enough new judgments have arrived since the newest reward model
of a kind, export and retrain it. The request key makes a second beat process (or a second
tick before the first job finished) find the same job instead of starting another."""

from django.db.models import Max

from annotation.exports import ExportFilters
from annotation.models import Judgment

from ..models import Job, JobKind, JobState, ModelVersion
from .jobs import job_create

KINDS = (JobKind.REWARD_HELPFULNESS, JobKind.REWARD_SAFETY)


def _trained_through(kind: str) -> int:
    """Newest judgment id covered by a model or by a job still on its way to one."""
    models = ModelVersion.objects.filter(kind=kind).aggregate(m=Max("judgments_through"))["m"]
    pending = Job.objects.filter(kind=kind, state__in=[JobState.QUEUED, JobState.RUNNING])
    in_flight = max((int(j.request_key.rsplit(":", 1)[1]) for j in pending if _auto(j)), default=0)
    return max(models or 0, in_flight)


def _auto(job: Job) -> bool:
    return bool(job.request_key and job.request_key.startswith("retrain:"))


def reward_models_retrain_if_due(
    *, min_new_judgments: int, params: dict | None = None
) -> list[Job]:
    """Start a retraining job for each reward-model kind with at least `min_new_judgments`
    judgments newer than what its newest version (or a job in flight) was trained on."""
    judgments = ExportFilters(for_reward_model=True).apply(Judgment.objects.all())
    newest = judgments.aggregate(last=Max("id"))["last"] or 0
    started = []
    for kind in KINDS:
        since = _trained_through(kind)
        if judgments.filter(id__gt=since).count() < min_new_judgments:
            continue
        job = job_create(
            kind=kind, params=dict(params or {}), request_key=f"retrain:{kind}:{newest}"
        )
        started.append(job)
    return started
