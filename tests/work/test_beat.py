"""One beat fires at a time, and the periodic tasks admins edit keep their edits, on the
harness's PostgreSQL (the advisory lock) and Redis (where a firing beat sends)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery_app import app
from work.beat import STANDBY_SECONDS, FileLock, LockedScheduler

pytestmark = pytest.mark.django_db(transaction=True)
DEFAULTS = set(django_settings.CELERY_BEAT_SCHEDULE)


@pytest.fixture
def schedulers(redis_url):
    made: list[LockedScheduler] = []

    def make() -> LockedScheduler:
        scheduler = LockedScheduler(app=app)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.lock.release()


def test_defaults_are_created_once_and_admins_edits_survive_a_restart(schedulers):
    first = schedulers()
    assert DEFAULTS <= set(PeriodicTask.objects.values_list("name", flat=True))
    assert DEFAULTS <= set(first.schedule)

    every_five_minutes, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    PeriodicTask.objects.filter(name="refill-pair-stocks").update(interval=every_five_minutes)
    PeriodicTask.objects.filter(name="expire-leases").update(enabled=False)
    PeriodicTask.objects.filter(name="retrain-reward-models").update(
        kwargs='{"min_new_judgments": 50}'
    )
    PeriodicTask.objects.filter(name="sweep-work").delete()

    restarted = schedulers()
    refill = PeriodicTask.objects.get(name="refill-pair-stocks")
    assert refill.interval.every == 300
    assert not PeriodicTask.objects.get(name="expire-leases").enabled
    assert "expire-leases" not in restarted.schedule
    retrain = PeriodicTask.objects.get(name="retrain-reward-models")
    assert retrain.kwargs == '{"min_new_judgments": 50}'
    assert restarted.schedule["refill-pair-stocks"].schedule.run_every.total_seconds() == 300
    # A default that was deleted comes back with its default settings.
    assert PeriodicTask.objects.get(name="sweep-work").interval.every == 30


def test_a_second_beat_stands_by_until_the_first_one_ends(schedulers):
    first, second = schedulers(), schedulers()
    first.tick()
    assert first.leading and first.lock.held
    for _ in range(3):
        assert second.tick() == STANDBY_SECONDS
        assert not second.leading and not second.lock.held
    first.lock.release()  # the first beat's process (and connection) ends
    # PostgreSQL frees a session's advisory lock when its backend has exited, a moment after
    # the client closed the connection; the standby takes it at one of its next ticks.
    deadline = time.monotonic() + 10
    while not second.leading and time.monotonic() < deadline:
        second.tick()
        time.sleep(0.05)
    assert second.leading and second.lock.held
    assert first.tick() == STANDBY_SECONDS and not first.leading


def test_the_file_lock_of_development_mode_admits_one_holder(tmp_path):
    one, two = FileLock(tmp_path / "beat.lock"), FileLock(tmp_path / "beat.lock")
    assert one.hold() and one.hold()
    assert not two.hold()
    one.release()
    assert two.hold()
    two.release()
