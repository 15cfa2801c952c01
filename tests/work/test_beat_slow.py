"""Two real `celery beat` processes on the harness's PostgreSQL and Redis for several ticks:
one fires each periodic task once per tick, the other stands by and takes over when the
first one dies; the intervals an admin set survive both starts; and a worker running those
ticks two at a time makes one queue pair per prompt."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from annotation.models import ModelVariant, PromptSource
from tests.annotation.factories import BatchFactory, PromptFactory
from tests.processes import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(300)]
HOLDS = "beat holds the lock"
SENT = "Sending due task"
REFILLED = re.compile(r"annotation\.tasks\.refill_stocks\[[^]]+\] succeeded")


def _every_second() -> None:
    """An admin sets every default periodic task to run each second."""
    second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    for name, entry in django_settings.CELERY_BEAT_SCHEDULE.items():
        PeriodicTask.objects.create(name=name, task=entry["task"], interval=second)


def _sent(redis_control) -> Counter:
    return Counter(message["task"] for message in redis_control.messages())


def test_two_beats_fire_each_periodic_task_once_per_tick(start_beat, redis_control):
    _every_second()
    beats = [start_beat(), start_beat()]
    wait_for(lambda: any(HOLDS in b.output() for b in beats), 120, "a beat to take the lock")
    wait_for(lambda: _sent(redis_control), 60, "the first tick")
    started, before = time.monotonic(), _sent(redis_control)
    time.sleep(10)
    ticks = time.monotonic() - started
    fired = _sent(redis_control) - before

    leaders = [b for b in beats if HOLDS in b.output()]
    assert len(leaders) == 1, [b.output()[-2000:] for b in beats]
    leader, standby = leaders[0], next(b for b in beats if b is not leaders[0])
    assert SENT not in standby.output()
    assert set(fired) == {e["task"] for e in django_settings.CELERY_BEAT_SCHEDULE.values()}
    for task, count in fired.items():  # a busy machine loses ticks; none fires twice in one
        assert ticks / 2 <= count <= ticks + 1, (task, count, ticks)

    leader.kill()  # the leader dies: its connection ends, PostgreSQL lets the lock go
    wait_for(lambda: HOLDS in standby.output(), 30, "the standby to take over")
    before = _sent(redis_control)

    def every_task_thrice() -> bool:
        since = _sent(redis_control) - before
        return set(since) == set(fired) and min(since.values()) >= 3

    wait_for(every_task_thrice, 60, "the standby to fire every task")
    assert SENT in standby.output()
    assert set(
        PeriodicTask.objects.filter(name__in=django_settings.CELERY_BEAT_SCHEDULE).values_list(
            "interval__every", flat=True
        )
    ) == {1}


def test_ticks_run_two_at_a_time_make_one_pair_per_prompt(start_beat, start_worker, redis_control):
    _every_second()
    batch = BatchFactory(prompt_source=PromptSource.IMPORTED)
    # A model server that refuses at once: generation fails fast instead of loading a model.
    batch.variants.add(
        ModelVariant.objects.create(
            label="down", backend="http", server_url="http://127.0.0.1:9/v1", model_name="m"
        )
    )
    PromptFactory.create_batch(30, batch=batch)
    start_beat(), start_beat()
    worker = start_worker(concurrency=2, MARGIN_MIN_STOCK="8", MARGIN_HTTP_MAX_RETRIES="0")
    wait_for(lambda: len(REFILLED.findall(worker.output())) >= 6, 120, "six refills to finish")
    assert batch.pairs.count() == 8  # the stock's target, however many refills ran
    assert batch.pairs.values("prompt").distinct().count() == 8
    assert "IntegrityError" not in worker.output()
