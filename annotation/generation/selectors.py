"""What the generation status page shows: stock per batch, throughput per variant, errors."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from ..models import PromptBatch, Response, ResponsePair

Status = ResponsePair.Status


@dataclass(frozen=True)
class BatchStock:
    batch: PromptBatch
    pending: int
    generating: int
    ready: int
    failed: int
    done: int
    available: int


def stock_by_batch() -> list[BatchStock]:
    counts = {
        status: Count("pairs", filter=Q(pairs__status=status))
        for status in ("pending", "generating", "ready", "failed", "done")
    }
    available = Count(
        "pairs", filter=Q(pairs__status=Status.READY, pairs__taken__lt=F("pairs__overlap"))
    )
    batches = (
        PromptBatch.objects.filter(status=PromptBatch.Status.OPEN)
        .annotate(**counts, available=available)
        .order_by("-ordinal", "name")
    )
    return [
        BatchStock(
            batch=b,
            pending=b.pending,
            generating=b.generating,
            ready=b.ready,
            failed=b.failed,
            done=b.done,
            available=b.available,
        )
        for b in batches
    ]


def throughput_by_variant(hours: int = 1) -> list[dict]:
    """Completion tokens and tokens per second of generation time, per variant label."""
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        Response.objects.filter(variant_label__gt="", generation_seconds__gt=0)
        .filter(Q(pair_a__generated_at__gte=since) | Q(pair_b__generated_at__gte=since))
        .values("variant_label")
        .annotate(
            responses=Count("id"),
            tokens=Sum("completion_tokens"),
            seconds=Sum("generation_seconds"),
        )
        .order_by("variant_label")
    )
    return [
        {**row, "tokens_per_second": (row["tokens"] or 0) / row["seconds"] if row["seconds"] else 0}
        for row in rows
    ]


def recent_failures(limit: int = 20):
    return (
        ResponsePair.objects.filter(status=Status.FAILED)
        .select_related("batch")
        .order_by("-next_attempt_at")[:limit]
    )
