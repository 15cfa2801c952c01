"""Thin views: read the request, call one service or selector, render.

A page is one template; an htmx request that targets one of its parts (`HX-Target`: the
polled job list, the job's status) gets only that partial, anything else the whole page,
so every link and form also works without JavaScript."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from annotation.roles import role_required
from rewardtrain.grades import UNSAFE_PRECISION

from .. import plots, reports, selectors
from ..models import Iteration, JobState, ModelVersion
from ..quality import selectors as quality_selectors
from ..quality.services import responses_score_enqueue
from ..services import (
    JobError,
    demo_loop_resume,
    demo_loop_start,
    demo_loop_state,
    iteration_create,
    job_cancel,
    job_create,
    job_retry,
    policy_serve,
)
from .forms import IterationForm, JobForm, ServePolicyForm


def targets(request: HttpRequest, part: str) -> bool:
    """An htmx request for one part of the page (the element with this id)."""
    return bool(request.htmx) and request.htmx.target == part


ml_engineer_required = role_required(selectors.can_manage_jobs)


# Iterations ----------------------------------------------------------------------------------


def _iterations_page(request: HttpRequest, form: IterationForm, status: int = 200):
    iterations = selectors.iterations_visible_to(request.user)
    next_number = (iterations.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    return render(
        request,
        "training_jobs/iterations.html",
        {
            "iterations": iterations,
            "form": form,
            "next_name": f"RLHF-V{next_number}",
            "demo": settings.MARGIN_DEMO,
        },
        status=status,
    )


@require_GET
@ml_engineer_required
def iterations(request: HttpRequest) -> HttpResponse:
    return _iterations_page(request, IterationForm())


@require_POST
@ml_engineer_required
def iteration_new(request: HttpRequest) -> HttpResponse:
    form = IterationForm(request.POST)
    if form.is_valid():
        try:
            iteration = iteration_create(
                name=form.cleaned_data["name"],
                notes=form.cleaned_data["notes"],
                start_policy=form.cleaned_data["start_policy"],
                user=request.user,
            )
        except DjangoValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
        else:
            return redirect("iteration", iteration.pk)
    return _iterations_page(request, form, status=400)


@require_GET
@never_cache
@vary_on_headers("HX-Request", "HX-Target")
@ml_engineer_required
def iteration_detail(request: HttpRequest, iteration_id: int) -> HttpResponse:
    iteration = get_object_or_404(selectors.iterations_visible_to(request.user), pk=iteration_id)
    jobs = list(selectors.jobs_list(user=request.user, iteration_id=iteration.pk))
    demo_loop = demo_loop_state(iteration=iteration)
    context = {
        "iteration": iteration,
        "rows": reports.job_rows(jobs),
        "demo_loop": demo_loop,
        # a demo loop between two steps has no active job for a moment: keep polling
        "polling": selectors.any_active(jobs) or bool(demo_loop and demo_loop.running),
        "poll_url": reverse("iteration", args=[iteration.pk]),
        "versions": selectors.versions_visible_to(request.user).filter(job__iteration=iteration),
    }
    template = "training_jobs/iteration.html"
    if targets(request, "jobs"):
        template = "training_jobs/partials/jobs.html"
    return render(request, template, context)


@require_POST
@ml_engineer_required
def demo_loop_new(request: HttpRequest) -> HttpResponse:
    """Development only: a new iteration running the whole loop with simulated annotators."""
    if not settings.MARGIN_DEMO:
        raise Http404
    try:
        iteration = demo_loop_start(user=request.user)
    except JobError as exc:
        messages.error(request, str(exc))
        return redirect("iterations")
    return redirect("iteration", iteration.pk)


@require_POST
@ml_engineer_required
def demo_loop_continue(request: HttpRequest, iteration_id: int) -> HttpResponse:
    iteration = get_object_or_404(selectors.iterations_visible_to(request.user), pk=iteration_id)
    try:
        demo_loop_resume(iteration=iteration, user=request.user)
    except JobError as exc:
        messages.error(request, str(exc))
    return redirect("iteration", iteration.pk)


# Jobs ----------------------------------------------------------------------------------------


@require_GET
@never_cache
@vary_on_headers("HX-Request", "HX-Target")
@ml_engineer_required
def jobs(request: HttpRequest) -> HttpResponse:
    states = [s for s in request.GET.getlist("state") if s in JobState.values]
    found = list(selectors.jobs_list(user=request.user, states=states or None)[:200])
    query = "&".join(f"state={s}" for s in states)
    context = {
        "rows": reports.job_rows(found),
        "polling": selectors.any_active(found),
        "poll_url": reverse("jobs") + (f"?{query}" if query else ""),
        "states": JobState.choices,
        "selected": states,
    }
    template = "training_jobs/jobs.html"
    if targets(request, "jobs"):
        template = "training_jobs/partials/jobs.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@ml_engineer_required
def job_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = JobForm(request.POST)
        if form.is_valid():
            iteration = form.cleaned_data["iteration"]
            try:
                job = job_create(
                    kind=form.cleaned_data["kind"],
                    params=form.cleaned_data["params"],
                    iteration=iteration,
                    user=request.user,
                )
            except DjangoValidationError as exc:
                form.add_error(None, exc)
            else:
                if iteration is not None:
                    return redirect("iteration", iteration.pk)
                return redirect("job", job.pk)
        status = 400
    else:
        initial = {}
        iteration_id = request.GET.get("iteration", "")
        if iteration_id.isdigit():
            initial["iteration"] = Iteration.objects.filter(pk=iteration_id).first()
        if request.GET.get("kind"):
            initial["kind"] = request.GET["kind"]
        form = JobForm(initial=initial)
        status = 200
    return render(
        request,
        "training_jobs/job_form.html",
        {"form": form, "parameters": reports.job_parameters()},
        status=status,
    )


def _policy_context(version: ModelVersion | None) -> dict:
    """The round that made a policy and its sweep plots (Figures 7 and 8), when there are any."""
    if version is None or version.kind != ModelVersion.Kind.POLICY:
        return {"round_facts": [], "ppo_facts": [], "sweep_charts": []}
    sweep = reports.policy_sweep(version)
    charts = plots.sweep_charts(sweep) if sweep else []
    return {
        "round_facts": reports.policy_round_facts(version),
        "ppo_facts": reports.policy_ppo_facts(version),
        "sweep": sweep,
        "sweep_charts": [(chart, plots.legend_positions(chart)) for chart in charts],
    }


def _metric_charts(job) -> list:
    """One small chart per (stage, metric) the job's cores reported, against the step."""
    charts = [
        plots.step_chart(
            title=f"{stage}: {name.replace('_', ' ')}",
            points=points,
            description=f"{name} against the step of the {stage} stage",
        )
        for stage, name, points in reports.job_metric_series(job)
    ]
    return [(chart, []) for chart in charts]


