"""The sweeper on the harness's PostgreSQL and Redis: runs whose worker stopped beating are
queued again or failed with a reason, partial files go, messages the broker lost are sent
again with growing intervals; heartbeats beat from the claim until the end."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation import roles
from annotation.exports import ExportFilters, export_job_create, export_job_run
from config.artifacts import artifact_path, atomic_write, partials_of
from tests.annotation.factories import JudgmentFactory, UserFactory
from work.models import OutboxMessage, WorkState
from work.running import Heartbeat, work_claim, work_finish
from work.sending import outbox_call
from work.sweeper import resend_after, work_sweep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lost_after_a_minute(settings):
    settings.MARGIN_WORK = {**settings.MARGIN_WORK, "HEARTBEAT_TIMEOUT_SECONDS": 60}


def _silence(row) -> None:
    """What a killed worker leaves: the row running, its heartbeat stopped."""
    type(row).objects.filter(pk=row.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))


def _claim_and_lose(row):
    claimed = work_claim(model=type(row), pk=row.pk, attempt=row.attempts)
    assert claimed is not None
    _silence(claimed)
    return claimed


def test_a_lost_message_is_sent_again_then_failed_with_a_reason(redis_url, lost_after_a_minute):
    message = outbox_call("annotation.workspace.tasks.expire_leases")
    for attempt in (1, 2):
        _claim_and_lose(message)
        assert work_sweep()["work.outboxmessage"]["retried"] == 1
        message.refresh_from_db()
        assert message.state == WorkState.QUEUED and message.attempts == attempt + 1
        assert "no heartbeat" in message.error and message.sends == 1  # sent again
    _claim_and_lose(message)
    assert work_sweep()["work.outboxmessage"] == {"resent": 0, "retried": 0, "failed": 1}
    message.refresh_from_db()
    assert message.state == WorkState.FAILED and message.finished_at
    assert "no heartbeat" in message.error and "Gave up after 3 attempts" in message.error


def test_a_lost_message_whose_key_waits_again_is_failed_as_superseded(
    redis_url, lost_after_a_minute
):
    lost = outbox_call("annotation.workspace.tasks.expire_leases", key="expire")
    _claim_and_lose(lost)
    waiting = outbox_call("annotation.workspace.tasks.expire_leases", key="expire")
    assert work_sweep()["work.outboxmessage"]["failed"] == 1
    lost.refresh_from_db()
    assert lost.state == WorkState.FAILED and "same key does its work" in lost.error
    assert OutboxMessage.objects.get(pk=waiting.pk).state == WorkState.QUEUED


def test_a_live_run_is_left_alone(redis_url, lost_after_a_minute):
    message = outbox_call("annotation.workspace.tasks.expire_leases")
    work_claim(model=OutboxMessage, pk=message.pk, attempt=1)
    assert work_sweep()["work.outboxmessage"] == {"resent": 0, "retried": 0, "failed": 0}
    assert OutboxMessage.objects.get().state == WorkState.RUNNING


def _leave_a_partial(export) -> None:
    """A writer killed mid-file leaves its temporary file beside the final name."""
    writer = atomic_write(artifact_path(f"exports/{export.file_name}"))
    writer.__enter__().write('{"half": ')
    assert partials_of(artifact_path(f"exports/{export.file_name}"))


def test_an_export_whose_worker_died_loses_its_partial_file_and_runs_again(
    redis_url, artifact_root, lost_after_a_minute
):
    JudgmentFactory.create_batch(3)
    export = export_job_create(user=UserFactory(role=roles.ML_ENGINEER), filters=ExportFilters())
    _claim_and_lose(export)
    _leave_a_partial(export)
    assert work_sweep()["annotation.exportjob"]["retried"] == 1
    export.refresh_from_db()
    assert export.state == WorkState.QUEUED and export.attempts == 2
    assert "no heartbeat" in export.error and "attempt 2 of 3" in export.error
    assert not partials_of(artifact_path(f"exports/{export.file_name}"))

    assert export_job_run(export_id=export.pk, attempt=1) is None  # the old message: skipped
    done = export_job_run(export_id=export.pk, attempt=2)
    assert done.state == WorkState.SUCCEEDED and done.rows == 3 and not done.error
    assert len(artifact_path(done.path).read_text().splitlines()) == 3
    assert export_job_run(export_id=export.pk, attempt=2) is None  # a redelivery: skipped


def test_an_export_lost_three_times_is_failed_with_the_reason(
    redis_url, artifact_root, lost_after_a_minute
):
    export = export_job_create(user=UserFactory(role=roles.ML_ENGINEER), filters=ExportFilters())
    for _ in range(3):
        export.refresh_from_db()
        _claim_and_lose(export)
        _leave_a_partial(export)
        work_sweep()
    export.refresh_from_db()
    assert export.state == WorkState.FAILED and export.attempts == 3
    assert "no heartbeat" in export.error and "Gave up after 3 attempts" in export.error
    assert not partials_of(artifact_path(f"exports/{export.file_name}"))


def test_a_message_the_broker_lost_is_sent_again_with_growing_intervals(redis_url, settings):
    settings.MARGIN_WORK = {
        **settings.MARGIN_WORK,
        "RESEND_AFTER_SECONDS": 60,
        "RESEND_MAX_SECONDS": 150,
    }
    assert [resend_after(n).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 150, 150]
    message = outbox_call("annotation.workspace.tasks.expire_leases")
    assert message.__class__.objects.get().sends == 1
    assert work_sweep()["work.outboxmessage"]["resent"] == 0  # sent a moment ago
    old = timezone.now() - timedelta(seconds=90)
    OutboxMessage.objects.update(enqueued_at=old)
    assert work_sweep()["work.outboxmessage"]["resent"] == 1  # 90 s > 60 s: lost
    OutboxMessage.objects.update(enqueued_at=old)
    assert work_sweep()["work.outboxmessage"]["resent"] == 0  # 90 s < 120 s after 2 sends
    assert OutboxMessage.objects.get().sends == 2


def test_finished_messages_are_pruned_after_the_keeping_time(redis_url, settings):
    settings.MARGIN_WORK = {**settings.MARGIN_WORK, "KEEP_FINISHED_DAYS": 7}
    message = outbox_call("annotation.workspace.tasks.expire_leases")
    work_claim(model=OutboxMessage, pk=message.pk, attempt=1)
    work_finish(model=OutboxMessage, pk=message.pk, attempt=1, state=WorkState.SUCCEEDED)
    assert work_sweep()["pruned"]["outbox"] == 0
    OutboxMessage.objects.update(finished_at=timezone.now() - timedelta(days=8))
    assert work_sweep()["pruned"]["outbox"] == 1


def test_the_heartbeat_beats_from_the_claim_and_notices_when_the_run_is_taken_away(redis_url):
    message = outbox_call("annotation.workspace.tasks.expire_leases")
    claimed = work_claim(model=OutboxMessage, pk=message.pk, attempt=1)
    with Heartbeat(claimed, interval=0.05) as beat:
        first = claimed.heartbeat_at
        deadline = time.monotonic() + 10
        while OutboxMessage.objects.get().heartbeat_at == first:
            assert time.monotonic() < deadline, "no heartbeat arrived"
            time.sleep(0.05)
        assert not beat.lost.is_set()
        work_finish(model=OutboxMessage, pk=message.pk, attempt=1, state=WorkState.FAILED)
        assert beat.lost.wait(10), "the heartbeat did not notice the run was taken away"
    assert OutboxMessage.objects.get().state == WorkState.FAILED
