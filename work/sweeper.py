"""The sweeper: for every kind of queued work, send again what never reached the broker or
was lost there, and settle runs whose worker stopped beating (retry or fail, with a reason).
Every move is conditional, so two sweepers at once (two beats, a manual run) are harmless."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import LostPolicy, OutboxMessage, QueuedWork, WorkState
from .sending import Sent, work_enqueue, work_label, work_send

logger = logging.getLogger(__name__)
BATCH = 500


def work_models() -> list[type[QueuedWork]]:
    """Every concrete kind of queued work in the project."""
    return [m for m in apps.get_models() if issubclass(m, QueuedWork)]


def resend_after(sends: int) -> timedelta:
    """How long a sent attempt may wait for a worker before its message counts as lost:
    doubling with each send, so a long queue gets few duplicates (each one is skipped)."""
    limits = settings.MARGIN_WORK
    seconds = limits["RESEND_AFTER_SECONDS"] * 2 ** max(sends - 1, 0)
    return timedelta(seconds=min(seconds, limits["RESEND_MAX_SECONDS"]))


class BrokerDown(Exception):
    """The broker refused a send: the rest waits for the next sweep."""


def _resend(model: type[QueuedWork], now: datetime) -> int:
    unsent_grace = timedelta(seconds=settings.MARGIN_WORK["UNSENT_RETRY_SECONDS"])
    queued = model.objects.filter(state=WorkState.QUEUED)
    unsent = queued.filter(enqueued_at__isnull=True).filter(
        Q(queued_at__lt=now - unsent_grace) | Q(queued_at__isnull=True)
    )
    sent = [
        (pk, attempt)
        for pk, attempt, sends, at in queued.filter(enqueued_at__isnull=False)
        .order_by("enqueued_at")
        .values_list("pk", "attempts", "sends", "enqueued_at")[:BATCH]
        if at < now - resend_after(sends)
    ]
    due = list(unsent.order_by("pk").values_list("pk", "attempts")[:BATCH]) + sent
    resent = 0
    for pk, attempt in due:
        sent = work_send(model=model, pk=pk, attempt=attempt)
        if sent == Sent.REFUSED:  # one try per sweep while the broker is away, not one per row
            raise BrokerDown(resent)
        resent += sent == Sent.SENT
    return resent


def _lost_reason(row: QueuedWork) -> str:
    since = f"{row.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if row.heartbeat_at else "its claim"
    return (
        f"The worker stopped: no heartbeat from {row.worker_host or 'the worker'} "
        f"(pid {row.worker_pid}) since {since}."
    )


def _requeue(still_lost, row: QueuedWork, reason: str, now: datetime) -> bool | None:
    """Queue a lost run again as its next attempt. None when a waiting row with the same
    outbox key already does the work (the unique key refuses a second one)."""
    try:
        with transaction.atomic():
            return bool(
                still_lost.update(
                    state=WorkState.QUEUED,
                    attempts=F("attempts") + 1,
                    sends=0,
                    queued_at=now,
                    enqueued_at=None,
                    started_at=None,
                    error=f"{reason} Queued again "
                    f"(attempt {row.attempts + 1} of {row.max_attempts}).",
                )
            )
    except IntegrityError:
        return None


def _settle_lost(model: type[QueuedWork], now: datetime) -> tuple[int, int]:
    cutoff = now - timedelta(seconds=settings.MARGIN_WORK["HEARTBEAT_TIMEOUT_SECONDS"])
    lost = model.objects.filter(state=WorkState.RUNNING, heartbeat_at__lt=cutoff)
    retried = failed = 0
    for row in lost.order_by("pk")[:BATCH]:
        reason = _lost_reason(row)
        still_lost = model.objects.filter(
            pk=row.pk, state=WorkState.RUNNING, attempts=row.attempts, heartbeat_at__lt=cutoff
        )
        advice = f" {row.lost_advice}" if row.lost_advice else ""
        if row.lost_policy == LostPolicy.RETRY and row.attempts < row.max_attempts:
            moved = _requeue(still_lost, row, reason, now)
            if moved:
                row.refresh_from_db()
                row.on_lost()
                work_enqueue(row)
                retried += 1
            if moved is not None:
                continue
            advice = " A waiting message with the same key does its work."
        elif row.lost_policy == LostPolicy.RETRY:
            advice = f" Gave up after {row.attempts} attempts.{advice}"
        if still_lost.update(
            state=WorkState.FAILED, finished_at=now, error=f"{reason}{advice}"[:5000]
        ):
            row.on_lost()
            failed += 1
    return retried, failed


def _prune(now: datetime) -> int:
    keep = timedelta(days=settings.MARGIN_WORK["KEEP_FINISHED_DAYS"])
    finished = OutboxMessage.objects.filter(
        state__in=[WorkState.SUCCEEDED, WorkState.FAILED, WorkState.CANCELLED],
        finished_at__lt=now - keep,
    )
    return finished.delete()[0]


def work_sweep() -> dict[str, dict[str, int]]:
    """Sweep every kind of queued work once; returns what was done, by kind."""
    now = timezone.now()
    report: dict[str, dict[str, int]] = {}
    broker_down = False
    for model in work_models():
        retried, failed = _settle_lost(model, now)
        resent = 0
        if not broker_down:
            try:
                resent = _resend(model, now)
            except BrokerDown as down:
                resent, broker_down = down.args[0], True
        report[work_label(model)] = {"resent": resent, "retried": retried, "failed": failed}
        if resent or retried or failed:
            logger.info("swept %s: %s", work_label(model), report[work_label(model)])
    report["pruned"] = {"outbox": _prune(now)}
    return report
