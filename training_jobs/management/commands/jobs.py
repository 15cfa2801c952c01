"""List training jobs, or watch the running ones.

manage.py jobs                       # the newest 30 jobs
manage.py jobs --state running --state queued
manage.py jobs --watch               # a progress bar per active job until none is left
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from training_jobs import selectors
from training_jobs.models import Iteration, Job, JobState

COLUMNS = ("id", "kind", "state", "progress", "iteration", "created", "detail")


def table(jobs: list[Job]) -> str:
    rows = [
        (
            str(job.pk),
            job.kind,
            job.state + (" (cancelling)" if job.cancel_requested and not job.is_final else ""),
            f"{100 * job.progress:.0f}%",
            job.iteration.name if job.iteration else "-",
            f"{job.created_at:%Y-%m-%d %H:%M}",
            (job.error.splitlines()[0] if job.error else job.progress_detail)[-60:],
        )
        for job in jobs
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "List training jobs; --watch follows the queued and running ones with progress bars."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--state", action="append", choices=JobState.values, default=[], help="Repeatable."
        )
        parser.add_argument("--iteration", default="", help="Only this iteration's jobs.")
        parser.add_argument("--limit", type=int, default=30)
        parser.add_argument("--watch", action="store_true", help="Progress bars of active jobs.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between polls.")

    def handle(self, *args, **options) -> None:
        iteration_id = None
        if options["iteration"]:
            iteration = Iteration.objects.filter(name=options["iteration"]).first()
            if iteration is None:
                raise CommandError(f"There is no iteration named {options['iteration']!r}.")
            iteration_id = iteration.pk
        jobs = list(
            selectors.jobs_query(states=options["state"] or None, iteration_id=iteration_id)[
                : options["limit"]
            ]
        )
        self.stdout.write(table(jobs) if jobs else "No jobs.")
        if options["watch"]:
            try:
                self.watch(iteration_id, options["interval"])
            except KeyboardInterrupt:
                self.stdout.write("")

    def watch(self, iteration_id: int | None, interval: float) -> None:
        """One bar per queued or running job; a bar closes when its job is final, and the
        watch ends when no job is active."""
        from tqdm import tqdm

        stream = self.stderr._out
        bars: dict[int, tqdm] = {}
        active = [JobState.QUEUED, JobState.RUNNING]
        try:
            while True:
                current = {
                    job.pk: job
                    for job in selectors.jobs_query(states=active, iteration_id=iteration_id)
                }
                for pk in list(bars):
                    if pk not in current:
                        job = Job.objects.get(pk=pk)
                        bars[pk].n = round(100 * job.progress, 1)
                        bars[pk].set_description(f"job {pk} {job.state}")
                        bars.pop(pk).close()
                for pk, job in sorted(current.items()):
                    bar = bars.get(pk)
                    if bar is None:
                        bar = bars[pk] = tqdm(total=100, unit="%", file=stream, leave=True)
                    bar.n = round(100 * job.progress, 1)
                    bar.set_description(f"job {pk} {job.kind} {job.state}", refresh=False)
                    bar.set_postfix_str(job.progress_detail[-50:], refresh=False)
                    bar.refresh()
                if not current:
                    return
                time.sleep(interval)
        finally:
            for bar in bars.values():
                bar.close()
