"""Reads of the annotator workspace, scoped to the asking annotator."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.utils.safestring import SafeString

from .. import roles
from ..grades import Grade
from ..markdown import render_markdown
from ..models import Assignment, Dialogue, Judgment, PromptBatch, ResponsePair
from .services import Choice, choice_parse, submit_key


def can_annotate(user: AbstractBaseUser) -> bool:
    return roles.is_annotator(user) or roles.is_admin(user)


def can_see_quality(user: AbstractBaseUser) -> bool:
    return roles.is_admin(user) or roles.is_ml_engineer(user)


def batches_open_for(*, annotator: AbstractBaseUser) -> list[PromptBatch]:
    """Open batches, each with `mine`: how many judgments this annotator made in it."""
    batches = list(
        PromptBatch.objects.filter(status=PromptBatch.Status.OPEN).order_by("-ordinal", "name")
    )
    mine = dict(
        Judgment.objects.filter(annotator=annotator, pair__batch__in=batches)
        .values_list("pair__batch_id")
        .annotate(n=Count("id"))
        .values_list("pair__batch_id", "n")
    )
    for batch in batches:
        batch.mine = mine.get(batch.pk, 0)
    return batches


def batch_progress(*, batch_ids: list[int]) -> dict[int, dict[str, int]]:
    judged = dict(
        Judgment.objects.filter(pair__batch_id__in=batch_ids)
        .values_list("pair__batch_id")
        .annotate(n=Count("id"))
        .values_list("pair__batch_id", "n")
    )
    ready = dict(
        ResponsePair.objects.filter(
            batch_id__in=batch_ids, status=ResponsePair.Status.READY, dialogue__isnull=True
        )
        .values_list("batch_id")
        .annotate(n=Count("id"))
        .values_list("batch_id", "n")
    )
    return {pk: {"judged": judged.get(pk, 0), "ready": ready.get(pk, 0)} for pk in batch_ids}


def batch_for_annotator(*, batch_id: int) -> PromptBatch:
    return get_object_or_404(PromptBatch, pk=batch_id, status=PromptBatch.Status.OPEN)


def dialogue_of(*, dialogue_id: int, annotator: AbstractBaseUser) -> Dialogue:
    return get_object_or_404(
        Dialogue.objects.select_related("batch"), pk=dialogue_id, annotator=annotator
    )


def assignment_of(*, assignment_id: int, annotator: AbstractBaseUser) -> Assignment:
    """Only the annotator's own assignments exist for them (404 otherwise)."""
    return get_object_or_404(
        Assignment.objects.select_related("pair__batch"), pk=assignment_id, annotator=annotator
    )


@dataclass(frozen=True)
class MessageView:
    role: str
    html: SafeString


@dataclass(frozen=True)
class PairView:
    """A leased pair as the annotator sees it: sides in the recorded (randomised) order."""

    assignment: Assignment
    pair: ResponsePair
    key: str
    context: list[MessageView]
    left_html: SafeString
    right_html: SafeString
    choice: Choice
    is_safety: bool

    @property
    def sides(self) -> list[tuple[str, SafeString, str, str, str, str]]:
        """(side, html, choose key, safe key, unsafe key, label) for the template."""
        return [
            ("left", self.left_html, "1", "s", "d", "Left"),
            ("right", self.right_html, "2", "k", "l", "Right"),
        ]


def messages_view(messages: list[dict[str, str]]) -> list[MessageView]:
    return [
        MessageView(role=str(m.get("role", "")), html=render_markdown(str(m.get("content", ""))))
        for m in messages
        if m.get("role") != "system"
    ]


def pair_view(*, assignment: Assignment, choice: Choice | None = None) -> PairView:
    pair = assignment.pair
    left, right = (
        (pair.response_b, pair.response_a)
        if assignment.swapped
        else (pair.response_a, pair.response_b)
    )
    return PairView(
        assignment=assignment,
        pair=pair,
        key=submit_key(assignment=assignment),
        context=messages_view(pair.context),
        left_html=render_markdown(left.text),
        right_html=render_markdown(right.text),
        choice=choice if choice is not None else choice_parse(data=assignment.draft or {}),
        is_safety=pair.batch.stage == "safety",
    )


GRADE_KEYS = [
    (Grade.SIGNIFICANTLY_BETTER, "q"),
    (Grade.BETTER, "w"),
    (Grade.SLIGHTLY_BETTER, "e"),
    (Grade.NEGLIGIBLY_BETTER, "r"),
]


def grade_options() -> list[tuple[str, str, str]]:
    labels = dict(Grade.choices)
    return [(value, labels[value], key) for value, key in GRADE_KEYS]


# The paper's red-teaming taxonomy (Llama 2, §4.2).
RISK_CATEGORIES = [
    "Illicit and criminal activities",
    "Hateful and harmful activities",
    "Unqualified advice",
]
ATTACK_VECTORS = [
    "Psychological manipulation",
    "Logic manipulation",
    "Syntactic manipulation",
    "Semantic manipulation",
    "Perspective manipulation",
    "Non-English language",
    "Other",
]


def queue_health(*, batch: PromptBatch) -> dict[str, object]:
    """For staff: why nothing is ready (pairs by status, the latest generation error)."""
    counts = dict(
        ResponsePair.objects.filter(batch=batch)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    last_error = (
        ResponsePair.objects.filter(batch=batch)
        .exclude(last_error="")
        .order_by("-id")
        .values_list("last_error", flat=True)
        .first()
    )
    return {"counts": counts, "last_error": last_error or ""}


def follow_up_for(*, dialogue: Dialogue) -> str:
    """The prepared next user turn of a dialogue whose prompt came with follow-ups (MT-Bench's
    second turn, in `metadata.follow_ups`), or "" when it has none left."""
    prompt = dialogue.prompt
    follow_ups = (prompt.metadata or {}).get("follow_ups") if prompt is not None else None
    if not isinstance(follow_ups, list):
        return ""
    asked = sum(1 for m in prompt.messages if m.get("role") == "user")
    index = dialogue.turns - asked
    if 0 <= index < len(follow_ups) and isinstance(follow_ups[index], str):
        return follow_ups[index]
    return ""


def workspace_progress(*, batch: PromptBatch, annotator: AbstractBaseUser) -> dict[str, int]:
    """The counts the workspace shows: this annotator's judgments in the batch and the batch's."""
    judged = Judgment.objects.filter(pair__batch=batch)
    return {"mine": judged.filter(annotator=annotator).count(), "judged": judged.count()}


def responses_html(pair: ResponsePair) -> tuple[SafeString, SafeString]:
    """Response A and response B of a pair (in the pair's own order, not an annotator's)."""
    return render_markdown(pair.response_a.text), render_markdown(pair.response_b.text)
