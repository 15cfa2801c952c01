from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from inference.params import effective_temperature


class GuidelineStage(models.TextChoices):
    HELPFULNESS = "helpfulness", "Helpfulness"
    SAFETY = "safety", "Safety"


class PromptSource(models.TextChoices):
    IMPORTED = "imported", "Imported prompts"
    ANNOTATOR = "annotator", "Written by annotators"


def sampling_errors(fields: dict) -> dict[str, str]:
    """What is wrong with a batch's sampling settings (the check constraints, said in words)."""
    low, high = fields.get("temperature_min"), fields.get("temperature_max")
    top_p = fields.get("top_p")
    errors = {}
    if low is not None and high is not None and low > high:
        errors["temperature_min"] = "must not be above temperature_max"
    if top_p is not None and not 0.0 < top_p <= 1.0:
        errors["top_p"] = "must be in (0, 1]"
    return errors


class PromptBatch(models.Model):
    """A weekly batch of prompts collected under one guideline stage."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200, unique=True)
    stage = models.CharField(max_length=20, choices=GuidelineStage.choices)
    ordinal = models.PositiveIntegerField(help_text="Week number of the batch (1, 2, ...).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    target_comparisons = models.PositiveIntegerField(default=1000)
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="How many different annotators judge each pair."
    )
    max_turns = models.PositiveSmallIntegerField(default=4)
    prompt_source = models.CharField(
        max_length=20, choices=PromptSource.choices, default=PromptSource.IMPORTED
    )
    guidelines = models.TextField(blank=True, help_text="Markdown shown in the workspace.")
    gold_rate = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of gold pairs interleaved in the queue.",
    )
    temperature_min = models.FloatField(default=0.7)
    temperature_max = models.FloatField(default=1.2)
    top_p = models.FloatField(default=0.95)
    max_new_tokens = models.PositiveIntegerField(default=256)
    variants = models.ManyToManyField("annotation.ModelVariant", blank=True, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-ordinal", "name"]
        verbose_name_plural = "prompt batches"
        constraints = [
            models.CheckConstraint(
                condition=Q(stage__in=GuidelineStage.values), name="batch_stage_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "open", "closed"]), name="batch_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(prompt_source__in=PromptSource.values), name="batch_source_valid"
            ),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="batch_overlap_positive"),
            models.CheckConstraint(condition=Q(max_turns__gte=1), name="batch_turns_positive"),
            models.CheckConstraint(condition=Q(ordinal__gte=1), name="batch_ordinal_positive"),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="batch_gold_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(temperature_min__gte=0)
                & Q(temperature_max__lte=2)
                & Q(temperature_min__lte=F("temperature_max")),
                name="batch_temperature_range",
            ),
            models.CheckConstraint(
                condition=Q(top_p__gt=0) & Q(top_p__lte=1), name="batch_top_p_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = sampling_errors(self.__dict__)
        if errors:
            raise ValidationError(errors)
        self.temperature_min = effective_temperature(self.temperature_min)
        self.temperature_max = effective_temperature(self.temperature_max)

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
