from django.conf import settings
from django.db import models
from django.db.models import Q


class JobKind(models.TextChoices):
    REWARD_HELPFULNESS = "reward_helpfulness", "Reward model: helpfulness"
    REWARD_SAFETY = "reward_safety", "Reward model: safety"
    REJECTION_SAMPLING = "rejection_sampling", "Rejection sampling"
    PPO = "ppo", "PPO"
    EVALUATION = "evaluation", "Evaluation"
    SIMULATED_ANNOTATION = "simulated_annotation", "Simulated annotators"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)
TRANSITIONS: dict[str, set[str]] = {
    JobState.QUEUED: {JobState.RUNNING, JobState.CANCELLED, JobState.FAILED},
    JobState.RUNNING: {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED},
    JobState.FAILED: {JobState.QUEUED},
    JobState.CANCELLED: {JobState.QUEUED},
    JobState.SUCCEEDED: set(),
}


class Job(models.Model):
    """One piece of training work, run by a Celery worker on the `default` or `gpu` queue."""

    iteration = models.ForeignKey(
        "training_jobs.Iteration",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
    )
    kind = models.CharField(max_length=30, choices=JobKind.choices)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    queue = models.CharField(max_length=20, default="default")
    params = models.JSONField(default=dict, blank=True)
    request_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="The same start request twice (or two beat processes) makes one job.",
    )
    progress = models.FloatField(default=0.0)
    progress_detail = models.CharField(max_length=300, blank=True)
    log = models.TextField(blank=True, help_text="The tail of the job's output.")
    error = models.TextField(blank=True)
    data_snapshot = models.JSONField(default=dict, blank=True)
    output_dir = models.CharField(max_length=500, blank=True, help_text="Under ARTIFACT_ROOT.")
    attempts = models.PositiveSmallIntegerField(default=0)
    worker_host = models.CharField(max_length=200, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=JobKind.values), name="job_kind_valid"),
            models.CheckConstraint(condition=Q(state__in=JobState.values), name="job_state_valid"),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_range"
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["succeeded", "failed", "cancelled"])
                | Q(finished_at__isnull=False),
                name="job_final_has_finish_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="running") | Q(started_at__isnull=False),
                name="job_running_has_start_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="succeeded") | ~Q(output_dir=""),
                name="job_succeeded_has_output",
            ),
        ]
        indexes = [models.Index(fields=["state", "created_at"])]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.get_kind_display()}, {self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def can_move_to(self, state: str) -> bool:
        return state in TRANSITIONS[self.state]

    @property
    def log_tail(self) -> str:
        return "\n".join(self.log.splitlines()[-40:])
