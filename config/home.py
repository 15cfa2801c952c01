"""The home page: one section per role the user has, each with its work and its next actions.

An annotator sees the open batches to judge; an admin every batch with its prompts, generation
and progress and the pages to manage them; an ML engineer the recent jobs and models and the
ways to export judgments and start training. The site's pages are all reachable from here by
clicking. It composes the apps' selectors, so it lives beside the URL configuration.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from annotation import roles
from annotation.models import PromptBatch
from annotation.selectors import batches_with_counts
from annotation.workspace import selectors as workspace
from training_jobs import selectors as training
from training_jobs.models import ModelVersion

RECENT_JOBS = 5


def _annotator_section(user) -> dict:
    batches = workspace.batches_open_for(annotator=user)
    progress = workspace.batch_progress(batch_ids=[b.pk for b in batches])
    return {"rows": [(batch, progress[batch.pk]) for batch in batches]}


def _admin_section() -> dict:
    batches = batches_with_counts(PromptBatch.objects.order_by("-ordinal", "name"))
    return {"batches": list(batches[:50])}


def _engineer_section(user) -> dict:
    jobs = list(training.jobs_list(user=user)[:RECENT_JOBS])
    versions = training.versions_visible_to(user).order_by("-created_at")
    return {
        "jobs": jobs,
        "active": training.jobs_list(user=user, states=list(training.ACTIVE_STATES)).count(),
        "iterations": training.iterations_visible_to(user).count(),
        "policies": versions.filter(kind=ModelVersion.Kind.POLICY)[:3],
        "reward_models": versions.exclude(kind=ModelVersion.Kind.POLICY)[:4],
        "open_batches": PromptBatch.objects.filter(status=PromptBatch.Status.OPEN).order_by(
            "-ordinal", "name"
        ),
    }


@require_GET
@never_cache
@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    is_admin = roles.is_admin(user)
    context = {
        "admin": _admin_section() if is_admin else None,
        # admins may annotate too: their batch table has the workspace links
        "annotator": _annotator_section(user)
        if roles.is_annotator(user) and not is_admin
        else None,
        # admins manage batches; the training pages are a row of links in their section
        "engineer": _engineer_section(user)
        if roles.is_ml_engineer(user) and not is_admin
        else None,
        "demo": settings.MARGIN_DEMO,
    }
    return render(request, "home.html", context)


@require_GET
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Pages without a <link rel="icon"> (the Django admin) make browsers ask for /favicon.ico.
    The static URL is resolved per request: with hashed static files it exists only after
    collectstatic, which importing the URL configuration must not need."""
    return HttpResponseRedirect(static("margin/favicon.svg"))
