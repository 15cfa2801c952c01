import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from training_jobs.models import Job

pytestmark = pytest.mark.django_db

FIELDS = ("kind", "params", "iteration_id", "queue", "state", "attempts", "progress", "error")


def _row(job: Job) -> dict:
    return {field: getattr(job, field) for field in FIELDS}


def test_page_api_and_cli_make_the_same_job(web, api, iteration, sent):
    params = {"max_steps": 1, "margin": "large", "batches": [1, 2]}
    web("engineer").post(
        "/jobs/new/",
        {
            "kind": "reward_helpfulness",
            "iteration": iteration.pk,
            "params": '{"max_steps": 1, "margin": "large", "batches": [1, 2]}',
        },
    )
    api("admin").post(
        "/api/jobs/",
        {"kind": "reward_helpfulness", "params": params, "iteration": iteration.pk},
        format="json",
    )
    out = io.StringIO()
    call_command(
        "start_job",
        "reward_helpfulness",
        "--iteration",
        "RLHF-V1",
        "--params-json",
        '{"margin": "small", "batches": [1, 2]}',
        "--param",
        "max_steps=1",
        "--param",
        "margin=large",
        "--user",
        "eng",
        stdout=out,
    )
    page, through_api, cli = Job.objects.order_by("pk")
    assert _row(page) == _row(through_api) == _row(cli)
    assert cli.params == params and cli.created_by.username == "eng"
    assert f"job {cli.pk}: Reward model: helpfulness, queued" in out.getvalue()


def test_cli_refuses_bad_parameters_and_unknown_iterations(iteration, sent):
    with pytest.raises(CommandError, match="max_steps must be int"):
        call_command("start_job", "reward_helpfulness", "--param", "max_steps=soon")
    with pytest.raises(CommandError, match="no iteration named 'RLHF-V9'"):
        call_command("start_job", "reward_helpfulness", "--iteration", "RLHF-V9")
    with pytest.raises(CommandError, match="expected KEY=VALUE"):
        call_command("start_job", "reward_helpfulness", "--param", "max_steps")
    assert not Job.objects.exists()


def _worker_plays(monkeypatch, final_state: str, error: str = "") -> None:
    """Each poll's sleep moves the job one step on, as a worker would."""
    steps = iter([0.3, 0.8, None])

    def sleep(_seconds):
        job = Job.objects.get()
        progress = next(steps)
        now = timezone.now()
        if progress is None:
            Job.objects.filter(pk=job.pk).update(
                state=final_state,
                finished_at=now,
                error=error,
                output_dir="jobs/1/model" if final_state == "succeeded" else "",
                progress=1.0 if final_state == "succeeded" else job.progress,
            )
        else:
            Job.objects.filter(pk=job.pk).update(
                state="running",
                started_at=now,
                progress=progress,
                progress_detail=f"train: {progress:.0%}",
                log=job.log + f"step at {progress}\n",
            )

    monkeypatch.setattr("training_jobs.management.commands.start_job.time.sleep", sleep)


def test_wait_follows_the_job_with_a_bar_and_fails_when_the_job_fails(monkeypatch, sent):
    _worker_plays(monkeypatch, "failed", error="ProcessFailed: out of memory")
    err = io.StringIO()
    with pytest.raises(CommandError, match="out of memory") as failure:
        call_command("start_job", "reward_safety", "--wait", stdout=io.StringIO(), stderr=err)
    assert failure.value.returncode == 1
    job = Job.objects.get()
    assert "step at 0.3" in err.getvalue() and f"job {job.pk} running" in err.getvalue()


def test_wait_ends_with_status_zero_when_the_job_succeeds(monkeypatch, sent):
    _worker_plays(monkeypatch, "succeeded")
    out = io.StringIO()
    call_command("start_job", "reward_safety", "--wait", stdout=out, stderr=io.StringIO())
    assert "succeeded: jobs/1/model" in out.getvalue()


def test_a_cancelled_job_exits_with_status_two(monkeypatch, sent):
    _worker_plays(monkeypatch, "cancelled")
    with pytest.raises(CommandError) as failure:
        call_command(
            "start_job", "reward_safety", "--wait", stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert failure.value.returncode == 2


def test_jobs_table_filters_by_state_and_watch_follows_active_jobs(iteration, monkeypatch):
    now = timezone.now()
    running = Job.objects.create(
        kind="reward_helpfulness",
        iteration=iteration,
        state="running",
        started_at=now,
        progress=0.25,
        progress_detail="train 25%",
    )
    Job.objects.create(
        kind="evaluation",
        state="failed",
        finished_at=now,
        error="JobError: no test sets\nmore",
    )
    out = io.StringIO()
    call_command("jobs", stdout=out)
    text = out.getvalue()
    assert text.splitlines()[0].split() == [
        "id",
        "kind",
        "state",
        "progress",
        "iteration",
        "created",
        "detail",
    ]
    assert "25%" in text and "RLHF-V1" in text and "JobError: no test sets" in text
    out = io.StringIO()
    call_command("jobs", "--state", "failed", stdout=out)
    assert "evaluation" in out.getvalue() and "reward_helpfulness" not in out.getvalue()

    def sleep(_seconds):
        Job.objects.filter(pk=running.pk).update(
            state="succeeded", progress=1.0, finished_at=timezone.now(), output_dir="x"
        )

    monkeypatch.setattr("training_jobs.management.commands.jobs.time.sleep", sleep)
    err = io.StringIO()
    call_command("jobs", "--watch", stdout=io.StringIO(), stderr=err)
    bars = err.getvalue()
    assert f"job {running.pk} reward_helpfulness running" in bars
    assert f"job {running.pk} succeeded" in bars and "100%" in bars
