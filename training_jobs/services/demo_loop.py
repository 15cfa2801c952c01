"""The whole loop without people, on a development site's demo batches (settings.MARGIN_DEMO):
simulated annotators judge demo pairs, the helpfulness and the safety reward model are trained
on CPU, and one small rejection-sampling round makes the next policy. Each step is a job of a
new iteration, so its progress shows on the iteration's page like any job's.

    iteration = demo_loop_start(user=request.user)   # the iteration and its first job
    state = demo_loop_advance(iteration=iteration)   # the next step once the last succeeded

The worker that finishes a step starts the next one (`demo_loop_after_job`, called when a job
succeeds); "Continue" on the iteration's page and the `demo_loop` command advance it too.
Advancing is idempotent (each step's job has a request key): each job starts once. The steps
run one after the other so that each training process has the machine's cores to itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import PromptBatch

from ..models import Iteration, Job, JobKind, JobState, ModelVersion
from .iterations import iteration_create
from .jobs import JobError, job_create

logger = logging.getLogger(__name__)
KEY_PREFIX = "demo-loop"
# Small enough for two CPU cores (see README.md for the time it takes), big enough to show
# every step doing its work.
PAIRS_PER_BATCH = 12
REWARD_PARAMS = {"batch_pairs": 8, "epochs": 1.0, "test_fraction": 0.2, "save_every": 0}
ROUND_PARAMS = {
    "prompts_per_batch": 4,
    "k": 2,
    "max_tokens": 48,
    "epochs": 1.0,
    "train_batch_size": 8,
    "micro_batch": 4,
}


@dataclass(frozen=True)
class Step:
    kind: str
    title: str
    # the parameters of its job, from the iteration (earlier steps' results) and the batches
    params: Callable[[Iteration, list[int]], dict[str, Any]] | None


def _reward(iteration: Iteration, batches: list[int]) -> dict[str, Any]:
    return {"batches": batches, "device": "cpu", **REWARD_PARAMS}


def _round(iteration: Iteration, batches: list[int]) -> dict[str, Any]:
    versions = {v.kind: v.pk for v in ModelVersion.objects.filter(job__iteration=iteration)}
    return {
        "batches": batches,
        "device": "cpu",
        "helpfulness_version": versions[ModelVersion.Kind.REWARD_HELPFULNESS],
        "safety_version": versions[ModelVersion.Kind.REWARD_SAFETY],
        **ROUND_PARAMS,
    }


STEPS = (
    # the first step's job is made by demo_loop_start, with the size asked for
    Step(JobKind.SIMULATED_ANNOTATION, "Simulated annotators judge demo pairs", None),
    Step(JobKind.REWARD_HELPFULNESS, "Train the helpfulness reward model", _reward),
    Step(JobKind.REWARD_SAFETY, "Train the safety reward model", _reward),
    Step(JobKind.REJECTION_SAMPLING, "One rejection-sampling round", _round),
)


def _key(iteration: Iteration, kind: str) -> str:
    return f"{KEY_PREFIX}:{iteration.pk}:{kind}"


@dataclass
class LoopState:
    """Where a demo loop is: each step with its job (None before it starts)."""

    iteration: Iteration
    steps: list[tuple[Step, Job | None]]

    @property
    def failed(self) -> Job | None:
        return next((job for _, job in self.steps if job and job.state in FAILED_STATES), None)

    @property
    def done(self) -> bool:
        return all(job and job.state == JobState.SUCCEEDED for _, job in self.steps)

    @property
    def running(self) -> bool:
        return not self.done and self.failed is None

    @property
    def current(self) -> int:
        """1-based number of the step under way (or the last one)."""
        for number, (_, job) in enumerate(self.steps, 1):
            if job is None or job.state != JobState.SUCCEEDED:
                return number
        return len(self.steps)


FAILED_STATES = (JobState.FAILED, JobState.CANCELLED)


def demo_loop_state(*, iteration: Iteration) -> LoopState | None:
    """The loop's steps and jobs, or None when the iteration is not a demo loop."""
    jobs = {
        job.request_key: job
        for job in Job.objects.filter(
            iteration=iteration, request_key__startswith=f"{KEY_PREFIX}:{iteration.pk}:"
        )
    }
    if not jobs:
        return None
    return LoopState(iteration, [(step, jobs.get(_key(iteration, step.kind))) for step in STEPS])


