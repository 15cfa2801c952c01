from django.conf import settings
from django.db import models
from django.db.models import Q

from .batches import PromptBatch, PromptSource


class Prompt(models.Model):
    """A first user turn (or a whole multi-turn context) that starts a dialogue.

    `messages` is a list of chat messages, `{"role": "system"|"user"|"assistant",
    "content": str}`, ending with a user turn.
    """

    batch = models.ForeignKey(PromptBatch, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200, null=True, blank=True)
    messages = models.JSONField()
    source = models.CharField(
        max_length=20, choices=PromptSource.choices, default=PromptSource.IMPORTED
    )
    risk_category = models.CharField(max_length=100, blank=True)
    attack_vector = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "external_id"],
                condition=Q(external_id__isnull=False),
                name="prompt_external_id_unique_in_batch",
            ),
            models.CheckConstraint(
                condition=Q(source__in=PromptSource.values), name="prompt_source_valid"
            ),
        ]
        indexes = [models.Index(fields=["batch", "id"])]

    def __str__(self) -> str:
        return f"Prompt {self.pk} ({self.batch_id})"

    @property
    def text(self) -> str:
        users = [m["content"] for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""


class Dialogue(models.Model):
    """The conversation one annotator builds turn by turn: each judgment's chosen
    response becomes the assistant turn, then the annotator writes the next user turn."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"

    batch = models.ForeignKey(PromptBatch, on_delete=models.CASCADE, related_name="dialogues")
    prompt = models.ForeignKey(
        Prompt, null=True, blank=True, on_delete=models.SET_NULL, related_name="dialogues"
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dialogues"
    )
    messages = models.JSONField(default=list)
    turns = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    start_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="The idempotency key of the compose form that started it: a resent form "
        "finds this dialogue instead of starting another.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "ended"]), name="dialogue_status_valid"
            ),
            models.UniqueConstraint(
                fields=["annotator", "start_key"],
                condition=~Q(start_key=""),
                name="dialogue_one_per_start_key",
            ),
        ]
        indexes = [models.Index(fields=["annotator", "status"])]

    def __str__(self) -> str:
        return f"Dialogue {self.pk}"
