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


@dataclass(frozen=True)
class PairWait:
    """How long the next pair of a batch (or one given pair) is likely to take.

    `warming_up`: no pair of this batch has been generated yet (the worker may still be
    starting and loading the model). `seconds_left`: the typical time from request (or claim)
    to ready, minus the time already waited, never below 0. `overdue`: it has taken longer than
    that (a busy machine, or no worker running).
    """

    warming_up: bool
    seconds_left: int
    overdue: bool
    generating: bool


RECENT = 20


def _typical_seconds(batch: PromptBatch) -> float | None:
    """Median seconds from claim to ready of the batch's recent pairs (of any batch when this
    one has none yet); None before the first pair of the site."""
    done = ResponsePair.objects.filter(
        status__in=[Status.READY, Status.DONE],
        claimed_at__isnull=False,
        generated_at__isnull=False,
    )
    for scope in (done.filter(batch=batch), done):
        spans = sorted(
            (generated - claimed).total_seconds()
            for claimed, generated in scope.order_by("-generated_at").values_list(
                "claimed_at", "generated_at"
            )[:RECENT]
        )
        if spans:
            return spans[len(spans) // 2]
    return None


def pair_wait(*, batch: PromptBatch, pair: ResponsePair | None = None) -> PairWait | None:
    """The expected wait for `pair`, or for the first queue pair of `batch` on its way;
    None when none is on its way (pending, generating or failed and due again)."""
    from django.conf import settings

    if pair is None:
        on_its_way = Q(status__in=[Status.PENDING, Status.GENERATING]) | Q(
            status=Status.FAILED, next_attempt_at__isnull=False
        )
        pair = (
            ResponsePair.objects.filter(on_its_way, batch=batch, dialogue__isnull=True)
            .order_by("claimed_at", "created_at", "id")
            .first()
        )
    if pair is None or pair.status in (Status.READY, Status.DONE):
        return None
    if pair.status == Status.FAILED and pair.next_attempt_at is None:
        return None
    warming_up = not batch.pairs.filter(generated_at__isnull=False).exists()
    typical = _typical_seconds(batch)
    if typical is None or warming_up:
        typical = max(typical or 0.0, settings.MARGIN_GENERATION["FIRST_PAIR_SECONDS"])
    generating = pair.status == Status.GENERATING and pair.claimed_at is not None
    started = pair.claimed_at if generating else pair.created_at
    if pair.status == Status.FAILED and pair.next_attempt_at:
        started = pair.next_attempt_at  # it is tried again then
    waited = (timezone.now() - started).total_seconds()
    left = typical - waited
    return PairWait(
        warming_up=warming_up,
        seconds_left=max(0, round(left)),
        overdue=left < 0,
        generating=generating,
    )
