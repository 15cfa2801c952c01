from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..models import Iteration, Job, JobState, ModelVersion

BASE_POLICY_NAME = "SmolLM2-135M-Instruct"


class JobLost(Exception):
    """The job no longer runs the attempt that tried to register its output."""


def policy_base_ensure() -> ModelVersion:
    """The starting policy: the configured default model folder (built if missing)."""
    from inference.default_model import default_model_dir

    configured = settings.MARGIN["DEFAULT_MODEL_DIR"]
    path = Path(configured) if configured else default_model_dir()
    version, _ = ModelVersion.objects.get_or_create(
        kind=ModelVersion.Kind.POLICY, name=BASE_POLICY_NAME, defaults={"path": str(path)}
    )
    return version


@transaction.atomic
def iteration_create(
    *,
    name: str = "",
    start_policy: ModelVersion | None = None,
    notes: str = "",
    user: AbstractBaseUser | None = None,
) -> Iteration:
    """The next iteration, starting from the latest produced policy unless told otherwise."""
    last = Iteration.objects.select_for_update().order_by("-number").first()
    number = (last.number + 1) if last else 1
    if start_policy is None:
        start_policy = (last.produced_policy or last.start_policy) if last else None
    iteration = Iteration(
        name=name or f"RLHF-V{number}",
        number=number,
        start_policy=start_policy or policy_base_ensure(),
        notes=notes,
        created_by=user,
    )
    iteration.full_clean()
    iteration.save()
    return iteration


@transaction.atomic
def model_version_register(
    *,
    job: Job,
    kind: str,
    path: str,
    parent: ModelVersion | None,
    metrics: dict[str, Any],
    judgments_through: int = 0,
) -> ModelVersion:
    """Register a job's complete output and mark the job succeeded, in one transaction, only
    while the attempt that made it still runs the job: a job the sweeper failed (its worker
    was taken as lost) never registers a model. A repeated call returns the same row.

    Raises JobLost when the job no longer runs this attempt."""
    existing = ModelVersion.objects.filter(job=job).first()
    if existing:
        return existing
    owned = Job.objects.select_for_update().filter(
        pk=job.pk, state=JobState.RUNNING, attempts=job.attempts
    )
    if not owned.exists():
        raise JobLost(
            f"Job {job.pk} no longer runs attempt {job.attempts}; {path} is not registered."
        )
    count = ModelVersion.objects.filter(kind=kind).count() + 1
    prefix = {
        "policy": "policy",
        "reward_helpfulness": "rm-helpfulness",
        "reward_safety": "rm-safety",
    }
    version = ModelVersion(
        kind=kind,
        name=f"{prefix[kind]}-v{count}-job{job.pk}",
        path=path,
        parent=parent,
        job=job,
        metrics=metrics,
        data_snapshot=job.data_snapshot,
        judgments_through=judgments_through,
    )
    version.full_clean()
    version.save()
    if kind == ModelVersion.Kind.POLICY and job.iteration_id:
        Iteration.objects.filter(pk=job.iteration_id).update(produced_policy=version)
    owned.update(
        state=JobState.SUCCEEDED, finished_at=timezone.now(), output_dir=path, progress=1.0
    )
    return version
