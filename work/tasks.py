"""The Celery side of the outbox: every task class tracks the outbox message it was sent for,
and the sweeper's periodic task."""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import Task, shared_task

logger = logging.getLogger(__name__)
# The message header naming the row a message was sent for: [model label, pk, attempt].
HEADER = "margin_work"


def _mark(request: Any) -> tuple[str, int, int] | None:
    """(model label, pk, attempt) of the row a message was sent for, if any. A worker puts
    custom headers on the request; an eager call keeps them in `request.headers`."""
    value = getattr(request, HEADER, None)
    headers = getattr(request, "headers", None)
    if value is None and isinstance(headers, dict):
        value = headers.get(HEADER)
    if not value or len(value) != 3:
        return None
    label, pk, attempt = value
    return str(label), int(pk), int(attempt)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class TrackedTask(Task):
    """The base of every Margin task (the app's `task_cls`). A call sent through the outbox
    (`outbox_call`) is claimed once per attempt, heartbeated while it runs and marked done;
    a duplicate delivery does nothing. Calls that carry no outbox mark (beat's periodic
    sends, row tasks such as `run_job` that claim their own row, direct calls) just run."""

    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .models import OutboxMessage, WorkState
        from .running import Heartbeat, work_claim, work_finish
        from .sending import work_label

        mark = _mark(self.request)
        if mark is None or mark[0] != work_label(OutboxMessage):
            return super().__call__(*args, **kwargs)
        _, pk, attempt = mark
        message = work_claim(model=OutboxMessage, pk=pk, attempt=attempt)
        if message is None:
            logger.info("%s: outbox message %s attempt %s is taken", self.name, pk, attempt)
            return None
        done = {"model": OutboxMessage, "pk": pk, "attempt": attempt}
        with Heartbeat(message):
            try:
                result = super().__call__(*args, **kwargs)
            except Exception as exc:
                work_finish(
                    **done, state=WorkState.FAILED, error=f"{type(exc).__name__}: {exc}"[:5000]
                )
                raise
        work_finish(**done, state=WorkState.SUCCEEDED, result=_jsonable(result))
        return result


@shared_task
def sweep_work() -> dict:
    """Re-send lost messages and settle lost runs of every kind of work (beat, every 30 s)."""
    from .sweeper import work_sweep

    return work_sweep()
