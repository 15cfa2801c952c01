"""Reads for the ML engineer's pages, API and CLI. Every queryset is scoped by role: anyone
who is not an ML engineer or an admin sees nothing (the views turn that into 403/404).
Tables and charts built from these rows are in `reports`."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from annotation import roles
from annotation.models import ModelVariant, PromptBatch

from .models import Iteration, Job, JobState, ModelVersion

REWARD_KINDS = (ModelVersion.Kind.REWARD_HELPFULNESS, ModelVersion.Kind.REWARD_SAFETY)
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)

User = AbstractBaseUser | AnonymousUser


def can_manage_jobs(user: User) -> bool:
    return roles.is_ml_engineer(user)


def iterations_visible_to(user: User) -> QuerySet[Iteration]:
    if not can_manage_jobs(user):
        return Iteration.objects.none()
    return (
        Iteration.objects.select_related("start_policy", "produced_policy")
        .annotate(
            job_count=Count("jobs"),
            active_jobs=Count("jobs", filter=Q(jobs__state__in=ACTIVE_STATES)),
        )
        .order_by("-number")
    )


def jobs_visible_to(user: User) -> QuerySet[Job]:
    if not can_manage_jobs(user):
        return Job.objects.none()
    return Job.objects.select_related("iteration", "created_by")


def jobs_query(
    jobs: QuerySet[Job] | None = None,
    *,
    states: list[str] | None = None,
    iteration_id: int | None = None,
) -> QuerySet[Job]:
    """Jobs (all of them: the command line is an operator's tool) filtered by state and
    iteration, newest first."""
    jobs = Job.objects.select_related("iteration", "created_by") if jobs is None else jobs
    if states:
        jobs = jobs.filter(state__in=states)
    if iteration_id is not None:
        jobs = jobs.filter(iteration_id=iteration_id)
    return jobs.order_by("-created_at", "-pk")


def jobs_list(
    *, user: User, states: list[str] | None = None, iteration_id: int | None = None
) -> QuerySet[Job]:
    return jobs_query(jobs_visible_to(user), states=states, iteration_id=iteration_id)


def versions_visible_to(user: User) -> QuerySet[ModelVersion]:
    if not can_manage_jobs(user):
        return ModelVersion.objects.none()
    return ModelVersion.objects.select_related("parent", "job", "job__iteration")


def any_active(jobs) -> bool:
    return any(not job.is_final for job in jobs)


def version_lineage(*, version: ModelVersion, limit: int = 50) -> list[ModelVersion]:
    """The chain from the first ancestor to this version (oldest first)."""
    chain = [version]
    seen = {version.pk}
    current = version
    while current.parent_id and current.parent_id not in seen and len(chain) < limit:
        current = ModelVersion.objects.select_related("parent", "job", "job__iteration").get(
            pk=current.parent_id
        )
        seen.add(current.pk)
        chain.append(current)
    chain.reverse()
    return chain


def version_children(*, version: ModelVersion) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(parent=version).order_by("created_at")


def reward_versions(*, user: User, kind: str | None = None) -> list[ModelVersion]:
    """Reward-model versions, oldest first (the order of the plot's x axis)."""
    versions = versions_visible_to(user).filter(kind__in=REWARD_KINDS)
    if kind:
        versions = versions.filter(kind=kind)
    return list(versions.order_by("kind", "created_at", "pk"))


def newest_reward_models() -> dict[str, ModelVersion | None]:
    """The newest version of each reward-model kind, scored or not."""
    return {
        kind: ModelVersion.objects.filter(kind=kind).order_by("-created_at", "-pk").first()
        for kind in REWARD_KINDS
    }


def variants_serving(version: ModelVersion) -> QuerySet[ModelVariant]:
    """Model variants that sample from this policy: its folder, or its name on a server."""
    return (
        ModelVariant.objects.filter(
            Q(model_path=str(version.folder)) | Q(backend="http", model_name=version.name)
        )
        .prefetch_related("batches")
        .order_by("label")
    )


def batches_to_serve() -> QuerySet[PromptBatch]:
    open_or_draft = PromptBatch.objects.exclude(status=PromptBatch.Status.CLOSED)
    return open_or_draft.order_by("-ordinal", "name")
