"""A job beats its heartbeat from its claim to its end, whatever it is doing (here: waiting on
its data export), and a job that no longer runs its attempt never registers a model."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from training_jobs.models import Job, JobState, ModelVersion
from training_jobs.services import job_claim, job_create, job_fail, job_retry
from training_jobs.services.iterations import JobLost, model_version_register
from training_jobs.tasks import run_job
from work.sweeper import work_sweep

PARAMS = {"max_steps": 2, "batch_pairs": 4, "device": "cpu"}


def _register(job: Job) -> ModelVersion:
    return model_version_register(
        job=job, kind="reward_helpfulness", path=f"jobs/{job.pk}/model", parent=None, metrics={}
    )


@pytest.mark.django_db
def test_registering_finishes_the_job_in_the_same_transaction(sent):
    job = job_create(kind="reward_helpfulness", params=PARAMS)
    claimed = job_claim(job_id=job.pk, attempt=1)
    version = _register(claimed)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.output_dir == version.path
    assert _register(claimed) == version  # a repeated call: the same row


@pytest.mark.django_db
def test_a_job_failed_by_the_sweeper_registers_nothing(sent):
    job = job_create(kind="reward_helpfulness", params=PARAMS)
    first = job_claim(job_id=job.pk, attempt=1)
    job_fail(job_id=job.pk, reason="The worker stopped: no heartbeat ...")
    with pytest.raises(JobLost):
        _register(first)
    job_retry(job=job)
    job_claim(job_id=job.pk, attempt=2)
    with pytest.raises(JobLost):  # the first attempt's worker woke up: still not its job
        _register(first)
    assert not ModelVersion.objects.exists()
    assert Job.objects.get().state == JobState.RUNNING


@pytest.mark.django_db(transaction=True)
def test_a_job_waiting_on_its_data_export_keeps_beating(settings, artifact_root, sent):
    settings.MARGIN_WORK = {
        **settings.MARGIN_WORK,
        "HEARTBEAT_SECONDS": 0.2,
        "HEARTBEAT_TIMEOUT_SECONDS": 1,
    }
    job = job_create(kind="reward_helpfulness", params=PARAMS)
    outcome: list = []

    def worker() -> None:
        try:
            outcome.append(run_job.apply(args=[job.pk, 1]).get())
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    with transaction.atomic():
        # The export step reads the judgments: hold them so the step takes as long as we like.
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE annotation_judgment IN ACCESS EXCLUSIVE MODE")
        thread.start()
        time.sleep(3)  # three heartbeat timeouts
        running = Job.objects.get(pk=job.pk)
        assert running.state == JobState.RUNNING
        assert running.heartbeat_at > timezone.now() - timedelta(seconds=1)
        assert work_sweep()["training_jobs.job"]["failed"] == 0
    thread.join(timeout=120)
    job.refresh_from_db()
    assert outcome == ["failed"]
    assert job.state == JobState.FAILED and "no judgments to train on" in job.error
