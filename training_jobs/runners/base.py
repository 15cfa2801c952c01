"""The shape of a runner: what a job of one kind does on a worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from ..models import ModelVersion

if TYPE_CHECKING:
    from ..models import Job
    from .context import JobContext


class Runner:
    """`validate(params)` raises ValidationError before a job row exists; `run(job, ctx)` does
    the work, mostly through `ctx.run_core(...)`, and sets `ctx.output_dir` (a JobError there
    fails the job with its message).

    A job's parameters are the runner's own (`own_params`) and the flags of its core's config
    (`core_config`) less those Margin sets itself (`reserved`); the job form lists them."""

    core_config: type | None = None
    own_params: frozenset[str] = frozenset()
    reserved: frozenset[str] = frozenset()

    def validate(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def run(self, job: Job, ctx: JobContext) -> None:
        raise NotImplementedError

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
