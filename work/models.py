"""What every kind of queued work shares (`QueuedWork`), and the generic outbox row for any
task call that has no row of its own (`OutboxMessage`).

A concrete subclass is found by the sweeper through Django's app registry, so a new kind of
work gets sending after commit, re-sending, heartbeats and the lost-worker policy by
construction."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q


class WorkState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATES = (WorkState.SUCCEEDED, WorkState.FAILED, WorkState.CANCELLED)


class LostPolicy(models.TextChoices):
    RETRY = "retry", "Queue it again (a new attempt), up to max_attempts, then fail it"
    FAIL = "fail", "Fail it with the reason (a person retries it)"


class QueuedWork(models.Model):
    """One piece of work for a Celery worker. The row is the source of truth: it is committed
    `queued`, its message goes to the broker after commit (`enqueued_at`, `sends`), a worker
    moves it to `running` for one attempt only, beats `heartbeat_at` until it ends, and the
    sweeper re-sends or fails what was lost."""

    state = models.CharField(max_length=10, choices=WorkState.choices, default=WorkState.QUEUED)
    queue = models.CharField(max_length=20, default="default")
    attempts = models.PositiveSmallIntegerField(
        default=1, help_text="The attempt a worker may claim; a retry makes a new one."
    )
    sends = models.PositiveSmallIntegerField(
        default=0, help_text="Messages that reached the broker for this attempt."
    )
    error = models.TextField(blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When this attempt was queued."
    )
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When this attempt's latest message reached the broker."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # The Celery task that runs a row (called with `message()`), and what the sweeper does
    # when the worker running it stops beating.
    task_name: ClassVar[str] = ""
    lost_policy: ClassVar[str] = LostPolicy.RETRY
    max_attempts: ClassVar[int] = 3
    lost_advice: ClassVar[str] = ""

    class Meta:
        abstract = True

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def message(self) -> tuple[str, list[Any], dict[str, Any]]:
        """(task name, args, kwargs) of the message that runs this attempt."""
        return self.task_name, [self.pk, self.attempts], {}

    def on_lost(self) -> None:
        """Remove what a dead attempt left behind (partial files); called by the sweeper."""


class OutboxMessage(QueuedWork):
    """A task call with no row of its own (pair generation, scoring, ...), kept until a
    worker finished it. `key` keeps one queued message per purpose."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    key = models.CharField(
        max_length=200, blank=True, help_text="At most one queued message per non-empty key."
    )
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=WorkState.values), name="outbox_state_valid"
            ),
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(state="queued") & ~Q(key=""),
                name="outbox_one_queued_per_key",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"])]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk} ({self.state})"

    def message(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.task, list(self.args), dict(self.kwargs)
