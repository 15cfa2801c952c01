"""The transactional outbox: a row is committed first, its message goes to the broker after
commit, and a failed send leaves the row queued for the sweeper to send again."""

from __future__ import annotations

import enum
import importlib
import logging
from typing import Any

from celery import Task, current_app
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import OutboxMessage, QueuedWork, WorkState
from .tasks import HEADER

logger = logging.getLogger(__name__)
# One quick retry: the sweeper, not the request, waits for a broker that is down.
NOT_SENT = "Not sent yet, the broker did not take it"
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def work_label(model: type[QueuedWork]) -> str:
    return model._meta.label_lower


def work_enqueue(row: QueuedWork) -> None:
    """Send `row`'s current attempt once the surrounding transaction commits (at once in
    autocommit). Must be called after the row is saved in that transaction."""
    model, pk, attempt = type(row), row.pk, row.attempts
    transaction.on_commit(lambda: work_send(model=model, pk=pk, attempt=attempt))


def _queued(model: type[QueuedWork], pk: int, attempt: int):
    return model.objects.filter(pk=pk, state=WorkState.QUEUED, attempts=attempt)


def celery_task(name: str) -> Task:
    """The registered task called `name`, importing its module first (a web process only
    knows the tasks of modules it has imported)."""
    if name not in current_app.tasks:
        importlib.import_module(name.rpartition(".")[0])
    return current_app.tasks[name]


class Sent(enum.Enum):
    SENT = "sent"
    SKIPPED = "skipped"  # no longer queued for this attempt: nothing to send
    REFUSED = "refused"  # the broker is down or refused it: the row stays queued


def work_send(*, model: type[QueuedWork], pk: int, attempt: int) -> Sent:
    """Hand one queued attempt to the broker. Never raises for a broker fault: the row
    records why it waits and stays queued for the sweeper."""
    row = _queued(model, pk, attempt).first()
    if row is None:
        return Sent.SKIPPED
    name, args, kwargs = row.message()
    try:
        celery_task(name).apply_async(
            args=args,
            kwargs=kwargs,
            queue=row.queue,
            headers={HEADER: [work_label(model), pk, attempt]},
            retry_policy=PUBLISH_RETRY,
        )
    except Exception as exc:  # the broker is down or refused: the sweeper sends it again
        reason = f"{NOT_SENT} ({type(exc).__name__}: {exc})."
        _queued(model, pk, attempt).update(error=reason[:1000])
        logger.warning("%s %s attempt %s stays queued: %s", work_label(model), pk, attempt, reason)
        return Sent.REFUSED
    _queued(model, pk, attempt).update(enqueued_at=timezone.now(), sends=F("sends") + 1)
    _queued(model, pk, attempt).filter(error__startswith=NOT_SENT).update(error="")
    return Sent.SENT


def task_name(task: str | Task) -> str:
    return task if isinstance(task, str) else task.name


def outbox_call(
    task: str | Task, *args: Any, queue: str = "default", key: str = "", **kwargs: Any
) -> OutboxMessage | None:
    """Call a Celery task through the outbox: recorded in this transaction, sent after commit,
    re-sent by the sweeper until a worker ran it. With a `key`, a call while another message
    with that key still waits to be taken is dropped (None): the waiting one does the work."""
    name = task_name(task)
    celery_task(name)  # an unknown task is a mistake to report now, not a message to retry
    message = OutboxMessage(
        task=name,
        args=list(args),
        kwargs=kwargs,
        queue=queue,
        key=key,
        queued_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        if key and OutboxMessage.objects.filter(key=key, state=WorkState.QUEUED).exists():
            return None
        raise
    work_enqueue(message)
    return message
