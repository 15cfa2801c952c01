"""The whole loop without people on a development site's demo batches, step by step:

    manage.py demo_loop                # with `make run` running (its worker runs the jobs)
    manage.py demo_loop --pairs 24 --no-wait

Starts a new iteration whose jobs are: simulated annotators judge demo pairs (generating them
first), the helpfulness and the safety reward models are trained on CPU, and one small
rejection-sampling round makes the next policy. The same as "Run the demo loop" on the
Iterations page; each step's progress also shows on the iteration's page. Waiting (the
default), it follows each job with a progress bar and prints how long each step took; the exit
status is 0 when the loop finished, 1 when a step failed.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from training_jobs.models import Job, JobState
from training_jobs.services import JobError, demo_loop_advance, demo_loop_start
from training_jobs.services.demo_loop import PAIRS_PER_BATCH

from .start_job import follow

NO_WORKER_HINT_SECONDS = 60


class Command(BaseCommand):
    help = "The demo loop: simulated annotators, two reward models, a rejection-sampling round."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--pairs",
            type=int,
            default=PAIRS_PER_BATCH,
            help=f"Pairs the simulated annotators judge in each demo batch ({PAIRS_PER_BATCH}).",
        )
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Start it and leave it to the worker (each step starts the next).",
        )
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls.")

    def handle(self, *args, **options) -> None:
        try:
            iteration = demo_loop_start(pairs_per_batch=options["pairs"])
        except JobError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{iteration.name}: the demo loop, on /iterations/{iteration.pk}/")
        if options["no_wait"]:
            return
        started = time.monotonic()
        while True:
            state = demo_loop_advance(iteration=iteration)
            if state.done:
                break
            if state.failed is not None:
                job = state.failed
                raise CommandError(f"job {job.pk} {job.state}: {job.error}", returncode=1)
            step, job = state.steps[state.current - 1]
            self.stdout.write(f"step {state.current} of {len(state.steps)}: {step.title}")
            step_started = time.monotonic()
            self._wait_for_a_worker(job, options["interval"])
            try:
                job = follow(job, stream=self.stderr._out, interval=options["interval"])
            except KeyboardInterrupt:
                raise CommandError(
                    f"Stopped following; {iteration.name} goes on with the worker (each step "
                    "starts the next; Continue on its page after a failed step is retried).",
                    returncode=130,
                ) from None
            self.stdout.write(
                f"  job {job.pk} {job.state} in {time.monotonic() - step_started:.0f} s"
            )
        minutes = (time.monotonic() - started) / 60
        policy = iteration.__class__.objects.get(pk=iteration.pk).produced_policy
        self.stdout.write(
            self.style.SUCCESS(
                f"The demo loop finished in {minutes:.1f} min: {policy.name if policy else '-'}"
            )
        )

    def _wait_for_a_worker(self, job: Job, interval: float) -> None:
        deadline = time.monotonic() + NO_WORKER_HINT_SECONDS
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.state != JobState.QUEUED:
                return
            time.sleep(interval)
        self.stderr.write(
            f"job {job.pk} is still queued after {NO_WORKER_HINT_SECONDS} s: is a worker "
            "running? (`make run` starts one)"
        )
