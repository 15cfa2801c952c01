"""Thin views of the annotator workspace: read the request, call one service, render.

Every page is one template with partials; an htmx request gets the `#stage` partial (the
part that changes), a plain request the full page, so every action also works without
JavaScript.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from .. import roles
from ..generation.selectors import pair_wait
from ..grades import Grade
from ..markdown import render_markdown
from ..models import Assignment, PromptBatch
from . import quality, selectors, services
from .services import Stage, StageKind

PAGE = "annotation/workspace.html"
STAGE = "annotation/workspace.html#stage"


annotator_required = roles.role_required(selectors.can_annotate)
staff_required = roles.role_required(selectors.can_see_quality)


def _stage_context(request: HttpRequest, stage: Stage, **extra) -> dict:
    view = extra.pop("view", None)
    if view is None and stage.kind == StageKind.PAIR:
        view = selectors.pair_view(assignment=stage.assignment)
    dialogue_messages = []
    if stage.kind in (StageKind.CONTINUE, StageKind.WAITING) and stage.dialogue is not None:
        dialogue_messages = selectors.messages_view(
            stage.pair.context if stage.pair is not None else stage.dialogue.messages
        )
    staff = selectors.can_see_quality(request.user)
    wait = None
    if stage.kind in (StageKind.EMPTY, StageKind.WAITING):
        wait = pair_wait(batch=stage.batch, pair=stage.pair)
    follow_up = ""
    if stage.kind == StageKind.CONTINUE and stage.dialogue is not None:
        follow_up = selectors.follow_up_for(dialogue=stage.dialogue)
    return {
        "batch": stage.batch,
        "progress": selectors.workspace_progress(batch=stage.batch, annotator=request.user)
        if stage.kind == StageKind.PAIR
        else None,
        "wait": wait,
        "follow_up": follow_up,
        "preload_view": None,
        "guidelines_html": render_markdown(stage.batch.guidelines) if not request.htmx else "",
        "risk_categories": selectors.RISK_CATEGORIES,
        "attack_vectors": selectors.ATTACK_VECTORS,
        "queue_health": selectors.queue_health(batch=stage.batch)
        if staff and stage.kind == StageKind.EMPTY
        else None,
        "stage": stage,
        "view": view,
        "dialogue_messages": dialogue_messages,
        "grades": selectors.grade_options(),
        "is_staff": staff,
        "errors": {},
        "start_key": services.start_key_new() if stage.kind == StageKind.COMPOSE else "",
        **extra,
    }


def _preload_view(request: HttpRequest, stage: Stage, context: dict) -> selectors.PairView | None:
    """Lease the pair after the one shown now, so that the page holds it before the submit."""
    view = context["view"]
    if view is None or context["errors"] or context.get("confirm_exclusion"):
        return None
    preload = services.assignment_preload(
        batch=stage.batch, annotator=request.user, current=view.assignment
    )
    return selectors.pair_view(assignment=preload) if preload is not None else None


def _render_stage(request: HttpRequest, stage: Stage, status: int = 200, **extra) -> HttpResponse:
    template = STAGE if request.htmx else PAGE
    context = _stage_context(request, stage, **extra)
    context["preload_view"] = _preload_view(request, stage, context)
    return render(request, template, context, status=status)


def _next_stage(request: HttpRequest, batch: PromptBatch, **extra) -> HttpResponse:
    stage = services.workspace_stage(batch=batch, annotator=request.user)
    if stage.kind == StageKind.PAIR and stage.assignment is not None:
        services.assignment_renew(assignment=stage.assignment)
    return _render_stage(request, stage, **extra)


def _after_action(request: HttpRequest, batch: PromptBatch, **extra) -> HttpResponse:
    """What a form answers: the next stage for htmx, a redirect to the workspace without it."""
    if not request.htmx:
        return redirect("workspace", batch_id=batch.pk)
    return _next_stage(request, batch, **extra)


# ---- pages ----------------------------------------------------------------------------------


@require_GET
@never_cache
@vary_on_headers("HX-Request")
@annotator_required
def workspace(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = selectors.batch_for_annotator(batch_id=batch_id)
    return _next_stage(request, batch)


# ---- judging --------------------------------------------------------------------------------


@require_POST
@annotator_required
def assignment_draft(request: HttpRequest, assignment_id: int) -> HttpResponse:
    choice = services.choice_parse(data=request.POST)
    if not services.assignment_draft_save(
        assignment_id=assignment_id, annotator=request.user, choice=choice
    ):
        selectors.assignment_of(assignment_id=assignment_id, annotator=request.user)
    return HttpResponse(status=204)


def _seconds(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


@require_POST
@never_cache
@vary_on_headers("HX-Request")
@annotator_required
def assignment_submit(request: HttpRequest, assignment_id: int) -> HttpResponse:
    choice = services.choice_parse(data=request.POST)
    try:
        result = services.judgment_submit(
            assignment_id=assignment_id,
            annotator=request.user,
            idempotency_key=request.POST.get("idempotency_key", ""),
            choice=choice,
            seconds_spent=_seconds(request.POST.get("seconds")),
            keep_excluded=request.POST.get("keep_excluded") == "1",
        )
    except Assignment.DoesNotExist as exc:
        raise Http404 from exc
    except (ValidationError, services.ExclusionUnconfirmed) as exc:
        assignment = selectors.assignment_of(assignment_id=assignment_id, annotator=request.user)
        if assignment.status == Assignment.Status.COMPLETED:
            return _after_submit(request, assignment.pair.batch, notice="saved")
        assignment = Assignment.objects.select_related(
            "pair__response_a", "pair__response_b", "pair__batch"
        ).get(pk=assignment.pk)
        stage = Stage(StageKind.PAIR, assignment.pair.batch, assignment=assignment)
        stage.pair = assignment.pair
        stage.dialogue = assignment.pair.dialogue
        view = selectors.pair_view(assignment=assignment, choice=choice)
        if isinstance(exc, services.ExclusionUnconfirmed):
            services.assignment_draft_save(
                assignment_id=assignment.pk, annotator=request.user, choice=choice
            )
            return _render_stage(request, stage, view=view, confirm_exclusion=True)
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"form": exc.messages}
        return _render_stage(
            request, stage, view=view, errors={k: " ".join(v) for k, v in errors.items()}
        )
    except services.LeaseLost:
        batch = selectors.assignment_of(
            assignment_id=assignment_id, annotator=request.user
        ).pair.batch
        return _after_submit(request, batch, notice="lost")
    notice = "saved" if result.created else "already_saved"
    if request.htmx and request.headers.get("X-Margin-Preloaded") == "1":
        return _preload_answer(request, result.judgment.pair.batch, notice=notice)
    return _after_submit(request, result.judgment.pair.batch, notice=notice)


def _preload_answer(request: HttpRequest, batch: PromptBatch, notice: str) -> HttpResponse:
    """The page already shows the next pair (it was preloaded): answer with only the pair
    after it, unless the next stage is not that pair after all, then with the whole stage."""
    stage = services.workspace_stage(batch=batch, annotator=request.user)
    if stage.kind != StageKind.PAIR or stage.dialogue is not None:
        return _render_stage(request, stage, notice=notice)
    services.assignment_renew(assignment=stage.assignment)
    view = selectors.pair_view(assignment=stage.assignment)
    context = _stage_context(request, stage, view=view, notice=notice)
    context["preload_view"] = _preload_view(request, stage, context)
    return render(request, "annotation/workspace.html#preload", context)


def _after_submit(request: HttpRequest, batch: PromptBatch, notice: str) -> HttpResponse:
    return _after_action(request, batch, notice=notice)


# ---- dialogues ------------------------------------------------------------------------------


@require_POST
@never_cache
@vary_on_headers("HX-Request")
@annotator_required
def dialogue_continue(request: HttpRequest, dialogue_id: int) -> HttpResponse:
    dialogue = selectors.dialogue_of(dialogue_id=dialogue_id, annotator=request.user)
    try:
        services.dialogue_continue(
            dialogue_id=dialogue.pk,
            annotator=request.user,
            message=request.POST.get("message", ""),
        )
    except ValidationError as exc:
        stage = Stage(StageKind.CONTINUE, dialogue.batch, dialogue=dialogue)
        return _render_stage(
            request, stage, errors={k: " ".join(v) for k, v in exc.message_dict.items()}
        )
    return _after_action(request, dialogue.batch)


@require_POST
@never_cache
@vary_on_headers("HX-Request")
@annotator_required
def dialogue_end(request: HttpRequest, dialogue_id: int) -> HttpResponse:
    dialogue = selectors.dialogue_of(dialogue_id=dialogue_id, annotator=request.user)
    services.dialogue_end(dialogue_id=dialogue.pk, annotator=request.user)
    return _after_action(request, dialogue.batch)


@require_POST
@never_cache
@vary_on_headers("HX-Request")
@annotator_required
def dialogue_start(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = selectors.batch_for_annotator(batch_id=batch_id)
    try:
        services.dialogue_start(
            batch=batch,
            annotator=request.user,
            message=request.POST.get("message", ""),
            risk_category=request.POST.get("risk_category", ""),
            attack_vector=request.POST.get("attack_vector", ""),
            start_key=request.POST.get("start_key", ""),
        )
    except ValidationError as exc:
        stage = Stage(StageKind.COMPOSE, batch)
        return _render_stage(
            request,
            stage,
            errors={k: " ".join(v) for k, v in exc.message_dict.items()},
            composed=request.POST,
        )
    return _after_action(request, batch)


# ---- staff ----------------------------------------------------------------------------------


def _quality_page(
    request: HttpRequest, batch: PromptBatch, errors: dict | None = None, status: int = 200
) -> HttpResponse:
    can_mark_gold = roles.is_admin(request.user)
    candidates = quality.gold_candidates(batch=batch) if can_mark_gold else []
    return render(
        request,
        "annotation/quality.html",
        {
            "batch": batch,
            "report": quality.batch_report(batch=batch),
            "can_mark_gold": can_mark_gold,
            "candidates": [
                (pair, selectors.messages_view(pair.context), *selectors.responses_html(pair))
                for pair in candidates
            ],
            "grades": Grade.choices,
            "errors": errors or {},
        },
        status=status,
    )


@require_GET
@never_cache
@staff_required
def batch_quality(request: HttpRequest, batch_id: int) -> HttpResponse:
    return _quality_page(request, get_object_or_404(PromptBatch, pk=batch_id))


@require_POST
@roles.role_required(roles.is_admin)
def pair_gold(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = get_object_or_404(PromptBatch, pk=batch_id)
    try:
        pair_id = int(request.POST.get("pair_id", ""))
        get_object_or_404(batch.pairs, pk=pair_id)
        services.pair_gold_mark(
            pair_id=pair_id,
            chosen=request.POST.get("chosen", ""),
            grade=request.POST.get("grade", ""),
        )
    except (ValueError, ValidationError) as exc:
        messages = exc.messages if isinstance(exc, ValidationError) else ["Choose a pair."]
        return _quality_page(request, batch, errors={"gold": " ".join(messages)}, status=400)
    return redirect(reverse("batch-quality", args=[batch.pk]) + "#gold")
