"""Start a training job, as the pages and the API do (the same service, the same checks).

    manage.py start_job reward_helpfulness --iteration RLHF-V2 --param max_steps=50 --wait
    manage.py start_job evaluation --params-json '{"versions": [3, 4]}'

A --param value is read as JSON when it parses (numbers, true/false, lists), else as text.
With --wait a progress bar follows the job until it is final; the exit status is 0 when it
succeeded, 1 when it failed, 2 when it was cancelled.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from training_jobs.models import Iteration, Job, JobState
from training_jobs.runners import RUNNERS
from training_jobs.services import job_create


def parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise CommandError(f"--param {text!r}: expected KEY=VALUE")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def follow(job: Job, *, stream, interval: float = 1.0) -> Job:
    """Show a progress bar (and new log lines) until the job is final; return it."""
    from tqdm import tqdm

    printed = len(job.log)
    with tqdm(
        total=100, unit="%", file=stream, desc=f"job {job.pk} {job.state}", dynamic_ncols=True
    ) as bar:
        while True:
            job.refresh_from_db()
            if len(job.log) < printed:  # the kept tail rolled over
                printed = 0
            for line in job.log[printed:].splitlines():
                bar.write(line, file=stream)
            printed = len(job.log)
            bar.n = round(100 * job.progress, 1)
            bar.set_description(f"job {job.pk} {job.state}", refresh=False)
            bar.set_postfix_str(job.progress_detail[-60:], refresh=False)
            bar.refresh()
            if job.is_final:
                return job
            time.sleep(interval)


def describe(job: Job) -> str:
    """What became of the request, as the job row says (it is the source of truth)."""
    job.refresh_from_db()
    head = f"job {job.pk}: {job.get_kind_display()}, {job.state} on {job.queue}"
    if job.state == JobState.QUEUED and job.enqueued_at is None:
        return (
            f"{head}; the broker is not reachable now, so it will be sent when the broker is "
            "back (the sweeper retries; nothing to do)"
        )
    if job.state == JobState.QUEUED:
        return f"{head}; sent to the workers"
    return head


class Command(BaseCommand):
    help = "Start a training job (reward model, evaluation, ...) and optionally follow it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(RUNNERS), help="What the job runs.")
        parser.add_argument("--iteration", default="", help="Iteration name (e.g. RLHF-V2).")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="One parameter; repeat for more (overrides --params-json).",
        )
        parser.add_argument("--params-json", default="", help="Parameters as a JSON object.")
        parser.add_argument("--user", default="", help="Username recorded as the job's creator.")
        parser.add_argument(
            "--request-key", default="", help="The same key twice starts the job only once."
        )
        parser.add_argument("--wait", action="store_true", help="Follow the job until it ends.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls.")

    def handle(self, *args, **options) -> None:
        params: dict[str, Any] = {}
        if options["params_json"]:
            try:
                params = json.loads(options["params_json"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--params-json is not valid JSON: {exc}") from exc
            if not isinstance(params, dict):
                raise CommandError("--params-json must be a JSON object")
        params.update(parse_param(text) for text in options["param"])
        iteration = None
        if options["iteration"]:
            iteration = Iteration.objects.filter(name=options["iteration"]).first()
            if iteration is None:
                raise CommandError(f"There is no iteration named {options['iteration']!r}.")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"There is no user {options['user']!r}.")
        try:
            job = job_create(
                kind=options["kind"],
                params=params,
                iteration=iteration,
                user=user,
                request_key=options["request_key"] or None,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(describe(job))
        if not options["wait"]:
            return
        try:
            job = follow(job, stream=self.stderr._out, interval=options["interval"])
        except KeyboardInterrupt:
            raise CommandError(
                f"Stopped following job {job.pk}; it goes on (cancel it on its page).",
                returncode=130,
            ) from None
        if job.state == JobState.SUCCEEDED:
            self.stdout.write(self.style.SUCCESS(f"job {job.pk} succeeded: {job.output_dir}"))
            return
        if job.state == JobState.CANCELLED:
            raise CommandError(f"job {job.pk} was cancelled", returncode=2)
        raise CommandError(f"job {job.pk} failed: {job.error}", returncode=1)
