"""The rejection-sampling job kind and serving its policy: tiny policy, tiny reward models
trained with rewardtrain for a few steps, the runner in-process, a second round pooling the
first's answers, and the new policy as a variant that the generation backend loads."""

import json

import pytest

from annotation.generation.backends import backend_for, to_inference_variant
from annotation.models import Prompt, PromptBatch
from inference import SamplingParams
from rewardtrain.config import TrainConfig
from rewardtrain.train import main as train_reward_model
from training_jobs.models import ModelVersion
from training_jobs.runners import RUNNERS
from training_jobs.runners.context import JobContext
from training_jobs.services import JobError, job_claim, job_create, job_succeed
from training_jobs.services.serving import policy_serve

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(900)]

ROUND = {
    "k": 2,
    "max_tokens": 4,
    "epochs": 1.0,
    "train_batch_size": 4,
    "micro_batch": 4,
    "lr": 1e-3,
    "device": "cpu",
}


@pytest.fixture
def reward_models(artifact_root, tiny_policy):
    """Helpfulness and safety reward models, two training steps each on hand-made pairs."""
    data = artifact_root / "pairs.jsonl"
    with data.open("w") as f:
        for i in range(8):
            f.write(
                json.dumps(
                    {
                        "prompt": [{"role": "user", "content": f"Tell me about topic {i}."}],
                        "chosen": [{"role": "assistant", "content": f"Topic {i} is a topic."}],
                        "rejected": [{"role": "assistant", "content": "No."}],
                        "margin": 1.0,
                    }
                )
                + "\n"
            )
    versions = {}
    for kind in ("helpfulness", "safety"):
        train_reward_model(
            TrainConfig(
                output_dir=str(artifact_root / "rm" / kind),
                model=str(artifact_root / tiny_policy.path),
                reward_model=kind,
                data=[str(data)],
                mix="none",
                max_steps=2,
                batch_pairs=4,
                test_pairs=2,
                save_every=0,
                pack_tokens=512,
                progress=False,
            )
        )
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


def _run(params: dict):
    job = job_create(kind="rejection_sampling", params=params)
    job = job_claim(job_id=job.pk, attempt=job.attempts)
    ctx = JobContext(job)
    RUNNERS["rejection_sampling"].run(job, ctx)
    # Registering the policy finished the job in its own transaction: nothing left to do.
    assert not job_succeed(job_id=job.pk, output_dir=ctx.output_dir, attempt=job.attempts)
    job.refresh_from_db()
    assert job.state == "succeeded" and job.output_dir == ctx.output_dir
    return job


def test_two_rounds_register_policies_and_the_second_is_served(
    artifact_root, tiny_policy, reward_models
):
    helpful = _batch("week-1-helpfulness", "helpfulness", 3)
    safety = _batch("week-1-safety", "safety", 1)
    first = _run(
        {
            **ROUND,
            "batches": [helpful.pk, safety.pk],
            "policy_version": tiny_policy.pk,
            "sweep_ks": [1, 2],
            "sweep_temperatures": [0.7, 1.0],
        }
    )
    v1 = ModelVersion.objects.get(job=first)
    assert v1.kind == "policy" and v1.parent == tiny_policy
    folder = artifact_root / v1.path
    assert (folder / "model.safetensors").is_file() and (folder / "rlhf.json").is_file()
    assert v1.metrics["selection"]["pool_size"] == 4
    assert v1.metrics["sampling"]["safety_prompts"] == 1
    assert v1.data_snapshot["reward_models"] == {
        "helpfulness": "rm-helpfulness",
        "safety": "rm-safety",
    }
    sweep = json.loads((folder / "sweep.json").read_text())
    assert sweep["ks"] == [1, 2] and [s["temperature"] for s in sweep["series"]] == [0.7, 1.0]
    safety_rows = [json.loads(line) for line in (folder / "scored.jsonl").read_text().splitlines()]
    assert all(
        r["used"] == "safety" for row in safety_rows if row["safety"] for r in row["rewards"]
    )

    second = _run({**ROUND, "batches": [helpful.pk], "policy_version": v1.pk, "seed": 1})
    v2 = ModelVersion.objects.get(job=second)
    assert v2.parent == v1 and second.data_snapshot["earlier_pools_from_jobs"] == [first.pk]
    selection = v2.metrics["selection"]
    assert selection["earlier_pool_entries"] == 4 and selection["pool_size"] == 4

    variant = policy_serve(version=v2, batch=helpful)
    assert variant.label == v2.name and variant.model_path == str(artifact_root / v2.path)
    assert list(helpful.variants.all()) == [variant]
    backend = backend_for(to_inference_variant(variant))
    (completion,) = backend.generate(
        [[{"role": "user", "content": "Hello?"}]], SamplingParams(max_tokens=3, seed=0)
    )
    assert completion.model == variant.model_path

    served = policy_serve(
        version=v2, label="served", backend="http", server_url="http://127.0.0.1:8000/v1"
    )
    assert served.model_name == v2.name and served.model_path == ""
    with pytest.raises(JobError):
        policy_serve(version=reward_models["helpfulness"])


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "batches"),
        ({"batches": [1], "k": "8"}, "k must be int"),
        ({"batches": [1], "policy": "/etc"}, "Unknown parameter"),
        ({"batches": [1], "backend": "http"}, "backend"),
        ({"batches": [1], "sweep_ks": [1, 200], "sweep_temperatures": [1.0]}, "sweep_ks"),
        ({"batches": [1], "sweep_ks": [1]}, "both"),
        ({"batches": [1], "helpfulness_version": 999}, "not a reward_helpfulness"),
    ],
)
def test_invalid_params_are_refused_before_a_job_exists(artifact_root, params, message):
    with pytest.raises(JobError, match=message):
        job_create(kind="rejection_sampling", params=params)
