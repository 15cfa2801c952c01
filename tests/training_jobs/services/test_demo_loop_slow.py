"""The demo loop end to end with a real Celery worker on the harness's PostgreSQL and Redis:
pairs from the default CPU model, simulated judgments, two reward models and a rejection-
sampling round (on a tiny policy, so it takes minutes), each step started by the worker that
finished the one before."""

import pytest

from annotation.demo import demo_seed
from annotation.models import Judgment, ModelVariant, PromptBatch
from tests.processes import wait_for
from training_jobs.models import JobState, ModelVersion
from training_jobs.services import demo_loop_start, demo_loop_state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1500), pytest.mark.slow]


def test_the_demo_loop_runs_to_a_new_policy(start_worker, tiny_policy, settings, default_model_dir):
    settings.MARGIN_DEMO = True
    batches = demo_seed().batches
    ModelVariant.objects.update(model_path=str(default_model_dir))
    PromptBatch.objects.update(max_new_tokens=8)
    iteration = demo_loop_start(pairs_per_batch=6, start_policy=tiny_policy)
    start_worker()

    def finished():
        state = demo_loop_state(iteration=iteration)
        return state if state.done or state.failed else None

    state = wait_for(finished, 1400, "the demo loop", interval=2)
    for _, job in state.steps:
        assert job.state == JobState.SUCCEEDED, f"{job.kind}: {job.error}\n{job.log[-2000:]}"
        assert job.progress == 1.0
    assert Judgment.objects.filter(annotator__username__startswith="simulated-").count() == 12
    for batch in batches:
        assert Judgment.objects.filter(pair__batch=batch).count() == 6
    iteration.refresh_from_db()
    policy = iteration.produced_policy
    assert policy is not None and policy.parent == tiny_policy
    assert (
        policy.job.params["helpfulness_version"]
        == ModelVersion.objects.get(kind="reward_helpfulness").pk
    )
    assert (settings.ARTIFACT_ROOT / policy.path / "model.safetensors").is_file()
