from celery import shared_task


@shared_task
def expire_leases() -> int:
    """Return the pairs of leases nobody submitted in time (run by beat every minute)."""
    from .services import assignments_expire

    return assignments_expire()
