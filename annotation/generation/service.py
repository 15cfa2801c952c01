from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Q, Value, When
from django.utils import timezone

import inference
from mlcore.dialogue import RowInvalid, check_text

from ..models import ModelVariant, Prompt, PromptBatch, PromptSource, Response, ResponsePair
from .backends import backend_for, temperatures_for, variants_for
from .requests import enqueue_generation

Status = ResponsePair.Status


def _due(now) -> Q:
    return Q(status=Status.PENDING) | Q(status=Status.FAILED, next_attempt_at__lte=now)


def _claim(batch: PromptBatch, limit: int) -> list[ResponsePair]:
    """Move up to `limit` due pairs to generating, follow-up turns of dialogues first.
    A conditional update per row makes a second worker skip what the first one took."""
    now = timezone.now()
    follow_ups_first = Case(
        When(dialogue__isnull=False, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    candidates = (
        ResponsePair.objects.filter(_due(now), batch=batch)
        .order_by(follow_ups_first, "id")
        .values_list("id", "status")[: limit * 2]
    )
    claimed = []
    for pair_id, status in candidates:
        moved = ResponsePair.objects.filter(pk=pair_id, status=status).update(
            status=Status.GENERATING,
            attempts=F("attempts") + 1,
            next_attempt_at=None,
            claimed_at=now,
        )
        if moved:
            claimed.append(pair_id)
        if len(claimed) == limit:
            break
    return list(ResponsePair.objects.filter(pk__in=claimed).order_by("id"))


def _backoff(attempts: int) -> timedelta:
    base = settings.MARGIN_GENERATION["RETRY_BASE_SECONDS"]
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 600))


def _mine(pair: ResponsePair):
    """The pair while this claim still holds it (a pair requeued as stale and claimed again
    meanwhile belongs to the newer claim)."""
    return ResponsePair.objects.filter(pk=pair.pk, status=Status.GENERATING, attempts=pair.attempts)


def _record_failure(pairs: list[ResponsePair], error: Exception) -> None:
    reason = f"{type(error).__name__}: {error}"[:500]
    now = timezone.now()
    for pair in pairs:
        _mine(pair).update(
            status=Status.FAILED, last_error=reason, next_attempt_at=now + _backoff(pair.attempts)
        )


def _response(sample: inference.Sample, variants: dict[str, ModelVariant]) -> Response:
    record = sample.record()
    return Response(
        text=record["text"],
        variant=variants.get(sample.variant),
        variant_label=sample.variant,
        temperature=record["temperature"],
        top_p=record["top_p"],
        seed=record["seed"],
        prompt_tokens=record["prompt_tokens"],
        completion_tokens=record["completion_tokens"],
        generation_seconds=record["seconds"],
        finish_reason=record["finish_reason"] or "",
    )


@transaction.atomic
def _store(pairs: list[ResponsePair], sampled: list[inference.Pair]) -> None:
    rows = {v.label: v for v in ModelVariant.objects.filter(label__in=_labels(sampled))}
    now = timezone.now()
    for pair, result in zip(pairs, sampled, strict=True):
        response_a = _response(result.a, rows)
        response_b = _response(result.b, rows)
        Response.objects.bulk_create([response_a, response_b])
        stored = _mine(pair).update(
            response_a=response_a,
            response_b=response_b,
            status=Status.READY,
            last_error="",
            generated_at=now,
            context_truncated=max(
                result.a.completion.dropped_turns, result.b.completion.dropped_turns
            )
            > 0,
        )
        if not stored:  # a newer claim owns the pair now: its responses count, not these
            Response.objects.filter(pk__in=[response_a.pk, response_b.pk]).delete()


def _labels(sampled: list[inference.Pair]) -> set[str]:
    return {s.variant for pair in sampled for s in (pair.a, pair.b)}


def _round_size(batch: PromptBatch, limit: int | None) -> int:
    """`limit` when given; else a batch with nothing ready to judge gets its first pair alone
    (ready in the time of one pair, not of a whole round), then rounds of BATCH_SIZE."""
    if limit:
        return limit
    generation = settings.MARGIN_GENERATION
    if batch.pairs.filter(status=Status.READY, dialogue__isnull=True).exists():
        return generation["BATCH_SIZE"]
    return min(generation["BATCH_SIZE"], generation["FIRST_ROUND_SIZE"])


