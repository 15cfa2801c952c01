from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from ..validators import validate_server_url
from .batches import PromptBatch
from .dialogues import Dialogue, Prompt


class ModelVariant(models.Model):
    """A serving variant of the policy that responses are sampled from."""

    class Backend(models.TextChoices):
        TRANSFORMERS = "transformers", "transformers on CPU"
        HTTP = "http", "OpenAI-compatible HTTP server (vLLM)"
        VLLM = "vllm", "vLLM in-process (GPU node)"

    label = models.CharField(max_length=100, unique=True)
    backend = models.CharField(max_length=20, choices=Backend.choices)
    model_path = models.CharField(
        max_length=500, blank=True, help_text="Folder of the checkpoint (local backends)."
    )
    server_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_server_url],
        help_text="Base URL of an OpenAI-compatible server.",
    )
    model_name = models.CharField(max_length=200, blank=True, help_text="Model name on the server.")
    temperature = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="Sample this variant at this temperature; empty: drawn from the batch's range.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label"]
        constraints = [
            models.CheckConstraint(
                condition=Q(backend__in=["transformers", "http", "vllm"]),
                name="variant_backend_valid",
            ),
            models.CheckConstraint(
                condition=Q(temperature__isnull=True)
                | (Q(temperature__gte=0) & Q(temperature__lte=2)),
                name="variant_temperature_range",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class Response(models.Model):
    """One sampled (or imported) assistant response with what produced it."""

    text = models.TextField()
    variant = models.ForeignKey(
        ModelVariant, null=True, blank=True, on_delete=models.SET_NULL, related_name="responses"
    )
    variant_label = models.CharField(max_length=100, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    top_p = models.FloatField(null=True, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    generation_seconds = models.FloatField(null=True, blank=True)
    finish_reason = models.CharField(max_length=20, blank=True)

    def __str__(self) -> str:
        return f"Response {self.pk}"


class ResponsePair(models.Model):
    """Two responses to the same context. `taken` counts leased or completed assignments;
    the database refuses more than `overlap` of them."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for generation"
        GENERATING = "generating", "Generating"
        READY = "ready", "Ready"
        FAILED = "failed", "Generation failed"
        DONE = "done", "Fully judged"

    class Origin(models.TextChoices):
        GENERATED = "generated", "Generated"
        IMPORTED = "imported", "Imported"

    batch = models.ForeignKey(PromptBatch, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.ForeignKey(
        Prompt, null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs"
    )
    dialogue = models.ForeignKey(
        Dialogue, null=True, blank=True, on_delete=models.CASCADE, related_name="pairs"
    )
    turn = models.PositiveSmallIntegerField(default=1)
    context = models.JSONField(help_text="The messages both responses answer.")
    context_truncated = models.BooleanField(default=False)
    response_a = models.OneToOneField(
        Response, null=True, blank=True, on_delete=models.PROTECT, related_name="pair_a"
    )
    response_b = models.OneToOneField(
        Response, null=True, blank=True, on_delete=models.PROTECT, related_name="pair_b"
    )
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.GENERATED)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    overlap = models.PositiveSmallIntegerField(default=1)
    taken = models.PositiveSmallIntegerField(default=0)
    is_gold = models.BooleanField(default=False)
    gold_chosen = models.CharField(max_length=1, blank=True)
    gold_grade = models.CharField(max_length=30, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "generating", "ready", "failed", "done"]),
                name="pair_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(origin__in=["generated", "imported"]), name="pair_origin_valid"
            ),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="pair_overlap_positive"),
            models.CheckConstraint(
                condition=Q(taken__lte=F("overlap")), name="pair_taken_within_overlap"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["ready", "done"])
                | (Q(response_a__isnull=False) & Q(response_b__isnull=False)),
                name="pair_ready_has_responses",
            ),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_chosen__in=["a", "b"]),
                name="pair_gold_has_answer",
            ),
            # The stock refill makes one queue pair per prompt, however many refills overlap.
            models.UniqueConstraint(
                fields=["prompt"],
                condition=Q(prompt__isnull=False) & Q(dialogue__isnull=True),
                name="pair_one_queue_pair_per_prompt",
            ),
        ]
        indexes = [
            models.Index(fields=["batch", "status", "id"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]

    def __str__(self) -> str:
        return f"Pair {self.pk}"

    @property
    def gold_grade_label(self) -> str:
        from ..grades import Grade

        return Grade(self.gold_grade).label if self.gold_grade in Grade.values else ""

    @property
    def prompt_text(self) -> str:
        """The last user message of the context (what both responses answer)."""
        users = [m.get("content", "") for m in self.context or [] if m.get("role") == "user"]
        return users[-1] if users else ""
