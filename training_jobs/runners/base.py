"""The shape of a runner: what a job of one kind does on a worker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError

from ..models import ModelVersion

if TYPE_CHECKING:
    from ..models import Job
    from .context import JobContext


MAX_PROCESSES = 64  # processes of one job on one node (GPUs a node holds, with room)


class Runner(ABC):
    """`validate(params)` raises ValidationError before a job row exists; `run(job, ctx)` does
    the work, mostly through `ctx.run_core(...)`, and sets `ctx.output_dir` (a JobError there
    fails the job with its message).

    A job's parameters are the runner's own (`own_params`) and the flags of its core's config
    (`core_config`) less those Margin sets itself (`reserved`); the job form lists them."""

    core_config: type | None = None
    own_params: frozenset[str] = frozenset()
    reserved: frozenset[str] = frozenset()

    @abstractmethod
    def validate(self, params: dict[str, Any]) -> None: ...

    @abstractmethod
    def run(self, job: Job, ctx: JobContext) -> None: ...

    @staticmethod
    def check_processes(params: dict[str, Any]) -> None:
        """`nprocs`: how many processes (GPUs) the job's training core runs on, under
        torchrun on the worker's node; 1 to MAX_PROCESSES."""
        nprocs = params.get("nprocs", 1)
        if not isinstance(nprocs, int) or isinstance(nprocs, bool):
            raise ValidationError(f"nprocs must be an integer from 1 to {MAX_PROCESSES}")
        if not 1 <= nprocs <= MAX_PROCESSES:
            raise ValidationError(f"nprocs must be an integer from 1 to {MAX_PROCESSES}")

    @staticmethod
    def processes(job: Job) -> int:
        """The job's `nprocs`, else MARGIN_TRAIN_PROCESSES for a job on the gpu queue, else 1."""
        if "nprocs" in job.params:
            return int(job.params["nprocs"])
        return settings.MARGIN_JOBS["TRAIN_PROCESSES"] if job.queue == "gpu" else 1

    @staticmethod
    def check_device(params: dict[str, Any]) -> None:
        if params.get("device", "gpu") not in ("gpu", "cpu"):
            raise ValidationError("device must be gpu or cpu")

    @staticmethod
    def starting_policy(job: Job, param: str) -> ModelVersion:
        """The policy version the job's `param` names, else its iteration's start policy,
        else the base model."""
        from ..services.iterations import policy_base_ensure

        if job.params.get(param):
            return ModelVersion.objects.get(pk=job.params[param])
        if job.iteration and job.iteration.start_policy:
            return job.iteration.start_policy
        return policy_base_ensure()
