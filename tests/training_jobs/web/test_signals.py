import factory
import pytest

from annotation import roles
from training_jobs.models import ModelVersion, ResponseScore
from training_jobs.quality.selectors import platform_signals
from training_jobs.quality.services import ScoringError, responses_score

from ...annotation.factories import (
    BatchFactory,
    JudgmentFactory,
    PairFactory,
    ResponseFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


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
def world():
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


def test_agreement_negligible_share_drift_and_disagreement(world):
    signals = platform_signals()
    assert signals.helpfulness_model == world["h"] and signals.safety_model == world["s"]
    ann1, ann2 = signals.annotators
    assert (ann1.username, ann1.judgments, ann1.scored, ann1.agreed) == ("ann1", 3, 2, 1)
    assert ann1.agreement == 0.5 and ann1.negligible_share == pytest.approx(1 / 3)
    # a safety-stage judgment is compared with the safety model
    assert (ann2.scored, ann2.agreement, ann2.negligible_share) == (1, 1.0, 0.0)

    week1, week2 = signals.batches
    variants = {v.label: v for v in week1.variant_rows}
    assert variants["v1"].responses == 3 and variants["v1"].helpfulness_mean == 1.5
    assert variants["v2"].helpfulness_mean == 0.5 and variants["v2"].safety_mean == 0.75
    assert (week1.compared, week1.disagreed, week1.disagreement) == (2, 1, 0.5)
    assert week2.compared == 0 and week2.disagreement is None
    assert {v.label for v in week2.variant_rows} == {"v2", "v3"}
    assert (signals.compared, signals.disagreed) == (2, 1)


def test_no_scores_gives_no_agreement_but_still_the_negligible_share():
    JudgmentFactory(grade="negligibly_better")
    signals = platform_signals()
    (only,) = signals.annotators
    assert only.agreement is None and only.negligible_share == 1.0
    assert signals.disagreement is None and signals.helpfulness_model is None


def test_signals_page_for_staff_only_and_scoring_is_queued_after_commit(
    web, world, monkeypatch, django_capture_on_commit_callbacks
):
    page = web("engineer").get("/staff/signals/").content.decode()
    assert "ann2&lt;i&gt;" in page and "ann2<i>" not in page
    assert 'id="disagreement">0.50<' in page and "rm-h-unscored" in page
    assert web("annotator").get("/staff/signals/").status_code == 403
    sent = []
    monkeypatch.setattr(
        "training_jobs.quality.tasks.score_responses.apply_async",
        lambda *args, **options: sent.append(options["args"]),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = web("admin").post("/staff/signals/score/")
    assert response.status_code == 302 and response["Location"].endswith("?queued=1")
    newest_h = ModelVersion.objects.get(name="rm-h-unscored")
    assert sorted(sent) == sorted([[newest_h.pk, None], [world["s"].pk, None]])


def test_a_policy_is_not_a_scorer():
    policy = VersionFactory(kind="policy")
    with pytest.raises(ScoringError):
        responses_score(version_id=policy.pk)


def test_responses_score_runs_the_scorer_and_stores_each_score_once(tiny_policy, artifact_root):
    from rewardtrain.model import load_sequence_classifier, load_tokenizer, save_reward_model

    source = artifact_root / tiny_policy.path
    tokenizer = load_tokenizer(source)
    save_reward_model(
        load_sequence_classifier(source, tokenizer.pad_token_id), tokenizer, artifact_root / "rm"
    )
    version = VersionFactory(path="rm")
    batch, other = BatchFactory(), BatchFactory()
    pairs = [
        PairFactory(
            batch=batch,
            context=[{"role": "user", "content": "Name a colour."}],
            response_a=ResponseFactory(text="Blue."),
            response_b=ResponseFactory(text="I would rather not say."),
        ),
        PairFactory(
            batch=batch,
            context=[
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Tell me a joke."},
            ],
        ),
    ]
    PairFactory(batch=other)
    assert responses_score(version_id=version.pk, batch_id=batch.pk) == 4
    stored = ResponseScore.objects.filter(model_version=version)
    expected = {r for p in pairs for r in (p.response_a_id, p.response_b_id)}
    assert set(stored.values_list("response_id", flat=True)) == expected
    assert len({round(s, 6) for s in stored.values_list("score", flat=True)}) > 1
    assert responses_score(version_id=version.pk, batch_id=batch.pk) == 0
    assert list((artifact_root / "scores" / str(version.pk)).glob("*/scored.jsonl"))
