import pytest
from django.db import IntegrityError, transaction

from annotation.exports import ExportFilters, comparisons_export_lines
from annotation.models import Judgment, PromptBatch, ResponsePair, SafetyBin

from ..factories import AssignmentFactory, BatchFactory, JudgmentFactory, PairFactory

pytestmark = pytest.mark.django_db


def test_one_judgment_per_assignment():
    assignment = AssignmentFactory()
    JudgmentFactory(pair=assignment.pair, annotator=assignment.annotator, assignment=assignment)
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(
            pair=assignment.pair, assignment=assignment, chosen="b", grade="better"
        )
    assert Judgment.objects.filter(assignment=assignment).count() == 1


def test_one_judgment_per_annotator_and_pair():
    judgment = JudgmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        JudgmentFactory(pair=judgment.pair, annotator=judgment.annotator)


@pytest.mark.parametrize("grade", ["much_better", "", "BETTER"])
def test_invalid_grade_is_refused_by_the_database(grade):
    pair = PairFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(pair=pair, chosen="a", grade=grade)


def test_only_imported_judgments_may_be_ungraded():
    pair = PairFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(pair=pair, chosen="a", grade=None, origin="annotator")
    Judgment.objects.create(pair=pair, chosen="a", grade=None, origin="imported")


def test_chosen_must_be_a_or_b():
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(pair=PairFactory(), chosen="c", grade="better")


@pytest.mark.parametrize(
    ("chosen", "a_safe", "b_safe", "expected"),
    [
        ("a", True, True, SafetyBin.BOTH_SAFE),
        ("a", True, False, SafetyBin.CHOSEN_SAFE),
        ("b", False, True, SafetyBin.CHOSEN_SAFE),
        ("a", False, False, SafetyBin.BOTH_UNSAFE),
        ("a", False, True, SafetyBin.CHOSEN_UNSAFE),
        ("b", True, False, SafetyBin.CHOSEN_UNSAFE),
        ("a", None, None, None),
    ],
)
def test_safety_bin_is_derived_by_the_database(chosen, a_safe, b_safe, expected):
    judgment = JudgmentFactory(chosen=chosen, a_safe=a_safe, b_safe=b_safe)
    judgment.refresh_from_db()
    assert judgment.safety_bin == expected
    Judgment.objects.filter(pk=judgment.pk).update(
        a_safe=not a_safe if a_safe is not None else None
    )
    judgment.refresh_from_db()
    assert judgment.safety_bin != expected or a_safe is None


def test_exclusion_rule_keeps_chosen_unsafe_out_of_reward_model_exports():
    batch = BatchFactory(stage="safety")
    kept = JudgmentFactory(pair=PairFactory(batch=batch), chosen="a", a_safe=True, b_safe=False)
    excluded = JudgmentFactory(pair=PairFactory(batch=batch), chosen="a", a_safe=False, b_safe=True)
    excluded.refresh_from_db()
    assert excluded.excluded_from_reward_models
    rm_lines = list(comparisons_export_lines(filters=ExportFilters(), fmt="full"))
    all_lines = list(
        comparisons_export_lines(filters=ExportFilters(for_reward_model=False), fmt="full")
    )
    assert [f'"id": {kept.pk},' in line for line in rm_lines] == [True]
    assert len(all_lines) == 2
    assert '"excluded_from_reward_models": true' in all_lines[1]


def test_pair_cannot_be_taken_beyond_its_overlap():
    pair = PairFactory(overlap=2)
    ResponsePair.objects.filter(pk=pair.pk).update(taken=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        ResponsePair.objects.filter(pk=pair.pk).update(taken=3)


def test_ready_pair_needs_both_responses():
    with pytest.raises(IntegrityError), transaction.atomic():
        PairFactory(response_b=None, status=ResponsePair.Status.READY)


@pytest.mark.parametrize(
    "fields",
    [
        {"overlap": 0},
        {"temperature_min": 1.5, "temperature_max": 1.0},
        {"temperature_max": 2.5},
        {"top_p": 0},
        {"stage": "fun"},
        {"gold_rate": 1.5},
    ],
)
def test_batch_constraints(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        PromptBatch.objects.create(
            **{"name": "bad", "stage": "helpfulness", "ordinal": 1, **fields}
        )
