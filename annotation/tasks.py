"""Thin Celery tasks: each takes ids and calls one service."""

from celery import shared_task

from .models import PromptBatch
from .workspace.tasks import expire_leases

__all__ = ["expire_leases"]


@shared_task
def run_export(export_id: int, attempt: int) -> str:
    from .exports import export_job_run

    job = export_job_run(export_id=export_id, attempt=attempt)
    return "skipped: not queued for this attempt" if job is None else job.state


@shared_task
def generate_pending_pairs(batch_id: int) -> int:
    """Generate one batched round of the batch's due pairs; chain another if more are due."""
    from .generation import enqueue_generation, pairs_generate_pending

    claimed = pairs_generate_pending(batch_id=batch_id)
    if claimed:
        enqueue_generation(batch_id)
    return claimed


@shared_task
def refill_stocks() -> int:
    from .generation import stock_refill

    open_batches = PromptBatch.objects.filter(status=PromptBatch.Status.OPEN)
    return sum(stock_refill(batch_id=pk) for pk in open_batches.values_list("pk", flat=True))


@shared_task
def requeue_stale_pairs() -> int:
    from .generation import pairs_requeue_stale

    return pairs_requeue_stale()
