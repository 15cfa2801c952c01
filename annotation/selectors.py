"""Reads, scoped to what the asking user may see."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from . import roles
from .models import ExportJob, Judgment, Prompt, PromptBatch, ResponsePair


def batches_visible_to(user: AbstractBaseUser) -> QuerySet[PromptBatch]:
    batches = PromptBatch.objects.all()
    if roles.is_ml_engineer(user):
        return batches
    return batches.filter(status=PromptBatch.Status.OPEN)


def prompts_of_batch(batch: PromptBatch) -> QuerySet[Prompt]:
    return batch.prompts.order_by("id")


def pairs_list(*, batch_id: int | None = None, status: str | None = None) -> QuerySet[ResponsePair]:
    pairs = ResponsePair.objects.select_related("response_a", "response_b").order_by("id")
    if batch_id:
        pairs = pairs.filter(batch_id=batch_id)
    if status:
        pairs = pairs.filter(status=status)
    return pairs


def judgments_list(*, batch_id: int | None = None, stage: str | None = None) -> QuerySet[Judgment]:
    judgments = Judgment.objects.order_by("id")
    if batch_id:
        judgments = judgments.filter(pair__batch_id=batch_id)
    if stage:
        judgments = judgments.filter(pair__batch__stage=stage)
    return judgments


def export_jobs() -> QuerySet[ExportJob]:
    return ExportJob.objects.order_by("-created_at")
