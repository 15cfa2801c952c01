"""A job's worker killed mid-run and a job longer than the broker's visibility timeout, with
real Celery workers on the harness's PostgreSQL and Redis."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from django.db import connection, transaction

from tests.annotation.factories import JudgmentFactory, PairFactory
from tests.processes import wait_for
from training_jobs.models import Job, JobState, ModelVersion
from training_jobs.services import job_create
from work.sweeper import work_sweep

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(900)]
SKIPPED = "skipped: not queued for this attempt"


def _long_job(tiny_policy, steps: int) -> Job:
    for _ in range(20):
        JudgmentFactory(pair=PairFactory(), grade="better")
    return job_create(
        kind="reward_helpfulness",
        params={
            "max_steps": steps,
            "batch_pairs": 2,
            "save_every": 5,
            "test_pairs": 4,
            "device": "cpu",
            "init_version": tiny_policy.pk,
        },
    )


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_job_whose_pool_child_is_killed_fails_with_a_reason_and_registers_nothing(
    start_worker, tiny_policy, settings, artifact_root
):
    job = _long_job(tiny_policy, steps=400)
    worker = start_worker()
    wait_for(
        lambda: Job.objects.filter(pk=job.pk, state="running", progress__gte=0.05).exists(),
        300,
        "the core to be under way",
        interval=0.2,
    )
    child = Job.objects.get(pk=job.pk).worker_pid
    cores = _children(child)
    assert cores, "the core runs as a subprocess of the pool child"
    os.kill(child, signal.SIGKILL)
    wait_for(lambda: not any(_alive(pid) for pid in cores), 30, "the core to die with it")

    settings.MARGIN_WORK = {**settings.MARGIN_WORK, "HEARTBEAT_TIMEOUT_SECONDS": 3}
    wait_for(lambda: work_sweep()["training_jobs.job"]["failed"], 60, "the sweeper")
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == 1
    assert "no heartbeat" in job.error and "Retry to resume." in job.error
    assert not ModelVersion.objects.filter(job=job).exists()
    assert not list((artifact_root / f"jobs/{job.pk}").rglob("*.partial"))
    # Celery gave the message back when the child died; the redelivery did nothing.
    wait_for(lambda: SKIPPED in worker.output(), 60, "the redelivery")
    assert "WorkerLostError" in worker.output()


def test_a_job_longer_than_the_visibility_timeout_runs_once(start_worker, tiny_policy):
    job = _long_job(tiny_policy, steps=300)
    timeout = {"CELERY_VISIBILITY_TIMEOUT": "2"}
    with transaction.atomic():
        # The job reads the judgments after its claim: holding them keeps it running (and
        # its message unacknowledged) until the copy has come and gone.
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE annotation_judgment IN ACCESS EXCLUSIVE MODE")
        first = start_worker(**timeout)
        wait_for(lambda: Job.objects.get(pk=job.pk).state == "running", 300, "the claim")
        # A worker starting now finds the message unacknowledged for longer than the
        # visibility timeout and puts it back in the queue (celery #5935), then takes it again.
        second = start_worker(**timeout)
        wait_for(lambda: SKIPPED in second.output() + first.output(), 300, "the redelivered copy")
        assert Job.objects.get(pk=job.pk).state == JobState.RUNNING  # the copy left it alone
    wait_for(lambda: Job.objects.get(pk=job.pk).is_final, 600, "the job")
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED, job.error + job.log[-2000:]
    assert job.attempts == 1 and ModelVersion.objects.filter(job=job).count() == 1
    assert job.log.count("-m rewardtrain train") == 1
