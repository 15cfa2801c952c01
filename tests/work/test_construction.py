"""What makes the guarantees hold for every kind of work, including kinds added later: every
enqueue goes through the outbox, every task tracks its outbox message, and the sweeper finds
every kind of queued work by itself."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from celery import current_app

from annotation.models import ExportJob
from training_jobs.models import Job
from work.models import OutboxMessage, QueuedWork
from work.sending import celery_task
from work.sweeper import work_models
from work.tasks import TrackedTask

ROOT = Path(__file__).resolve().parents[2]
APPS = ["annotation", "config", "training_jobs", "work", "inference", "rewardtrain", "mlcore"]
DIRECT = re.compile(r"\.(delay|apply_async|send_task)\(")


def test_nothing_is_sent_to_the_broker_except_through_the_outbox():
    offenders = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if path == ROOT / "work" / "sending.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if DIRECT.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use outbox_call or work_enqueue:\n" + "\n".join(offenders)


def test_every_task_is_a_tracked_task():
    for module in ("annotation.tasks", "training_jobs.tasks", "work.tasks"):
        importlib.import_module(module)
    ours = [t for name, t in current_app.tasks.items() if not name.startswith("celery.")]
    assert len(ours) >= 8
    for task in ours:
        assert isinstance(task, TrackedTask), task.name
        assert task.acks_late and task.reject_on_worker_lost, task.name


def test_the_sweeper_finds_every_kind_of_queued_work_and_each_has_a_task():
    kinds = work_models()
    assert {Job, ExportJob, OutboxMessage} <= set(kinds)
    for model in kinds:
        assert issubclass(model, QueuedWork)
        if model is OutboxMessage:
            continue
        task = celery_task(model.task_name)
        assert list(inspect.signature(task.run).parameters)[-1] == "attempt", model
