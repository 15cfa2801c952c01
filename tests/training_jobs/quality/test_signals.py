"""The platform signals (annotator agreement with the reward models, negligible share, drift,
disagreement) and the scoring of responses they read."""

import pytest

from training_jobs.models import ResponseScore
from training_jobs.quality.selectors import platform_signals
from training_jobs.quality.services import ScoringError, responses_score

from ...annotation.factories import BatchFactory, JudgmentFactory, PairFactory, ResponseFactory
from ..factories import VersionFactory

pytestmark = pytest.mark.django_db


def test_agreement_negligible_share_drift_and_disagreement(signals_world):
    signals = platform_signals()
    assert (
        signals.helpfulness_model == signals_world["h"]
        and signals.safety_model == signals_world["s"]
    )
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