def _demo_batches() -> list[int]:
    from annotation.demo import DEMO_BATCHES

    names = [spec.name for spec in DEMO_BATCHES]
    batches = dict(
        PromptBatch.objects.filter(name__in=names, status=PromptBatch.Status.OPEN).values_list(
            "name", "pk"
        )
    )
    if len(batches) != len(names):
        raise JobError(
            "The demo loop needs the open demo batches "
            f"({', '.join(names)}); `make run` opens them on a fresh development site."
        )
    return [batches[name] for name in names]


def _start(
    iteration: Iteration, step: Step, params: dict[str, Any], user: AbstractBaseUser | None
) -> Job:
    return job_create(
        kind=step.kind,
        params=params,
        iteration=iteration,
        user=user,
        request_key=_key(iteration, step.kind),
    )


def demo_loop_advance(
    *, iteration: Iteration, user: AbstractBaseUser | None = None
) -> LoopState | None:
    """Start the first step that has no job when the one before it succeeded; a failed or
    cancelled step stops the loop (retry it on its page: the loop then goes on). None when
    the iteration is not a demo loop."""
    state = demo_loop_state(iteration=iteration)
    if state is None:
        return None
    batches = state.steps[0][1].params["batches"]  # the first step is made at the start
    for index, (step, job) in enumerate(state.steps):
        if job is None:
            params = step.params(iteration, batches)
            state.steps[index] = (step, _start(iteration, step, params, user))
            break
        if job.state != JobState.SUCCEEDED:
            break
    return state


def demo_loop_start(
    *,
    user: AbstractBaseUser | None = None,
    pairs_per_batch: int = PAIRS_PER_BATCH,
    start_policy: ModelVersion | None = None,
) -> Iteration:
    """A new iteration running the demo loop, its first job queued; each step that succeeds
    starts the next (`demo_loop_after_job`).

    Raises JobError outside development mode or without the open demo batches.
    """
    if not settings.MARGIN_DEMO:
        raise JobError("The demo loop runs only on a development site (settings.MARGIN_DEMO).")
    batches = _demo_batches()
    with transaction.atomic():
        iteration = iteration_create(
            start_policy=start_policy,
            notes=(
                "Demo loop: simulated annotators judge demo pairs, then the two reward "
                "models and one small rejection-sampling round are trained on CPU."
            ),
            user=user,
        )
        params = {"batches": batches, "pairs_per_batch": pairs_per_batch}
        _start(iteration, STEPS[0], params, user)
    return iteration


def demo_loop_resume(*, iteration: Iteration, user: AbstractBaseUser | None = None) -> LoopState:
    """Go on after a failed step was retried, or after a worker died between a step's success
    and starting the next: advance now. Raises JobError when the iteration is not a demo
    loop."""
    with transaction.atomic():
        state = demo_loop_advance(iteration=iteration, user=user)
        if state is None:
            raise JobError(f"{iteration.name} is not a demo loop.")
    return state


def demo_loop_after_job(*, job_id: int) -> LoopState | None:
    """Called by the worker when a job succeeded: when it is a step of a demo loop, start the
    next step. A next step that cannot start is logged and leaves the loop where it is (its
    page offers Continue); it never touches the finished job. None for other jobs."""
    job = Job.objects.filter(pk=job_id, state=JobState.SUCCEEDED).select_related("iteration")
    job = job.first()
    if job is None or job.iteration is None or not job.request_key.startswith(KEY_PREFIX):
        return None
    try:
        with transaction.atomic():
            return demo_loop_advance(iteration=job.iteration, user=job.created_by)
    except (JobError, ValidationError) as exc:
        logger.warning("the demo loop of %s stops after job %s: %s", job.iteration, job_id, exc)
        return None
