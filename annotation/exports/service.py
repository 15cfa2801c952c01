"""Streamed exports: rows come from a server-side cursor in chunks, so memory stays flat
whatever the size of the collection."""

from collections.abc import Callable, Iterator
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from config.artifacts import artifact_path, atomic_write

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
    """Record an export and run it on a worker once the row is committed."""
    job = ExportJob(
        format=fmt, margin_table=margin_table, filters=filters.to_json(), created_by=user
    )
    job.full_clean()
    job.save()
    from ..tasks import run_export

    transaction.on_commit(lambda: run_export.delay(job.pk))
    return job


def export_job_run(job_id: int) -> ExportJob | None:
    """Run a queued export once; a re-delivered task finds it no longer queued and stops."""
    # A worker killed mid-export leaves the row running; re-delivery may take it over once
    # it is stale. Writing the same file twice is harmless (atomic rename).
    stale = timezone.now() - timedelta(minutes=15)
    claimable = Q(status=ExportJob.Status.QUEUED) | Q(
        status=ExportJob.Status.RUNNING, started_at__lt=stale
    )
    claimed = ExportJob.objects.filter(claimable, pk=job_id).update(
        status=ExportJob.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    job = ExportJob.objects.get(pk=job_id)
    relative = f"exports/export-{job.pk}-{job.format}.jsonl"
    try:
        rows = export_write_file(
            filters=ExportFilters.from_json(job.filters),
            fmt=job.format,
            margin_table=job.margin_table,
            relative_path=relative,
        )
    except Exception as exc:
        job.status, job.error = ExportJob.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    else:
        job.status, job.rows, job.path = ExportJob.Status.SUCCEEDED, rows, relative
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "rows", "path", "error", "finished_at"])
    return job
