"""JobContext.run_core: one launcher for every core. It turns the config into flags, runs the
core (under torchrun for several processes), streams its output into the job's log, and
reads its progress lines into the job's progress, detail and metric series."""

import re
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from rewardtrain.config import TrainConfig
from tests.rewardtrain.helpers import synthetic_records, write_jsonl
from training_jobs.models import Job
from training_jobs.runners.context import JobCancelled, JobContext, ProcessFailed
from training_jobs.runners.launch import child_env, core_argv

pytestmark = pytest.mark.django_db

TQDM = re.compile(r"\d+%\|.*?\|\s*\d+/\d+")
LOAD = "from transformers import AutoModelForCausalLM; AutoModelForCausalLM.from_pretrained({!r})"


def test_library_loading_bars_are_off_in_a_core_process(tiny_policy_source):
    command = [sys.executable, "-c", LOAD.format(str(tiny_policy_source))]
    plain = subprocess.run(command, capture_output=True, text=True, check=True)
    assert TQDM.search(plain.stderr), "transformers no longer shows a loading bar"
    quiet = subprocess.run(command, capture_output=True, text=True, check=True, env=child_env())
    assert not TQDM.search(quiet.stdout + quiet.stderr)


def test_a_config_becomes_flags_and_several_processes_run_under_torchrun():
    cfg = TrainConfig(output_dir="/out", data=["a.jsonl", "b.jsonl"], lr=2e-5, resume=False)
    flags = ["--output-dir", "/out", "--data", "a.jsonl", "b.jsonl", "--lr", "2e-05"]
    flags.append("--no-resume")
    assert (
        core_argv("py", "rewardtrain", "train", cfg) == ["py", "-m", "rewardtrain", "train"] + flags
    )
    assert core_argv("py", "rewardtrain", "train", cfg, nprocs=4) == [
        "py", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4",
        "-m", "rewardtrain", "train", *flags,
    ]  # fmt: skip


@pytest.fixture
def running_job(artifact_root):
    return Job.objects.create(kind="reward_helpfulness", state="running", started_at=timezone.now())


@pytest.fixture
def train_config(artifact_root, tiny_policy_source):
    def make(**fields) -> TrainConfig:
        data = write_jsonl(artifact_root / "pairs.jsonl", synthetic_records(40))
        return TrainConfig(
            output_dir=str(artifact_root / "rm"),
            model=str(tiny_policy_source),
            data=[str(data)],
            mix="none",
            batch_pairs=4,
            test_pairs=4,
            save_every=0,
            pack_tokens=512,
            **fields,
        )

    return make


def test_progress_lines_move_the_job_and_fill_its_metric_series(running_job, train_config):
    ctx = JobContext(running_job)
    ctx.run_core("rewardtrain", "train", train_config(max_steps=3), weight=(0.2, 0.6))
    job = Job.objects.get(pk=running_job.pk)
    assert job.progress == pytest.approx(0.6)
    assert job.progress_detail.startswith("train 3/3 · loss ")
    series = job.metrics["train"]
    assert {"loss", "accuracy", "lr", "pairs_per_s"} <= set(series)
    assert [step for step, _ in series["loss"]] == [1, 2, 3]
    assert all(value > 0 for _, value in series["lr"])
    assert "$ " in job.log and "-m rewardtrain train" in job.log and "--max-steps 3" in job.log
    assert not TQDM.search(job.log), "a terminal bar reached the log"

    # A second core in the same job (or a retry) adds to the series it finds.
    again = JobContext(job)
    again.run_core("rewardtrain", "train", train_config(max_steps=3), weight=(0.6, 1.0))
    assert [step for step, _ in Job.objects.get(pk=job.pk).metrics["train"]["loss"]] == [1, 2, 3]


def test_a_failing_core_raises_with_the_tail_of_its_output(running_job, train_config):
    cfg = train_config(max_steps=1)
    cfg.data = [cfg.data[0] + ".missing"]
    with pytest.raises(ProcessFailed, match="rewardtrain train exited with 1") as failed:
        JobContext(running_job).run_core("rewardtrain", "train", cfg)
    assert "No such file" in str(failed.value)


@pytest.mark.django_db(transaction=True)
def test_a_cancel_request_stops_the_core(running_job, train_config, artifact_root):
    """The core has started training (its first progress line is in) when the cancel comes;
    run_core stops it long before its thousand epochs."""
    ctx = JobContext(running_job)

    def cancel_once_under_way() -> None:
        progress = ctx.work_dir / "progress-1.jsonl"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (progress.exists() and progress.stat().st_size):
            time.sleep(0.2)
        Job.objects.filter(pk=running_job.pk).update(cancel_requested=True)
        connection.close()

    canceller = threading.Thread(target=cancel_once_under_way)
    canceller.start()
    started = time.monotonic()
    with pytest.raises(JobCancelled):
        ctx.run_core("rewardtrain", "train", train_config(epochs=1000.0))
    canceller.join()
    assert time.monotonic() - started < 300
    assert Job.objects.get(pk=running_job.pk).metrics["train"]["loss"]
    assert not (artifact_root / "rm" / "metrics.json").exists()


@pytest.mark.slow
def test_two_processes_run_under_torchrun(running_job, train_config, artifact_root):
    import json

    ctx = JobContext(running_job)
    ctx.run_core("rewardtrain", "train", train_config(max_steps=2), nprocs=2)
    meta = json.loads((artifact_root / "rm" / "rewardtrain.json").read_text())
    assert meta["world_size"] == 2 and meta["steps"] == 2
    job = Job.objects.get(pk=running_job.pk)
    assert [step for step, _ in job.metrics["train"]["loss"]] == [1, 2]
    assert "torch.distributed.run --standalone --nproc-per-node 2" in job.log
