"""An export's worker killed mid-file, with real Celery workers on the harness's PostgreSQL
and Redis: the export is queued again and succeeds once, and no partial file survives."""

from __future__ import annotations

import os
import signal

import pytest
from django.db import connection, transaction

from annotation import roles
from annotation.exports import ExportFilters, export_job_create
from annotation.models import ExportJob
from config.artifacts import artifact_path, partials_of
from tests.annotation.factories import JudgmentFactory, UserFactory
from tests.processes import wait_for
from work.models import WorkState
from work.sweeper import work_sweep

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("killed", ["pool child", "whole worker"])
def test_an_export_whose_worker_is_killed_succeeds_on_retry_once(
    killed, start_worker, artifact_root, settings
):
    JudgmentFactory.create_batch(5)
    export = export_job_create(user=UserFactory(role=roles.ML_ENGINEER), filters=ExportFilters())
    target = artifact_path(f"exports/{export.file_name}")
    with transaction.atomic():
        # The export reads the judgments: holding them keeps it mid-file while we kill it.
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE annotation_judgment IN ACCESS EXCLUSIVE MODE")
        worker = start_worker()
        wait_for(lambda: partials_of(target), 120, "the export to start writing", interval=0.2)
        running = ExportJob.objects.get()
        assert running.state == WorkState.RUNNING and running.attempts == 1
        if killed == "pool child":
            os.kill(running.worker_pid, signal.SIGKILL)
        else:
            worker.kill()
    stale = partials_of(target)
    assert stale, "the killed writer left its partial file"

    settings.MARGIN_WORK = {**settings.MARGIN_WORK, "HEARTBEAT_TIMEOUT_SECONDS": 3}
    with transaction.atomic():
        # The retry's message leaves at commit: a live worker (the pool's new child) would
        # otherwise claim it, and clear the reason, before the row is read here.
        wait_for(lambda: work_sweep()["annotation.exportjob"]["retried"], 60, "the sweeper")
        queued = ExportJob.objects.get()
        assert queued.state == WorkState.QUEUED and queued.attempts == 2
        assert "no heartbeat" in queued.error and "attempt 2 of" in queued.error
    # The killed writer's file is gone; a live worker may already be writing the retry's own.
    assert not any(path.exists() for path in stale)
    if killed == "whole worker":
        worker = start_worker()
    wait_for(lambda: ExportJob.objects.get().is_final, 120, "the second attempt")

    done = ExportJob.objects.get()
    assert done.state == WorkState.SUCCEEDED and done.attempts == 2 and done.rows == 5
    assert len(target.read_text().splitlines()) == 5
    assert not partials_of(target)
    if killed == "pool child":  # Celery redelivers the first message: it does nothing
        wait_for(
            lambda: "skipped: not queued for this attempt" in worker.output(),
            60,
            "the redelivered first message to be skipped",
        )
        assert "WorkerLostError" in worker.output()
