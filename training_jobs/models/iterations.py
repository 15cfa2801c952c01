from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.artifacts import artifact_path


class ModelVersion(models.Model):
    """A policy or reward-model checkpoint, with what made it (parent, job, data, metrics)."""

    class Kind(models.TextChoices):
        POLICY = "policy", "Policy"
        REWARD_HELPFULNESS = "reward_helpfulness", "Helpfulness reward model"
        REWARD_SAFETY = "reward_safety", "Safety reward model"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    name = models.CharField(max_length=200)
    path = models.CharField(
        max_length=500,
        help_text="Checkpoint folder: relative to ARTIFACT_ROOT for trained versions; an "
        "absolute folder only for base models registered by an admin.",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    job = models.OneToOneField(
        "training_jobs.Job",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="model_version",
    )
    metrics = models.JSONField(default=dict, blank=True)
    data_snapshot = models.JSONField(default=dict, blank=True)
    judgments_through = models.BigIntegerField(
        default=0, help_text="Newest judgment id in the training data (reward models)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="model_version_name_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=["policy", "reward_helpfulness", "reward_safety"]),
                name="model_version_kind_valid",
            ),
            models.CheckConstraint(condition=~Q(path=""), name="model_version_has_path"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def is_reward_model(self) -> bool:
        return self.kind != self.Kind.POLICY

    @property
    def folder(self) -> Path:
        """The checkpoint folder on this machine (relative paths live under ARTIFACT_ROOT)."""
        path = Path(self.path)
        return path if path.is_absolute() else artifact_path(self.path)


class Iteration(models.Model):
    """One round of the loop (RLHF-V1, V2, ...): from a policy to the next one."""

    name = models.CharField(max_length=100, unique=True)
    number = models.PositiveIntegerField(unique=True)
    start_policy = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    produced_policy = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.CheckConstraint(condition=Q(number__gte=1), name="iteration_number_positive"),
        ]

    def __str__(self) -> str:
        return self.name
