"""What every runner shares: how many processes a job's training core runs on."""

import pytest

from training_jobs.runners.base import Runner
from training_jobs.services import job_create

pytestmark = pytest.mark.django_db


def test_processes_come_from_the_job_else_the_setting_on_gpu_workers(settings, artifact_root):
    settings.MARGIN_JOBS = {**settings.MARGIN_JOBS, "TRAIN_PROCESSES": 4}
    on_gpu = job_create(kind="reward_helpfulness", params={"device": "gpu"})
    on_cpu = job_create(kind="reward_helpfulness", params={"device": "cpu"})
    asked = job_create(kind="reward_helpfulness", params={"device": "gpu", "nprocs": 2})
    assert on_gpu.queue == "gpu" and Runner.processes(on_gpu) == 4
    assert Runner.processes(on_cpu) == 1
    assert Runner.processes(asked) == 2
