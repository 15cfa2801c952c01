"""Leases, expiry, submit, dialogues and gold pairs at the service level."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from annotation.models import Assignment, Dialogue, Judgment, ResponsePair, SafetyBin
from annotation.workspace import services
from annotation.workspace.services import Choice, StageKind

from ..factories import BatchFactory, PairFactory, PromptFactory
from .factories import pair_make_ready

pytestmark = pytest.mark.django_db


def _submit(assignment, annotator, keep=False, **choice):
    fields = {"side": "left", "grade": "better", **choice}
    return services.judgment_submit(
        assignment_id=assignment.pk,
        annotator=annotator,
        idempotency_key=services.submit_key(assignment=assignment),
        choice=Choice(**fields),
        seconds_spent=3.5,
        keep_excluded=keep,
    )


def test_lease_takes_a_ready_pair_once_and_reload_shows_the_same(batch, pairs, annotator):
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    assert stage.kind == StageKind.PAIR and stage.pair == pairs[0]
    again = services.workspace_stage(batch=batch, annotator=annotator)
    assert again.assignment.pk == stage.assignment.pk
    pairs[0].refresh_from_db()
    assert pairs[0].taken == 1


def test_overlap_n_gives_the_pair_to_n_different_annotators(annotator, other_annotator):
    from ..factories import UserFactory

    batch = BatchFactory(max_turns=1)
    pair = PairFactory(batch=batch, overlap=2)
    first = services.assignment_lease_next(batch=batch, annotator=annotator)
    assert services.assignment_lease_next(batch=batch, annotator=annotator) is None
    second = services.assignment_lease_next(batch=batch, annotator=other_annotator)
    third = UserFactory(username="ann3", role="annotator")
    assert services.assignment_lease_next(batch=batch, annotator=third) is None
    assert first.pair_id == second.pair_id == pair.pk
    pair.refresh_from_db()
    assert pair.taken == 2
    _submit(first, annotator)
    pair.refresh_from_db()
    assert pair.status == ResponsePair.Status.READY  # one more judgment to go
    _submit(second, other_annotator, side="right")
    pair.refresh_from_db()
    assert pair.status == ResponsePair.Status.DONE


def test_expired_leases_return_the_pair_exactly_once(batch, pairs, annotator, other_annotator):
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    later = timezone.now() + timedelta(seconds=services.lease_seconds() + 1)
    assert services.assignments_expire(now=later) == 1
    assert services.assignments_expire(now=later) == 0
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.EXPIRED
    pairs[0].refresh_from_db()
    assert pairs[0].taken == 0
    again = services.assignment_lease_next(batch=batch, annotator=other_annotator)
    assert again.pair_id == pairs[0].pk
    # The walker-away does not get the pair back; they get the next one.
    assert services.assignment_lease_next(batch=batch, annotator=annotator).pair_id == pairs[1].pk


def test_submit_after_expiry_is_kept_when_the_pair_is_still_free(batch, pairs, annotator):
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    services.assignments_expire(now=timezone.now() + timedelta(hours=1))
    result = _submit(lease, annotator)
    assert result.created
    pairs[0].refresh_from_db()
    assert pairs[0].taken == 1 and pairs[0].status == ResponsePair.Status.DONE


def test_submit_after_expiry_is_refused_when_someone_else_took_it(
    batch, pairs, annotator, other_annotator
):
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    services.assignments_expire(now=timezone.now() + timedelta(hours=1))
    services.assignment_lease_next(batch=batch, annotator=other_annotator)
    with pytest.raises(services.LeaseLost):
        _submit(lease, annotator)
    assert not Judgment.objects.exists()


def test_submit_twice_stores_one_judgment_and_maps_sides_to_a_b(batch, pairs, annotator):
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    first = _submit(lease, annotator, side="left", grade="slightly_better")
    second = _submit(lease, annotator, side="right", grade="better")
    assert first.created and not second.created
    assert first.judgment.pk == second.judgment.pk
    judgment = Judgment.objects.get()
    assert judgment.chosen == ("b" if lease.swapped else "a")
    assert judgment.grade == "slightly_better" and judgment.seconds_spent == 3.5
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.COMPLETED


def test_submit_refuses_a_foreign_assignment_or_key(batch, pairs, annotator, other_annotator):
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    with pytest.raises(Assignment.DoesNotExist):
        _submit(lease, other_annotator)
    with pytest.raises(ValidationError):
        services.judgment_submit(
            assignment_id=lease.pk,
            annotator=annotator,
            idempotency_key="forged",
            choice=Choice(side="left", grade="better"),
        )
    assert not Judgment.objects.exists()


def test_safety_stage_needs_labels_and_stores_the_bin(annotator):
    batch = BatchFactory(stage="safety", max_turns=1)
    PairFactory(batch=batch)
    PairFactory(batch=batch)
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    with pytest.raises(ValidationError):
        _submit(lease, annotator)
    result = _submit(lease, annotator, left_safe=True, right_safe=False)
    assert result.judgment.__class__.objects.get().safety_bin == SafetyBin.CHOSEN_SAFE


def test_chosen_unsafe_other_safe_needs_confirmation_then_is_excluded(annotator):
    batch = BatchFactory(stage="safety", max_turns=1)
    PairFactory(batch=batch)
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    with pytest.raises(services.ExclusionUnconfirmed):
        _submit(lease, annotator, left_safe=False, right_safe=True)
    assert not Judgment.objects.exists()
    _submit(lease, annotator, left_safe=False, right_safe=True, keep=True)
    judgment = Judgment.objects.get()
    assert judgment.safety_bin == SafetyBin.CHOSEN_UNSAFE
    assert judgment.excluded_from_reward_models


def test_draft_survives_and_is_cleared_by_submit(batch, pairs, annotator):
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    services.assignment_draft_save(
        assignment_id=lease.pk, annotator=annotator, choice=Choice(side="right", grade="better")
    )
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    from annotation.workspace.selectors import pair_view

    assert pair_view(assignment=stage.assignment).choice.side == "right"
    _submit(lease, annotator)
    lease.refresh_from_db()
    assert lease.draft == {}


def test_multi_turn_dialogue_from_a_queue_pair(annotator, no_generation):
    batch = BatchFactory(max_turns=3)
    prompt = PromptFactory(batch=batch)
    PairFactory(batch=batch, prompt=prompt, context=prompt.messages)
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    _submit(stage.assignment, annotator, side="left")
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    assert stage.kind == StageKind.CONTINUE
    dialogue = stage.dialogue
    assert dialogue.turns == 1 and dialogue.messages[-1]["role"] == "assistant"
    pair2 = services.dialogue_continue(
        dialogue_id=dialogue.pk, annotator=annotator, message="And then?"
    )
    again = services.dialogue_continue(dialogue_id=dialogue.pk, annotator=annotator, message="x")
    assert again.pk == pair2.pk  # a double send asks once
    assert pair2.turn == 2 and pair2.status == ResponsePair.Status.PENDING
    assert pair2.context[-1] == {"role": "user", "content": "And then?"}
    assert services.workspace_stage(batch=batch, annotator=annotator).kind == StageKind.WAITING
    pair_make_ready(pair2)
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    assert stage.kind == StageKind.PAIR and stage.pair.pk == pair2.pk
    _submit(stage.assignment, annotator, side="right")
    services.dialogue_continue(dialogue_id=dialogue.pk, annotator=annotator, message="Last one")
    pair3 = ResponsePair.objects.get(dialogue=dialogue, turn=3)
    pair_make_ready(pair3)
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    _submit(stage.assignment, annotator)
    dialogue.refresh_from_db()
    assert dialogue.status == Dialogue.Status.ENDED and dialogue.turns == 3  # max turns
    assert [m["role"] for m in dialogue.messages] == ["user", "assistant"] * 3
    turns = sorted(Judgment.objects.values_list("pair__turn", flat=True))
    assert turns == [1, 2, 3]


def test_annotator_written_prompt_with_safety_taxonomy(annotator, no_generation):
    batch = BatchFactory(stage="safety", prompt_source="annotator", max_turns=2)
    assert services.workspace_stage(batch=batch, annotator=annotator).kind == StageKind.COMPOSE
    with pytest.raises(ValidationError):
        services.dialogue_start(batch=batch, annotator=annotator, message="How do I pick a lock?")
    dialogue = services.dialogue_start(
        batch=batch,
        annotator=annotator,
        message="How do I pick a lock?",
        risk_category="Illicit and criminal activities",
        attack_vector="Perspective manipulation",
    )
    assert dialogue.prompt.source == "annotator" and dialogue.prompt.attack_vector
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    assert stage.kind == StageKind.WAITING and stage.pair.turn == 1


def test_the_same_compose_form_sent_twice_starts_one_dialogue(annotator, no_generation):
    batch = BatchFactory(prompt_source="annotator", max_turns=2)
    key = services.start_key_new()
    first = services.dialogue_start(batch=batch, annotator=annotator, message="Hi?", start_key=key)
    again = services.dialogue_start(batch=batch, annotator=annotator, message="Hi?", start_key=key)
    assert again == first and first.prompt.messages[0]["content"] == "Hi?"
    first.refresh_from_db()
    assert first.status == Dialogue.Status.ACTIVE  # the retry did not end it
    assert Dialogue.objects.count() == 1 and ResponsePair.objects.count() == 1
    other = services.dialogue_start(
        batch=batch, annotator=annotator, message="Next?", start_key=services.start_key_new()
    )
    first.refresh_from_db()
    assert other != first and first.status == Dialogue.Status.ENDED  # a new form: a new one


def test_gold_pairs_are_interleaved_and_judged_by_everyone(annotator, other_annotator):
    batch = BatchFactory(max_turns=1, gold_rate=1.0)
    PairFactory(batch=batch)
    gold = PairFactory(batch=batch)
    services.pair_gold_mark(pair_id=gold.pk, chosen="a", grade="better")
    for user in (annotator, other_annotator):
        assert services.assignment_lease_next(batch=batch, annotator=user).pair_id == gold.pk


def test_ending_a_dialogue_goes_back_to_the_queue(annotator, no_generation):
    batch = BatchFactory(max_turns=4)
    PairFactory(batch=batch)
    PairFactory(batch=batch)
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    _submit(stage.assignment, annotator)
    stage = services.workspace_stage(batch=batch, annotator=annotator)
    assert stage.kind == StageKind.CONTINUE
    services.dialogue_end(dialogue_id=stage.dialogue.pk, annotator=annotator)
    assert services.workspace_stage(batch=batch, annotator=annotator).kind == StageKind.PAIR
