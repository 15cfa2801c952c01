"""Job state moves. Each is a conditional update, so a re-delivered task, a second beat
process or a double click finds the row already moved and does nothing. Sending, claiming,
heartbeats and the sweeper are those of every kind of queued work (work/)."""

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.errors import ApplicationError
from mlcore.dialogue import RowInvalid, check_json
from work.running import work_claim, work_finish
from work.sending import work_enqueue

from ..models import Iteration, Job, JobKind, JobState

logger = logging.getLogger(__name__)
GPU_KINDS = {
    JobKind.REWARD_HELPFULNESS,
    JobKind.REWARD_SAFETY,
    JobKind.REJECTION_SAMPLING,
    JobKind.EVALUATION,
    JobKind.PPO,
}
LOG_KEEP_CHARS = 20_000


class JobError(ApplicationError):
    """What was asked of a job or a version conflicts with its state (the API answers 409)."""

    status_code = 409


def _queue_for(kind: str, params: dict[str, Any]) -> str:
    device = params.get("device") or settings.MARGIN_JOBS["TRAINING_DEVICE"]
    return "gpu" if kind in GPU_KINDS and device == "gpu" else "default"


def job_create(
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    iteration: Iteration | None = None,
    user: AbstractBaseUser | None = None,
    request_key: str | None = None,
) -> Job:
    """Record a job and enqueue it on commit. The same `request_key` twice returns the first.

    Raises ValidationError for a kind Margin cannot run or parameters its runner refuses."""
    from ..runners import RUNNERS

    if kind not in RUNNERS:
        raise ValidationError(
            {"kind": f"Margin cannot run {kind!r} jobs; choose one of {', '.join(RUNNERS)}."}
        )
    params = dict(params or {})
    try:
        check_json(params, "params")
        RUNNERS[kind].validate(params)
    except RowInvalid as exc:
        raise ValidationError({"params": str(exc)}) from None
    except ValidationError as exc:
        raise ValidationError({"params": exc.messages}) from exc
    if request_key:
        existing = Job.objects.filter(request_key=request_key).first()
        if existing:
            return existing
    job = Job(
        kind=kind,
        params=params,
        iteration=iteration,
        created_by=user,
        request_key=request_key,
        queue=_queue_for(kind, params),
        attempts=1,
        queued_at=timezone.now(),
    )
    job.full_clean(exclude=["request_key"])
    try:
        with transaction.atomic():
            job.save()
            work_enqueue(job)
    except IntegrityError:
        if request_key:
            return Job.objects.get(request_key=request_key)
        raise
    return job


def job_claim(*, job_id: int, attempt: int) -> Job | None:
    """queued -> running for this attempt only; a stale or repeated delivery gets None."""
    return work_claim(model=Job, pk=job_id, attempt=attempt, progress=0.0)


def job_progress(
    *,
    job_id: int,
    progress: float | None = None,
    detail: str = "",
    log_append: str = "",
    metrics: dict[str, Any] | None = None,
) -> bool:
    """Heartbeat with progress (and, when given, the whole metric series: see
    runners/metrics.py); returns True when the job must stop: a cancel was requested, or the
    job no longer runs (the sweeper took its worker as lost)."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = min(max(progress, 0.0), 1.0)
    if detail:
        fields["progress_detail"] = detail[:300]
    if metrics is not None:
        fields["metrics"] = metrics
    with transaction.atomic():
        job = (
            Job.objects.select_for_update().only("log", "cancel_requested", "state").get(pk=job_id)
        )
        if log_append:
            fields["log"] = (job.log + log_append)[-LOG_KEEP_CHARS:]
        Job.objects.filter(pk=job_id, state=JobState.RUNNING).update(**fields)
    return job.cancel_requested or job.state != JobState.RUNNING


def _finish(job_id: int, state: str, attempt: int | None, **fields: Any) -> bool:
    """running -> final; with `attempt`, only while that attempt still owns the job."""
    if attempt is not None:
        return work_finish(model=Job, pk=job_id, attempt=attempt, state=state, **fields)
    return bool(
        Job.objects.filter(pk=job_id, state=JobState.RUNNING).update(
            state=state, finished_at=timezone.now(), **fields
        )
    )


def job_succeed(
    *,
    job_id: int,
    output_dir: str,
    data_snapshot: dict | None = None,
    attempt: int | None = None,
) -> bool:
    extra = {"data_snapshot": data_snapshot} if data_snapshot is not None else {}
    return _finish(
        job_id,
        JobState.SUCCEEDED,
        attempt,
        output_dir=output_dir,
        progress=1.0,
        error="",
        **extra,
    )


def job_fail(*, job_id: int, reason: str, attempt: int | None = None) -> bool:
    return _finish(job_id, JobState.FAILED, attempt, error=reason[:5000])


def job_mark_cancelled(*, job_id: int, attempt: int | None = None) -> bool:
    """The worker stopped a running job on request."""
    return _finish(job_id, JobState.CANCELLED, attempt, error="Cancelled on request.")


@transaction.atomic
def job_cancel(*, job: Job) -> Job:
    """A queued job is cancelled at once; a running one is stopped by its worker."""
    now = timezone.now()
    Job.objects.filter(pk=job.pk, state=JobState.QUEUED).update(
        state=JobState.CANCELLED, finished_at=now, cancel_requested=True
    )
    Job.objects.filter(pk=job.pk, state=JobState.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    return job


@transaction.atomic
def job_retry(*, job: Job) -> Job:
    """Run a failed or cancelled job again (reward-model training resumes from its newest
    complete checkpoint)."""
    moved = Job.objects.filter(pk=job.pk, state__in=[JobState.FAILED, JobState.CANCELLED]).update(
        state=JobState.QUEUED,
        attempts=F("attempts") + 1,
        cancel_requested=False,
        finished_at=None,
        queued_at=timezone.now(),
        enqueued_at=None,
        sends=0,
        progress=0.0,
        progress_detail="",
    )
    job.refresh_from_db()
    if not moved:
        raise JobError(f"Job {job.pk} is {job.state}; only failed or cancelled jobs are retried.")
    work_enqueue(job)
    return job
