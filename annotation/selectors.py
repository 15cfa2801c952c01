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


def pairs_list() -> QuerySet[ResponsePair]:
    """Every pair, oldest first (the API narrows it with annotation.filters.PairFilter)."""
    return ResponsePair.objects.select_related("response_a", "response_b").order_by("id")


def judgments_list() -> QuerySet[Judgment]:
    """Every judgment, oldest first (narrowed by annotation.filters.JudgmentFilter)."""
    return Judgment.objects.order_by("id")


def export_jobs() -> QuerySet[ExportJob]:
    return ExportJob.objects.order_by("-created_at")
