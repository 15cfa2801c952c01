from django.conf import settings
from django.db import models
from django.db.models import Q

from work.models import LostPolicy, QueuedWork, WorkState


class JobKind(models.TextChoices):
    REWARD_HELPFULNESS = "reward_helpfulness", "Reward model: helpfulness"
    REWARD_SAFETY = "reward_safety", "Reward model: safety"
    REJECTION_SAMPLING = "rejection_sampling", "Rejection sampling"
    PPO = "ppo", "PPO"
    EVALUATION = "evaluation", "Evaluation"
    SIMULATED_ANNOTATION = "simulated_annotation", "Simulated annotators"


JobState = WorkState


class Job(QueuedWork):
    """One piece of training work, run by a Celery worker on the `default` or `gpu` queue.
    A worker that stops beating fails the job with the reason; a retry resumes it."""

    task_name = "training_jobs.tasks.run_job"
    lost_policy = LostPolicy.FAIL
    lost_advice = "Retry to resume."

    iteration = models.ForeignKey(
        "training_jobs.Iteration",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
    )
    kind = models.CharField(max_length=30, choices=JobKind.choices)
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
    data_snapshot = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the core reported: {stage: {metric: [[step, value], ...]}}, "
        "at most a few hundred points a series.",
    )
    output_dir = models.CharField(max_length=500, blank=True, help_text="Under ARTIFACT_ROOT.")
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

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

    def on_lost(self) -> None:
        """Remove the partial files a killed attempt left in the job's folder (checkpoints
        stay: a retry resumes from the newest complete one)."""
        from config.artifacts import PARTIAL, artifact_path

        folder = artifact_path(f"jobs/{self.pk}")
        for partial in folder.rglob(f".*{PARTIAL}") if folder.is_dir() else []:
            partial.unlink(missing_ok=True)

    @property
    def log_tail(self) -> str:
        return "\n".join(self.log.splitlines()[-40:])
