"""The demo loop: simulated annotators, two reward models and a rejection-sampling round as the
jobs of one iteration, each started when the one before it succeeded."""

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from annotation.demo import demo_seed
from annotation.models import Judgment, ModelVariant, PromptBatch
from training_jobs.models import Iteration, Job, JobState, ModelVersion
from training_jobs.services import (
    JobError,
    demo_loop_advance,
    demo_loop_after_job,
    demo_loop_resume,
    demo_loop_start,
    demo_loop_state,
    job_claim,
    job_fail,
    job_retry,
    job_succeed,
)
from training_jobs.services.demo_loop import REWARD_PARAMS, ROUND_PARAMS

pytestmark = pytest.mark.django_db
STEP_KINDS = ["simulated_annotation", "reward_helpfulness", "reward_safety", "rejection_sampling"]


@pytest.fixture
def sent(monkeypatch) -> list:
    """Jobs are recorded, never sent to a broker (no worker in these tests)."""
    calls: list = []
    monkeypatch.setattr(
        "training_jobs.tasks.run_job.apply_async", lambda *a, **k: calls.append(("job", a, k))
    )
    return calls


@pytest.fixture
def demo(settings, monkeypatch) -> list[int]:
    settings.MARGIN_DEMO = True
    monkeypatch.setattr("annotation.generation.service.enqueue_generation", lambda batch_id: None)
    return [batch.pk for batch in demo_seed().batches]


def _succeed(job: Job, version_kind: str | None = None) -> None:
    assert job_claim(job_id=job.pk, attempt=job.attempts)
    job_succeed(job_id=job.pk, output_dir=f"jobs/{job.pk}/out")
    if version_kind:
        ModelVersion.objects.create(
            kind=version_kind, name=f"{version_kind}-{job.pk}", path=f"jobs/{job.pk}/out", job=job
        )


def _kinds(iteration: Iteration) -> list[str]:
    return list(iteration.jobs.order_by("id").values_list("kind", flat=True))


def test_the_demo_loop_exists_only_in_development_mode(settings, sent):
    settings.MARGIN_DEMO = False
    with pytest.raises(JobError, match="development site"):
        demo_loop_start()
    with pytest.raises(CommandError, match="development site"):
        call_command("demo_loop", "--no-wait")
    assert not Iteration.objects.exists() and not Job.objects.exists()


def test_it_needs_the_open_demo_batches(settings, sent):
    settings.MARGIN_DEMO = True
    with pytest.raises(JobError, match="demo batches"):
        demo_loop_start()


def test_each_step_starts_when_the_one_before_succeeds(demo, sent):
    iteration = demo_loop_start(pairs_per_batch=5)
    first = iteration.jobs.get()
    assert first.kind == "simulated_annotation" and first.queue == "default"
    assert first.params == {"batches": demo, "pairs_per_batch": 5}
    assert demo_loop_advance(iteration=iteration).current == 1
    assert _kinds(iteration) == STEP_KINDS[:1]  # nothing new while step 1 runs

    _succeed(first)
    state = demo_loop_advance(iteration=iteration)
    demo_loop_advance(iteration=iteration)  # a second advance (worker, command) is harmless
    assert _kinds(iteration) == STEP_KINDS[:2] and state.current == 2
    helpful = iteration.jobs.get(kind="reward_helpfulness")
    assert helpful.params == {"batches": demo, "device": "cpu", **REWARD_PARAMS}
    assert helpful.queue == "default"  # device cpu: any worker

    _succeed(helpful, "reward_helpfulness")
    demo_loop_advance(iteration=iteration)
    safety = iteration.jobs.get(kind="reward_safety")
    _succeed(safety, "reward_safety")
    demo_loop_advance(iteration=iteration)
    assert _kinds(iteration) == STEP_KINDS
    rounds = iteration.jobs.get(kind="rejection_sampling")
    versions = {v.kind: v.pk for v in ModelVersion.objects.all()}
    assert rounds.params == {
        "batches": demo,
        "device": "cpu",
        "helpfulness_version": versions["reward_helpfulness"],
        "safety_version": versions["reward_safety"],
        **ROUND_PARAMS,
    }
    _succeed(rounds)
    state = demo_loop_advance(iteration=iteration)
    assert state.done and not state.running and state.failed is None
    assert _kinds(iteration) == STEP_KINDS


def test_a_failed_step_stops_the_loop_until_it_is_retried(demo, sent):
    iteration = demo_loop_start()
    job_claim(job_id=iteration.jobs.get().pk, attempt=1)
    job_fail(job_id=iteration.jobs.get().pk, reason="RuntimeError: no pairs")
    state = demo_loop_advance(iteration=iteration)
    assert state.failed is not None and not state.running and _kinds(iteration) == STEP_KINDS[:1]

    job = job_retry(job=iteration.jobs.get())
    _succeed(job)
    sent.clear()
    state = demo_loop_resume(iteration=iteration)
    assert _kinds(iteration) == STEP_KINDS[:2] and state.running


def test_each_step_that_succeeds_starts_the_next_one_from_the_worker(demo, sent):
    iteration = demo_loop_start()
    first = iteration.jobs.get()
    job_claim(job_id=first.pk, attempt=1)
    assert demo_loop_after_job(job_id=first.pk) is None  # still running: nothing to start
    assert _kinds(iteration) == STEP_KINDS[:1]
    for kind, version in zip(STEP_KINDS, [None, "reward_helpfulness", "reward_safety", None]):
        job = iteration.jobs.get(kind=kind)
        if job.state == JobState.QUEUED:
            job_claim(job_id=job.pk, attempt=job.attempts)
        job_succeed(job_id=job.pk, output_dir=f"jobs/{job.pk}/out")
        if version:
            ModelVersion.objects.create(kind=version, name=f"{version}-{job.pk}", path="x", job=job)
        state = demo_loop_after_job(job_id=job.pk)
        assert state is not None and _kinds(iteration) == STEP_KINDS[: STEP_KINDS.index(kind) + 2]
    assert state.done and not state.running


