"""A worker's side of queued work: claim one attempt, beat its heartbeat from the claim to the
end (a thread, whatever the work is doing), and finish it, every move conditional on the row
still belonging to this attempt."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import QueuedWork, WorkState

logger = logging.getLogger(__name__)
W = TypeVar("W", bound=QueuedWork)


def _running(model: type[QueuedWork], pk: int, attempt: int):
    return model.objects.filter(pk=pk, state=WorkState.RUNNING, attempts=attempt)


def work_claim(*, model: type[W], pk: int, attempt: int, **fields: Any) -> W | None:
    """queued -> running for this attempt only. A repeated delivery (a redelivered message, a
    re-send, a second copy after the broker's visibility timeout) or an old attempt's message
    gets None and must do nothing."""
    now = timezone.now()
    moved = model.objects.filter(pk=pk, state=WorkState.QUEUED, attempts=attempt).update(
        state=WorkState.RUNNING,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
        worker_host=socket.gethostname()[:200],
        worker_pid=os.getpid(),
        error="",
        **fields,
    )
    return model.objects.get(pk=pk) if moved else None


def work_beat(*, model: type[QueuedWork], pk: int, attempt: int) -> bool:
    """One heartbeat; False when the row no longer runs this attempt (swept, cancelled)."""
    return bool(_running(model, pk, attempt).update(heartbeat_at=timezone.now()))


def work_finish(
    *, model: type[QueuedWork], pk: int, attempt: int, state: str, **fields: Any
) -> bool:
    """running -> a final state, only while this attempt still owns the row."""
    return bool(
        _running(model, pk, attempt).update(state=state, finished_at=timezone.now(), **fields)
    )


def heartbeat_seconds() -> float:
    return float(settings.MARGIN_WORK["HEARTBEAT_SECONDS"])


class Heartbeat:
    """Beat a claimed row's heartbeat in a thread until the block ends.

    with Heartbeat(row) as beat:
        ...                       # beat.lost is set once the row is no longer ours
    """

    def __init__(self, row: QueuedWork, interval: float | None = None) -> None:
        self.model, self.pk, self.attempt = type(row), row.pk, row.attempts
        self.interval = interval if interval is not None else heartbeat_seconds()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    alive = work_beat(model=self.model, pk=self.pk, attempt=self.attempt)
                except Exception as exc:  # the database is away for a moment: beat again later
                    logger.warning("heartbeat of %s %s failed: %s", self.model, self.pk, exc)
                    connection.close()
                    continue
                if not alive:
                    self.lost.set()
                    return
        finally:
            connection.close()
