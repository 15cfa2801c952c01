"""The evaluation job runs `rewardtrain eval` on the job's device: a gpu job on whatever CUDA
its worker has (`auto`), a cpu job on the CPU; it goes to the gpu queue like training."""

import json

import pytest
from django.core.exceptions import ValidationError

from rewardtrain.config import TrainConfig
from rewardtrain.train import main as train_reward_model
from tests.rewardtrain.helpers import synthetic_records, write_jsonl
from training_jobs.models import ModelVersion
from training_jobs.runners import RUNNERS
from training_jobs.runners.context import JobContext
from training_jobs.services import job_claim, job_create

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(600)]


@pytest.fixture
def reward_model(artifact_root, tiny_policy) -> ModelVersion:
    data = write_jsonl(artifact_root / "pairs.jsonl", synthetic_records(40))
    train_reward_model(
        TrainConfig(
            output_dir=str(artifact_root / "rm"),
            model=str(artifact_root / tiny_policy.path),
            data=[str(data)],
            mix="none",
            max_steps=1,
            batch_pairs=8,
            test_fraction=0.5,
            save_every=0,
            progress=False,
        )
    )
    return ModelVersion.objects.create(kind="reward_helpfulness", name="rm", path="rm")


@pytest.mark.parametrize(
    ("params", "present", "absent", "queue"),
    [
        ({"device": "cpu"}, "--device cpu", "--bf16", "default"),
        ({"bf16": True}, "--bf16", "--device", "gpu"),  # auto, the default, is not written
    ],
)
def test_evaluation_passes_the_jobs_device(
    artifact_root, reward_model, settings, params, present, absent, queue
):
    settings.MARGIN_JOBS = {**settings.MARGIN_JOBS, "TRAINING_DEVICE": "gpu"}
    job = job_create(kind="evaluation", params={"versions": [reward_model.pk], **params})
    assert job.queue == queue
    job = job_claim(job_id=job.pk, attempt=job.attempts)
    ctx = JobContext(job)
    RUNNERS["evaluation"].run(job, ctx)
    job.refresh_from_db()
    command = next(line for line in job.log.splitlines() if "rewardtrain eval" in line)
    assert present in command and absent not in command
    report = json.loads(
        (artifact_root / ctx.output_dir / f"eval_{reward_model.pk}.json").read_text()
    )
    assert report["device"] == "cpu" and report["dtype"] == "float32"
    assert report["metrics"]["rm"]["helpfulness"]["n"] > 0


@pytest.mark.parametrize(
    ("params", "message"),
    [({"device": "tpu"}, "device must be"), ({"bf16": "yes"}, "bf16"), ({"k": 1}, "Unknown")],
)
def test_evaluation_refuses_bad_device_params(artifact_root, reward_model, params, message):
    with pytest.raises(ValidationError, match=message):
        job_create(kind="evaluation", params={"versions": [reward_model.pk], **params})
