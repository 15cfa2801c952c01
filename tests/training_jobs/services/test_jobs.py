from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from training_jobs.models import Job, JobState
from training_jobs.services import (
    JobError,
    job_cancel,
    job_claim,
    job_create,
    job_fail,
    job_retry,
)
from work.sweeper import work_sweep

pytestmark = pytest.mark.django_db

PARAMS = {"max_steps": 2, "batch_pairs": 4, "device": "cpu"}


def _job(**extra) -> Job:
    return job_create(
        kind="reward_helpfulness", params={**PARAMS, **extra.pop("params", {})}, **extra
    )


def test_job_is_committed_then_enqueued_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = _job()
    assert len(callbacks) == 1
    assert job.state == JobState.QUEUED and job.queue == "default" and job.attempts == 1


def test_gpu_device_routes_training_to_the_gpu_queue():
    assert _job(params={"device": "gpu"}).queue == "gpu"


def test_same_start_request_twice_makes_one_job():
    first = _job(request_key="start:abc")
    second = _job(request_key="start:abc")
    assert first.pk == second.pk and Job.objects.count() == 1


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("ppo", {}, "batches must be"),
        ("reward_helpfulness", {"max_stepz": 1}, "Unknown parameter"),
        ("reward_helpfulness", {"nprocs": 65}, "nprocs must be an integer from 1 to 64"),
        ("reward_safety", {"nprocs": True}, "nprocs must be"),
        ("reward_helpfulness", {"max_steps": "ten"}, "must be int"),
        ("reward_helpfulness", {"margin": "huge"}, "must be one of"),
        ("reward_helpfulness", {"output_dir": "/tmp/x"}, "Unknown parameter"),
        ("reward_safety", {"harmless": ["../../etc/passwd"]}, "outside"),
        ("evaluation", {"versions": []}, "versions"),
    ],
)
def test_bad_job_requests_are_refused_before_a_row_exists(kind, params, message, artifact_root):
    with pytest.raises(ValidationError, match=message):
        job_create(kind=kind, params=params)
    assert Job.objects.count() == 0


def test_claim_happens_once_per_attempt():
    job = _job()
    assert job_claim(job_id=job.pk, attempt=1) is not None
    assert job_claim(job_id=job.pk, attempt=1) is None  # a re-delivered message
    job_fail(job_id=job.pk, reason="boom")
    job_retry(job=job)
    assert job_claim(job_id=job.pk, attempt=1) is None  # the old attempt's message
    claimed = job_claim(job_id=job.pk, attempt=2)
    assert claimed.state == JobState.RUNNING and claimed.attempts == 2


def test_cancel_a_queued_job_and_only_retry_failed_or_cancelled():
    job = _job()
    job_cancel(job=job)
    assert job.state == JobState.CANCELLED and job.finished_at
    job_retry(job=job)
    assert job.state == JobState.QUEUED
    with pytest.raises(JobError, match="only failed or cancelled"):
        job_retry(job=job)


def test_cancel_a_running_job_asks_its_worker():
    job = _job()
    job_claim(job_id=job.pk, attempt=1)
    job_cancel(job=job)
    assert job.state == JobState.RUNNING and job.cancel_requested


def test_sweeper_fails_silent_running_jobs_and_resends_unsent_ones(settings, sent, artifact_root):
    settings.MARGIN_WORK = {**settings.MARGIN_WORK, "HEARTBEAT_TIMEOUT_SECONDS": 60}
    silent = _job()
    job_claim(job_id=silent.pk, attempt=1)
    work = artifact_root / f"jobs/{silent.pk}/work"
    work.mkdir(parents=True)
    (work / ".data.jsonl.x1y2.partial").write_text('{"half": ')  # a killed export step
    (work / "checkpoints").mkdir()
    Job.objects.filter(pk=silent.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    unsent = _job()
    Job.objects.filter(pk=unsent.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    assert work_sweep()["training_jobs.job"] == {"resent": 1, "retried": 0, "failed": 1}
    silent.refresh_from_db()
    assert silent.state == JobState.FAILED and "no heartbeat" in silent.error
    assert "Retry to resume." in silent.error
    assert [p.name for p in work.iterdir()] == ["checkpoints"]  # kept for the resume
    assert [call[1]["args"] for call in sent] == [[unsent.pk, 1]]
    assert work_sweep()["training_jobs.job"]["failed"] == 0
