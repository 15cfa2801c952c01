from django.conf import settings
from django.db import models
from django.db.models import Case, Q, Value, When

from ..grades import Grade
from .pairs import ResponsePair


class SafetyBin(models.TextChoices):
    """The paper's safety bins (§3.2.1); the last one is excluded from reward-model data."""

    BOTH_SAFE = "both_safe", "Both safe"
    CHOSEN_SAFE = "chosen_safe", "Only the chosen response is safe"
    BOTH_UNSAFE = "both_unsafe", "Both unsafe"
    CHOSEN_UNSAFE = "chosen_unsafe", "Chosen unsafe, other safe (excluded)"


def _safety_bin_expression() -> Case:
    chosen_safe = Q(chosen="a", a_safe=True) | Q(chosen="b", b_safe=True)
    other_safe = Q(chosen="a", b_safe=True) | Q(chosen="b", a_safe=True)
    return Case(
        When(Q(a_safe__isnull=True) | Q(b_safe__isnull=True), then=Value(None)),
        When(chosen_safe & other_safe, then=Value(SafetyBin.BOTH_SAFE.value)),
        When(chosen_safe, then=Value(SafetyBin.CHOSEN_SAFE.value)),
        When(other_safe, then=Value(SafetyBin.CHOSEN_UNSAFE.value)),
        default=Value(SafetyBin.BOTH_UNSAFE.value),
        output_field=models.CharField(max_length=20),
    )


class Assignment(models.Model):
    """A lease of one pair to one annotator. Expired leases return the pair to the queue."""

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        COMPLETED = "completed", "Completed"
        EXPIRED = "expired", "Expired"

    pair = models.ForeignKey(ResponsePair, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.LEASED)
    swapped = models.BooleanField(
        default=False, help_text="Response B was shown on the left (order randomised)."
    )
    draft = models.JSONField(default=dict, blank=True, help_text="Unsubmitted choices.")
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(fields=["pair", "annotator"], name="assignment_once_per_pair"),
            models.CheckConstraint(
                condition=Q(status__in=["leased", "completed", "expired"]),
                name="assignment_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_at__isnull=False),
                name="assignment_completed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["annotator", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"Assignment {self.pk}"


class Judgment(models.Model):
    """Which response is better, by how much, and whether each is safe."""

    class Origin(models.TextChoices):
        ANNOTATOR = "annotator", "Annotator"
        IMPORTED = "imported", "Imported"
        SIMULATED = "simulated", "Simulated annotator"

    pair = models.ForeignKey(ResponsePair, on_delete=models.CASCADE, related_name="judgments")
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.PROTECT, related_name="judgment"
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="judgments",
    )
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.ANNOTATOR)
    chosen = models.CharField(max_length=1, choices=[("a", "Response A"), ("b", "Response B")])
    grade = models.CharField(max_length=30, choices=Grade.choices, null=True, blank=True)
    a_safe = models.BooleanField(null=True, blank=True)
    b_safe = models.BooleanField(null=True, blank=True)
    safety_bin = models.GeneratedField(
        expression=_safety_bin_expression(),
        output_field=models.CharField(max_length=20, null=True, choices=SafetyBin.choices),
        db_persist=True,
    )
    rationale = models.TextField(blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(chosen__in=["a", "b"]), name="judgment_chosen_ab"),
            models.CheckConstraint(
                condition=Q(grade__isnull=False, grade__in=Grade.values)
                | Q(grade__isnull=True, origin="imported"),
                name="judgment_grade_valid",
            ),
            models.CheckConstraint(
                condition=Q(origin__in=["annotator", "imported", "simulated"]),
                name="judgment_origin_valid",
            ),
            models.CheckConstraint(
                condition=Q(seconds_spent__isnull=True) | Q(seconds_spent__gte=0),
                name="judgment_seconds_nonnegative",
            ),
            models.UniqueConstraint(
                fields=["pair", "annotator"],
                condition=Q(annotator__isnull=False),
                name="judgment_once_per_annotator",
            ),
        ]

    def __str__(self) -> str:
        return f"Judgment {self.pk}"

    @property
    def excluded_from_reward_models(self) -> bool:
        return self.safety_bin == SafetyBin.CHOSEN_UNSAFE