def test_a_next_step_that_cannot_start_leaves_the_finished_step_alone(demo, sent, monkeypatch):
    iteration = demo_loop_start()
    first = iteration.jobs.get()
    _succeed(first)
    monkeypatch.setattr(
        "training_jobs.services.demo_loop.job_create",
        lambda **kw: (_ for _ in ()).throw(JobError("no room")),
    )
    assert demo_loop_after_job(job_id=first.pk) is None
    first.refresh_from_db()
    assert first.state == JobState.SUCCEEDED and _kinds(iteration) == STEP_KINDS[:1]
    monkeypatch.undo()
    assert demo_loop_resume(iteration=iteration).running  # Continue on the page
    assert _kinds(iteration) == STEP_KINDS[:2]


def test_other_jobs_are_not_demo_loop_steps(sent):
    from training_jobs.services import job_create

    job = job_create(kind="reward_helpfulness", params={"device": "cpu"})
    job_claim(job_id=job.pk, attempt=1)
    job_succeed(job_id=job.pk, output_dir="jobs/1/out")
    assert demo_loop_after_job(job_id=job.pk) is None


def test_the_command_starts_the_loop_for_the_worker(
    demo, sent, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("demo_loop", "--no-wait", "--pairs", "3")
    iteration = Iteration.objects.get()
    assert f"/iterations/{iteration.pk}/" in capsys.readouterr().out
    assert iteration.jobs.get().params["pairs_per_batch"] == 3
    assert [kind for kind, *_ in sent] == ["job"]  # the worker takes it from here


def test_a_plain_iteration_is_not_a_demo_loop(demo, sent):
    iteration = Iteration.objects.create(name="RLHF-V9", number=9)
    assert demo_loop_state(iteration=iteration) is None
    assert demo_loop_advance(iteration=iteration) is None
    with pytest.raises(JobError):
        demo_loop_resume(iteration=iteration)


@pytest.mark.django_db(transaction=True)  # the job's heartbeat thread has its own connection
def test_the_simulation_job_generates_pairs_with_the_cpu_model_and_judges_them(
    demo, artifact_root, default_model_dir, settings
):
    """The first step for real: pairs from the default model on CPU, judged through the queue,
    with heartbeats while the model writes (a round may outlast the sweeper's timeout)."""
    from training_jobs.tasks import run_job

    settings.MARGIN_JOBS = {**settings.MARGIN_JOBS, "HEARTBEAT_SECONDS": 1}
    ModelVariant.objects.update(model_path=str(default_model_dir))
    PromptBatch.objects.update(max_new_tokens=6)
    iteration = demo_loop_start(pairs_per_batch=2)
    job = iteration.jobs.get()
    assert run_job.apply(args=[job.pk, job.attempts]).get() == "succeeded"
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.progress == 1.0, job.error + job.log
    assert job.finished_at <= timezone.now()
    for batch_id in demo:
        judged = Judgment.objects.filter(pair__batch_id=batch_id)
        assert judged.count() == 2
        assert all(j.annotator.username.startswith("simulated-") for j in judged)
    assert "pairs judged by simulated annotators" in job.log
    assert job.data_snapshot["by_stage"] == {"helpfulness": 2, "safety": 2}
    assert (artifact_root / job.output_dir / "summary.json").is_file()


@pytest.mark.django_db(transaction=True)
def test_a_long_generation_round_keeps_the_job_s_heartbeat_fresh(demo, sent, settings):
    """A round of the model writing may take minutes on a busy machine; the sweeper must not
    take the job for dead meanwhile, and a cancel during it stops the job after it."""
    import time

    from training_jobs.runners.context import JobCancelled
    from training_jobs.runners.simulation import _heartbeat
    from training_jobs.services import job_cancel

    settings.MARGIN_JOBS = {**settings.MARGIN_JOBS, "HEARTBEAT_SECONDS": 1}
    job = demo_loop_start().jobs.get()
    job = job_claim(job_id=job.pk, attempt=1)
    claimed_beat = job.heartbeat_at
    with _heartbeat(job, "demo-safety: 3 of 12 pairs ready"):
        time.sleep(2.5)  # the model writing
    job.refresh_from_db()
    assert job.heartbeat_at > claimed_beat and job.progress_detail.startswith("demo-safety")
    with pytest.raises(JobCancelled):
        with _heartbeat(job, "still writing"):
            job_cancel(job=job)
            time.sleep(2.5)


def test_a_simulation_job_failed_by_the_sweeper_stops_writing_judgments(demo, sent):
    from training_jobs.runners.context import JobCancelled
    from training_jobs.runners.simulation import _Progress

    iteration = demo_loop_start()
    job = iteration.jobs.get()
    job_claim(job_id=job.pk, attempt=1)
    progress = _Progress(job, steps=10)
    progress.report("working")  # running: goes on
    job_fail(job_id=job.pk, reason="The worker stopped: no heartbeat")
    with pytest.raises(JobCancelled):
        progress.report("still working")


def test_simulated_annotators_are_refused_outside_development(settings, sent):
    from django.core.exceptions import ValidationError

    from training_jobs.services import job_create

    settings.MARGIN_DEMO = False
    with pytest.raises(ValidationError, match="development site"):
        job_create(kind="simulated_annotation", params={"batches": [1]})
