"""Score responses with a reward-model version in the background."""

from celery import shared_task


@shared_task
def score_responses(version_id: int, batch_id: int | None = None) -> int:
    from .services import responses_score

    return responses_score(version_id=version_id, batch_id=batch_id)