def _job_context(job, *, seen: str = "", message: str = "") -> dict:
    version = getattr(job, "model_version", None)
    return {
        **({} if seen else _policy_context(version)),
        "metric_charts": [] if seen else _metric_charts(job),
        "job": job,
        "version": version,
        "snapshot": reports.snapshot_summary(job.data_snapshot or {}),
        # the actions are replaced (out of band) only when the state changed under them
        "actions_changed": bool(seen) and seen != job.state,
        "message": message,
    }


@require_GET
@never_cache
@vary_on_headers("HX-Request", "HX-Target")
@ml_engineer_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(selectors.jobs_visible_to(request.user), pk=job_id)
    if targets(request, "job-metrics"):
        context = {"job": job, "metric_charts": _metric_charts(job)}
        return render(request, "training_jobs/job.html#metrics", context)
    if targets(request, "job-status"):
        context = _job_context(job, seen=request.GET.get("seen", ""))
        return render(request, "training_jobs/job.html#status", context)
    return render(request, "training_jobs/job.html", _job_context(job))


def _job_action(request: HttpRequest, job_id: int, action) -> HttpResponse:
    job = get_object_or_404(selectors.jobs_visible_to(request.user), pk=job_id)
    seen, message = job.state, ""
    try:
        job = action(job=job)
    except JobError as exc:
        message = str(exc)
    if request.htmx:
        context = _job_context(job, seen=seen, message=message)
        context["actions_changed"] = True
        return render(request, "training_jobs/job.html#status", context)
    if message:
        return render(
            request,
            "training_jobs/job.html",
            _job_context(job, message=message),
            status=409,
        )
    return redirect("job", job.pk)


@require_POST
@ml_engineer_required
def job_cancel_view(request: HttpRequest, job_id: int) -> HttpResponse:
    return _job_action(request, job_id, job_cancel)


@require_POST
@ml_engineer_required
def job_retry_view(request: HttpRequest, job_id: int) -> HttpResponse:
    return _job_action(request, job_id, job_retry)


# Model versions and metrics ------------------------------------------------------------------


