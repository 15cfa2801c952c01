"""Every periodic task is safe to run concurrently (two beats, a slow tick overlapping the
next, a manual run): started at once from several threads on the harness's PostgreSQL, each
one's effect happens once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count, F
from django.utils import timezone

from annotation.models import Assignment, PromptSource, ResponsePair
from annotation.tasks import refill_stocks, requeue_stale_pairs
from annotation.workspace.tasks import expire_leases
from tests.annotation.factories import (
    AssignmentFactory,
    BatchFactory,
    JudgmentFactory,
    PairFactory,
    PromptFactory,
)
from training_jobs.models import Job
from training_jobs.tasks import retrain_reward_models
from work.models import OutboxMessage, WorkState
from work.running import work_claim
from work.sending import outbox_call
from work.tasks import sweep_work

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 4


def at_once(task, *args, **kwargs) -> list:
    """Run `task` in THREADS threads released together; returns their results."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS
    errors: list = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = task(*args, **kwargs)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_the_schedule_has_no_task_this_file_does_not_run():
    covered = {
        "annotation.tasks.refill_stocks",
        "annotation.tasks.requeue_stale_pairs",
        "annotation.workspace.tasks.expire_leases",
        "work.tasks.sweep_work",
        "training_jobs.tasks.retrain_reward_models",
    }
    assert {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()} <= covered


def test_overlapping_refills_make_one_pair_per_prompt(settings, redis_url):
    settings.MARGIN_GENERATION = {**settings.MARGIN_GENERATION, "MIN_STOCK": 6}
    batch = BatchFactory(prompt_source=PromptSource.IMPORTED)
    PromptFactory.create_batch(40, batch=batch)
    for round_ in range(1, 4):
        assert sum(at_once(refill_stocks)) == 6
        assert batch.pairs.count() == 6 * round_
        batch.pairs.update(taken=F("overlap"))  # all taken: the stock is empty again
    per_prompt = batch.pairs.values("prompt").annotate(n=Count("id")).filter(n__gt=1)
    assert not per_prompt.exists()
    assert OutboxMessage.objects.filter(task="annotation.tasks.generate_pending_pairs").exists()


def test_overlapping_stale_pair_sweeps_requeue_each_pair_once(redis_url):
    old = timezone.now() - timedelta(hours=1)
    PairFactory.create_batch(
        5, status=ResponsePair.Status.GENERATING, claimed_at=old, response_a=None, response_b=None
    )
    assert sum(at_once(requeue_stale_pairs)) == 5
    assert ResponsePair.objects.filter(status=ResponsePair.Status.PENDING).count() == 5


def test_overlapping_lease_expiries_give_each_pair_back_once(redis_url):
    past = timezone.now() - timedelta(minutes=1)
    for _ in range(6):
        AssignmentFactory(pair=PairFactory(overlap=2, taken=1), expires_at=past)
    assert sum(at_once(expire_leases)) == 6
    assert Assignment.objects.filter(status=Assignment.Status.EXPIRED).count() == 6
    assert set(ResponsePair.objects.values_list("taken", flat=True)) == {0}


def test_overlapping_sweeps_settle_each_lost_run_once(settings, redis_url):
    settings.MARGIN_WORK = {**settings.MARGIN_WORK, "HEARTBEAT_TIMEOUT_SECONDS": 60}
    for _ in range(5):
        message = outbox_call("annotation.workspace.tasks.expire_leases")
        work_claim(model=OutboxMessage, pk=message.pk, attempt=1)
    OutboxMessage.objects.update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    reports = at_once(sweep_work)
    assert sum(r["work.outboxmessage"]["retried"] for r in reports) == 5
    assert set(OutboxMessage.objects.values_list("state", "attempts")) == {(WorkState.QUEUED, 2)}


def test_overlapping_retrain_checks_start_one_job_per_reward_model(redis_url):
    JudgmentFactory.create_batch(4, pair__batch=BatchFactory(stage="helpfulness"))
    started = at_once(retrain_reward_models, min_new_judgments=3)
    assert len({pk for pks in started for pk in pks}) == 2
    assert sorted(Job.objects.values_list("kind", flat=True)) == [
        "reward_helpfulness",
        "reward_safety",
    ]
