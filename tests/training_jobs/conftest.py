import json

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import roles
from training_jobs.models import Iteration, Job, ModelVersion

from ..annotation.factories import (
    BatchFactory,
    JudgmentFactory,
    PairFactory,
    ResponseFactory,
    UserFactory,
)
from .factories import ScoreFactory, VersionFactory


@pytest.fixture
def sent(monkeypatch) -> list:
    """Jobs are recorded, never sent to a broker (no worker runs in these tests)."""
    calls: list = []
    monkeypatch.setattr(
        "training_jobs.tasks.run_job.apply_async", lambda *a, **k: calls.append((a, k))
    )
    return calls


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


def _pair(batch, scores: dict, a="v1", b="v2"):
    """A pair whose responses the given versions scored: {version: (score_a, score_b)}."""
    pair = PairFactory(
        batch=batch,
        response_a=ResponseFactory(variant_label=a),
        response_b=ResponseFactory(variant_label=b),
    )
    for version, (score_a, score_b) in scores.items():
        ScoreFactory(response=pair.response_a, model_version=version, score=score_a)
        ScoreFactory(response=pair.response_b, model_version=version, score=score_b)
    return pair


@pytest.fixture
def signals_world():
    """Pairs scored by current and older reward models, judged by two annotators."""
    old_h = VersionFactory(name="rm-h-old")
    h = VersionFactory(name="rm-h")
    VersionFactory(name="rm-h-unscored")  # newest, but has scored nothing: not "current"
    s = VersionFactory(name="rm-s", kind="reward_safety")
    helpful = BatchFactory(name="week-1", stage="helpfulness", ordinal=1)
    safety = BatchFactory(name="week-2", stage="safety", ordinal=2)
    p1 = _pair(helpful, {h: (2.0, 1.0), s: (0.0, 1.0)})  # models disagree
    p2 = _pair(helpful, {h: (1.0, 0.0), s: (1.0, 0.5)})  # models agree
    p3 = _pair(helpful, {old_h: (5.0, -5.0)})  # only the old model scored it
    p4 = _pair(safety, {h: (0.0, 0.0), s: (-1.0, 0.5)}, a="v2", b="v3")  # h has no preference
    ann1 = UserFactory(username="ann1", role=roles.ANNOTATOR)
    ann2 = UserFactory(username="ann2<i>", role=roles.ANNOTATOR)
    JudgmentFactory(pair=p1, annotator=ann1, chosen="a", grade="better")
    JudgmentFactory(pair=p2, annotator=ann1, chosen="b", grade="negligibly_better")
    JudgmentFactory(pair=p3, annotator=ann1, chosen="a", grade="significantly_better")
    JudgmentFactory(pair=p4, annotator=ann2, chosen="b", grade="slightly_better")
    return {"h": h, "s": s}


SWEEP = {
    "ks": [1, 4, 16],
    "prompts": 12,
    "reward": "<b>sigmoid(R_c)</b>",
    "series": [
        {"temperature": 0.8, "max": [0.5, 0.6, 0.7], "median": [0.5] * 3, "gap": [0, 0.1, 0.2]},
        {"temperature": 1.2, "max": [0.4, 0.7, 0.8], "median": [0.4] * 3, "gap": [0, 0.3, 0.4]},
    ],
    "best_temperature": {"1": 0.8, "4": 1.2, "16": 1.2},
}
ROUND_METRICS = {
    "sampling": {"prompts": 12, "safety_prompts": 3, "answers": 48},
    "selection": {
        "k": 4,
        "mean_reward": 0.41,
        "mean_median_reward": 0.4,
        "mean_best_reward": 0.62,
        "routed_to_safety_share": 0.25,
        "pool_size": 20,
        "pool_from_earlier": 8,
    },
    "finetune": {"steps": 6, "first_loss": 2.87, "last_loss": 1.73},
}


@pytest.fixture
def policy(artifact_root) -> ModelVersion:
    """A policy made by a succeeded rejection-sampling job, with a model folder and sweep.json."""
    folder = artifact_root / "jobs" / "7" / "policy"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sweep.json").write_text(json.dumps(SWEEP))
    now = timezone.now()
    job = Job.objects.create(
        kind="rejection_sampling",
        state="succeeded",
        progress=1.0,
        started_at=now,
        finished_at=now,
        output_dir="jobs/7/policy",
    )
    return ModelVersion.objects.create(
        kind="policy", name="RLHF-V1-policy", path="jobs/7/policy", job=job, metrics=ROUND_METRICS
    )
