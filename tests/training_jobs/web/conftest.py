import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import roles
from training_jobs.models import Iteration, Job, ModelVersion

from ...annotation.factories import UserFactory

GRADES = ("significantly_better", "better", "slightly_better", "negligibly_better")


@pytest.fixture
def users(db) -> dict:
    return {
        "engineer": UserFactory(username="eng", role=roles.ML_ENGINEER),
        "admin": UserFactory(username="boss", role=roles.ADMIN),
        "annotator": UserFactory(username="ann", role=roles.ANNOTATOR),
    }


@pytest.fixture
def web(users):
    def client(who: str | None) -> Client:
        c = Client()
        if who:
            c.force_login(users[who])
        return c

    return client


@pytest.fixture
def api(users):
    def client(who: str | None) -> APIClient:
        c = APIClient()
        if who:
            token, _ = Token.objects.get_or_create(user=users[who])
            c.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return c

    return client


@pytest.fixture
def iteration(db) -> Iteration:
    policy = ModelVersion.objects.create(kind="policy", name="base", path="/models/base")
    return Iteration.objects.create(name="RLHF-V1", number=1, start_policy=policy)


def result(accuracies: list[float | None], average: float, **unsafe) -> dict:
    """A test-set entry as rewardtrain's pair_metrics writes it."""
    return {
        "n": 100,
        "accuracy": {**dict(zip(GRADES, accuracies, strict=True)), "ungraded": None},
        "average": average,
        "counts": dict.fromkeys(GRADES, 25),
        "mean_reward_gap": 0.4,
        "unsafe": {
            "threshold": 0.15,
            "labelled_responses": unsafe.get("labelled", 0),
            "precision": unsafe.get("precision"),
            "recall": unsafe.get("recall"),
        },
    }


def reward_version(
    name: str, kind: str, sets: dict, *, parent=None, job=None, previous=None, snapshot=None
) -> ModelVersion:
    model = "helpfulness" if kind == "reward_helpfulness" else "safety"
    metrics = {"metrics": {model: sets}, "table8": "| reward model | test set | ... |"}
    if previous:
        metrics["previous"] = previous
    return ModelVersion.objects.create(
        kind=kind,
        name=name,
        path=f"jobs/{name}/model",
        parent=parent,
        job=job,
        metrics=metrics,
        data_snapshot=snapshot or {},
    )


@pytest.fixture
def finished_job(iteration) -> Job:
    from django.utils import timezone

    now = timezone.now()
    return Job.objects.create(
        kind="reward_helpfulness",
        iteration=iteration,
        state="succeeded",
        progress=1.0,
        started_at=now,
        finished_at=now,
        output_dir="jobs/1/model",
        log="step 1\nstep 2\n",
        data_snapshot={
            "files": [{"name": "data.jsonl", "sha256": "ab" * 32, "rows": 120}],
            "judgments_through": 345,
            "by_stage": {"helpfulness": 100, "safety": 20},
            "batches": [1, 2],
        },
    )
