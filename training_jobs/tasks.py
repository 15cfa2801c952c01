"""Thin Celery tasks: ids in, one service or runner call, state kept in the job row."""

import logging

from celery import shared_task

from .quality.tasks import score_responses

__all__ = [
    "retrain_reward_models",
    "run_job",
    "score_responses",
]

logger = logging.getLogger(__name__)


@shared_task
def run_job(job_id: int, attempt: int) -> str:
    """Run one attempt of a job. Its heartbeat beats from the claim to the end, whatever the
    runner does meanwhile (exporting data, loading, a core's subprocess)."""
    from work.running import Heartbeat

    from .runners import RUNNERS
    from .runners.context import JobCancelled, JobContext
    from .services import (
        demo_loop_after_job,
        job_claim,
        job_fail,
        job_mark_cancelled,
        job_succeed,
    )

    job = job_claim(job_id=job_id, attempt=attempt)
    if job is None:
        return "skipped: not queued for this attempt"
    with Heartbeat(job):
        context = JobContext(job)
        try:
            RUNNERS[job.kind].run(job, context)
        except JobCancelled:
            job_mark_cancelled(job_id=job_id, attempt=attempt)
            return "cancelled"
        except Exception as exc:
            logger.exception("job %s failed", job_id)
            job_fail(job_id=job_id, attempt=attempt, reason=f"{type(exc).__name__}: {exc}")
            return "failed"
        job_succeed(
            job_id=job_id,
            attempt=attempt,
            output_dir=context.output_dir,
            data_snapshot=job.data_snapshot,
        )
    demo_loop_after_job(job_id=job_id)  # a step of the demo loop starts the next one
    return "succeeded"


@shared_task
def retrain_reward_models(min_new_judgments: int = 1000, params: dict | None = None) -> list[int]:
    from .services.retrain import reward_models_retrain_if_due

    jobs = reward_models_retrain_if_due(min_new_judgments=min_new_judgments, params=params)
    return [job.pk for job in jobs]
