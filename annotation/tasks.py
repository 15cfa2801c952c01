from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_export(export_id: int) -> None:
    from .exports import export_job_run

    export_job_run(export_id)