@require_GET
@ml_engineer_required
def versions(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    found = selectors.versions_visible_to(request.user)
    if kind in ModelVersion.Kind.values:
        found = found.filter(kind=kind)
    rows = [(v, reports.snapshot_summary(v.data_snapshot or {})) for v in found[:500]]
    return render(
        request,
        "training_jobs/versions.html",
        {"rows": rows, "kinds": ModelVersion.Kind.choices, "kind": kind},
    )


def _version_page(
    request: HttpRequest, version: ModelVersion, form: ServePolicyForm | None = None, status=200
) -> HttpResponse:
    chain = [
        (v, reports.snapshot_summary(v.data_snapshot or {}))
        for v in selectors.version_lineage(version=version)
    ]
    is_policy = version.kind == ModelVersion.Kind.POLICY
    return render(
        request,
        "training_jobs/version.html",
        {
            **_policy_context(version),
            "version": version,
            "chain": chain,
            "children": selectors.version_children(version=version),
            "table": reports.version_table8(version) if version.is_reward_model else None,
            "gates": _gate_charts(version) if version.is_reward_model else [],
            "table_text": (version.metrics or {}).get("table8", ""),
            "serving": selectors.variants_serving(version) if is_policy else [],
            "serve_form": (form or ServePolicyForm()) if is_policy else None,
        },
        status=status,
    )


def _gate_charts(version: ModelVersion) -> list:
    """Per test set with labelled responses: the gate's facts and its two charts (precision
    over recall, and the score distribution with the thresholds)."""
    found = []
    for gate in reports.unsafe_gates(version):
        best = gate.at_precision
        marks = [(f"{gate.threshold:g} (default)", gate.precision, gate.recall)]
        lines = [(f"{gate.threshold:g}", gate.threshold)]
        if best:
            marks.append((f"{best['threshold']:.3f}", best["precision"], best["recall"]))
            lines.append((f"{best['threshold']:.3f}", best["threshold"]))
        target = best["target"] if best else UNSAFE_PRECISION
        charts = [
            plots.precision_recall_chart(gate.curve, marks, target),
            plots.score_histogram_chart(gate.histogram, lines),
        ]
        for chart, part in zip(charts, ("pr", "scores"), strict=True):
            chart.key = f"{slugify(gate.test) or 'test'}-{part}"
        found.append((gate, target, [(c, plots.legend_positions(c)) for c in charts]))
    return found


@require_GET
@ml_engineer_required
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(selectors.versions_visible_to(request.user), pk=version_id)
    return _version_page(request, version)


@require_POST
@ml_engineer_required
def version_serve(request: HttpRequest, version_id: int) -> HttpResponse:
    """Make a succeeded policy a serving variant (optionally of a batch)."""
    version = get_object_or_404(selectors.versions_visible_to(request.user), pk=version_id)
    form = ServePolicyForm(request.POST)
    if not form.is_valid():
        return _version_page(request, version, form, status=400)
    data = form.cleaned_data
    try:
        variant = policy_serve(version=version, **data)
    except JobError as exc:
        form.add_error(None, str(exc))
        return _version_page(request, version, form, status=409)
    except DjangoValidationError as exc:
        for message in exc.messages:
            form.add_error(None, message)
        return _version_page(request, version, form, status=400)
    where = f" for {data['batch'].name}" if data["batch"] else ""
    messages.success(request, f"{version.name} now serves as variant {variant.label}{where}.")
    return redirect("version", version.pk)


@require_GET
@ml_engineer_required
def metrics(request: HttpRequest) -> HttpResponse:
    versions_found = selectors.reward_versions(user=request.user)
    charts = [
        plots.line_chart(
            title=c["title"],
            x_labels=c["labels"],
            series=c["lines"],
            description=f"{c['title']}: accuracy (%) by grade across versions",
        )
        for c in reports.metrics_charts(user=request.user)
    ]
    return render(
        request,
        "training_jobs/metrics.html",
        {
            "table": reports.table8(versions_found),
            "charts": [(chart, plots.legend_positions(chart)) for chart in charts],
        },
    )


# Platform signals ----------------------------------------------------------------------------


@require_GET
@ml_engineer_required
def signals(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "training_jobs/signals.html",
        {
            "signals": quality_selectors.platform_signals(),
            "newest": selectors.newest_reward_models(),
            "queued": request.GET.get("queued") == "1",
        },
    )


@require_POST
@ml_engineer_required
def signals_score(request: HttpRequest) -> HttpResponse:
    responses_score_enqueue(
        version_ids=[v.pk for v in selectors.newest_reward_models().values() if v is not None]
    )
    return redirect(reverse("signals") + "?queued=1")
