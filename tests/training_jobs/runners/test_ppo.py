"""The PPO job kind: validated parameters, a run through the real launcher (`run_core`) on a
tiny policy and tiny reward models, its policy registered with lineage and served, per-iteration
metrics on the job, and rejection sampling chained into PPO in one iteration (RLHF-V5)."""

import pytest
from django.core.exceptions import ValidationError

from annotation.generation.backends import backend_for, to_inference_variant
from annotation.models import Prompt, PromptBatch
from inference import SamplingParams
from training_jobs.models import Job, JobKind, ModelVersion
from training_jobs.runners import RUNNERS
from training_jobs.runners.context import JobContext
from training_jobs.services import job_claim, job_create, job_succeed
from training_jobs.services.iterations import iteration_create
from training_jobs.services.serving import policy_serve

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(900)]

PPO = {
    "preset": "cpu-small",
    "iterations": 2,
    "rollouts": 4,
    "mini_batch": 2,
    "micro_batch": 2,
    "max_new_tokens": 4,
    "heldout_count": 2,
    "eval_every": 1,
    "device": "cpu",
}


@pytest.fixture
def reward_models(artifact_root, tiny_policy):
    """Helpfulness and safety reward model versions initialised from the tiny policy."""
    from tests.training_jobs.rlhf.ppo.helpers import reward_model_folder

    versions = {}
    for seed, kind in enumerate(("helpfulness", "safety"), start=1):
        reward_model_folder(artifact_root / "rm" / kind, artifact_root / tiny_policy.path, seed)
        versions[kind] = ModelVersion.objects.create(
            kind=f"reward_{kind}", name=f"rm-{kind}", path=f"rm/{kind}"
        )
    return versions


def _batch(name: str, stage: str, n: int) -> PromptBatch:
    batch = PromptBatch.objects.create(name=name, stage=stage, ordinal=1)
    for i in range(n):
        Prompt.objects.create(
            batch=batch, messages=[{"role": "user", "content": f"{name}: question {i}?"}]
        )
    return batch


def _run(job: Job) -> Job:
    job = job_claim(job_id=job.pk, attempt=job.attempts)
    ctx = JobContext(job)
    RUNNERS[job.kind].run(job, ctx)
    assert job_succeed(job_id=job.pk, output_dir=ctx.output_dir, data_snapshot=job.data_snapshot)
    job.refresh_from_db()
    return job


def test_ppo_job_registers_a_policy_with_lineage_and_it_is_served(
    artifact_root, tiny_policy, reward_models
):
    helpful = _batch("week-1-helpfulness", "helpfulness", 6)
    safety = _batch("week-1-safety", "safety", 2)
    job = job_create(
        kind="ppo",
        params={**PPO, "batches": [helpful.pk, safety.pk], "policy_version": tiny_policy.pk},
    )
    assert job.queue == "default"  # device cpu; a gpu job goes to the gpu queue
    job = _run(job)

    version = ModelVersion.objects.get(job=job)
    assert version.kind == "policy" and version.parent == tiny_policy
    snapshot = version.data_snapshot
    assert snapshot["start_policy"] == {"id": tiny_policy.pk, "name": tiny_policy.name}
    assert snapshot["reward_models"]["helpfulness"]["name"] == "rm-helpfulness"
    assert snapshot["reward_models"]["safety"]["name"] == "rm-safety"
    assert len(snapshot["files"][0]["sha256"]) == 64 and snapshot["files"][0]["rows"] == 8
    assert version.metrics["method"] == "ppo" and version.metrics["iterations"] == 2
    folder = artifact_root / version.path
    assert (folder / "model.safetensors").is_file() and (folder / "ppo.json").is_file()
    assert not (folder / "checkpoints").exists()

    # The job's series: one point per iteration for each metric the core reported.
    series = job.metrics["ppo"]
    for name in ("reward_mean", "kl_k1", "kl_k3", "clip_fraction", "value_loss", "entropy"):
        assert [point[0] for point in series[name]] == [1, 2], name
    assert "$ " in job.log and "training_jobs.rlhf ppo" in job.log

    variant = policy_serve(version=version, batch=helpful)
    backend = backend_for(to_inference_variant(variant))
    (completion,) = backend.generate(
        [[{"role": "user", "content": "Hello?"}]], SamplingParams(max_tokens=3, seed=0)
    )
    assert completion.model == variant.model_path == str(folder)


def test_rejection_sampling_then_ppo_in_one_iteration(artifact_root, tiny_policy, reward_models):
    batch = _batch("week-2", "helpfulness", 4)
    iteration = iteration_create(name="RLHF-V5", start_policy=tiny_policy)
    round_params = {
        "batches": [batch.pk],
        "k": 2,
        "max_tokens": 4,
        "epochs": 1.0,
        "train_batch_size": 4,
        "micro_batch": 4,
        "device": "cpu",
        "then_ppo": {k: v for k, v in PPO.items() if k != "device"},
    }
    rs = _run(job_create(kind="rejection_sampling", params=round_params, iteration=iteration))
    rs_version = ModelVersion.objects.get(job=rs)

    chained = Job.objects.get(kind=JobKind.PPO, iteration=iteration)
    assert chained.params["policy_version"] == rs_version.pk
    assert chained.params["batches"] == [batch.pk] and chained.params["device"] == "cpu"
    again = job_create(kind="ppo", params=chained.params, request_key=f"job-{rs.pk}-then-ppo")
    assert again.pk == chained.pk  # one chained job however often it is asked for

    ppo_version = ModelVersion.objects.get(job=_run(chained))
    assert ppo_version.parent == rs_version
    iteration.refresh_from_db()
    assert iteration.produced_policy == ppo_version


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "batches"),
        ({"batches": [1], "beta": "big"}, "beta"),
        ({"batches": [1], "prompts": "x.jsonl"}, "prompts"),
        ({"batches": [1], "backend": "http"}, "backend"),
        ({"batches": [1], "rollouts": 10, "mini_batch": 4}, "multiple"),
        ({"batches": [1], "nprocs": 2, "mini_batch": 3, "rollouts": 6}, "processes"),
        ({"batches": [1], "nprocs": 2, "backend": "vllm"}, "vllm"),
        ({"batches": [1], "nprocs": 0}, "nprocs"),
        ({"batches": [1], "policy_version": 999}, "policy_version"),
        ({"batches": [1], "temperature": 3.0}, "temperature"),
    ],
)
def test_invalid_parameters_are_refused_before_a_job_exists(params, message):
    with pytest.raises(ValidationError, match=message):
        job_create(kind="ppo", params=params)
    assert not Job.objects.exists()


def test_then_ppo_is_checked_with_the_round(tiny_policy):
    with pytest.raises(ValidationError, match="then_ppo"):
        job_create(
            kind="rejection_sampling",
            params={"batches": [1], "then_ppo": {"beta": "big"}},
        )
    with pytest.raises(ValidationError, match="then_ppo"):
        job_create(
            kind="rejection_sampling",
            params={"batches": [1], "then_ppo": {"policy_version": tiny_policy.pk}},
        )
