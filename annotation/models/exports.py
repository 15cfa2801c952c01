from django.conf import settings
from django.db import models
from django.db.models import Q

from ..grades import MarginTable


class ExportJob(models.Model):
    """A comparison export written to a file under ARTIFACT_ROOT by a worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        TRL = "trl", "TRL conversational preference"
        FULL = "full", "Margin full form"

    format = models.CharField(max_length=10, choices=Format.choices, default=Format.TRL)
    margin_table = models.CharField(
        max_length=10, choices=MarginTable.choices, default=MarginTable.SMALL
    )
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows = models.PositiveBigIntegerField(default=0)
    path = models.CharField(max_length=500, blank=True, help_text="Relative to ARTIFACT_ROOT.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
                name="export_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(format__in=["trl", "full"]), name="export_format_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | ~Q(path=""), name="export_succeeded_has_file"
            ),
        ]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format}, {self.status})"
