from django.conf import settings
from django.db import models
from django.db.models import Q

from work.models import LostPolicy, QueuedWork, WorkState

from ..grades import MarginTable


class ExportJob(QueuedWork):
    """A comparison export written to a file under ARTIFACT_ROOT by a worker. It is written
    to a temporary name beside its final one and renamed when complete; a worker that stops
    beating gets its partial file removed and the export queued again (then failed)."""

    Status = WorkState
    task_name = "annotation.tasks.run_export"
    lost_policy = LostPolicy.RETRY
    max_attempts = 3

    class Format(models.TextChoices):
        TRL = "trl", "TRL conversational preference"
        FULL = "full", "Margin full form"

    format = models.CharField(max_length=10, choices=Format.choices, default=Format.TRL)
    margin_table = models.CharField(
        max_length=10, choices=MarginTable.choices, default=MarginTable.SMALL
    )
    filters = models.JSONField(default=dict, blank=True)
    rows = models.PositiveBigIntegerField(default=0, help_text="Rows written (so far).")
    path = models.CharField(max_length=500, blank=True, help_text="Relative to ARTIFACT_ROOT.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                name="export_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(format__in=["trl", "full"]), name="export_format_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state="succeeded") | ~Q(path=""), name="export_succeeded_has_file"
            ),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format}, {self.state})"

    @property
    def file_name(self) -> str:
        return f"export-{self.pk}-{self.format}.jsonl"

    def on_lost(self) -> None:
        from .. import exports

        exports.export_partials_remove(export=self)