def pairs_generate_pending(*, batch_id: int, limit: int | None = None) -> int:
    """Generate up to `limit` due pairs of a batch in one batched call (default: see
    `_round_size`). Returns how many were claimed; failures are recorded on the pairs (retried
    later with backoff)."""
    batch = PromptBatch.objects.prefetch_related("variants").get(pk=batch_id)
    pairs = _claim(batch, _round_size(batch, limit))
    if not pairs:
        return 0
    try:
        backends = {v.label: backend_for(v) for v in variants_for(batch)}
        policy = inference.PairPolicy(
            temperature_range=(batch.temperature_min, batch.temperature_max),
            top_p=batch.top_p,
            max_tokens=batch.max_new_tokens,
            variant_temperatures=temperatures_for(batch),
        )
        sampled = inference.sample_pairs([p.context for p in pairs], backends, policy)
    except Exception as error:  # any failure must leave a visible, retryable state
        _record_failure(pairs, error)
        return len(pairs)
    kept = []
    for pair, result in zip(pairs, sampled, strict=True):
        try:
            for side, sample in (("a", result.a), ("b", result.b)):
                check_text(sample.completion.text, f"response_{side}")
        except RowInvalid as error:  # e.g. a model that wrote U+0000: failed, never half-stored
            _record_failure([pair], UnstorableResponse(str(error)))
        else:
            kept.append((pair, result))
    if kept:
        _store([pair for pair, _ in kept], [result for _, result in kept])
    return len(pairs)


class UnstorableResponse(ValueError):
    """The model's text holds a character no database stores; the pair is retried later."""


def _active_annotators(batch: PromptBatch) -> int:
    since = timezone.now() - timedelta(minutes=15)
    return (
        batch.pairs.filter(assignments__leased_at__gte=since)
        .values("assignments__annotator")
        .distinct()
        .count()
    )


@transaction.atomic
def stock_refill(*, batch_id: int) -> int:
    """Keep an open imported-prompt batch's stock of unjudged pairs at its target depth
    (a few per active annotator). Returns how many pending pairs were created.

    The batch row is locked while the stock is counted and prompts are picked, so refills
    running at once (two beats, a slow tick overlapping the next) count one after the other
    and never make two pairs for one prompt."""
    batch = PromptBatch.objects.select_for_update().get(pk=batch_id)
    if batch.status != PromptBatch.Status.OPEN or batch.prompt_source != PromptSource.IMPORTED:
        return 0
    per_annotator = settings.MARGIN_GENERATION["STOCK_PER_ANNOTATOR"]
    target = max(settings.MARGIN_GENERATION["MIN_STOCK"], per_annotator * _active_annotators(batch))
    stock = batch.pairs.filter(
        dialogue__isnull=True,
        status__in=[Status.PENDING, Status.GENERATING, Status.READY, Status.FAILED],
        taken__lt=F("overlap"),
    ).count()
    missing = target - stock
    if missing <= 0:
        return 0
    return _request_unused(batch, missing)


def _request_unused(batch: PromptBatch, count: int) -> int:
    """Pending pairs for up to `count` prompts of the batch that have none yet, in prompt
    order; their generation is enqueued after commit. Returns how many were created."""
    prompts = list(
        Prompt.objects.filter(batch=batch)
        .annotate(used=Count("pairs"))
        .filter(used=0)
        .order_by("id")[:count]
    )
    ResponsePair.objects.bulk_create(
        ResponsePair(
            batch=batch,
            prompt=prompt,
            context=prompt.messages,
            turn=sum(1 for m in prompt.messages if m["role"] == "user"),
            overlap=batch.overlap,
            status=Status.PENDING,
        )
        for prompt in prompts
    )
    if prompts:
        enqueue_generation(batch.pk)
    return len(prompts)


def pairs_request_unused(*, batch_id: int, count: int) -> int:
    """Ask for pairs of `count` more unused prompts of an open batch (beyond the stock the
    refill keeps), e.g. for simulated annotators. Returns how many were requested."""
    batch = PromptBatch.objects.get(pk=batch_id)
    if batch.status != PromptBatch.Status.OPEN or count <= 0:
        return 0
    return _request_unused(batch, count)


def pairs_requeue_stale() -> int:
    """Pairs left generating by a killed worker go back to pending; batches with due pairs
    get a generation task. Returns how many pairs were requeued."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.MARGIN_GENERATION["STALE_SECONDS"])
    count = ResponsePair.objects.filter(status=Status.GENERATING, claimed_at__lt=stale).update(
        status=Status.PENDING, last_error="The worker stopped while generating; requeued."
    )
    due_batches = ResponsePair.objects.filter(_due(now)).values_list("batch_id", flat=True)
    with transaction.atomic():
        for batch_id in set(due_batches):
            enqueue_generation(batch_id)
    return count
