"""The transactional outbox on the harness's real PostgreSQL and Redis: requests made while
the broker is down are answered "queued" and sent when it is back; messages a broker lost
are sent again; a message delivered twice runs once."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation import roles
from annotation.models import Dialogue, ExportJob, Prompt, PromptSource
from tests.annotation.factories import BatchFactory, UserFactory
from tests.processes import manage
from training_jobs.models import Job
from work.models import OutboxMessage, WorkState
from work.sending import celery_task, outbox_call, work_label
from work.sweeper import work_sweep
from work.tasks import HEADER

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "compose-form-key-0123456789"


def _request_export() -> dict:
    client = APIClient()
    client.force_authenticate(UserFactory(role=roles.ML_ENGINEER))
    started = time.monotonic()
    response = client.post("/api/exports/", {"format": "trl"}, format="json")
    assert time.monotonic() - started < 10, "a request must not wait for the broker"
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued"
    return response.json()


def _start_dialogue(client: Client, batch) -> None:
    url = reverse("dialogue-start", args=[batch.pk])
    response = client.post(url, {"message": "How do I bake bread?", "start_key": KEY})
    assert response.status_code == 302, response.content[:2000]


def _waiting_rows() -> list:
    return [ExportJob.objects.get(), Job.objects.get(), OutboxMessage.objects.get()]


def test_work_requested_while_the_broker_is_down_is_queued_and_sent_when_it_is_back(
    redis_control, redis_url, artifact_root, quick_sweeps, caplog
):
    batch = BatchFactory(prompt_source=PromptSource.ANNOTATOR)
    annotator = Client()
    annotator.force_login(UserFactory(role=roles.ANNOTATOR))
    redis_control.stop()

    export = _request_export()
    started = manage(
        "start_job",
        "reward_helpfulness",
        "--param",
        "max_steps=2",
        "--param",
        "device=cpu",
        broker=redis_url,
        artifact_root=artifact_root,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    assert "queued" in started.stdout and "will be sent when the broker is back" in started.stdout
    assert "Traceback" not in started.stdout + started.stderr
    _start_dialogue(annotator, batch)
    _start_dialogue(annotator, batch)  # the page's retry of the same form
    assert Dialogue.objects.count() == 1 and Prompt.objects.count() == 1

    for row in _waiting_rows():
        assert row.state == WorkState.QUEUED and row.enqueued_at is None, row
        assert "broker" in row.error
    assert ExportJob.objects.get().pk == export["id"]
    caplog.clear()
    assert work_sweep()["annotation.exportjob"]["resent"] == 0  # still down: still queued
    refused = [r for r in caplog.records if "stays queued" in r.getMessage()]
    assert len(refused) == 1  # one try per sweep while the broker is away, not one per row

    redis_control.start()
    report = work_sweep()
    assert [report[work_label(type(row))]["resent"] for row in _waiting_rows()] == [1, 1, 1]
    assert sorted(m["task"] for m in redis_control.messages()) == [
        "annotation.tasks.generate_pending_pairs",
        "annotation.tasks.run_export",
        "training_jobs.tasks.run_job",
    ]
    for row in _waiting_rows():
        assert row.sends == 1 and row.enqueued_at and not row.error

    # Redis restarts empty (a crash losing its last writes, a failover): all sent again.
    redis_control.restart()
    assert redis_control.messages() == []
    report = work_sweep()
    assert [report[work_label(type(row))]["resent"] for row in _waiting_rows()] == [1, 1, 1]
    waiting = redis_control.messages()
    assert len(waiting) == 3
    assert {tuple(m["margin_work"][1:]) for m in waiting} == {
        (row.pk, 1) for row in _waiting_rows()
    }
    assert all(row.sends == 2 for row in _waiting_rows())


def test_start_job_says_it_was_sent_when_the_broker_is_up(redis_url, artifact_root):
    done = manage(
        "start_job",
        "reward_safety",
        "--param",
        "device=cpu",
        broker=redis_url,
        artifact_root=artifact_root,
    )
    assert done.returncode == 0 and "sent to the workers" in done.stdout, done.stderr
    assert Job.objects.get().sends == 1


def _deliver(message: OutboxMessage):
    """Deliver a message the way a worker gets it: the task with its outbox header."""
    name, args, kwargs = message.message()
    headers = {HEADER: [work_label(OutboxMessage), message.pk, message.attempts]}
    return celery_task(name).apply(args=args, kwargs=kwargs, headers=headers).get()


def test_a_message_delivered_twice_runs_once(redis_url):
    message = outbox_call("annotation.workspace.tasks.expire_leases")
    assert message.state == WorkState.QUEUED
    assert _deliver(message) == 0
    assert _deliver(message) is None  # a redelivery, a re-send: skipped
    message.refresh_from_db()
    assert message.state == WorkState.SUCCEEDED and message.result == 0
    assert message.worker_pid and message.heartbeat_at and message.finished_at


def test_a_failing_message_is_failed_with_its_reason(redis_url):
    message = outbox_call("training_jobs.quality.tasks.score_responses", 999_999)
    with pytest.raises(Exception, match="does not exist"):
        _deliver(message)
    message.refresh_from_db()
    assert message.state == WorkState.FAILED and "DoesNotExist" in message.error


def test_one_waiting_message_per_key(redis_url):
    first = outbox_call("annotation.workspace.tasks.expire_leases", key="expire")
    assert outbox_call("annotation.workspace.tasks.expire_leases", key="expire") is None
    _deliver(first)
    assert outbox_call("annotation.workspace.tasks.expire_leases", key="expire") is not None
    assert OutboxMessage.objects.count() == 2


def test_an_unknown_task_is_refused_at_once():
    with pytest.raises(Exception, match="no_such_task"):
        outbox_call("annotation.tasks.no_such_task")
    assert not OutboxMessage.objects.exists()
