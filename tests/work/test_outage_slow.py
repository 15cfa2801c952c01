"""The broker goes away and comes back empty, with real Celery workers on the harness's
PostgreSQL and Redis: an export, a training job and a dialogue requested while Redis is
down are answered "queued", sent when it is back, sent again after a restart that drops
Redis' data, sent twice more, and each runs exactly once."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation import roles
from annotation.models import Dialogue, ExportJob, ModelVariant, PromptSource, ResponsePair
from config.artifacts import artifact_path, partials_of
from tests.annotation.factories import BatchFactory, JudgmentFactory, UserFactory
from tests.processes import manage, wait_for
from training_jobs.models import Job, JobState, ModelVersion
from work.models import OutboxMessage, WorkState
from work.sweeper import work_sweep

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(900)]
TRAIN = {"max_steps": 2, "batch_pairs": 4, "test_pairs": 2, "test_fraction": 0.2}


def _annotator_batch(tiny_policy, settings):
    variant = ModelVariant.objects.create(
        label="tiny", backend="transformers", model_path=str(tiny_policy.folder)
    )
    batch = BatchFactory(prompt_source=PromptSource.ANNOTATOR, max_new_tokens=8)
    batch.variants.add(variant)
    return batch


def _rows() -> list:
    """The export, the job and the first generation message (the dialogue's)."""
    return [ExportJob.objects.get(), Job.objects.get(), OutboxMessage.objects.earliest("pk")]


def test_work_requested_during_an_outage_runs_once_after_it(
    redis_control, redis_url, artifact_root, tiny_policy, quick_sweeps, start_worker, settings
):
    JudgmentFactory.create_batch(12, pair__batch=BatchFactory(stage="helpfulness"))
    batch = _annotator_batch(tiny_policy, settings)
    annotator = Client()
    annotator.force_login(UserFactory(role=roles.ANNOTATOR))
    engineer = APIClient()
    engineer.force_authenticate(UserFactory(role=roles.ML_ENGINEER))
    redis_control.stop()

    export = engineer.post("/api/exports/", {"format": "full"}, format="json")
    assert export.status_code == 202 and export.json()["status"] == "queued"
    params = [f"--param={key}={value}" for key, value in TRAIN.items()]
    started = manage(
        "start_job",
        "reward_helpfulness",
        *params,
        "--param=device=cpu",
        f"--param=init_version={tiny_policy.pk}",
        broker=redis_url,
        artifact_root=artifact_root,
    )
    assert started.returncode == 0 and "when the broker is back" in started.stdout
    assert "Traceback" not in started.stdout + started.stderr
    compose = {"message": "Tell me a story.", "start_key": "outage-form-key-0123456789"}
    for _ in range(2):  # the page retries the same form
        response = annotator.post(reverse("dialogue-start", args=[batch.pk]), compose)
        assert response.status_code == 302
    assert all(row.state == WorkState.QUEUED and row.sends == 0 for row in _rows())

    redis_control.start()
    work_sweep()
    redis_control.restart()  # comes back empty: every message is gone
    assert redis_control.messages() == []
    work_sweep()  # sent again
    work_sweep()  # and once more: two copies of each now wait in Redis
    assert len(redis_control.messages()) == 6
    assert [row.sends for row in _rows()] == [3, 3, 3]

    worker = start_worker()
    wait_for(lambda: all(row.is_final for row in _rows()), 600, "the three to run", interval=1)
    dialogue_pair = ResponsePair.objects.filter(dialogue__isnull=False)
    wait_for(lambda: dialogue_pair.filter(status="ready").count() == 1, 120, "the pair")

    export_row, job, generation = _rows()
    assert export_row.state == WorkState.SUCCEEDED and export_row.attempts == 1
    assert len(artifact_path(export_row.path).read_text().splitlines()) == 12
    assert not partials_of(artifact_path(export_row.path))
    assert job.state == JobState.SUCCEEDED, job.error + job.log[-2000:]
    assert job.attempts == 1 and ModelVersion.objects.filter(job=job).count() == 1
    assert job.log.count("-m rewardtrain train") == 1  # trained once
    assert generation.state == WorkState.SUCCEEDED and generation.attempts == 1
    assert Dialogue.objects.count() == 1 and ResponsePair.objects.count() == 13
    # The duplicate copies wait behind the first ones in Redis: each is received and skipped.
    wait_for(
        lambda: _duplicates_skipped(worker.output()), 120, "the duplicate messages to be skipped"
    )


def _duplicates_skipped(log: str) -> bool:
    return log.count("skipped: not queued for this attempt") >= 2 and "is taken" in log
