"""Factories of training_jobs rows and of the metrics rewardtrain writes."""

import factory

from rewardtrain.grades import GRADES, UNSAFE_THRESHOLD
from training_jobs.models import ModelVersion, ResponseScore

from ..annotation.factories import ResponseFactory


class VersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    kind = "reward_helpfulness"
    name = factory.Sequence(lambda n: f"rm-{n}")
    path = factory.Sequence(lambda n: f"jobs/{n}/model")


class ScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResponseScore

    response = factory.SubFactory(ResponseFactory)
    model_version = factory.SubFactory(VersionFactory)
    score = 0.0


def result(accuracies: list[float | None], average: float, **unsafe) -> dict:
    """A test-set entry as rewardtrain's pair_metrics writes it."""
    return {
        "n": 100,
        "accuracy": {**dict(zip(GRADES, accuracies, strict=True)), "ungraded": None},
        "average": average,
        "counts": dict.fromkeys(GRADES, 25),
        "mean_reward_gap": 0.4,
        "unsafe": {
            "threshold": UNSAFE_THRESHOLD,
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
