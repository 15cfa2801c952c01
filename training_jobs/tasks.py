"""Thin Celery tasks: ids in, one service or runner call, state kept in the job row."""

import logging

from celery import shared_task

from .quality.tasks import score_responses

__all__ = [
    "advance_demo_loop",
    "retrain_reward_models",
    "run_job",
    "score_responses",
    "sweep_jobs",
]
# How often a running demo loop looks whether its current step is done.
DEMO_LOOP_POLL_SECONDS = 5

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int, attempt: int) -> str:
    from .runners import RUNNERS
    from .runners.context import JobCancelled, JobContext
    from .services import job_claim, job_fail, job_mark_cancelled, job_succeed

    job = job_claim(job_id=job_id, attempt=attempt)
    if job is None:
        return "skipped: not queued for this attempt"
    context = JobContext(job)
    try:
        RUNNERS[job.kind].run(job, context)
    except JobCancelled:
        job_mark_cancelled(job_id=job_id)
        return "cancelled"
    except Exception as exc:
        logger.exception("job %s failed", job_id)
        job_fail(job_id=job_id, reason=f"{type(exc).__name__}: {exc}")
        return "failed"
    job_succeed(job_id=job_id, output_dir=context.output_dir, data_snapshot=job.data_snapshot)
    return "succeeded"


@shared_task
def sweep_jobs() -> dict:
    from .services import jobs_sweep

    return jobs_sweep()


@shared_task
def retrain_reward_models(min_new_judgments: int = 1000, params: dict | None = None) -> list[int]:
    from .services.retrain import reward_models_retrain_if_due

    jobs = reward_models_retrain_if_due(min_new_judgments=min_new_judgments, params=params)
    return [job.pk for job in jobs]


@shared_task
def advance_demo_loop(iteration_id: int) -> str:
    """Start the demo loop's next step when its last one succeeded; look again in a few
    seconds while the loop runs (a lost message is harmless: "Continue" re-sends it)."""
    from .models import Iteration
    from .services.demo_loop import demo_loop_advance

    iteration = Iteration.objects.filter(pk=iteration_id).first()
    state = demo_loop_advance(iteration=iteration) if iteration else None
    if state is None or not state.running:
        return "stopped" if state is None or state.failed else "done"
    advance_demo_loop.apply_async(args=[iteration_id], countdown=DEMO_LOOP_POLL_SECONDS)
    return f"step {state.current} of {len(state.steps)}"
