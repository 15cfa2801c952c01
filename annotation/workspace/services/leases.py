"""Leases: which annotator holds which pair, for how long, and giving pairs back.

The invariant is the database's: a pair's `taken` (leased or completed assignments) never
exceeds its `overlap` (CHECK constraint), and an annotator has one assignment per pair
(unique constraint). Every state move is a conditional update, so a retry, a second tab or a
second worker finds nothing left to do.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ...models import Assignment, PromptBatch, ResponsePair

LEASE_ATTEMPTS = 5
# How long a lease waits for pairs that other leases are taking at this moment (they commit
# in milliseconds), and how often it looks again.
LOCK_WAIT_SECONDS = 5.0
LOCK_POLL_SECONDS = 0.02

Status = Assignment.Status
PairStatus = ResponsePair.Status


def lease_seconds() -> int:
    return int(settings.MARGIN["LEASE_SECONDS"])


def _queue(*, batch: PromptBatch, annotator: AbstractBaseUser, gold: bool):
    return (
        ResponsePair.objects.filter(
            batch=batch,
            status=PairStatus.READY,
            dialogue__isnull=True,
            is_gold=gold,
            taken__lt=F("overlap"),
        )
        .exclude(assignments__annotator=annotator)
        .order_by("id")
    )


def _take(*, pair_id: int, annotator: AbstractBaseUser, now: datetime) -> Assignment | None:
    """Count one more taker on the pair and create the lease, or nothing if either refuses."""
    try:
        with transaction.atomic():
            taken = ResponsePair.objects.filter(
                pk=pair_id, status=PairStatus.READY, taken__lt=F("overlap")
            ).update(taken=F("taken") + 1)
            if not taken:
                return None
            return Assignment.objects.create(
                pair_id=pair_id,
                annotator=annotator,
                swapped=random.random() < 0.5,
                leased_at=now,
                expires_at=now + timedelta(seconds=lease_seconds()),
            )
    except IntegrityError:  # the same annotator took it a moment ago (another tab)
        return None


def _next_unlocked(queue) -> ResponsePair | None:
    """The first queued pair that no other lease is taking right now. When every queued pair is
    being taken at this moment (more annotators asking at once than pairs left), poll until one
    of those leases commits: "none ready" must mean none, not "all busy".

    The wait polls with SKIP LOCKED and never blocks on a row lock. A blocking `FOR UPDATE ...
    LIMIT 1` keeps the lock of a row that fails PostgreSQL's re-check (its slots went meanwhile)
    and moves on to the next row, so two leases waiting that way can each hold the row the other
    waits for: a deadlock.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        pair = queue.select_for_update(skip_locked=True, of=("self",)).first()
        if pair is not None or not queue.exists() or time.monotonic() >= deadline:
            return pair
        time.sleep(LOCK_POLL_SECONDS * random.uniform(0.5, 1.5))


@transaction.atomic
def assignment_lease_next(*, batch: PromptBatch, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease the next queued pair of `batch` to `annotator`, or None when none is ready.

    PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` lets concurrent annotators take different
    rows without waiting; the conditional `taken + 1` and the unique (pair, annotator) keep the
    guarantee on any database. Gold pairs come first at the batch's gold rate.
    """
    now = timezone.now()
    order = (
        [True, False] if batch.gold_rate and random.random() < batch.gold_rate else [False, True]
    )
    for expired_swept in (False, True):
        for gold in order:
            queue = _queue(batch=batch, annotator=annotator, gold=gold).select_related(
                "response_a", "response_b"
            )
            for _ in range(LEASE_ATTEMPTS):
                pair = _next_unlocked(queue)
                if pair is None:
                    break
                assignment = _take(pair_id=pair.pk, annotator=annotator, now=now)
                if assignment is not None:
                    pair.batch = batch
                    assignment.pair = pair
                    return assignment
        if expired_swept or not assignments_expire(batch=batch, now=now):
            return None
    return None


@transaction.atomic
def assignment_lease_pair(*, pair: ResponsePair, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease one given pair (the next turn of the annotator's own dialogue). An expired lease of
    the same annotator on it is taken up again."""
    now = timezone.now()
    existing = Assignment.objects.filter(pair=pair, annotator=annotator).first()
    if existing is None:
        return _take(pair_id=pair.pk, annotator=annotator, now=now)
    if existing.status != Status.EXPIRED:
        return existing
    with transaction.atomic():
        taken = ResponsePair.objects.filter(
            pk=pair.pk, status=PairStatus.READY, taken__lt=F("overlap")
        ).update(taken=F("taken") + 1)
        if not taken:
            return None
        Assignment.objects.filter(pk=existing.pk, status=Status.EXPIRED).update(
            status=Status.LEASED,
            leased_at=now,
            expires_at=now + timedelta(seconds=lease_seconds()),
        )
    existing.refresh_from_db()
    return existing


def assignment_renew(*, assignment: Assignment) -> None:
    """Restart the lease clock of a pair that is being shown now (a pair leased a moment ago
    keeps its clock)."""
    now = timezone.now()
    expires = now + timedelta(seconds=lease_seconds())
    if expires - assignment.expires_at < timedelta(seconds=30):
        return
    Assignment.objects.filter(pk=assignment.pk, status=Status.LEASED).update(expires_at=expires)
    assignment.expires_at = expires


@transaction.atomic
def assignments_expire(
    *, now: datetime | None = None, batch: PromptBatch | None = None, limit: int = 5000
) -> int:
    """Expire leases past `expires_at` and give each pair back exactly once. Returns how many."""
    now = now or timezone.now()
    stale = Assignment.objects.filter(status=Status.LEASED, expires_at__lte=now)
    if batch is not None:
        stale = stale.filter(pair__batch=batch)
    rows = list(
        stale.order_by("id")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("id", "pair_id")[:limit]
    )
    if not rows:
        return 0
    # The rows are locked and still leased (PostgreSQL re-checks the WHERE after the lock);
    # the status condition repeats it for databases without row locks.
    expired = Assignment.objects.filter(
        pk__in=[row[0] for row in rows], status=Status.LEASED
    ).update(status=Status.EXPIRED)
    if expired != len(rows):  # pragma: no cover - only without row locks, under a race
        raise transaction.TransactionManagementError("leases changed while expiring them")
    # Pairs in id order: two sweepers then lock shared pairs in the same order, never crosswise.
    for pair_id, count in sorted(Counter(pair_id for _, pair_id in rows).items()):
        ResponsePair.objects.filter(pk=pair_id, taken__gte=count).update(taken=F("taken") - count)
    return expired
