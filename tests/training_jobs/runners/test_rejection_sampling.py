"""The rejection-sampling job kind and serving its policy: tiny policy, tiny reward models
trained with rewardtrain for a few steps, the runner in-process, a second round pooling the
first's answers, and the new policy as a variant that the generation backend loads."""

import importlib.util
import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from annotation.generation.backends import backend_for, to_inference_variant
from annotation.models import Prompt, PromptBatch
from inference import SamplingParams
from rewardtrain.config import TrainConfig
from rewardtrain.train import main as train_reward_model
from training_jobs.models import Job, ModelVersion
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
    # parameters named as before RoundConfig composed its parts still reach the core
    assert "--train-lr 0.001" in first.log and "--train-batch-size 4" in first.log
    finetune = first.metrics["finetune"]  # the round's per-stage metrics, for the job page
    assert [step for step, _ in finetune["loss"]] == list(range(1, len(finetune["loss"]) + 1))
    assert set(finetune) == {"loss", "lr"}
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
        ({"batches": [1], "train_lr": "fast"}, "train_lr must be float"),
        ({"batches": [1], "epochs": "two"}, "train_epochs must be float"),
        ({"batches": [1], "policy": "/etc"}, "Unknown parameter"),
        ({"batches": [1], "backend": "http"}, "backend"),
        ({"batches": [1], "sweep_ks": [1, 200], "sweep_temperatures": [1.0]}, "sweep_ks"),
        ({"batches": [1], "sweep_ks": [1]}, "both"),
        ({"batches": [1], "helpfulness_version": 999}, "not a reward_helpfulness"),
        ({"batches": [1], "nprocs": 0}, "nprocs must be an integer from 1 to 64"),
        ({"batches": [1], "nprocs": "2"}, "nprocs must be"),
        ({"batches": [1], "finetune": False}, "Unknown parameter"),
    ],
)
def test_invalid_params_are_refused_before_a_job_exists(artifact_root, params, message):
    with pytest.raises(ValidationError, match=message):
        job_create(kind="rejection_sampling", params=params)


def test_pools_follow_the_start_policys_lineage(artifact_root, tiny_policy):
    """base → v1 → v2, and an abandoned branch base → w1: a round from v2 pools v1's and v2's
    rounds, oldest first, and never w1's."""
    from training_jobs.runners.rejection_sampling import RejectionSamplingRunner

    def round_from(parent: ModelVersion, name: str) -> tuple[Job, ModelVersion]:
        job = Job.objects.create(
            kind="rejection_sampling",
            state="succeeded",
            started_at=timezone.now(),
            finished_at=timezone.now(),
            output_dir=f"jobs/{name}/policy",
        )
        (artifact_root / job.output_dir).mkdir(parents=True)
        (artifact_root / job.output_dir / "pool.jsonl").write_text("")
        version = ModelVersion.objects.create(
            kind="policy", name=name, path=job.output_dir, parent=parent, job=job
        )
        return job, version

    job_v1, v1 = round_from(tiny_policy, "v1")
    job_w1, _ = round_from(tiny_policy, "w1")
    job_v2, v2 = round_from(v1, "v2")
    pools = RejectionSamplingRunner()._earlier_pools(v2)
    assert [pk for pk, _ in pools] == [job_v1.pk, job_v2.pk]
    assert pools[0][1] == artifact_root / "jobs/v1/policy/pool.jsonl"
    assert RejectionSamplingRunner()._earlier_pools(tiny_policy) == []


@pytest.mark.parametrize(
    "params", [{"backend": "vllm", "device": "cpu"}, {"device": "gpu"}], ids=["asked", "gpu"]
)
def test_a_job_without_vllm_fails_with_a_clear_error(artifact_root, params):
    """This Python has no vLLM: a round that would sample with it fails at once, saying so."""
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed in this Python")
    batch = _batch("week-1-helpfulness", "helpfulness", 1)
    job = job_create(kind="rejection_sampling", params={"batches": [batch.pk], **params})
    job = job_claim(job_id=job.pk, attempt=job.attempts)
    with pytest.raises(JobError, match=r"vllm backend needs vLLM.*MARGIN_JOB_PYTHON"):
        RUNNERS["rejection_sampling"].run(job, JobContext(job))
    assert not (artifact_root / f"jobs/{job.pk}/work/prompts.jsonl").exists()


@pytest.mark.slow
def test_a_round_over_two_processes_fine_tunes_under_torchrun(
    artifact_root, tiny_policy, reward_models
):
    """nprocs 2: the round samples and selects in one process, then `finetune` runs under
    torchrun with FSDP; its metrics join the round's."""
    batch = _batch("week-1-helpfulness", "helpfulness", 4)
    params = {**ROUND, "batches": [batch.pk], "nprocs": 2, "train_fsdp": True}
    job = _run({**params, "train_batch_size": 2, "micro_batch": 1})
    assert "--no-finetune" in job.log
    assert "torch.distributed.run --standalone --nproc-per-node 2" in job.log
    assert "training_jobs.rlhf finetune" in job.log
    tuned = ModelVersion.objects.get(job=job).metrics["finetune"]
    assert tuned["world_size"] == 2 and tuned["fsdp"] and tuned["steps"] >= 1
    assert (artifact_root / job.output_dir / "model.safetensors").is_file()
