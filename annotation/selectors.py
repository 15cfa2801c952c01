"""Reads, scoped to what the asking user may see."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

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


def _count(queryset: QuerySet, batch_field: str) -> Coalesce:
    rows = queryset.filter(**{batch_field: OuterRef("pk")}).values(batch_field)
    counted = rows.annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def batches_with_counts(batches: QuerySet[PromptBatch]) -> QuerySet[PromptBatch]:
    """Batches with what their pages show: `prompt_count`, pairs `ready_count` (to lease),
    `coming_count` (pending or generating), `failed_count`, and `judged_count` (judgments)."""
    pairs = ResponsePair.objects.filter(dialogue__isnull=True)
    Status = ResponsePair.Status
    return batches.annotate(
        prompt_count=_count(Prompt.objects.all(), "batch"),
        ready_count=_count(pairs.filter(status=Status.READY, taken__lt=F("overlap")), "batch"),
        coming_count=_count(
            ResponsePair.objects.filter(Q(status=Status.PENDING) | Q(status=Status.GENERATING)),
            "batch",
        ),
        failed_count=_count(ResponsePair.objects.filter(status=Status.FAILED), "batch"),
        judged_count=_count(Judgment.objects.all(), "pair__batch"),
    )
