"""What the workspace shows an annotator next, leasing a pair when one is needed."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from ...models import Assignment, Dialogue, PromptBatch, PromptSource, ResponsePair
from .dialogues import dialogue_end
from .leases import assignment_lease_next, assignment_lease_pair

Status = Assignment.Status
PairStatus = ResponsePair.Status


class StageKind:
    PAIR = "pair"  # a leased pair to judge
    WAITING = "waiting"  # the dialogue's next pair is being generated
    CONTINUE = "continue"  # write the next user message or end the dialogue
    COMPOSE = "compose"  # write the first prompt of a dialogue
    EMPTY = "empty"  # nothing ready in the queue yet
    CLOSED = "closed"  # the batch is not open


@dataclass
class Stage:
    kind: str
    batch: PromptBatch
    assignment: Assignment | None = None
    dialogue: Dialogue | None = None
    pair: ResponsePair | None = None


def _with_pair(queryset):
    return queryset.select_related("pair__response_a", "pair__response_b", "pair__batch")


def workspace_stage(*, batch: PromptBatch, annotator: AbstractBaseUser) -> Stage:
    """What this annotator sees next in `batch`, leasing a pair when one is needed: the open
    dialogue first, then the annotator's own unexpired lease (a reload shows the same pair),
    then the queue."""
    if not batch.is_open:
        return Stage(StageKind.CLOSED, batch)
    now = timezone.now()
    dialogue = None
    if batch.max_turns > 1 or batch.prompt_source == PromptSource.ANNOTATOR:
        dialogue = (
            Dialogue.objects.filter(batch=batch, annotator=annotator, status=Dialogue.Status.ACTIVE)
            .order_by("-created_at", "-id")
            .first()
        )
    if dialogue is not None:
        stage = _dialogue_stage(batch=batch, dialogue=dialogue, annotator=annotator)
        if stage is not None:
            return stage
    own = (
        _with_pair(Assignment.objects)
        .filter(
            annotator=annotator,
            status=Status.LEASED,
            expires_at__gt=now,
            pair__batch=batch,
            pair__dialogue__isnull=True,
        )
        .order_by("leased_at", "id")
        .first()
    )
    if own is not None:
        return Stage(StageKind.PAIR, batch, assignment=own, pair=own.pair)
    if batch.prompt_source == PromptSource.ANNOTATOR:
        return Stage(StageKind.COMPOSE, batch)
    leased = assignment_lease_next(batch=batch, annotator=annotator)
    if leased is None:
        return Stage(StageKind.EMPTY, batch)
    return Stage(StageKind.PAIR, batch, assignment=leased, pair=leased.pair)


def assignment_preload(
    *, batch: PromptBatch, annotator: AbstractBaseUser, current: Assignment
) -> Assignment | None:
    """The pair that follows `current`, leased now so that the page holds it before the
    annotator submits (single-turn queue batches, where the next stage is always a pair)."""
    if batch.max_turns > 1 or batch.prompt_source == PromptSource.ANNOTATOR:
        return None
    if current.pair.dialogue_id is not None:
        return None
    following = (
        _with_pair(Assignment.objects)
        .filter(
            annotator=annotator,
            status=Status.LEASED,
            expires_at__gt=timezone.now(),
            pair__batch=batch,
            pair__dialogue__isnull=True,
        )
        .exclude(pk=current.pk)
        .order_by("leased_at", "id")
        .first()
    )
    return following or assignment_lease_next(batch=batch, annotator=annotator)


def _dialogue_stage(
    *, batch: PromptBatch, dialogue: Dialogue, annotator: AbstractBaseUser
) -> Stage | None:
    pair = (
        dialogue.pairs.select_related("response_a", "response_b")
        .filter(turn=dialogue.turns + 1)
        .first()
    )
    if pair is None:
        if dialogue.turns == 0 or dialogue.turns >= batch.max_turns:
            dialogue_end(dialogue_id=dialogue.pk, annotator=annotator)
            return None
        return Stage(StageKind.CONTINUE, batch, dialogue=dialogue)
    if pair.status in (PairStatus.READY, PairStatus.DONE):
        assignment = assignment_lease_pair(pair=pair, annotator=annotator)
        if assignment is not None and assignment.status == Status.LEASED:
            assignment = _with_pair(Assignment.objects).get(pk=assignment.pk)
            return Stage(StageKind.PAIR, batch, assignment=assignment, dialogue=dialogue, pair=pair)
    return Stage(StageKind.WAITING, batch, dialogue=dialogue, pair=pair)
