"""Streamed exports: rows come from a server-side cursor in chunks, so memory stays flat
whatever the size of the collection."""

from collections.abc import Callable, Iterator

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from config.artifacts import artifact_path, atomic_write, partials_of
from work.running import Heartbeat, work_claim, work_finish
from work.sending import work_enqueue

from ..grades import MarginTable
from ..models import ExportJob, Judgment
from .filters import ExportFilters
from .formats import FIELDS, LINE_WRITERS

CHUNK = 5000


def _rows(filters: ExportFilters, fmt: str):
    judgments = filters.apply(Judgment.objects.all()).order_by("id")
    if fmt == "trl":
        judgments = judgments.annotate(context_json=Cast("pair__context", TextField()))
    return judgments.values_list(*FIELDS[fmt])


def comparisons_count(filters: ExportFilters) -> int:
    return filters.apply(Judgment.objects.all()).count()


def comparisons_export_lines(
    *, filters: ExportFilters, fmt: str = "trl", margin_table: str = MarginTable.SMALL
) -> Iterator[str]:
    """One JSON line per judgment, in `fmt` ('trl' or 'full')."""
    write = LINE_WRITERS[fmt]
    for row in _rows(filters, fmt).iterator(chunk_size=CHUNK):
        yield write(row, margin_table)


def export_write_file(
    *,
    filters: ExportFilters,
    fmt: str,
    margin_table: str,
    relative_path: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write an export under ARTIFACT_ROOT atomically; returns the number of rows."""
    rows = 0
    with atomic_write(artifact_path(relative_path)) as handle:
        for line in comparisons_export_lines(filters=filters, fmt=fmt, margin_table=margin_table):
            handle.write(line)
            rows += 1
            if progress and rows % 1000 == 0:
                progress(1000)
    if progress:
        progress(rows % 1000)
    return rows


@transaction.atomic
def export_job_create(
    *,
    user: AbstractBaseUser | None,
    filters: ExportFilters,
    fmt: str = "trl",
    margin_table: str = MarginTable.SMALL,
) -> ExportJob:
    """Record an export (queued) and send it to a worker once the row is committed. A broker
    that is down leaves it queued; the sweeper sends it later."""
    job = ExportJob(
        format=fmt,
        margin_table=margin_table,
        filters=filters.to_json(),
        created_by=user,
        queued_at=timezone.now(),
    )
    job.full_clean()
    job.save()
    work_enqueue(job)
    return job


class ExportLost(Exception):
    """The export's row went to another attempt (its heartbeat was taken as lost)."""


def export_job_run(*, export_id: int, attempt: int) -> ExportJob | None:
    """Run one attempt of a queued export; a repeated or stale delivery finds nothing to claim
    and returns None. The file appears complete or not at all."""
    job = work_claim(model=ExportJob, pk=export_id, attempt=attempt, rows=0)
    if job is None:
        return None
    mine = {"model": ExportJob, "pk": export_id, "attempt": attempt}
    relative = f"exports/{job.file_name}"
    with Heartbeat(job) as beat:

        def progress(rows: int) -> None:
            if beat.lost.is_set():
                raise ExportLost(f"export {export_id} attempt {attempt} was taken as lost")
            ExportJob.objects.filter(pk=export_id, attempts=attempt).update(rows=F("rows") + rows)

        try:
            rows = export_write_file(
                filters=ExportFilters.from_json(job.filters),
                fmt=job.format,
                margin_table=job.margin_table,
                relative_path=relative,
                progress=progress,
            )
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:2000]
            work_finish(**mine, state=ExportJob.Status.FAILED, error=reason)
        else:
            work_finish(**mine, state=ExportJob.Status.SUCCEEDED, rows=rows, path=relative)
    job.refresh_from_db()
    return job


def export_partials_remove(*, export: ExportJob) -> int:
    """Remove the partial files a killed attempt of `export` left; returns how many."""
    partials = partials_of(artifact_path(f"exports/{export.file_name}"))
    for partial in partials:
        partial.unlink(missing_ok=True)
    return len(partials)
